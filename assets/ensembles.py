"""Daily emulated ensembles: K seed members of the operational ensemble -> N generated member
trajectories (all leads of a member one sample) by each model, the emulator (SEEDS-GEE, model
"gee") and the post-processor (SEEDS-GPP, model "gpp"), from the same seeds, written by
`seeds_dag.emulated_ensemble.write_emulated_ensemble` (streamed batch by batch, provenance in the
artifact's attrs). Dims (model, init_time, lead_time, member, lat, lon): `ds.sel(model="gpp")` is
one ensemble in the forecast conventions."""


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
from pydantic import Field, field_validator, model_validator

from assets.automation import follows_dependencies
from assets.gpu import SAMPLING_GPUS, gpu_step
from assets.metadata import dataset_metadata, validation_check, worker_metadata
from assets.model_files import EMULATOR, POST_PROCESSOR, load_model, load_post_processor
from assets.training import post_processor, trained_emulator
from assets.partitions import OPERATIONAL_INITS
from assets.progress import progress_logger
from assets.science_configs import science_config
from assets.sources import operational_ensemble
from assets.normalization import normalization_stats
from assets.versions import CODE_VERSIONS
from resources import ComputeResource, SourceResource, StorageResource
from seeds_dag.conventions import FORECAST_DIMS, validate
from seeds_dag.emulated_ensemble import (
    DEFAULT_SEED_MEMBERS,
    EMULATOR_MODEL,
    POST_PROCESSOR_MODEL,
    PROVENANCE_ATTR,
    EnsembleProvenance,
    check_seed_members,
    write_emulated_ensemble,
)
from seeds_dag.emulation import MODEL_DIM, SOLVER_STEPS, SOLVERS, SamplerConfig

_SAMPLER = SamplerConfig()
CHECK = "valid_daily_emulated_ensembles"
MODELS = {EMULATOR_MODEL: EMULATOR, POST_PROCESSOR_MODEL: POST_PROCESSOR}
"""Name of each ensemble along MODEL_DIM -> the asset holding its trained model."""


class EmulationConfig(Config):
    """How many members to generate from which seeds, and the solver of an `edm` generator
    (`SamplerConfig`; the one-pass generators ignore solver, num_steps, S_churn and sigma_max)."""

    n_members: int = Field(default=32, ge=1)
    seed_members: list[int] = list(DEFAULT_SEED_MEMBERS)  # which members of the operational ensemble are the seeds
    solver: str = Field(default=_SAMPLER.solver, description=f"the edm generator's ODE solver, one of {list(SOLVERS)}")
    num_steps: int | None = Field(default=_SAMPLER.num_steps, description="the solver's steps; empty: its default "
                                  f"({SOLVER_STEPS})")
    S_churn: float = Field(default=_SAMPLER.S_churn, description="Heun's churn (EDM Algorithm 2); 0: deterministic")
    sigma_max: float = Field(default=_SAMPLER.sigma_max,
                             description="top of the noise schedule, in units of the seed spread")
    seed: int = 0  # combined with the init date, so every date draws its own noise

    @field_validator("seed_members")
    @classmethod
    def _members_are_numbered_from_zero(cls, seed_members: list[int]) -> list[int]:
        # Below 0 is outside every forecast; the top of this forecast, repeats and an empty list
        # are refused where the step knows the forecast's size (check_seed_members).
        if any(member < 0 for member in seed_members):
            raise ValueError(f"daily_emulated_ensembles.seed_members={seed_members}: members are "
                             "numbered from 0 (the control) to the forecast's size - 1")
        return seed_members

    @model_validator(mode="after")
    def _sampler_is_valid(self) -> "EmulationConfig":
        self.sampler()  # SamplerConfig refuses an unknown solver or impossible steps by name
        return self

    def sampler(self) -> SamplerConfig:
        """The `SamplerConfig` of this config's fields of its names, the rest at their defaults."""
        return science_config(SamplerConfig, self)


def ensemble_check(ds: xr.Dataset, where: str, n_members: int) -> AssetCheckResult:
    """The asset check: every model's ensemble follows the forecast conventions."""
    missing = [m for m in MODELS if m not in ds.indexes.get(MODEL_DIM, [])]
    if missing:
        return AssetCheckResult(check_name=CHECK, passed=False, severity=AssetCheckSeverity.ERROR,
                                metadata={"problems": MetadataValue.json([f"{where}: no model {missing}"])})
    return validation_check(CHECK, {f"{where} model {m}": ds.sel(model=m) for m in MODELS},
                            FORECAST_DIMS, n_members=n_members)


@asset(group_name="emulation", partitions_def=OPERATIONAL_INITS,
       deps=[operational_ensemble, trained_emulator, post_processor, normalization_stats],
       check_specs=[AssetCheckSpec(CHECK, asset="daily_emulated_ensembles", blocking=True)],
       code_version=CODE_VERSIONS["daily_emulated_ensembles"],
       automation_condition=follows_dependencies(ignoring=(EMULATOR,)), **gpu_step(SAMPLING_GPUS),
       description="N members generated from K seed members of the day's operational ensemble "
       "by the emulator (SEEDS-GEE, model 'gee') and by the post-processor (SEEDS-GPP, model "
       "'gpp'), with what produced them recorded in the artifact (seed members, generators, "
       "evaluations per member, model versions); GPU when the compute resource has one.")
def daily_emulated_ensembles(context: AssetExecutionContext, config: EmulationConfig,
                             compute: ComputeResource, source: SourceResource,
                             storage: StorageResource) -> MaterializeResult:
    device = compute.setup()
    store = storage.store()
    key = context.partition_key
    source.check_operational_date(key)
    where = f"daily_emulated_ensembles[{key}]"
    check_seed_members(config.seed_members, source.operational_members, where)
    stats = store.load_dataset("normalization_stats")
    # Validated as read: damage done after the forecast's own check is refused by name.
    operational = validate(store.load_dataset("operational_ensemble", key), FORECAST_DIMS,
                           f"{where}: operational_ensemble[{key}]", n_members=source.operational_members)
    lat, lon = operational["lat"].values, operational["lon"].values
    lead_days = operational["lead_time"].values / np.timedelta64(1, "D")
    load_start = time.perf_counter()
    seed_count = len(config.seed_members)
    emulator, emulator_version = load_model(store, EMULATOR, lat, lon, lead_days, seed_count, device)
    post_processor_model, post_processor_version, frame = load_post_processor(
        store, emulator, emulator_version, lat, lon, lead_days, seed_count, device)
    models = {EMULATOR_MODEL: emulator, POST_PROCESSOR_MODEL: post_processor_model}
    versions = {EMULATOR_MODEL: emulator_version, POST_PROCESSOR_MODEL: post_processor_version}
    load_seconds = time.perf_counter() - load_start
    total_members = config.n_members * len(models)
    with compute.autocast(device):
        timing = write_emulated_ensemble(
            store, "daily_emulated_ensembles", key, operational, stats, models, model_versions=versions,
            seed_members=config.seed_members, n_members=config.n_members,
            batch_size=compute.sample_batch_size, sampler=config.sampler(), seed=config.seed, device=device,
            on_members=progress_logger(context, "members generated", total_members, "members"),
            frames={POST_PROCESSOR_MODEL: frame} if frame is not None else None)
    stored = store.open_dataset("daily_emulated_ensembles", key)
    provenance = EnsembleProvenance.of(stored, where)
    return MaterializeResult(
        metadata={"location": store.location("daily_emulated_ensembles", key),
                  "sampling_seconds": MetadataValue.json({k: round(v, 2) for k, v in timing.model_seconds.items()}),
                  "seconds_per_member": round(timing.seconds / total_members, 4),
                  "model_load_seconds": round(load_seconds, 2),
                  "n_members": config.n_members, "seed_members": str(list(provenance.seed_members)),
                  "provenance": MetadataValue.json(provenance.attrs()[PROVENANCE_ATTR]),
                  **compute.describe(), **worker_metadata(), **dataset_metadata(stored)},
        check_results=[ensemble_check(stored, where, config.n_members)],
    )
