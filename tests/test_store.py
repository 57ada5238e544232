"""ArtifactStore: round trips, versioned commits, sets of objects committed as one, failed writes,
safe keys, corruption, S3 secrets."""

import logging
import os
import warnings
from pathlib import Path

import boto3
import fsspec
import numpy as np
import pandas as pd
import pytest
import xarray as xr
import zarr

from seeds_dag.store import (
    POINTER,
    ArtifactNotFoundError,
    ArtifactStore,
    CorruptArtifactError,
)

SECRET = "s3cr3t-never-shown-9f2c"
BUCKET = "artifacts"


def forecast(seed=0, n_member=4):
    """A tiny forecast-like ensemble: dims (init_time, lead_time, member, lat, lon), float32."""
    rng = np.random.default_rng(seed)
    dims = ("init_time", "lead_time", "member", "lat", "lon")
    shape = (1, 2, n_member, 3, 4)
    return xr.Dataset(
        {
            "z500": (dims, rng.normal(5e4, 1e3, shape).astype("float32"),
                     {"units": "m2 s-2", "long_name": "geopotential at 500 hPa"}),
            "t850": (dims, rng.normal(270, 5, shape).astype("float32"), {"units": "K"}),
        },
        coords={
            "init_time": pd.date_range("2001-01-01", periods=1),
            "lead_time": pd.to_timedelta([24, 48], unit="h"),
            "member": np.arange(n_member),
            "lat": [-60.0, 0.0, 60.0],
            "lon": [0.0, 90.0, 180.0, 270.0],
        },
        attrs={"source": "test", "seed": seed},
    )


def s3_store(endpoint):
    options = {
        "endpoint_url": endpoint,
        "key": "test-key-id",
        "secret": SECRET,
        "client_kwargs": {"region_name": "us-east-1"},
    }
    boto3.client(
        "s3", endpoint_url=endpoint, aws_access_key_id="test-key-id",
        aws_secret_access_key=SECRET, region_name="us-east-1",
    ).create_bucket(Bucket=BUCKET)
    return ArtifactStore(f"s3://{BUCKET}/runs/demo", storage_options=options)


@pytest.fixture(params=["local", "s3"])
def store(request, tmp_path):
    if request.param == "local":
        return ArtifactStore(str(tmp_path / "root"))
    return s3_store(request.getfixturevalue("s3_server"))


def partition_dir(store, asset, partition):
    """The documented layout, read with fsspec independently of the store: (fs, path)."""
    url = f"{store.root}/{asset}/{partition or '_all'}"
    fs, path = fsspec.core.url_to_fs(url, **store.storage_options)
    fs.invalidate_cache()
    return fs, path


def partition_listing(store, asset, partition):
    fs, path = partition_dir(store, asset, partition)
    if not fs.exists(path):
        return set()
    return {p.rstrip("/").rsplit("/", 1)[-1] for p in fs.ls(path, detail=False)}


def pointer(store, asset, partition):
    """Raw content of the partition's CURRENT object."""
    fs, path = partition_dir(store, asset, partition)
    return fs.cat_file(f"{path}/{POINTER}")


def test_round_trip(store):
    ds = forecast()
    url = store.write_dataset(ds, "ensembles", "2001-01-01")
    assert url == store.location("ensembles", "2001-01-01")
    assert url.startswith(store.root + "/ensembles/2001-01-01/v-")
    opened = store.open_dataset("ensembles", "2001-01-01")
    assert opened.z500.dtype == np.float32
    assert opened.lead_time.dtype.kind == "m"
    xr.testing.assert_identical(opened.load(), ds)
    xr.testing.assert_identical(store.load_dataset("ensembles", "2001-01-01"), ds)
    chunked = store.open_dataset("ensembles", "2001-01-01", chunks={})
    assert chunked.z500.chunks == tuple((n,) for n in ds.z500.shape)
    assert store.has("ensembles", "2001-01-01") and not store.has("ensembles", "2001-01-02")
    assert store.partitions("ensembles") == ["2001-01-01"]
    store.write_dataset(ds, "stats")
    assert store.has("stats") and store.partitions("stats") == []


def test_overwrite_keeps_exactly_one_previous_version(store):
    urls = [store.write_dataset(forecast(seed), "ensembles", "p1") for seed in range(3)]
    names = [url.rsplit("/", 1)[-1] for url in urls]
    assert len(set(names)) == 3
    assert partition_listing(store, "ensembles", "p1") == {POINTER, names[1], names[2]}
    assert pointer(store, "ensembles", "p1").decode() == names[2]
    xr.testing.assert_identical(store.load_dataset("ensembles", "p1"), forecast(2))
    # The previous version stays readable for rollback and for readers that opened it.
    previous = xr.open_dataset(urls[1], engine="zarr", consolidated=False,
                               storage_options=store.storage_options or None)
    xr.testing.assert_identical(previous.load(), forecast(1))


def stream(store, asset, partition, ds, regions, fail_after=None):
    template = xr.zeros_like(ds.chunk({"member": 2}))
    with store.dataset_writer(asset, partition, template) as writer:
        for i, (a, b) in enumerate(regions):
            writer.write_region(ds.isel(member=slice(a, b)), region={"member": slice(a, b)})
            if i == fail_after:
                raise RuntimeError("sampler crashed")


def test_failed_stream_leaves_previous_version_current(store):
    store.write_dataset(forecast(0), "ensembles", "p1")
    before = pointer(store, "ensembles", "p1")
    listing = partition_listing(store, "ensembles", "p1")
    with pytest.raises(RuntimeError, match="sampler crashed"):
        stream(store, "ensembles", "p1", forecast(1), [(0, 2), (2, 4)], fail_after=0)
    assert pointer(store, "ensembles", "p1") == before
    assert partition_listing(store, "ensembles", "p1") == listing  # partial version deleted
    xr.testing.assert_identical(store.load_dataset("ensembles", "p1"), forecast(0))


def test_failed_write_of_new_partition_commits_nothing(store):
    with pytest.raises(RuntimeError, match="sampler crashed"):
        stream(store, "ensembles", "new", forecast(1), [(0, 2), (2, 4)], fail_after=0)
    assert not store.has("ensembles", "new")
    assert store.partitions("ensembles") == []
    assert partition_listing(store, "ensembles", "new") == set()
    with pytest.raises(ArtifactNotFoundError, match=r"'ensembles'.*'new'"):
        store.open_dataset("ensembles", "new")


def test_a_version_still_being_written_survives_a_newer_writers_prune(store):
    """Writer A starts first (older version name), writers B and C commit meanwhile; A's version
    is pruned by neither and A's commit leaves a whole dataset (the race seen under load)."""
    store.write_dataset(forecast(0), "ensembles", "p1")
    template = xr.zeros_like(forecast(1).chunk({"member": 2}))
    with store.dataset_writer("ensembles", "p1", template) as writer:
        store.write_dataset(forecast(2), "ensembles", "p1")
        store.write_dataset(forecast(3), "ensembles", "p1")
        writer.write_region(forecast(1), region={"member": slice(0, 4)})
    xr.testing.assert_identical(store.load_dataset("ensembles", "p1"), forecast(1))
    # The next commit prunes down to its previous version again; no marker is left behind.
    store.write_dataset(forecast(4), "ensembles", "p1")
    assert len(partition_listing(store, "ensembles", "p1")) == 3


def test_a_commit_by_another_process_is_seen_by_a_store_that_listed_before_it(s3_server):
    """Processes sharing an S3 root (a cluster's workers): a reader that looked at a partition
    while another process was writing it sees that writer's commit afterwards; s3fs, caching its
    listing, reported the committed CURRENT as missing (test_dask_backfill met it)."""
    reader = s3_store(s3_server)
    # Another process's store: its own s3fs instance, as in another process.
    writer = ArtifactStore(reader.root,
                           storage_options={**reader.storage_options, "skip_instance_cache": True})
    template = xr.zeros_like(forecast(1).chunk({"member": 2}))
    with writer.dataset_writer("ensembles", "p1", template) as stream:
        stream.write_region(forecast(1), region={"member": slice(0, 4)})
        assert (reader.partitions("ensembles"), reader.has("ensembles", "p1")) == ([], False)
    assert (reader.partitions("ensembles"), reader.has("ensembles", "p1")) == (["p1"], True)
    xr.testing.assert_identical(reader.load_dataset("ensembles", "p1"), forecast(1))


def test_a_killed_writers_version_is_pruned_once_abandoned(tmp_path, monkeypatch):
    store = ArtifactStore(str(tmp_path))
    stale = "v-20000101T000000.000000Z-0badc0de.zarr"
    directory = tmp_path / "ensembles" / "p1"
    (directory / stale).mkdir(parents=True)
    (directory / f".{stale}.writing").touch()
    store.write_dataset(forecast(0), "ensembles", "p1")
    store.write_dataset(forecast(1), "ensembles", "p1")
    assert stale not in partition_listing(store, "ensembles", "p1")
    assert not (directory / f".{stale}.writing").exists()


def test_streamed_regions_equal_whole_write(tmp_path):
    store = ArtifactStore(str(tmp_path))
    ds = forecast(3)
    store.write_dataset(ds, "whole")
    stream(store, "streamed", None, ds, [(2, 4), (0, 2)])
    xr.testing.assert_identical(store.load_dataset("streamed"), store.load_dataset("whole"))
    xr.testing.assert_identical(store.load_dataset("streamed"), ds)


def test_every_version_opens_in_plain_xarray_from_consolidated_metadata(store):
    """A user's `xr.open_zarr(url)` of a committed version, whole or streamed, reads its
    consolidated metadata: no warning, no fallback, the values as written."""
    ds = forecast()
    store.write_dataset(ds, "ensembles", "whole")
    stream(store, "ensembles", "streamed", ds, [(0, 2), (2, 4)])
    for partition in ("whole", "streamed"):
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            opened = xr.open_zarr(store.location("ensembles", partition),
                                  storage_options=store.storage_options or None)
            assert set(opened.data_vars) == set(ds.data_vars)
            for name in ("z500", "t850"):
                np.testing.assert_array_equal(opened[name].values, ds[name].values)


def test_text_is_stored_as_zarr_v3_string_and_read_back_as_written(store):
    """Labels (the emulated ensembles' `model`, the statistics' `statistic`) are written as zarr
    v3's specified `string` type, not zarr-python's unspecified fixed-width UTF-32 extension, with
    no warning; whole and streamed writes read back identical to what was written, `<U` and all."""
    ds = forecast().expand_dims(model=["gee", "gpp"]).assign_coords(
        statistic=("member", ["mean", "std", "q10", "q90"])
    )
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # zarr's UnstableSpecificationWarning included
        whole = store.write_dataset(ds, "whole")
        stream(store, "streamed", None, ds, [(0, 2), (2, 4)])
    stored = zarr.open_group(whole, mode="r", zarr_format=3, storage_options=store.storage_options or None)
    assert [str(stored[name].metadata.data_type) for name in ("model", "statistic")] == [
        "VariableLengthUTF8()", "VariableLengthUTF8()"
    ]
    for asset in ("whole", "streamed"):
        for read in (store.load_dataset(asset), store.open_dataset(asset, chunks={}).load()):
            xr.testing.assert_identical(read, ds)
            assert read.model.dtype == np.dtype("<U3") and read.statistic.dtype == np.dtype("<U4")


def test_incomplete_stream_is_not_committed(tmp_path):
    store = ArtifactStore(str(tmp_path))
    with pytest.raises(ValueError, match=r"incomplete.*z500"):
        stream(store, "ensembles", "p1", forecast(), [(0, 2)])
    assert not store.has("ensembles", "p1")


def test_eager_template_is_refused(tmp_path):
    store = ArtifactStore(str(tmp_path))
    with pytest.raises(ValueError, match=r"'ensembles'.*'p1'.*dask"):
        with store.dataset_writer("ensembles", "p1", forecast()):
            pass


@pytest.mark.parametrize("bad", ["../evil", "/etc", "a/b", "", "..", "x..y", ".hidden", "_all"])
def test_unsafe_keys_are_refused(tmp_path, bad):
    store = ArtifactStore(str(tmp_path))
    rule = r"A-Za-z0-9"
    with pytest.raises(ValueError, match=rf"unsafe asset name {bad!r}.*{rule}"):
        store.write_dataset(forecast(), bad)
    with pytest.raises(ValueError, match=rf"unsafe partition key {bad!r}.*{rule}"):
        store.has("ensembles", bad)
    with pytest.raises(ValueError, match=rf"unsafe object name {bad!r}"):
        store.write_bytes("ensembles", bad, b"x")
    assert list(tmp_path.iterdir()) == []


def test_reserved_object_names_and_bad_roots(tmp_path):
    store = ArtifactStore(str(tmp_path))
    with pytest.raises(ValueError, match="reserved"):
        store.write_bytes("ensembles", POINTER, b"x")
    for root in ("s3://", "s3:///prefix", "gs://bucket", ""):
        with pytest.raises(ValueError):
            ArtifactStore(root)
    with pytest.raises(ValueError, match="s3:// roots only"):
        ArtifactStore(str(tmp_path), storage_options={"anon": True})
    assert ArtifactStore("relative/dir").root == str(Path("relative/dir").resolve())


def chunk_file(store, asset, partition, variable):
    version = store.location(asset, partition)
    files = [os.path.join(d, f) for d, _, fs in os.walk(f"{version}/{variable}/c") for f in fs]
    assert len(files) == 1
    return files[0]


@pytest.mark.parametrize("damage", ["garble", "truncate", "delete"])
def test_damaged_chunk_raises_corrupt_artifact_error(tmp_path, damage):
    store = ArtifactStore(str(tmp_path))
    store.write_dataset(forecast(), "ensembles", "2001-01-01")
    path = chunk_file(store, "ensembles", "2001-01-01", "t850")
    with open(path, "rb") as file:
        data = file.read()
    if damage == "delete":
        os.remove(path)
    else:
        with open(path, "wb") as file:
            file.write(b"\x00garbage" * 8 if damage == "garble" else data[: len(data) // 2])
    with pytest.raises(CorruptArtifactError, match=r"'ensembles'.*'2001-01-01'") as error:
        store.load_dataset("ensembles", "2001-01-01")
    assert ("t850" in str(error.value)) if damage == "delete" else ("Error" in str(error.value))


def test_failed_cleanup_is_logged_not_raised(tmp_path, caplog, monkeypatch):
    store = ArtifactStore(str(tmp_path))
    store.write_dataset(forecast(0), "ensembles", "p1")
    store.write_dataset(forecast(1), "ensembles", "p1")

    def refuse(path, recursive=False):
        raise PermissionError(f"read-only: {path}")

    monkeypatch.setattr(store._fs, "rm", refuse)
    with caplog.at_level(logging.WARNING, logger="seeds_dag.store"):
        store.write_dataset(forecast(2), "ensembles", "p1")
    assert "could not delete superseded version of asset 'ensembles', partition 'p1'" in caplog.text
    xr.testing.assert_identical(store.load_dataset("ensembles", "p1"), forecast(2))


def test_bytes_and_table_round_trip(store):
    assert not store.exists_bytes("report", "crps.png", "p1")
    url = store.write_bytes("report", "crps.png", b"\x89PNG fake", "p1")
    assert url == f"{store.root}/report/p1/crps.png"
    assert store.read_bytes("report", "crps.png", "p1") == b"\x89PNG fake"
    store.write_bytes("report", "crps.png", b"second", "p1")
    assert store.read_bytes("report", "crps.png", "p1") == b"second"
    assert store.exists_bytes("report", "crps.png", "p1")
    df = pd.DataFrame({"variable": ["z500", "t850"], "crps": [12.5, 0.75]},
                      index=pd.Index([3, 7], name="lead_hours"))
    store.write_table(df, "scores", "p2")
    pd.testing.assert_frame_equal(store.read_table("scores", "p2"), df)
    assert store.partitions("report") == ["p1"] and store.partitions("scores") == ["p2"]
    assert partition_listing(store, "report", "p1") == {"crps.png"}  # no temporary files left
    with pytest.raises(ArtifactNotFoundError, match=r"'missing.json'.*'report'.*'p1'"):
        store.read_bytes("report", "missing.json", "p1")


def test_failed_local_object_write_keeps_previous(tmp_path, monkeypatch):
    store = ArtifactStore(str(tmp_path))
    store.write_bytes("models", "checkpoint.pt", b"good")

    def crash(src, dst):
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", crash)
    with pytest.raises(OSError, match="disk full") as error:
        store.write_bytes("models", "checkpoint.pt", b"half")
    assert any("'models'" in note for note in error.value.__notes__)
    monkeypatch.undo()
    assert store.read_bytes("models", "checkpoint.pt") == b"good"
    assert os.listdir(tmp_path / "models" / "_all") == ["checkpoint.pt"]


def test_s3_credentials_never_shown(s3_server, caplog):
    store = s3_store(s3_server)
    caplog.set_level(logging.DEBUG)
    assert SECRET not in repr(store) and "s3://artifacts/runs/demo" in repr(store)
    with pytest.raises(ArtifactNotFoundError) as missing:
        store.open_dataset("ensembles", "p9")
    assert "'p9'" in str(missing.value) and "s3://artifacts/runs/demo" in str(missing.value)
    for seed in range(3):
        store.write_dataset(forecast(seed), "ensembles", "p1")
    with pytest.raises(RuntimeError) as failed:
        stream(store, "ensembles", "p1", forecast(1), [(0, 2), (2, 4)], fail_after=0)
    messages = [str(missing.value), str(failed.value), *failed.value.__notes__, caplog.text]
    assert caplog.records and not any(SECRET in message for message in messages)
    assert "ArtifactStore(root='s3://artifacts/runs/demo'" in repr(store)
    assert "'secret': '***'" in repr(store)


@pytest.mark.parametrize("garbage", [b"not-a-version\n", b"../../etc/passwd", b"\xff\xfe"])
def test_a_current_pointer_holding_garbage_is_corruption_named_by_asset_and_partition(tmp_path, garbage):
    store = ArtifactStore(str(tmp_path))
    store.write_dataset(forecast(), "shards", "2001-01-01")
    pointer = Path(store.root) / "shards" / "2001-01-01" / POINTER
    pointer.write_bytes(garbage)
    for read in (store.open_dataset, store.load_dataset, store.has):
        with pytest.raises(CorruptArtifactError, match=r"asset 'shards', partition '2001-01-01'.*"
                           r"not a version name"):
            read("shards", "2001-01-01")


def table(seed):
    return pd.DataFrame({"crps": np.random.default_rng(seed).random(3)},
                        index=pd.Index(["z500", "t850", "sp"], name="variable"))


def write_set(store, tables, text, fail_after=None):
    """Commit `tables` and summary.txt holding `text` as one set of asset 'scores', partition
    'p1'; raise after writing the table number `fail_after` (0-based) instead, as a crash."""
    with store.objects_writer("scores", "p1") as written:
        for i, (name, df) in enumerate(tables.items()):
            written.write_table(df, name)
            if i == fail_after:
                raise RuntimeError("scoring crashed")
        written.write_bytes("summary.txt", text)


def assert_set(objects, tables, text):
    assert objects.names() == sorted([*tables, "summary.txt"])
    for name, df in tables.items():
        pd.testing.assert_frame_equal(objects.read_table(name), df, check_exact=True)
    assert objects.read_bytes("summary.txt") == text


def test_a_set_of_objects_is_committed_whole_or_not_at_all(store):
    """A write failing between two tables leaves the previous set current and whole; a complete
    one replaces every object at once (none of the old set is carried over), while a reader that
    took the old set before keeps reading all of it."""
    old = {"table.parquet": table(0), "ranks.parquet": table(1)}
    write_set(store, old, b"old")
    before = store.objects("scores", "p1")
    listing = partition_listing(store, "scores", "p1")
    with pytest.raises(RuntimeError, match="scoring crashed"):
        write_set(store, {"table.parquet": table(2), "ranks.parquet": table(3)}, b"new",
                  fail_after=0)
    assert partition_listing(store, "scores", "p1") == listing  # the partial set is deleted
    assert_set(store.objects("scores", "p1"), old, b"old")
    for name, df in old.items():
        pd.testing.assert_frame_equal(store.read_table("scores", "p1", name), df, check_exact=True)

    new = {"table.parquet": table(2), "coherence.parquet": table(4)}
    write_set(store, new, b"new")
    assert_set(store.objects("scores", "p1"), new, b"new")
    assert not store.exists_bytes("scores", "ranks.parquet", "p1")
    assert store.read_bytes("scores", "summary.txt", "p1") == b"new"
    assert_set(before, old, b"old")
    assert store.partitions("scores") == ["p1"]
    assert not store.has("scores", "p1")
    with pytest.raises(ArtifactNotFoundError, match=r"'scores', partition 'p1' holds a set of objects"):
        store.open_dataset("scores", "p1")


def test_one_object_written_or_deleted_in_a_set_commits_a_new_set(store):
    """write_bytes and delete_bytes keep working on a committed set: each commits a copy of it with
    the one object replaced or removed, so no object ever sits beside a set it is not part of."""
    write_set(store, {"table.parquet": table(0), "ranks.parquet": table(1)}, b"old")
    before = store.objects("scores", "p1")
    url = store.write_bytes("scores", "summary.txt", b"amended", "p1")
    assert url == f"{store.location('scores', 'p1')}/summary.txt"
    assert_set(before, {"table.parquet": table(0), "ranks.parquet": table(1)}, b"old")
    store.delete_bytes("scores", "ranks.parquet", "p1")
    assert_set(store.objects("scores", "p1"), {"table.parquet": table(0)}, b"amended")
    assert len(partition_listing(store, "scores", "p1")) == 3  # CURRENT, previous and current set


def test_objects_written_one_at_a_time_read_as_before_until_a_set_replaces_them(store):
    """A partition written before its asset committed sets (each table on its own) reads as it
    did; the first set committed there replaces all of it, and what it left is deleted."""
    store.write_table(table(0), "scores", "p1")
    store.write_table(table(1), "scores", "p1", name="coherence.parquet")
    assert store.objects("scores", "p1").names() == ["coherence.parquet", "table.parquet"]
    pd.testing.assert_frame_equal(store.read_table("scores", "p1"), table(0), check_exact=True)
    write_set(store, {"table.parquet": table(2)}, b"new")
    assert_set(store.objects("scores", "p1"), {"table.parquet": table(2)}, b"new")
    assert not store.exists_bytes("scores", "coherence.parquet", "p1")
    version = store.location("scores", "p1").rsplit("/", 1)[-1]
    assert partition_listing(store, "scores", "p1") == {POINTER, version}
