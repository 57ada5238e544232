"""Fault: keys and configured paths that try to leave the storage root. Every store method that
takes an asset name, partition key or object name refuses '..', absolute and nested paths before
touching anything (tests/test_store.py::test_unsafe_keys_are_refused covers the writers; this
covers every reader and deleter against a real file planted beside the root); the storage
resource's root is normalised once and an s3:// root cannot hold dot segments; Dagster's daily
partitions refuse a key that is not a date before any asset body runs."""

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import xarray as xr
from dagster import DagsterInstance, DagsterUnknownPartitionError, materialize
from forecast_shards import COMPUTE, SOURCE

from assets.definitions import ALL_ASSETS
from resources import StorageResource
from resources.storage import ROOT_ENV_VAR
from seeds_dag.store import ArtifactStore

ESCAPES = ["../outside", "..", "/abs/outside", "a/../../outside", "_all/../../outside", "outside/"]


def calls(store: ArtifactStore, bad: str):
    """Every public store call, with `bad` in each key position it has."""
    ds = xr.Dataset({"x": ("t", np.zeros(2, np.float32))})
    template = ds.chunk()
    return {
        "write_dataset asset": lambda: store.write_dataset(ds, bad),
        "write_dataset partition": lambda: store.write_dataset(ds, "a", bad),
        "dataset_writer partition": lambda: store.dataset_writer("a", bad, template).__enter__(),
        "open_dataset": lambda: store.open_dataset("outside", bad),
        "load_dataset": lambda: store.load_dataset(bad),
        "has": lambda: store.has("a", bad),
        "location": lambda: store.location(bad),
        "partitions": lambda: store.partitions(bad),
        "read_bytes name": lambda: store.read_bytes("outside", bad),
        "read_bytes partition": lambda: store.read_bytes("a", "secret.txt", bad),
        "exists_bytes": lambda: store.exists_bytes(bad, "secret.txt"),
        "delete_bytes asset": lambda: store.delete_bytes(bad, "secret.txt"),
        "delete_bytes name": lambda: store.delete_bytes("a", bad),
        "write_table": lambda: store.write_table(pd.DataFrame({"x": [1]}), "a", bad),
        "read_table": lambda: store.read_table(bad),
    }


def refuses(call) -> bool:
    """Whether `call` raises the store's ValueError for an unsafe key."""
    try:
        call()
    except ValueError as error:
        return "unsafe" in str(error)
    return False


@pytest.mark.parametrize("bad", ESCAPES)
def test_no_store_call_reaches_outside_the_root(tmp_path, bad):
    root, outside = tmp_path / "root", tmp_path / "outside" / "_all"
    outside.mkdir(parents=True)
    (outside / "secret.txt").write_text("keep me")
    store = ArtifactStore(str(root))
    assert [name for name, call in calls(store, bad).items() if not refuses(call)] == []
    assert (outside / "secret.txt").read_text() == "keep me"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["outside"]  # not even the root was made


def test_a_local_root_is_resolved_once_and_everything_stays_under_it(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    configured = StorageResource(root="work/../data/./run")
    store = configured.store()
    assert store.root == str(tmp_path / "data" / "run")
    store.write_bytes("a", "note.txt", b"x", "2000-01-01")
    assert [str(p.relative_to(tmp_path)) for p in tmp_path.rglob("*") if p.is_file()] == [
        "data/run/a/2000-01-01/note.txt"]
    monkeypatch.setenv(ROOT_ENV_VAR, "elsewhere/../env-root")
    assert StorageResource().store().root == str(tmp_path / "env-root")


@pytest.mark.parametrize("root", ["s3://bucket/../other-bucket", "s3://bucket/a/./b", "s3://bucket//a",
                                  "s3://bucket/a/.."])
def test_s3_roots_with_dot_segments_are_refused(root):
    with pytest.raises(ValueError, match="path segments"):
        StorageResource(root=root).store()


def test_s3_root_with_credentials_in_the_url_is_refused_without_echoing_them():
    with pytest.raises(ValueError, match="credentials") as raised:
        StorageResource(root="s3://AKIAID:topsecret@bucket/run").store()
    assert "topsecret" not in str(raised.value) and "AKIAID" not in str(raised.value)


@pytest.mark.parametrize("key", ["../2000-01-01", "2000-01-01/../../x", "/etc"])
def test_dagster_refuses_a_partition_key_that_is_not_a_date(tmp_path, key):
    with pytest.raises(DagsterUnknownPartitionError, match="Could not find a partition"):
        materialize(ALL_ASSETS, selection=["reforecast_shards"], partition_key=key,
                    resources={"storage": StorageResource(root=str(tmp_path / "root")),
                               "compute": COMPUTE, "source": SOURCE},
                    instance=DagsterInstance.ephemeral())
    assert not Path(tmp_path / "root").exists()
