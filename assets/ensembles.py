"""Daily emulated ensembles: K seed members of the operational ensemble → N generated member
trajectories (all leads of a member one sample) by each model — the emulator (SEEDS-GEE, model "gee") and the post-processor (SEEDS-GPP, model
"gpp") — from the same seeds, streamed to zarr batch by batch so memory does not grow with N.
Dims (model, init_time, lead_time, member, lat, lon): `ds.sel(model="gpp")` is one ensemble in
the forecast conventions."""


import time

import numpy as np
import xarray as xr
from dagster import (
    AssetCheckResult,
    AssetCheckSeverity,
    AssetCheckSpec,
    AssetExecutionContext,
    Config,
    MaterializeResult,
    MetadataValue,
    asset,
)

from assets.metadata import dataset_metadata, validation_check
from assets.models import EMULATOR, POST_PROCESSOR, load_model, post_processor, trained_emulator
from assets.partitions import init_dates
from assets.sources import operational_ensemble
from assets.statistics import normalization_stats
from resources import ComputeResource, SourceResource, StorageResource
from seeds_dag.conventions import FORECAST_DIMS, VARIABLES, validate
from seeds_dag.emulation import (
    MODEL_DIM,
    SamplerConfig,
    ensemble_template,
    forecast_seed,
    generate_members,
    normalized_seeds,
)
from seeds_dag.generators.kinds import model_kind
from seeds_dag.generators.sampling import nfe
from seeds_dag.normalization import from_normalized_array

_SAMPLER = SamplerConfig()
CHECK = "valid_daily_emulated_ensembles"
MODELS = {"gee": EMULATOR, "gpp": POST_PROCESSOR}
"""Name of each ensemble along MODEL_DIM -> the asset holding its trained model."""


class EmulationConfig(Config):
    """How many members to generate from which seeds, and the Heun schedule of an `edm` generator
    (the one-pass generators, the default, ignore num_steps, S_churn and sigma_max)."""

    n_members: int = 32
    seed_members: list[int] = [0, 1]  # which members of the operational ensemble are the seeds
    num_steps: int = _SAMPLER.num_steps
    S_churn: float = _SAMPLER.S_churn
    sigma_max: float = _SAMPLER.sigma_max  # top of the noise schedule, in units of the seed spread
    seed: int = 0  # combined with the init date, so every date draws its own noise

    def sampler(self) -> SamplerConfig:
        return SamplerConfig(num_steps=self.num_steps, S_churn=self.S_churn, sigma_max=self.sigma_max)


def _check_seed_members(seed_members: list[int], n_members: int, where: str) -> None:
    if not seed_members or len(set(seed_members)) != len(seed_members) or \
            not all(0 <= m < n_members for m in seed_members):
        raise ValueError(f"{where}: seed_members {seed_members} must be distinct members of the "
                         f"{n_members}-member operational ensemble (0..{n_members - 1})")


def ensemble_check(ds: xr.Dataset, where: str, n_members: int) -> AssetCheckResult:
    """The asset check: every model's ensemble follows the forecast conventions."""
    missing = [m for m in MODELS if m not in ds.indexes.get(MODEL_DIM, [])]
    if missing:
        return AssetCheckResult(check_name=CHECK, passed=False, severity=AssetCheckSeverity.ERROR,
                                metadata={"problems": MetadataValue.json([f"{where}: no model {missing}"])})
    results = [validation_check(CHECK, ds.sel(model=m), FORECAST_DIMS, f"{where} model {m}", n_members=n_members)
               for m in MODELS]
    return next((r for r in results if not r.passed), results[0])


@asset(group_name="emulation", partitions_def=init_dates,
       deps=[operational_ensemble, trained_emulator, post_processor, normalization_stats],
       check_specs=[AssetCheckSpec(CHECK, asset="daily_emulated_ensembles", blocking=True)],
       description="N members generated from K seed members of the day's operational ensemble "
       "by the emulator (SEEDS-GEE, model 'gee') and by the post-processor (SEEDS-GPP, model "
       "'gpp') (GPU when the compute resource has one).")
def daily_emulated_ensembles(context: AssetExecutionContext, config: EmulationConfig,
                             compute: ComputeResource, source: SourceResource,
                             storage: StorageResource) -> MaterializeResult:
    device = compute.setup()
    store = storage.store()
    key = context.partition_key
    source.check_operational_date(key)
    where = f"daily_emulated_ensembles[{key}]"
    _check_seed_members(config.seed_members, source.operational_members, where)
    stats = store.load_dataset("normalization_stats")
    operational = store.load_dataset("operational_ensemble", key)
    lat, lon = operational["lat"].values, operational["lon"].values
    seeds, spread, lead_days = normalized_seeds(operational, stats, config.seed_members)
    load_start = time.perf_counter()
    models = {name: load_model(store, asset, lat, lon, lead_days, device) for name, asset in MODELS.items()}
    load_seconds = time.perf_counter() - load_start

    batch = compute.sample_batch_size
    # A network batch holds whole member trajectories, so each yielded piece has `batch` members:
    # chunk the output by that, and every chunk is written exactly once.
    template = ensemble_template(operational, config.n_members, batch, list(MODELS))
    seconds = {}
    with store.dataset_writer("daily_emulated_ensembles", key, template) as writer, \
            compute.autocast(device):
        for index, (name, model) in enumerate(models.items()):
            start = time.perf_counter()
            # Both models get the same noise: their ensembles differ by what the models learnt.
            for members, normalized in generate_members(
                model, seeds, spread, lead_days, config.n_members, batch, config.sampler(),
                seed=forecast_seed(key, config.seed), device=device,
            ):
                fields = from_normalized_array(normalized, stats, list(VARIABLES),
                                               operational["lead_time"].values)
                piece = template.isel(model=[index], member=members).copy(data={
                    n: fields[n].values[None, None].astype(np.float32) for n in VARIABLES
                })
                # Refuse a bad batch before it is committed: the previous version stays in place.
                validate(piece.isel(model=0), FORECAST_DIMS,
                         f"{where} model {name} members {members.start}..{members.stop - 1}")
                writer.write_region(piece, region={MODEL_DIM: slice(index, index + 1), "member": members})
            seconds[name] = time.perf_counter() - start
    stored = store.open_dataset("daily_emulated_ensembles", key)
    total = sum(seconds.values())
    return MaterializeResult(
        metadata={"location": store.location("daily_emulated_ensembles", key),
                  "sampling_seconds": MetadataValue.json({k: round(v, 2) for k, v in seconds.items()}),
                  "seconds_per_member": round(total / (config.n_members * len(models)), 4),
                  "model_load_seconds": round(load_seconds, 2),
                  "n_members": config.n_members, "seed_members": str(config.seed_members),
                  "generator": MetadataValue.json({k: model_kind(m) for k, m in models.items()}),
                  "nfe_per_member": MetadataValue.json({k: nfe(m, config.sampler()) for k, m in models.items()}),
                  "sampler_steps": config.num_steps, "sigma_max": config.sigma_max,
                  **compute.describe(), **dataset_metadata(stored)},
        check_results=[ensemble_check(stored, where, config.n_members)],
    )
