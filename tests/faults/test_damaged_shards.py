"""Fault: a stored reforecast shard damaged after its asset check passed (a garbled, truncated or
missing chunk, broken array metadata, NaNs or values in the wrong unit written into it). The
reading code names the partition and the variable; normalization_stats and trained_emulator
refuse to consume the shard, and their previous good artifacts stay as they were."""

import os
import shutil
from pathlib import Path

import numpy as np
import pytest
import xarray as xr
from forecast_shards import INITS, LAT, LON, materialise, stored_array, write_shards

from resources import StorageResource
from seeds_dag.conventions import DataValidationError
from seeds_dag.store import POINTER, ArtifactStore, CorruptArtifactError

DAMAGED, VARIABLE = INITS[-1], "t850"


def chunk_file(store: ArtifactStore) -> Path:
    (path,) = [Path(d, f) for d, _, files in os.walk(f"{store.location('reforecast_shards', DAMAGED)}/"
                                                      f"{VARIABLE}/c") for f in files]
    return path


def garble(store):
    chunk_file(store).write_bytes(b"\x00garbage" * 8)


def truncate(store):
    path = chunk_file(store)
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])


def delete(store):
    chunk_file(store).unlink()


def break_metadata(store):
    path = Path(store.location("reforecast_shards", DAMAGED), VARIABLE, "zarr.json")
    path.write_text(path.read_text()[:40])


def write_nans(store):
    array = stored_array(store, DAMAGED, VARIABLE)
    array[0, 1, 2] = np.nan  # one member's whole field at the second lead


def write_celsius(store):
    array = stored_array(store, DAMAGED, VARIABLE)
    array[...] = array[...] - 273.15


DAMAGE = {
    # damage: (error type, what the message must say besides partition and variable)
    garble: (CorruptArtifactError, "corrupt"),
    truncate: (CorruptArtifactError, "corrupt"),
    delete: (CorruptArtifactError, "chunk files missing"),
    break_metadata: (CorruptArtifactError, "corrupt"),
    write_nans: (DataValidationError, f"{len(LAT) * len(LON)} NaN/inf values"),  # one field
    write_celsius: (DataValidationError, "outside the physical range"),
}


@pytest.fixture(scope="module")
def good_store(tmp_path_factory) -> Path:
    """Shards, statistics and an emulator, all good: copied for each test to damage."""
    root = tmp_path_factory.mktemp("good")
    write_shards(ArtifactStore(str(root)))
    for asset in ("normalization_stats", "trained_emulator"):
        materialise(StorageResource(root=str(root)), asset)
    return root


def snapshot(root: Path) -> dict[str, bytes]:
    """Every file of the downstream artifacts, by path."""
    return {str(p.relative_to(root)): p.read_bytes()
            for asset in ("normalization_stats", "trained_emulator")
            for p in sorted((root / asset).rglob("*")) if p.is_file()}


@pytest.mark.parametrize("downstream", ["normalization_stats", "trained_emulator"])
@pytest.mark.parametrize("damage", DAMAGE, ids=lambda damage: damage.__name__)
def test_damaged_shard_is_refused_naming_partition_and_variable(good_store, tmp_path, damage, downstream):
    root = tmp_path / "store"
    shutil.copytree(good_store, root)
    store = ArtifactStore(str(root))
    before = snapshot(root)
    stats_version = (root / "normalization_stats" / "_all" / POINTER).read_text()
    damage(store)

    error, says = DAMAGE[damage]
    with pytest.raises(error) as raised:
        materialise(StorageResource(root=str(root)), downstream)
    message = str(raised.value)
    assert says in message
    assert (f"'reforecast_shards', partition '{DAMAGED}'" in message
            or f"reforecast_shards[{DAMAGED}]" in message), message
    assert f"'{VARIABLE}'" in message, message

    assert snapshot(root) == before  # nothing written, nothing removed
    assert (root / "normalization_stats" / "_all" / POINTER).read_text() == stats_version
    assert not store.exists_bytes("trained_emulator", "checkpoint.pt")
    xr.testing.assert_identical(store.load_dataset("normalization_stats"),
                                ArtifactStore(str(good_store)).load_dataset("normalization_stats"))
    # The undamaged shard still reads.
    store.load_dataset("reforecast_shards", INITS[0])
