"""Tiny synthetic reforecast shards written straight into a store: inputs for the tests of
normalization_stats and trained_emulator that do not need the physics (seconds, not a spin-up).

Each shard follows the conventions (dims, float32, CF units, physical ranges) on an 8 × 16 grid,
leads of 1 and 2 days, 3 members; members share a per-forecast anomaly so the seeds say something
about the target.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import xarray as xr
import zarr
from dagster import AssetKey, DagsterInstance, ExecuteInProcessResult, RunConfig, materialize

from assets.definitions import ALL_ASSETS
from assets.training import EmulatorTrainingConfig
from resources import ComputeResource, SourceResource, StorageResource
from seeds_dag.conventions import (
    FORECAST_DIMS,
    VARIABLES,
    attach_attributes,
    regular_latitudes,
    regular_longitudes,
)
from seeds_dag.store import ArtifactStore

INITS = ["2000-01-01", "2000-01-02"]
LEAD_DAYS = [1, 2]
N_MEMBERS = 3
LAT, LON = regular_latitudes(8), regular_longitudes(16)
SOURCE = SourceResource(reforecast_start=INITS[0], reforecast_end=INITS[-1], lead_days=LEAD_DAYS,
                        reforecast_members=N_MEMBERS)
COMPUTE = ComputeResource(device="cpu", threads=1, train_batch_size=4)
TRAINING = EmulatorTrainingConfig(steps=4, checkpoint_every=2, channels=[8, 16], embed_dim=16,
                                  attention_at_bottom=False)


def shard(init: str, seed: int) -> xr.Dataset:
    """One reforecast partition: dims (init_time, lead_time, member, lat, lon), float32."""
    rng = np.random.default_rng(seed)
    shape = (1, len(LEAD_DAYS), N_MEMBERS, len(LAT), len(LON))
    data = {}
    for name, var in VARIABLES.items():
        centre, scale = (var.valid_min + var.valid_max) / 2, (var.valid_max - var.valid_min) / 40
        forecast = rng.standard_normal((*shape[:2], 1, *shape[3:]))
        values = centre + scale * (forecast + 0.3 * rng.standard_normal(shape))
        data[name] = (FORECAST_DIMS, values.astype(np.float32))
    coords = {"init_time": pd.to_datetime([init]), "lead_time": pd.to_timedelta(LEAD_DAYS, unit="D"),
              "member": np.arange(N_MEMBERS), "lat": LAT, "lon": LON}
    return attach_attributes(xr.Dataset(data, coords=coords))


def write_shards(store: ArtifactStore) -> None:
    for seed, init in enumerate(INITS):
        store.write_dataset(shard(init, seed), "reforecast_shards", init)


def in_memory(store: ArtifactStore) -> xr.Dataset:
    """The stored shards loaded and concatenated, as a reference."""
    return xr.concat([store.load_dataset("reforecast_shards", k) for k in INITS], dim="init_time")


def materialise(storage: StorageResource, asset: str, *, compute: ComputeResource = COMPUTE,
                instance: DagsterInstance | None = None) -> ExecuteInProcessResult:
    """Materialise normalization_stats or trained_emulator from the synthetic shards; errors of
    the asset body propagate as themselves."""
    return materialize(
        ALL_ASSETS, selection=[asset],
        resources={"storage": storage, "compute": compute, "source": SOURCE},
        run_config=RunConfig(ops={"trained_emulator": TRAINING} if asset == "trained_emulator" else {}),
        instance=instance or DagsterInstance.ephemeral(),
    )


def metadata(result: ExecuteInProcessResult, asset: str) -> dict:
    (event,) = [e for e in result.get_asset_materialization_events() if e.asset_key == AssetKey(asset)]
    return {name: value.value for name, value in event.materialization.metadata.items()}


def stored_array(store: ArtifactStore, partition: str, variable: str) -> zarr.Array:
    """The committed zarr array of one variable of a shard, opened for writing (to damage it)."""
    return zarr.open_array(f"{store.location('reforecast_shards', partition)}/{variable}", mode="r+")
