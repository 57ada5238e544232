"""Several writers at once (partitions materialising in parallel under the multiprocess executor)
never leave a shared store or a checkpoint half-written: every read returns one whole version."""

import hashlib
import multiprocessing

import numpy as np
import pandas as pd
import xarray as xr

from seeds_dag.conventions import FORECAST_DIMS
from seeds_dag.store import ArtifactStore

WRITES_PER_PROCESS = 4
PROCESSES = 3


def forecast(value: float) -> xr.Dataset:
    """A small forecast whose every value is `value`, so a mixed version is easy to detect."""
    shape = (1, 2, 3, 4, 8)
    return xr.Dataset(
        {"t850": (FORECAST_DIMS, np.full(shape, value, np.float32))},
        coords={"init_time": pd.date_range("2000-01-01", periods=1),
                "lead_time": pd.to_timedelta([1, 2], unit="D"), "member": np.arange(3),
                "lat": np.linspace(-60, 60, 4), "lon": np.arange(8) * 45.0},
    )


def write_datasets(root: str, partition: str, writer: int) -> None:
    store = ArtifactStore(root)
    for i in range(WRITES_PER_PROCESS):
        store.write_dataset(forecast(1000.0 * writer + i), "reforecast_shards", partition)


def write_checkpoints(root: str, writer: int) -> None:
    store = ArtifactStore(root)
    for i in range(WRITES_PER_PROCESS):
        payload = np.random.default_rng(writer * 100 + i).bytes(200_000)
        store.write_bytes("trained_emulator", "checkpoint.pt",
                          hashlib.sha256(payload).digest() + payload)


def run_processes(target, args_per_process) -> None:
    context = multiprocessing.get_context("spawn")
    processes = [context.Process(target=target, args=args) for args in args_per_process]
    for process in processes:
        process.start()
    for process in processes:
        process.join(timeout=120)
        assert process.exitcode == 0, f"writer process exited with {process.exitcode}"


def test_parallel_partitions_and_a_contended_partition_stay_whole(tmp_path):
    root = str(tmp_path)
    # Three processes: two write their own partitions, all three also fight over one partition.
    run_processes(write_datasets, [(root, "2000-01-01", 1), (root, "2000-01-02", 2),
                                   (root, "2000-01-03", 3)])
    run_processes(write_datasets, [(root, "2000-01-04", w) for w in range(1, PROCESSES + 1)])
    store = ArtifactStore(root)
    assert store.partitions("reforecast_shards") == [
        "2000-01-01", "2000-01-02", "2000-01-03", "2000-01-04"]
    for key in store.partitions("reforecast_shards"):
        values = np.unique(store.load_dataset("reforecast_shards", key)["t850"].values)
        assert values.size == 1, f"{key}: a version mixes writes {values}"
    # The contended partition holds the last write of one of the writers, whole.
    contended = np.unique(store.load_dataset("reforecast_shards", "2000-01-04")["t850"]).item()
    assert contended in {1000.0 * w + WRITES_PER_PROCESS - 1 for w in range(1, PROCESSES + 1)}


def test_concurrent_checkpoint_writes_leave_a_whole_checkpoint(tmp_path):
    run_processes(write_checkpoints, [(str(tmp_path), w) for w in range(PROCESSES)])
    data = ArtifactStore(str(tmp_path)).read_bytes("trained_emulator", "checkpoint.pt")
    digest, payload = data[:32], data[32:]
    assert len(payload) == 200_000 and hashlib.sha256(payload).digest() == digest
