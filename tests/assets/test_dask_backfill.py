"""A backfill of `daily_emulation` on a real distributed engine: the dask executor
(assets/dask_executor.py, on dagster-dask) sending every step to the worker processes of a
dask.distributed cluster, the storage root on an S3 server (moto) that the workers share, as a
cluster's machines would.

The code location is configured as a deployment configures it: SEEDS_DAG_EXECUTOR=dask in the
environment of the run process (backfill_runs.py, one run per partition), the cluster's address
and the storage root in run config, the S3 credentials from the environment. Upstream of the job
is the tiny experiment (the session's `tiny_graph`) with a nature run one day longer, so that
two inits can be verified.

One worker is killed with SIGKILL in the middle of writing the emulated ensemble of the second
partition (killed_write.py); dask reruns the task on another worker, and the test looks at the
store while that retry is held before its commit.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import boto3
import pandas as pd
import pytest
import s3fs
import xarray as xr
from dagster import DagsterEventType, DagsterInstance, DagsterRunStatus, RunConfig, materialize
from distributed import Client, LocalCluster
from killed_write import HELD, KILLED, RELEASED, KillInsideWrite
from tiny_experiment import COMPUTE, EMULATION, SOURCE_SETTINGS, copy_artifacts, materialise, tiny_source

import backfill_runs
from assets.definitions import ALL_ASSETS, defs
from assets.executors import EXECUTOR_ENV_VAR
from assets.main_job import operational_dates
from resources import StorageResource
from seeds_dag.store import ArtifactNotFoundError, ArtifactStore

JOB = "daily_emulation"
DAILY = sorted(key.to_user_string()
               for key in defs.resolve_job_def(JOB).asset_layer.executable_asset_keys)
EMULATED, SCORES = "daily_emulated_ensembles", "verification_scores"
# Inputs of the job's assets, copied from the tiny experiment; truth is rerun longer.
UPSTREAM = ["physics_spinup", "normalization_stats", "climatology", "trained_emulator", "post_processor"]
SOURCE = tiny_source(truth_days=SOURCE_SETTINGS["truth_days"] + 1)
PARTITIONS = operational_dates(SOURCE, 2)
KILLED_PARTITION = PARTITIONS[-1]
BUCKET, PREFIX = "cluster", "seeds"
REPOSITORY = Path(__file__).resolve().parents[2]
RUN_SECONDS = 240  # the run process's limit; the backfill took 60-80 s on 2 busy cores


def single_process_runs(root: Path) -> None:
    """Each partition's run of the job's assets in this process (Dagster's in-process executor)."""
    for partition in PARTITIONS:
        assert materialize(
            ALL_ASSETS, selection=DAILY, partition_key=partition, instance=DagsterInstance.ephemeral(),
            resources={"storage": StorageResource(root=str(root)), "compute": COMPUTE, "source": SOURCE},
            run_config=RunConfig(ops={EMULATED: EMULATION})).success


def cluster_run_config(scheduler: str, endpoint: str) -> dict:
    config = RunConfig(ops={EMULATED: EMULATION},
                       resources={"source": SOURCE, "compute": COMPUTE}).to_config_dict()
    config["resources"]["storage"] = {"config": {
        "root": f"s3://{BUCKET}/{PREFIX}", "endpoint_url": endpoint,
        "key": {"env": "AWS_ACCESS_KEY_ID"}, "secret": {"env": "AWS_SECRET_ACCESS_KEY"}}}
    config["execution"] = {"config": {"cluster": {"existing": {"address": scheduler}}}}
    return config


def wait_for_hold(signals: Path, run: subprocess.Popen, log: Path) -> dict:
    """What the held retry wrote, once it holds (the run process must still be running)."""
    deadline = time.monotonic() + RUN_SECONDS
    while not (signals / HELD).exists():
        assert run.poll() is None, f"the backfill ended before the retry held:\n{log.read_text()[-4000:]}"
        assert time.monotonic() < deadline, "the killed write's retry did not reach its first region"
        time.sleep(0.1)
    return json.loads((signals / HELD).read_text())


def step_events(instance: DagsterInstance, run_id: str, step: str) -> list[DagsterEventType]:
    """The types of the events of one step of a run, in order."""
    return [entry.dagster_event.event_type for entry in instance.all_logs(run_id)
            if entry.dagster_event is not None and entry.dagster_event.step_key == step]


def test_a_backfill_on_a_dask_cluster_equals_one_process_and_survives_a_killed_worker(
        tiny_graph, s3_server, tmp_path):
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

    home, signals, log = tmp_path / "dagster_home", tmp_path / "signals", tmp_path / "backfill.log"
    home.mkdir()
    signals.mkdir()
    (home / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    # The workers load the code location as the run process does: in the same environment.
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None,
                      env={EXECUTOR_ENV_VAR: "dask"}) as cluster, Client(cluster) as client:
        client.register_plugin(KillInsideWrite(f"{BUCKET}/{PREFIX}/{EMULATED}/{KILLED_PARTITION}/",
                                               str(signals)))
        worker_pids = set(client.run(os.getpid).values())
        config = tmp_path / "run_config.json"
        config.write_text(json.dumps(cluster_run_config(cluster.scheduler_address, s3_server)))
        environment = {**os.environ, EXECUTOR_ENV_VAR: "dask", "DAGSTER_HOME": str(home),
                       "PYTHONPATH": str(REPOSITORY)}
        with open(log, "wb") as output:
            run = subprocess.Popen([sys.executable, backfill_runs.__file__, JOB, str(config), *PARTITIONS],
                                   cwd=REPOSITORY, env=environment, stdout=output, stderr=subprocess.STDOUT)
        try:
            held = wait_for_hold(signals, run, log)
            # Between the kill and the retry's commit: nothing of the killed partition is visible,
            # though the killed write left part of a version behind.
            killed = json.loads((signals / KILLED).read_text())
            visible_while_held = (shared.has(EMULATED, KILLED_PARTITION), shared.partitions(EMULATED))
            with pytest.raises(ArtifactNotFoundError):
                shared.load_dataset(EMULATED, KILLED_PARTITION)
            killed_files = s3.find(killed["version"].removeprefix("s3://"))
            (signals / RELEASED).touch()
            assert run.wait(timeout=RUN_SECONDS) == 0, log.read_text()[-4000:]
        finally:
            run.kill()
            run.wait()
        worker_pids |= set(client.run(os.getpid).values())  # with the one the nanny started anew

    assert visible_while_held == (False, PARTITIONS[:1])
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
