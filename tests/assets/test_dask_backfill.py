"""A backfill of `daily_emulation` under load and faults: the dask executor
(assets/dask_executor.py, on dagster-dask) sending every step to the worker processes of a
dask.distributed cluster, the storage root on an S3 server (moto) that the workers share, as a
cluster's machines would, reached through a fault proxy (tests/fault_proxy.py) that breaks 20 %
of the requests that write or commit: S3 errors 500 and 503 (SlowDown), connections reset, and no
answer until the client's read timeout; the store's S3 client retries each
(seeds_dag/store/retries.py).

The code location is configured as a deployment configures it: SEEDS_DAG_EXECUTOR=dask and
SEEDS_DAG_SOURCE (the source settings, which the partitions follow) in the environment of the run
process (backfill_runs.py, one run per partition, two at a time) and of the workers, the cluster's
address and the storage root in run config, the S3 credentials from the environment.
Upstream of the job is the tiny experiment (the session's `tiny_graph`) with a nature run 3 days
longer, so that 8 inits can be verified.

One worker is killed with SIGKILL in the middle of writing the emulated ensemble of the last
partition (killed_write.py); dask reruns the task on another worker, and the test looks at the
store while that retry is held before its commit. Every artifact is then compared bit for bit with
a fault-free run of each partition in this process, and the faults are printed by kind: injected,
survived (the client sent the same request again and it reached S3) and lost (never sent again).

What it costs, measured on 2 cores. A partition's run makes about 1400 requests to S3 (in one
process through the proxy), most of them reads of chunks and metadata; breaking 20 % of all of
them (273 faults, all retried) took its run from 21 s to 190 s, since the client waits 0.5 s on
average before a first retry and a timeout costs the read timeout. So the faults here break the
requests on which what a reader sees depends, about 200 a partition: the writes (PUT, POST,
DELETE) and the reads of CURRENT. 8 partitions, two at a time: 11 020 requests, 314 faults, the
backfill 285 s and the test 411 s with the tiny experiment, alone on 2 cores (docs/operations.md);
it is marked `load` (`pytest -m load` runs it alone).
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
import urllib.parse
from pathlib import Path

import boto3
import pandas as pd
import pytest
import s3fs
import xarray as xr
import yaml
from dagster import DagsterEventType, DagsterInstance, DagsterRunStatus, RunConfig, materialize
from distributed import Client, LocalCluster
from fault_proxy import FaultProxy
from killed_write import HELD, KILLED, RELEASED, KillInsideWrite
from tiny_experiment import COMPUTE, EMULATION, SOURCE_SETTINGS, copy_artifacts, materialise, tiny_source

import backfill_runs
from assets.definitions import assets_for, defs
from assets.executors import EXECUTOR_ENV_VAR
from assets.main_job import operational_dates
from resources import StorageResource
from resources.source import SETTINGS_ENV_VAR
from seeds_dag.store import POINTER, ArtifactNotFoundError, ArtifactStore

JOB = "daily_emulation"
DAILY = sorted(key.to_user_string()
               for key in defs.resolve_job_def(JOB).asset_layer.executable_asset_keys)
EMULATED, SCORES = "daily_emulated_ensembles", "verification_scores"
# Inputs of the job's assets, copied from the tiny experiment; truth is rerun longer.
UPSTREAM = ["physics_spinup", "normalization_stats", "climatology", "trained_emulator", "post_processor"]
N_PARTITIONS = 8
SOURCE = tiny_source(truth_days=SOURCE_SETTINGS["truth_days"] + N_PARTITIONS - 1)
PARTITIONS = operational_dates(SOURCE, N_PARTITIONS)
KILLED_PARTITION = PARTITIONS[-1]
RUNS_AT_ONCE = 2  # one per worker, as `max_concurrent_runs: 2` would start them
BUCKET, PREFIX = "cluster", "seeds"
REPOSITORY = Path(__file__).resolve().parents[2]
RUN_SECONDS = 900  # the run process's limit; the backfill of 4 partitions took 207 s on 2 cores
# The faults, taken in turn, and the share of the workers' writes and reads of CURRENT they break
# (seeded draws).
FAULTS, FAULT_RATE, FAULT_SEED = ("500", "503", "reset", "timeout"), 0.2, 25
# The workers' S3 read timeout, which a "timeout" fault outlasts: 8 times the slowest answer the
# proxy saw from the S3 server in a run of this test (0.12 s), so that no healthy request times out.
READ_TIMEOUT_S = 1.0


def single_process_runs(root: Path) -> None:
    """Each partition's run of the job's assets in this process (Dagster's in-process executor)."""
    for partition in PARTITIONS:
        assert materialize(
            assets_for(SOURCE), selection=DAILY, partition_key=partition, instance=DagsterInstance.ephemeral(),
            resources={"storage": StorageResource(root=str(root)), "compute": COMPUTE, "source": SOURCE},
            run_config=RunConfig(ops={EMULATED: EMULATION})).success


def cluster_run_config(scheduler: str, endpoint: str) -> dict:
    config = RunConfig(ops={EMULATED: EMULATION},
                       resources={"source": SOURCE, "compute": COMPUTE}).to_config_dict()
    config["resources"]["storage"] = {"config": {
        "root": f"s3://{BUCKET}/{PREFIX}", "endpoint_url": endpoint, "read_timeout_s": READ_TIMEOUT_S,
        "key": {"env": "AWS_ACCESS_KEY_ID"}, "secret": {"env": "AWS_SECRET_ACCESS_KEY"}}}
    config["execution"] = {"config": {"cluster": {"existing": {"address": scheduler}}}}
    return config


def writes_and_pointers(method: str, path: str) -> bool:
    """Whether a request writes (PUT, POST, DELETE) or reads a CURRENT pointer."""
    return method not in ("GET", "HEAD") or urllib.parse.urlsplit(path).path.endswith(f"/{POINTER}")


def wait_for_hold(signals: Path, run: subprocess.Popen, log: Path) -> dict:
    """What the held retry wrote, once it holds (the run process must still be running)."""
    deadline = time.monotonic() + RUN_SECONDS
    while not (signals / HELD).exists():
        assert run.poll() is None, f"the backfill ended before the retry held:\n{log.read_text()[-4000:]}"
        assert time.monotonic() < deadline, "the killed write's retry did not reach its first region"
        time.sleep(0.1)
    return json.loads((signals / HELD).read_text())


def fault_table(proxy: FaultProxy) -> list[tuple[str, int, int, int]]:
    """(fault, injected, survived, lost) by kind of fault, then for all: a fault survived when the
    client sent the same request again and it reached S3."""
    rows = []
    for kind in [*FAULTS, None]:
        retried = [again for (fault, _, _), again in zip(proxy.injected, proxy.retried())
                   if kind in (None, fault)]
        rows.append((kind or "all", len(retried), sum(retried), retried.count(False)))
    return rows


def step_events(instance: DagsterInstance, run_id: str, step: str) -> list[DagsterEventType]:
    """The types of the events of one step of a run, in order."""
    return [entry.dagster_event.event_type for entry in instance.all_logs(run_id)
            if entry.dagster_event is not None and entry.dagster_event.step_key == step]


@pytest.mark.load
def test_a_backfill_on_a_dask_cluster_survives_s3_faults_and_a_killed_worker_and_equals_one_process(
        tiny_graph, s3_server, flaky_s3, tmp_path):
    reference_root = tmp_path / "single_process"
    copy_artifacts(tiny_graph.root, reference_root, UPSTREAM)
    materialise(reference_root, "truth", source=SOURCE)
    single_process_runs(reference_root)
    reference = ArtifactStore(str(reference_root))

    boto3.client("s3", endpoint_url=s3_server).create_bucket(Bucket=BUCKET)
    s3 = s3fs.S3FileSystem(client_kwargs={"endpoint_url": s3_server}, skip_instance_cache=True)
    for asset in [*UPSTREAM, "truth"]:
        s3.put(str(reference_root / asset), f"{BUCKET}/{PREFIX}/{asset}", recursive=True)
    shared = StorageResource(root=f"s3://{BUCKET}/{PREFIX}", endpoint_url=s3_server).store()
    # The cluster's requests go through the proxy; the test reads and writes the server directly.
    proxy = flaky_s3(faults=FAULTS, rate=FAULT_RATE, seed=FAULT_SEED, breaks=writes_and_pointers,
                     hang_s=2 * READ_TIMEOUT_S, lifetime_s=2 * RUN_SECONDS)

    home, signals, log = tmp_path / "dagster_home", tmp_path / "signals", tmp_path / "backfill.log"
    home.mkdir()
    signals.mkdir()
    (home / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    # The code location's source settings: its operational partitions are then the 8 inits.
    settings = tmp_path / "source.yaml"
    settings.write_text(yaml.safe_dump(SOURCE_SETTINGS | {"truth_days": SOURCE.truth_days}))
    location_env = {EXECUTOR_ENV_VAR: "dask", SETTINGS_ENV_VAR: str(settings)}
    # The workers load the code location as the run process does: in the same environment.
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None,
                      env=location_env) as cluster, Client(cluster) as client:
        client.register_plugin(KillInsideWrite(f"{BUCKET}/{PREFIX}/{EMULATED}/{KILLED_PARTITION}/",
                                               str(signals)))
        worker_pids = set(client.run(os.getpid).values())
        config = tmp_path / "run_config.json"
        config.write_text(json.dumps(cluster_run_config(cluster.scheduler_address, proxy.endpoint)))
        environment = {**os.environ, **location_env, "DAGSTER_HOME": str(home),
                       "PYTHONPATH": str(REPOSITORY)}
        started = time.monotonic()
        with open(log, "wb") as output:
            run = subprocess.Popen([sys.executable, backfill_runs.__file__, JOB, str(config),
                                    str(RUNS_AT_ONCE), *PARTITIONS], cwd=REPOSITORY, env=environment,
                                   stdout=output, stderr=subprocess.STDOUT, start_new_session=True)
        try:
            held = wait_for_hold(signals, run, log)
            # Between the kill and the retry's commit: nothing of the killed partition is visible,
            # though the killed write left part of a version behind.
            killed = json.loads((signals / KILLED).read_text())
            visible_while_held = (shared.has(EMULATED, KILLED_PARTITION),
                                  KILLED_PARTITION in shared.partitions(EMULATED))
            with pytest.raises(ArtifactNotFoundError):
                shared.load_dataset(EMULATED, KILLED_PARTITION)
            killed_files = s3.find(killed["version"].removeprefix("s3://"))
            (signals / RELEASED).touch()
            assert run.wait(timeout=RUN_SECONDS) == 0, log.read_text()[-4000:]
            backfill_s = time.monotonic() - started
        finally:  # the run process and the processes running its runs, whatever happened
            with contextlib.suppress(ProcessLookupError):
                os.killpg(run.pid, signal.SIGKILL)
            run.wait()
        worker_pids |= set(client.run(os.getpid).values())  # with the one the nanny started anew

    faults = fault_table(proxy)
    print(f"backfill {backfill_s:.0f} s, {proxy.requests} requests to S3 through the proxy, slowest "
          f"answer {proxy.slowest_forward_s:.2f} s\n" + "\n".join(
              f"{kind:8} injected {injected:4}  survived {survived:4}  lost {lost:3}"
              for kind, injected, survived, lost in faults))
    assert {kind for kind, injected, _, _ in faults if injected} == {*FAULTS, "all"}
    assert faults[-1][3] == 0, "a request broken by a fault was never sent again"
    assert visible_while_held == (False, False)
    committed = shared.location(EMULATED, KILLED_PARTITION)
    assert committed != killed["version"] and held["version"] == committed
    assert 0 < len(killed_files) < len(s3.find(committed.removeprefix("s3://")))

    with DagsterInstance.from_config(str(home)) as instance:
        runs = sorted(instance.get_runs(), key=lambda r: r.tags["dagster/partition"])
        assert [(r.job_name, r.tags["dagster/partition"], r.status) for r in runs] == [
            (JOB, partition, DagsterRunStatus.SUCCESS) for partition in PARTITIONS]
        # (asset, partition, the worker_pid in its metadata) of every materialisation, in order.
        made = [(m.asset_key.to_user_string(), m.partition, m.metadata["worker_pid"].value)
                for r in runs for m in (entry.asset_materialization for entry in instance.all_logs(
                    r.run_id, of_type=DagsterEventType.ASSET_MATERIALIZATION))]
        killed_run = runs[PARTITIONS.index(KILLED_PARTITION)].run_id
        # The same step started twice and succeeded once: dask reran the task of the lost worker
        # (the dask executor has no Dagster retries; the run has none either).
        emulation_events = step_events(instance, killed_run, EMULATED)
    assert emulation_events.count(DagsterEventType.STEP_START) == 2
    assert emulation_events.count(DagsterEventType.STEP_SUCCESS) == 1
    assert DagsterEventType.STEP_FAILURE not in emulation_events

    # Every step ran in a worker of the cluster, neither here nor in the run process, and not all
    # in one; the retry ran in another worker than the killed one.
    pids = {pid for _, _, pid in made}
    assert {(asset, partition) for asset, partition, _ in made} == {
        (asset, partition) for asset in DAILY for partition in PARTITIONS}
    assert pids <= worker_pids - {os.getpid(), run.pid} and len(pids) >= 2
    emulation_pid = [pid for asset, partition, pid in made
                     if (asset, partition) == (EMULATED, KILLED_PARTITION)]
    assert emulation_pid == [held["pid"]] and killed["pid"] in worker_pids - {held["pid"]}

    # Bit for bit the single-process run's artifacts, the killed partition's included.
    for partition in PARTITIONS:
        for asset in [a for a in DAILY if a != SCORES]:
            xr.testing.assert_identical(shared.load_dataset(asset, partition),
                                        reference.load_dataset(asset, partition))
        # Each side's tables from one commit of its set (the same names on both sides).
        ours, theirs = shared.objects(SCORES, partition), reference.objects(SCORES, partition)
        tables = [name for name in theirs.names() if name.endswith(".parquet")]
        assert len(tables) > 5 and sorted(ours.names()) == sorted(theirs.names())
        for name in tables:
            pd.testing.assert_frame_equal(ours.read_table(name), theirs.read_table(name), check_exact=True)
