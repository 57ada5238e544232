"""The production instance, deploy/dagster.yaml, on a real PostgreSQL server (postgres_server.py):
run, event-log and schedule storage in one database whose connection the file reads from the
environment, runs queued and started by the daemon.

As a deployment runs it: DAGSTER_HOME holds a copy of the file, `dagster-daemon run` serves the
instance (its automation sensor and its run queue), and the daily job runs for two partitions at
once in two processes (backfill_runs.py, as in the dask backfill test), upstream the tiny
experiment (the session's `tiny_graph`, its nature run one day longer so that two inits can be
verified). The daemon's sensor, having seen the instance before the runs, then requests the
summary and the report; the daemon starts that run from the queue. Everything is read back
through Dagster's instance API and, to show where it lives, from PostgreSQL's tables directly;
no SQLite database appears under DAGSTER_HOME.
"""

from __future__ import annotations

import json
import shutil
import time
from collections.abc import Iterator
from pathlib import Path

import psycopg2
import pytest
import yaml
from dagster import AssetKey, DagsterEventType, DagsterInstance, DagsterRunStatus, RunConfig, RunsFilter
from dagster_postgres import PostgresEventLogStorage, PostgresRunStorage, PostgresScheduleStorage
import postgres_server as server_module
from dagster_ui import REPO_ROOT, SENSOR_EVERY_LOOP, code_location_environment, process_group, wait_for
from postgres_server import PostgresMissingError, PostgresServer, check_available, postgres_server
from tiny_experiment import COMPUTE, EMULATION, SOURCE_SETTINGS, copy_artifacts, materialise, tiny_source

import backfill_runs
from assets.automation import SENSOR
from assets.definitions import defs
from assets.main_job import operational_dates
from assets.report import REPORT
from assets.verification import SUMMARY

INSTANCE_FILE = REPO_ROOT / "deploy" / "dagster.yaml"
JOB = "daily_emulation"
DAILY = sorted(key.to_user_string() for key in defs.resolve_job_def(JOB).asset_layer.executable_asset_keys)
# Inputs of the job's assets, copied from the tiny experiment; truth is rerun one day longer.
UPSTREAM = ["physics_spinup", "normalization_stats", "climatology", "trained_emulator", "post_processor"]
SOURCE = tiny_source(truth_days=SOURCE_SETTINGS["truth_days"] + 1)
PARTITIONS = operational_dates(SOURCE, 2)
RUN_CONFIG = RunConfig(ops={"daily_emulated_ensembles": EMULATION},
                       resources={"source": SOURCE, "compute": COMPUTE}).to_config_dict()
# Seconds: the daemon's start (it loads the code location) and a tick, the two runs, the
# sensor's run. Each is a fraction of this on 2 shared cores.
DAEMON_S, RUNS_S = 180, 300
FINISHED_TICKS = {"SKIPPED", "SUCCESS", "FAILURE"}
SENSOR_NAME_TAG = "dagster/sensor_name"  # Dagster's tag on the runs a sensor requests
SQLITE_HEADER = b"SQLite format 3\x00"


@pytest.fixture
def postgres() -> Iterator[PostgresServer]:
    """A PostgreSQL server of the test's own; the test fails, saying what to install, without one."""
    try:
        check_available()
    except PostgresMissingError as missing:
        pytest.fail(str(missing))
    with postgres_server() as server:
        yield server


def connection_environment(server: PostgresServer) -> dict[str, str]:
    """The environment variables deploy/dagster.yaml reads the connection from, set to `server`'s.
    Every field of the connection must come from one: no credential is written in the file."""
    connection = yaml.safe_load(INSTANCE_FILE.read_text())["storage"]["postgres"]["postgres_db"]
    connection.pop("scheme")  # the driver, not a credential
    literal = [field for field, value in connection.items()
               if not (isinstance(value, dict) and set(value) == {"env"})]
    assert not literal, f"{INSTANCE_FILE}: {literal} not read from the environment"
    values = {"hostname": server.host, "port": str(server.port), "username": server.user,
              "password": server.password, "db_name": server.database}
    assert set(connection) == set(values), f"{INSTANCE_FILE}: connection fields {sorted(connection)}"
    return {connection[field]["env"]: value for field, value in values.items()}


def sensor_ticks(instance: DagsterInstance) -> list:
    """The automation sensor's finished ticks recorded in the instance, oldest first."""
    states = [state for state in instance.all_instigator_state() if state.name == SENSOR]
    ticks = [tick for state in states
             for tick in instance.get_ticks(state.instigator_origin_id, state.selector_id)]
    return sorted((t for t in ticks if t.status.value in FINISHED_TICKS), key=lambda t: t.timestamp)


def succeeded(instance: DagsterInstance, run_id: str) -> bool:
    """Whether run `run_id` succeeded; an error at once if it ended otherwise."""
    status = instance.get_run_by_id(run_id).status
    assert status not in (DagsterRunStatus.FAILURE, DagsterRunStatus.CANCELED), f"run {run_id} {status}"
    return status == DagsterRunStatus.SUCCESS


def materialised(instance: DagsterInstance, run_id: str) -> list[tuple[str, str | None]]:
    """(asset, partition) of each materialisation run `run_id` recorded, sorted."""
    events = instance.all_logs(run_id, of_type=DagsterEventType.ASSET_MATERIALIZATION)
    made = [event.asset_materialization for event in events]
    return sorted((each.asset_key.to_user_string(), each.partition) for each in made)


def sqlite_files(folder: Path) -> list[Path]:
    """Files under `folder` that are SQLite databases (by their header, whatever their name)."""
    found = []
    for path in folder.rglob("*"):
        if path.is_file():
            with path.open("rb") as file:
                if file.read(len(SQLITE_HEADER)) == SQLITE_HEADER:
                    found.append(path)
    return found


def check_daily_runs(instance: DagsterInstance) -> None:
    """The two daily runs succeeded, one per partition, at the same time, each materialising
    every asset of the job once for its partition."""
    daily = instance.get_run_records(RunsFilter(job_name=JOB))
    assert sorted((r.dagster_run.tags["dagster/partition"], r.dagster_run.status) for r in daily) == [
        (partition, DagsterRunStatus.SUCCESS) for partition in PARTITIONS]
    assert max(r.start_time for r in daily) < min(r.end_time for r in daily), "the runs did not overlap"
    for record in daily:
        partition = record.dagster_run.tags["dagster/partition"]
        assert materialised(instance, record.dagster_run.run_id) == [(asset, partition) for asset in DAILY]


def check_automation(instance: DagsterInstance, seen: list, requested) -> None:
    """The sensor's ticks before the runs requested nothing; one tick after them requested the
    summary and the report, in one run that went through the queue and succeeded, the summary
    pooling the scores of both partitions as recorded in PostgreSQL."""
    assert not any(tick.run_ids for tick in seen)
    assert [tick.tick_id for tick in sensor_ticks(instance) if tick.run_ids] == [requested.tick_id]
    [run_id] = requested.run_ids
    run = instance.get_run_by_id(run_id)
    assert run.tags.get(SENSOR_NAME_TAG) == SENSOR
    assert {key.to_user_string() for key in run.asset_selection} == {SUMMARY, REPORT}
    assert instance.all_logs(run_id, of_type=DagsterEventType.RUN_ENQUEUED)
    assert materialised(instance, run_id) == [(REPORT, None), (SUMMARY, None)]
    summary = instance.get_latest_materialization_event(AssetKey(SUMMARY))
    assert summary.run_id == run_id
    assert summary.asset_materialization.metadata["inits"].value == PARTITIONS


def check_tables(server: PostgresServer, run_ids: set[str], tick_count: int) -> None:
    """The same records, read from PostgreSQL's tables themselves: every run succeeded, the
    materialisations of both partitions and of the sensor's run, the sensor's ticks."""
    with psycopg2.connect(host=server.host, port=server.port, user=server.user, password=server.password,
                          dbname=server.database) as database, database.cursor() as sql:
        sql.execute("SELECT run_id, status FROM runs")
        assert dict(sql.fetchall()) == {run_id: "SUCCESS" for run_id in run_ids}
        sql.execute("SELECT asset_key, partition FROM event_logs "
                    "WHERE dagster_event_type = 'ASSET_MATERIALIZATION'")
        assert sorted((AssetKey.from_db_string(key).to_user_string(), partition)
                      for key, partition in sql.fetchall()) == sorted(
            [(asset, partition) for asset in DAILY for partition in PARTITIONS]
            + [(SUMMARY, None), (REPORT, None)])
        sql.execute("SELECT count(*) FROM job_ticks WHERE status IN %s", (tuple(FINISHED_TICKS),))
        assert sql.fetchone()[0] == tick_count >= 2
    database.close()  # the context ends the transaction only


def test_daily_runs_and_the_automation_sensor_are_recorded_in_postgres(postgres, tiny_graph, tmp_path,
                                                                       monkeypatch):
    began = time.monotonic()
    home, storage = tmp_path / "dagster_home", tmp_path / "storage"
    home.mkdir()
    shutil.copy(INSTANCE_FILE, home / "dagster.yaml")
    for name, value in connection_environment(postgres).items():  # here, and in every process started
        monkeypatch.setenv(name, value)
    run_config = tmp_path / "run_config.json"
    run_config.write_text(json.dumps(RUN_CONFIG))
    # The code location's partitions follow the tiny experiment's settings, its truth a day longer.
    settings = tmp_path / "source.yaml"
    settings.write_text(yaml.safe_dump(SOURCE_SETTINGS | {"truth_days": SOURCE.truth_days}))
    environment = {**code_location_environment(home, storage, settings), **SENSOR_EVERY_LOOP,
                   "PYTHONPATH": str(REPO_ROOT)}

    # The instance's tables are made here, before the daemon opens it (backfill_runs.py says why).
    with DagsterInstance.from_config(str(home)) as instance:
        daemon_log, runs_log = tmp_path / "daemon.log", tmp_path / "runs.log"
        with process_group(["dagster-daemon", "run", "-w", "workspace.yaml"], environment,
                           daemon_log) as daemon:
            # While the daemon loads the code location: the job's inputs into the storage root.
            copy_artifacts(tiny_graph.root, storage, UPSTREAM)
            materialise(storage, "truth", source=SOURCE)

            def ticks():
                assert daemon.poll() is None, f"the daemon exited: {daemon_log.read_text()[-3000:]}"
                return sensor_ticks(instance)
            # The sensor's first tick sees the instance as it is; what changes after it, it follows.
            seen = wait_for(ticks, DAEMON_S, f"the daemon's first tick of {SENSOR}")
            phases = {"daemon start, inputs and first tick": time.monotonic() - began}

            with process_group(["python", backfill_runs.__file__, JOB, str(run_config), str(len(PARTITIONS)),
                                *PARTITIONS], environment, runs_log) as runs:
                assert runs.wait(timeout=RUNS_S) == 0, runs_log.read_text()[-4000:]
            phases["two daily runs at once"] = time.monotonic() - began - sum(phases.values())

            def requesting_tick():
                return [tick for tick in ticks() if tick.run_ids]
            [requested] = wait_for(requesting_tick, DAEMON_S, f"a tick of {SENSOR} requesting a run")
            [automation_run] = requested.run_ids
            wait_for(lambda: succeeded(instance, automation_run), RUNS_S, f"{SENSOR}'s run {automation_run}")
            phases["sensor's tick and run"] = time.monotonic() - began - sum(phases.values())

        # Run, event-log and schedule storage are PostgreSQL's, in the database the environment names.
        assert isinstance(instance.run_storage, PostgresRunStorage)
        assert isinstance(instance.event_log_storage, PostgresEventLogStorage)
        assert isinstance(instance.schedule_storage, PostgresScheduleStorage)
        check_daily_runs(instance)
        check_automation(instance, seen, requested)
        runs_recorded, ticks_recorded = {r.run_id for r in instance.get_runs()}, len(sensor_ticks(instance))
    check_tables(postgres, runs_recorded, ticks_recorded)

    assert sqlite_files(home) == [], "a SQLite database under DAGSTER_HOME"
    written = [path for path in [*home.rglob("*"), daemon_log, runs_log] if path.is_file()]
    assert not [path for path in written if postgres.password in path.read_text(errors="replace")], \
        "the database password was written out"
    print(", ".join(f"{phase} {seconds:.0f} s" for phase, seconds in phases.items())
          + f"; test {time.monotonic() - began:.0f} s")


def test_a_machine_without_postgres_is_told_what_to_install(tmp_path, monkeypatch):
    """No initdb on PATH nor under Debian's folder: the error names the package to install. As
    root without the account to run the server as: the error says so."""
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.setattr(server_module, "DEBIAN_BINARIES", tmp_path / "postgresql")
    with pytest.raises(PostgresMissingError, match="install Debian's `postgresql` package"):
        check_available()
    (tmp_path / "initdb").touch(mode=0o755)
    monkeypatch.setattr(server_module.os, "geteuid", lambda: 0)
    monkeypatch.setattr(server_module, "SERVER_ACCOUNT", "no-such-account-here")
    with pytest.raises(PostgresMissingError, match="no `no-such-account-here` account"):
        check_available()
