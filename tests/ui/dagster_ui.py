"""A Dagster UI served for a test and driven as a person would: a `dagster-webserver` or `dagster dev`
process over the repository's workspace.yaml on a temporary DAGSTER_HOME and storage root, its
GraphQL API, and headless Chromium (Debian's /usr/bin/chromium, driven by playwright) with
screenshots saved under the test's tmp dir and copied to SCREENSHOT_COPY_DIR."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from playwright.sync_api import Page, sync_playwright

from assets.automation import SENSOR_INTERVAL_ENV_VAR
from assets.executors import EXECUTOR_ENV_VAR
from resources.source import SETTINGS_ENV_VAR
from resources.storage import ROOT_ENV_VAR

REPO_ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
CHROMIUM = Path("/usr/bin/chromium")
# Flags that work on machines with a closed network (no background connections to Google).
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
SCREENSHOT_COPY_DIR = Path("/tmp/ui_screens")
# Seconds: server start (loads torch and the definitions), page loads, a run, and the wait for a
# server to stop on SIGTERM before its process group is killed (they stop in seconds; one started
# with SIGINT ignored, as by a shell without job control, ignores SIGTERM too).
SERVER_START_S = 120
PAGE_S = 60
RUN_S = 180
STOP_S = 30
# Seconds between looks at a server, a run or a tick: each look is cheap, and every wait ends at
# most this long after what it waits for.
POLL_S = 0.5
# The automation sensor evaluated at every loop of the daemon (5 s) rather than every 15 s, for the
# tests that wait on its ticks.
SENSOR_EVERY_LOOP = {SENSOR_INTERVAL_ENV_VAR: "1"}

requires_chromium = pytest.mark.skipif(not CHROMIUM.exists(),
                                       reason=f"{CHROMIUM} missing (.ci/run installs it)")

ASSET_NODES_QUERY = """
{ assetNodes { assetKey { path } dependencyKeys { path } } }
"""
RUN_QUERY = """
query ($runId: ID!) {
  runOrError(runId: $runId) { __typename ... on Run { status } }
}
"""
# A run that ends in any of these will not succeed.
FAILED_STATUSES = {"FAILURE", "CANCELED", "CANCELING"}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def graphql(url: str, query: str, variables: dict | None = None) -> dict:
    request = urllib.request.Request(f"{url}/graphql", method="POST",
                                     data=json.dumps({"query": query, "variables": variables or {}}).encode(),
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=30) as response:
        body = json.load(response)
    assert "errors" not in body, f"GraphQL errors: {body['errors']}"
    return body["data"]


def wait_for(condition, timeout_s: float, what: str, interval_s: float = POLL_S):
    """Poll `condition()` until it returns something truthy; fail naming `what` after timeout_s."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(interval_s)
    pytest.fail(f"timed out after {timeout_s} s waiting for {what}")


def wait_for_success(url: str, run_id: str, what: str) -> None:
    """Wait until run `run_id` succeeds; fail at once if it ends otherwise."""
    def finished() -> str | None:
        status = graphql(url, RUN_QUERY, {"runId": run_id})["runOrError"]["status"]
        assert status not in FAILED_STATUSES, f"run {run_id} of {what} ended {status}"
        return status if status == "SUCCESS" else None
    wait_for(finished, RUN_S, f"run {run_id} of {what} to succeed")


def write_instance_config(home: Path, run_coordinator: str, **config) -> None:
    """dagster.yaml of a test instance: telemetry off, and `run_coordinator` (a class of
    dagster.core.run_coordinator) with `config`."""
    coordinator = {"module": "dagster.core.run_coordinator", "class": run_coordinator}
    if config:
        coordinator["config"] = config
    (home / "dagster.yaml").write_text(yaml.safe_dump({"run_coordinator": coordinator,
                                                      "telemetry": {"enabled": False}}))


@contextlib.contextmanager
def process_group(command: list[str], env: dict, log_path: Path) -> Iterator[subprocess.Popen]:
    """`command` (a program of the venv and its arguments) running from the repository root in a
    process group of its own, its output in `log_path`. At exit it is asked to stop (SIGTERM, which
    `dagster dev` passes on to its webserver and daemon), and whatever is left of its group (code
    servers, runs) is killed."""
    with log_path.open("w") as log:
        process = subprocess.Popen([str(BIN / command[0]), *command[1:]], cwd=REPO_ROOT, env=env,
                                   stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        try:
            yield process
        finally:
            process.terminate()
            try:
                process.wait(timeout=STOP_S)
            except subprocess.TimeoutExpired:
                pass
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=30)


@contextlib.contextmanager
def served(command: list[str], home: Path, storage: Path, log_path: Path,
           workspace: bool = True, source_settings: Path | None = None,
           extra_environment: dict[str, str] | None = None) -> Iterator[str]:
    """URL of a Dagster UI that `command` ("dagster-webserver", "dagster dev" or "dg dev", a program
    of the venv) serves from the repository's workspace.yaml (`workspace`; else from what the
    command finds itself: `dg` reads pyproject.toml's [tool.dg]) on a free port, with DAGSTER_HOME `home`,
    the storage root `storage`, the in-process executor and the source settings of the YAML file
    `source_settings` (the defaults where None) and `extra_environment`, once the code location is
    loaded; stopped at exit as `process_group` stops it."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    environment = {**code_location_environment(home, storage, source_settings), **(extra_environment or {})}
    with process_group([*command, *(["-w", "workspace.yaml"] if workspace else []), "-h", "127.0.0.1",
                        "-p", str(port)], environment, log_path) as server:
        def ready() -> bool:
            assert server.poll() is None, \
                f"{' '.join(command)} exited with {server.returncode}: {log_path.read_text()[-3000:]}"
            try:
                return bool(graphql(url, ASSET_NODES_QUERY)["assetNodes"])
            except (urllib.error.URLError, ConnectionError, AssertionError, KeyError):
                return False
        wait_for(ready, SERVER_START_S, f"{' '.join(command)} to load the code location")
        # As if the "Join the Dagster community" dialog had been dismissed: it would cover the pages.
        graphql(url, "mutation { setNuxSeen }")
        yield url


def code_location_environment(home: Path, storage: Path, source_settings: Path | None = None) -> dict[str, str]:
    """This process's environment with DAGSTER_HOME `home`, the storage root `storage`, the
    in-process executor (one process per run: the tests' runs are small) and the source settings
    of the YAML file `source_settings` (the defaults where None: a setting of this process's own
    is dropped), which the code location's partitions follow."""
    env = {**os.environ, "DAGSTER_HOME": str(home), ROOT_ENV_VAR: str(storage), EXECUTOR_ENV_VAR: "in_process"}
    env.pop(SETTINGS_ENV_VAR, None)
    if source_settings is not None:
        env[SETTINGS_ENV_VAR] = str(source_settings)
    return env


@contextlib.contextmanager
def browser_page(tmp_path: Path) -> Iterator[tuple[Page, Path]]:
    """A page of headless Chromium and the folder for its screenshots; at exit the browser
    closes, and the screenshots are checked to be real pictures and copied where a person can
    look (SCREENSHOT_COPY_DIR)."""
    screens = tmp_path / "screens"
    screens.mkdir()
    with sync_playwright() as pw:
        browser = pw.chromium.launch_persistent_context(
            str(tmp_path / "chromium-profile"), executable_path=str(CHROMIUM), headless=True,
            args=CHROMIUM_ARGS, viewport={"width": 1600, "height": 1000})
        try:
            page = browser.new_page()
            page.set_default_timeout(PAGE_S * 1000)
            yield page, screens
        finally:
            browser.close()
    SCREENSHOT_COPY_DIR.mkdir(exist_ok=True)
    for picture in screens.iterdir():
        assert picture.stat().st_size > 10_000, f"{picture} is suspiciously small"
        shutil.copy(picture, SCREENSHOT_COPY_DIR / picture.name)
