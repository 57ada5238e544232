"""Scale-out by configuration alone: trained_emulator on 2 DDP processes (compute resource), and
normalization_stats on a dask.distributed cluster (dask config `scheduler-address`)."""

import sys

import dask
import numpy as np
import pytest
import xarray as xr
from dagster import DagsterInstance
from forecast_shards import COMPUTE, LAT, LEAD_DAYS, LON, TRAINING, in_memory, materialise, metadata, write_shards

from assets.model_files import EMULATOR, load_model
from resources import ComputeResource, StorageResource
from seeds_dag.checkpoints import checkpoint_from_bytes
from seeds_dag.conventions import VARIABLES
from seeds_dag.emulated_ensemble import DEFAULT_SEED_MEMBERS
from seeds_dag.normalization import compute_normalization
from seeds_dag.store import ArtifactStore


@pytest.fixture
def shards(tmp_path):
    store = ArtifactStore(str(tmp_path))
    write_shards(store)
    return store


def test_training_processes_train_the_emulator_data_parallel(shards, tmp_path):
    storage = StorageResource(root=str(tmp_path))
    materialise(storage, "normalization_stats")
    instance = DagsterInstance.ephemeral()
    result = materialise(storage, "trained_emulator", instance=instance,
                         compute=ComputeResource(device="cpu", threads=1, training_processes=2,
                                                 train_batch_size=COMPUTE.train_batch_size))
    trained = metadata(result, "trained_emulator")
    assert (trained["training_processes"], trained["steps"], trained["resumed_from_step"]) == (
        2, TRAINING.steps, 0)
    # Rank 0's loss logs reach the Dagster event log of the run while it trains.
    messages = [entry.user_message for entry in instance.all_logs(result.run_id)]
    finished = f"training: {TRAINING.steps}/{TRAINING.steps} steps (100%), "
    assert any(message.startswith(finished) and ", loss " in message for message in messages)
    assert not shards.exists_bytes("trained_emulator", "checkpoint.pt")
    model_bytes = shards.read_bytes("trained_emulator", "model.pt")
    assert '"processes": 2' in checkpoint_from_bytes(model_bytes, "cpu")["fingerprint"]
    model, _ = load_model(shards, EMULATOR, LAT, LON, LEAD_DAYS, len(DEFAULT_SEED_MEMBERS), "cpu")
    assert sum(p.numel() for p in model.parameters()) == trained["parameters"]


def test_statistics_on_a_dask_cluster_equal_the_in_memory_ones(shards, tmp_path):
    from distributed import LocalCluster

    with LocalCluster(n_workers=2, threads_per_worker=1, processes=False,
                      dashboard_address=None) as cluster:
        with dask.config.set({"scheduler-address": cluster.scheduler_address}):
            result = materialise(StorageResource(root=str(tmp_path)), "normalization_stats")
        tasks_run = cluster.scheduler.transition_counter
    assert metadata(result, "normalization_stats")["dask_scheduler"] == cluster.scheduler_address
    assert tasks_run > 0
    stored = shards.load_dataset("normalization_stats")
    reference = compute_normalization(in_memory(shards)[list(VARIABLES)])
    xr.testing.assert_allclose(stored, reference, rtol=1e-12)
    assert all(np.isfinite(stored[name]).all() for name in VARIABLES)


def test_the_executor_is_chosen_by_the_environment(monkeypatch):
    import dagster
    import dagster_k8s

    from assets.dask_executor import dask_executor
    from assets.definitions import defs
    from assets.executors import EXECUTOR_ENV_VAR, executor_from_environment

    monkeypatch.delenv(EXECUTOR_ENV_VAR, raising=False)
    assert defs.executor is executor_from_environment() is dagster.multi_or_in_process_executor
    monkeypatch.setenv(EXECUTOR_ENV_VAR, "in_process")
    assert executor_from_environment() is dagster.in_process_executor
    monkeypatch.setenv(EXECUTOR_ENV_VAR, "dask")
    assert executor_from_environment() is dask_executor
    monkeypatch.setenv(EXECUTOR_ENV_VAR, "kubernetes")
    with pytest.raises(ValueError, match="'kubernetes': expected one of multiprocess, in_process, k8s"):
        executor_from_environment()
    monkeypatch.setenv(EXECUTOR_ENV_VAR, "k8s")
    assert executor_from_environment() is dagster_k8s.k8s_job_executor
    # Where dagster-k8s is not installed (a None in sys.modules makes its import fail).
    monkeypatch.setitem(sys.modules, "dagster_k8s", None)
    with pytest.raises(ImportError, match="SEEDS_DAG_EXECUTOR='k8s' needs the package dagster-k8s: "
                                          "pip install dagster-k8s"):
        executor_from_environment()
