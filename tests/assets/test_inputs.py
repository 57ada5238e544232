"""Reading the partitions of a forecast asset (`assets.inputs.open_partitions`): what cannot be
concatenated is refused with an error naming the asset, the partition and what differs."""

import re

import pandas as pd
import pytest
from forecast_shards import shard

from assets.inputs import open_partitions
from seeds_dag.conventions import DataValidationError
from seeds_dag.store import ArtifactStore

INITS = ["2000-01-01", "2000-01-02", "2000-01-03"]


@pytest.fixture
def store(tmp_path) -> ArtifactStore:
    store = ArtifactStore(str(tmp_path))
    for seed, init in enumerate(INITS[:2]):
        store.write_dataset(shard(init, seed), "reforecast_shards", init)
    return store


def test_good_partitions_are_concatenated_along_init_time(store):
    ds = open_partitions(store, "reforecast_shards", INITS[:2], load=True)
    assert pd.to_datetime(ds["init_time"].values).strftime("%Y-%m-%d").tolist() == INITS[:2]


def test_missing_partitions_are_listed(store):
    with pytest.raises(FileNotFoundError, match=re.escape(
            "reforecast_shards: 1 of 3 partitions are not materialised: 2000-01-03")):
        open_partitions(store, "reforecast_shards", INITS)


def test_a_partition_holding_another_init_is_refused(store):
    store.write_dataset(shard(INITS[0], 2), "reforecast_shards", INITS[2])
    with pytest.raises(DataValidationError, match=re.escape(
            "reforecast_shards[2000-01-03]: holds init_time ['2000-01-01'], expected ['2000-01-03']")):
        open_partitions(store, "reforecast_shards", INITS)


@pytest.mark.parametrize("coordinate, change", [
    ("member", lambda ds: ds.isel(member=slice(0, 2))),
    ("lead_time", lambda ds: ds.isel(lead_time=[0])),
    ("lon", lambda ds: ds.assign_coords(lon=ds["lon"].values + 1.0)),
])
def test_a_partition_with_other_members_leads_or_grid_is_refused(store, coordinate, change):
    store.write_dataset(change(shard(INITS[2], 2)), "reforecast_shards", INITS[2])
    with pytest.raises(DataValidationError, match=re.escape(
            f"reforecast_shards[2000-01-03]: coordinate '{coordinate}'") + ".*differs from that of "
            + re.escape("reforecast_shards[2000-01-01]")):
        open_partitions(store, "reforecast_shards", INITS)
