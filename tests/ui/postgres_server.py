"""A PostgreSQL server of a test's own: a new cluster made by `initdb` in a temporary folder,
started by `pg_ctl` on 127.0.0.1 (a free port) with its unix socket in that folder, one database
and one user whose password the server requires (scram-sha-256), stopped and deleted at the end.

The binaries are PostgreSQL's own: `initdb` and `pg_ctl` on PATH, else Debian's
/usr/lib/postgresql/<version>/bin (the `postgresql` package puts them there, off PATH; .ci/run
installs it). PostgreSQL refuses to run as root, so as root the server runs as the `postgres`
account that package creates; its folder is made outside the test's tmp_path, which only root
may enter.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import pwd
import secrets
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

from dagster_ui import free_port

DEBIAN_BINARIES = Path("/usr/lib/postgresql")
SERVER_ACCOUNT = "postgres"
COMMAND_S = 60
# Settings of a throwaway server: nothing survives it, so durability is not worth the fsyncs
# (each commit of a run's event would wait for the disk, which the other tests share).
THROWAWAY_SETTINGS = {"fsync": "off", "synchronous_commit": "off", "full_page_writes": "off"}


class PostgresMissingError(RuntimeError):
    pass


@dataclasses.dataclass(frozen=True)
class PostgresServer:
    """Where a running server listens and how to log in to its database."""

    host: str
    port: int
    user: str
    password: str = dataclasses.field(repr=False)
    database: str


def check_available() -> None:
    """Raise PostgresMissingError, saying what is missing, if no server can be started here."""
    binaries()
    _account()


def binaries() -> Path:
    """The folder of PostgreSQL's server programs: initdb's on PATH, else the newest version of
    Debian's; an error saying how to install them if neither exists."""
    on_path = shutil.which("initdb")
    if on_path:
        return Path(on_path).resolve().parent
    versions = sorted((path for path in DEBIAN_BINARIES.glob("*/bin") if (path / "initdb").exists()),
                      key=lambda path: int(path.parent.name) if path.parent.name.isdigit() else 0)
    if versions:
        return versions[-1]
    raise PostgresMissingError(
        f"PostgreSQL's server programs (initdb, pg_ctl) are neither on PATH nor under "
        f"{DEBIAN_BINARIES}/<version>/bin: install Debian's `postgresql` package (.ci/run does).")


def _account() -> pwd.struct_passwd | None:
    """The account the server runs as: this process's own, or `postgres` when running as root."""
    if os.geteuid() != 0:
        return None
    try:
        return pwd.getpwnam(SERVER_ACCOUNT)
    except KeyError:
        raise PostgresMissingError(f"running as root, and PostgreSQL refuses to: no `{SERVER_ACCOUNT}` "
                                   f"account to run it as (Debian's `postgresql` package makes it)") from None


@contextlib.contextmanager
def postgres_server(database: str = "dagster", user: str = "dagster") -> Iterator[PostgresServer]:
    """A new PostgreSQL server with `database` owned by `user` (a random password), running until
    the context ends; then stopped, and its folder deleted."""
    bin_dir, account = binaries(), _account()
    folder = Path(tempfile.mkdtemp(prefix="postgres-"))
    data, sockets, log = folder / "data", folder / "sockets", folder / "server.log"
    sockets.mkdir()
    password = secrets.token_urlsafe(16)
    (folder / "password").write_text(password)
    if account is not None:
        for path in (folder, sockets, folder / "password"):
            os.chown(path, account.pw_uid, account.pw_gid)
    as_account = {} if account is None else dict(user=account.pw_uid, group=account.pw_gid, extra_groups=[])
    environment = {"PATH": os.environ.get("PATH", ""), "LC_ALL": "C", "PGPASSWORD": password}

    def run(program: str, *args: str) -> None:
        done = subprocess.run([str(bin_dir / program), *args], cwd=folder, env=environment,
                              capture_output=True, text=True, timeout=COMMAND_S, **as_account)
        if done.returncode != 0:
            server_log = log.read_text() if log.exists() else ""
            raise RuntimeError(f"{program} failed ({done.returncode}): "
                               f"{done.stdout}{done.stderr}{server_log}")

    port = free_port()
    settings = {"listen_addresses": "127.0.0.1", "port": str(port),
                "unix_socket_directories": str(sockets), **THROWAWAY_SETTINGS}
    try:
        run("initdb", "-D", str(data), "-U", user, f"--pwfile={folder / 'password'}",
            "--auth=scram-sha-256", "--encoding=UTF8", "--no-locale", "--no-sync")
        run("pg_ctl", "-D", str(data), "-l", str(log), "-w", "-t", str(COMMAND_S),
            "-o", " ".join(f"-c {name}={value}" for name, value in settings.items()), "start")
        try:
            run("createdb", "-h", "127.0.0.1", "-p", str(port), "-U", user, database)
            yield PostgresServer("127.0.0.1", port, user, password, database)
        finally:
            run("pg_ctl", "-D", str(data), "-m", "fast", "-w", "stop")
    finally:
        shutil.rmtree(folder, ignore_errors=True)
