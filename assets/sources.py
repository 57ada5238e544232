"""Source assets: the physics spin-up, the truth run, the reforecast shards and the operational
ensemble. Each body reads its inputs, calls one function of seeds_dag.sources, validates, writes.

`source.kind` picks the functions: the embedded physics (default), or for "gefs" the archives
(seeds_dag.sources.archive: GEFS GRIB2 from S3, ERA5 truth from zarr), which need no spin-up.
An archive read that fails raises before anything is written, so the partition keeps its previous
version (or stays empty)."""


import hashlib
import time

import pandas as pd
import torch
import xarray as xr
from dagster import (
    AssetCheckSpec,
    AssetExecutionContext,
    AssetKey,
    DataVersion,
    MaterializeResult,
    asset,
)

from assets.metadata import dataset_metadata, validation_check, worker_metadata
from assets.partitions import OPERATIONAL_INITS, REFORECAST_BACKFILL, REFORECAST_INITS
from assets.progress import progress_logger
from assets.versions import CODE_VERSIONS
from resources import SourceResource, StorageResource
from seeds_dag.conventions import FORECAST_DIMS, INIT, TRUTH_DIMS, VARIABLES, validate
from seeds_dag.sources.archive.era5 import era5_truth
from seeds_dag.sources.archive.gefs import gefs_forecast
from seeds_dag.store import ArtifactStore
from seeds_dag.sources.embedded.source import (
    run_forecasts,
    run_spinup,
    run_truth,
    spinup_settings,
)

GROUP = "sources"
# The tags Dagster writes on every materialisation (not exported by name).
DATA_VERSION_TAG, CODE_VERSION_TAG = "dagster/data_version", "dagster/code_version"


def _set_threads(source: SourceResource) -> None:
    if source.threads > 0:
        torch.set_num_threads(source.threads)


def settings_version(settings: str) -> DataVersion:
    """The data version of an artifact fully determined by its settings (and code version)."""
    return DataVersion(hashlib.sha256(settings.encode()).hexdigest()[:16])


def recorded_as_current(context: AssetExecutionContext, store: ArtifactStore, asset_name: str,
                        version: DataVersion) -> bool:
    """Whether Dagster's latest materialisation of `asset_name` recorded the artifact now in
    storage (same version location) with data version `version` and the asset's current code
    version: then materialising again would reproduce it."""
    event = context.instance.get_latest_materialization_event(AssetKey(asset_name))
    if event is None or event.asset_materialization is None or not store.has(asset_name):
        return False
    recorded = event.asset_materialization
    location = recorded.metadata.get("location")
    return (recorded.tags.get(DATA_VERSION_TAG) == version.value
            and recorded.tags.get(CODE_VERSION_TAG) == CODE_VERSIONS[asset_name]
            and location is not None and location.value == store.location(asset_name))


@asset(group_name=GROUP, code_version=CODE_VERSIONS["physics_spinup"],
       description="Spin-up of the truth model to a steady climate, with a pool of climate states "
       "for ensemble perturbations. Its data version is a hash of its settings, so rematerialising "
       "it with the settings and code of the artifact Dagster recorded in storage reuses that "
       "artifact, and nothing downstream becomes stale.")
def physics_spinup(context: AssetExecutionContext, source: SourceResource,
                   storage: StorageResource) -> MaterializeResult:
    if source.kind != "embedded":
        return MaterializeResult(metadata={
            "used": False, "source": source.kind,
            "reason": "the archive source reads real forecasts and reanalysis; nothing to spin up"})
    _set_threads(source)
    store = storage.store()
    config = source.embedded_config()
    version = settings_version(spinup_settings(config))
    if recorded_as_current(context, store, "physics_spinup", version):
        return MaterializeResult(metadata={"location": store.location("physics_spinup"),
                                           "cached": True}, data_version=version)
    start = time.perf_counter()
    spinup = run_spinup(config, on_day=progress_logger(context, "spin-up", config.spinup_days,
                                                       "model days"))
    seconds = time.perf_counter() - start
    url = store.write_dataset(spinup, "physics_spinup")
    return MaterializeResult(metadata={"location": url, "seconds": round(seconds, 1),
                                       "cached": False, "spinup_days": source.spinup_days,
                                       "pool_states": spinup.sizes["pool_day"]},
                             data_version=version)


@asset(group_name=GROUP, deps=[physics_spinup],
       code_version=CODE_VERSIONS["truth"],
       check_specs=[AssetCheckSpec("valid_truth", asset="truth", blocking=True)],
       description="Truth: one long nature run of the truth model (plays the role of reanalysis), "
       "daily fields on the output grid plus the daily model states forecasts start from.")
def truth(context: AssetExecutionContext, source: SourceResource,
          storage: StorageResource) -> MaterializeResult:
    _set_threads(source)
    store = storage.store()
    start = time.perf_counter()
    if source.kind == "gefs":
        ds = era5_truth(source.era5_store(), source.truth_times(), source.grid())
    else:
        config = source.embedded_config()
        ds = run_truth(config, store.load_dataset("physics_spinup"),
                       on_day=progress_logger(context, "nature run", config.truth_days, "model days"))
    seconds = time.perf_counter() - start
    validate(ds, TRUTH_DIMS, "truth")
    url = store.write_dataset(ds, "truth")
    stored = store.open_dataset("truth")
    return MaterializeResult(
        metadata={"location": url, "seconds": round(seconds, 1), "days": source.truth_days,
                  "source": ds.attrs.get("source", source.kind),
                  **dataset_metadata(ds[list(VARIABLES)])},
        check_results=[validation_check("valid_truth", {"truth": stored}, TRUTH_DIMS)],
    )


def _forecasts(source: SourceResource, store: ArtifactStore, inits: list[pd.Timestamp],
               n_members: int, purpose: str) -> xr.Dataset:
    """The forecasts of `inits` (init_time, lead_time, member, lat, lon): the embedded physics
    integrates them as one batch, the archive is read init by init."""
    if source.kind == "gefs":
        return xr.concat([gefs_forecast(source.gefs_archive(purpose), init, range(n_members),
                                        source.lead_days, source.grid()) for init in inits],
                         dim=INIT)
    truth_ds = store.open_dataset("truth")
    pool = store.open_dataset("physics_spinup")["pool"]
    return run_forecasts(source.embedded_config(), truth_ds, pool, inits, n_members, purpose)


def _forecast_asset_body(context: AssetExecutionContext, source: SourceResource,
                         storage: StorageResource, asset_name: str, n_members: int,
                         purpose: str) -> MaterializeResult:
    """The forecasts of every partition of the run (one, or a range under a backfill policy),
    each validated before any is written and each committed on its own, with its own location
    and dataset metadata on its materialisation; the blocking check covers them all."""
    _set_threads(source)
    store = storage.store()
    keys = context.partition_keys
    inits = [pd.Timestamp(key) for key in keys]
    start = time.perf_counter()
    forecasts = _forecasts(source, store, inits, n_members, purpose)
    seconds = time.perf_counter() - start
    parts = {key: validate(forecasts.sel({INIT: [init]}), FORECAST_DIMS, f"{asset_name}[{key}]",
                           n_members=n_members)
             for key, init in zip(keys, inits)}
    stored = {}
    for key, ds in parts.items():
        url = store.write_dataset(ds, asset_name, key)
        stored[f"{asset_name}[{key}]"] = store.open_dataset(asset_name, key)
        context.add_asset_metadata({"location": url, **dataset_metadata(ds)}, partition_key=key)
    timing = ("read_seconds_per_member" if source.kind == "gefs"
              else "physics_seconds_per_member")
    return MaterializeResult(
        metadata={"seconds": round(seconds, 2), "batch_inits": len(keys),
                  timing: round(seconds / (n_members * len(keys)), 3),
                  "source": forecasts.attrs.get("source"), "members": n_members,
                  **worker_metadata()},
        check_results=[validation_check(f"valid_{asset_name}", stored, FORECAST_DIMS,
                                        n_members=n_members)],
    )


@asset(group_name=GROUP, partitions_def=REFORECAST_INITS, deps=[truth, physics_spinup],
       code_version=CODE_VERSIONS["reforecast_shards"],
       check_specs=[AssetCheckSpec("valid_reforecast_shards", asset="reforecast_shards",
                                   blocking=True)],
       description="Reforecast shard for one init date: a small ensemble (5 members) of the "
       "ensemble model started from the truth at that date, all lead times. A backfill runs "
       "several inits in one run, their physics integrated as one batch, each partition still "
       "committed and recorded on its own.")
def reforecast_shards(context: AssetExecutionContext, source: SourceResource,
                      storage: StorageResource) -> MaterializeResult:
    return _forecast_asset_body(context, source, storage, "reforecast_shards",
                                source.reforecast_members, "reforecast")


# Set here, not in the decorator, whose `backfill_policy` (beta in Dagster 1.13) warns at every load.
reforecast_shards = reforecast_shards.with_attributes(backfill_policy=REFORECAST_BACKFILL)


@asset(group_name=GROUP, partitions_def=OPERATIONAL_INITS, deps=[truth, physics_spinup],
       code_version=CODE_VERSIONS["operational_ensemble"],
       check_specs=[AssetCheckSpec("valid_operational_ensemble", asset="operational_ensemble",
                                   blocking=True)],
       description="Operational ensemble for one init date: the full physics ensemble "
       "(31 members). Two of its members are the seeds; all of it is the baseline.")
def operational_ensemble(context: AssetExecutionContext, source: SourceResource,
                         storage: StorageResource) -> MaterializeResult:
    source.check_operational_date(context.partition_key)
    return _forecast_asset_body(context, source, storage, "operational_ensemble",
                                source.operational_members, "operational")
