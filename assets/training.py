"""The trained models: the emulator (SEEDS-GEE), a generator of member trajectories fitted to the
reforecasts, and the post-processor (SEEDS-GPP), the same generator trained with the truth at the
valid times as the target with probability `truth_probability`. `generator` picks the kind
(`seeds_dag.generators`): the one-pass `crps` generator (the emulator's default,
`seeds_dag.generators.recipes.DEFAULT_GENERATOR` says why), `edm`, the diffusion model of SEEDS (the
post-processor's default), or `consistency`.

Training checkpoints go to the store every `checkpoint_every` steps (atomically), so a killed
materialisation resumes where it stopped. With `compute.training_processes` > 1 the same training
runs data-parallel (torch DDP) in that many processes, rank 0 writing the checkpoints. The
finished model is committed as `model.pt` and the run's checkpoint is then removed, so the next
materialisation trains afresh on the data it sees.
A checkpoint left by an interrupted run of another configuration or other data is discarded with
a warning rather than resumed.
"""


import hashlib
import time

import numpy as np
import xarray as xr
from dagster import AssetExecutionContext, Config, DataVersion, MaterializeResult, MetadataValue, asset
from pydantic import model_validator

from assets.automation import follows_updated
from assets.gpu import gpu_step, training_processes_from_environment
from assets.inputs import open_partitions
from assets.model_files import CHECKPOINT, EMULATOR, FRAME, MODEL, POST_PROCESSOR, load_model
from assets.progress import progress_logger
from assets.science_configs import science_config
from assets.sources import reforecast_shards, truth
from assets.normalization import normalization_stats
from assets.versions import CODE_VERSIONS
from resources import ComputeResource, SourceResource, StorageResource
from seeds_dag.checkpoints import StaleCheckpointError, StoreCheckpointIO
from seeds_dag.conventions import VARIABLES
from seeds_dag.generators.kinds import CRPSConfig, Objective, examples_per_step
from seeds_dag.generators.recipes import (
    CONSISTENCY_EVALUATIONS,
    CRPS_FINETUNE_STEPS,
    DEFAULT_GENERATOR,
    POST_PROCESSOR_GENERATOR,
    POST_PROCESSOR_TRUTH_PROBABILITY,
    generator_objective,
)
from seeds_dag.model_file import model_version
from seeds_dag.networks.unet import DenoiserConfig
from seeds_dag.normalization import to_normalized_array, truth_at_valid_times
from seeds_dag.post_processing import FRAME_MEMBERS, FRAME_POOL_LONGITUDES, FRAME_SEED_SETS, fit_frame_to_emulator
from seeds_dag.seed_anomalies import seed_spread
from seeds_dag.store import ArtifactStore
from seeds_dag.training import TrainingConfig, train_data_parallel, train_generator

_TRAINING = TrainingConfig()
_DENOISER = DenoiserConfig()
_CRPS = CRPSConfig()
POST_PROCESSING_METHODS = ("frame", "generator")
POST_PROCESSING_METHOD = "frame"
"""SEEDS-GPP by default: the emulator's members through a post-processing frame fitted on the
reforecast and the truth (`seeds_dag.post_processing`: on the main job's 3 inits fair CRPS over
physics-31's 1.15 / 1.03 / 1.00 / 0.97 / 0.96 / 0.84 at days 1 / 3 / 5 / 7 / 10 / 15, spread/skill
0.94–0.99, against the `edm` generator trained on the truth, `POST_PROCESSOR_GENERATOR`)."""


class EmulatorTrainingConfig(Config):
    """Exposes `TrainingConfig`, `DenoiserConfig` and the arguments of `generator_objective`, their
    defaults taken from there (so a default lives once, in `seeds_dag`); they train the demo in
    minutes on CPU. A field named as a field of `TrainingConfig` or `DenoiserConfig` reaches it by
    that name (`assets.science_configs.science_config`). `generator`: "crps" (the
    emulator's default: one pass, afCRPS over `crps_members` members, `noise_channels` fields of
    spatial noise on each of the `noise_levels` coarsest U-Net levels), "consistency"
    (`consistency_evaluations` passes, 1 or 2: consistency training, then `crps_finetune_steps`
    steps of afCRPS fine-tuning) or "edm" (SEEDS's diffusion model, sampled with the solver of
    `daily_emulated_ensembles`; the post-processor's default)."""

    generator: str = DEFAULT_GENERATOR
    crps_members: int = _CRPS.members
    crps_alpha: float = _CRPS.alpha
    crps_variable_pair_weight: float = _CRPS.variable_pair_weight
    crps_spectral_weight: float = _CRPS.spectral_weight
    crps_finetune_steps: int = CRPS_FINETUNE_STEPS
    consistency_evaluations: int = CONSISTENCY_EVALUATIONS
    steps: int = _TRAINING.steps
    learning_rate: float = _TRAINING.learning_rate
    ema_decay: float = _TRAINING.ema_decay
    seed_counts: list[int] = list(_TRAINING.seed_counts)
    checkpoint_every: int = _TRAINING.checkpoint_every
    seed: int = _TRAINING.seed
    validation_inits: int = _TRAINING.validation_inits
    validate_every: int = _TRAINING.validate_every
    weight_decay: float = _TRAINING.weight_decay
    channels: list[int] = list(_DENOISER.channels)
    embed_dim: int = _DENOISER.embed_dim
    attention_at_bottom: bool = _DENOISER.attention_at_bottom
    noise_dim: int = _DENOISER.noise_dim
    noise_channels: int = _DENOISER.noise_channels
    noise_levels: int = _DENOISER.noise_levels
    output_correlation: bool = _DENOISER.output_correlation
    output_spectrum: bool = _DENOISER.output_spectrum
    output_cross_spectrum: bool = _DENOISER.output_cross_spectrum
    output_noise: bool = _DENOISER.output_noise
    output_noise_map: bool = _DENOISER.output_noise_map
    output_noise_initial_scale: float = _DENOISER.output_noise_initial_scale
    seed_mean_shrinkage: bool = _DENOISER.seed_mean_shrinkage

    @model_validator(mode="after")
    def _objective_is_known(self) -> "EmulatorTrainingConfig":
        self.objective()  # generator_objective refuses an unknown generator or evaluation count by name
        if self.generator == "crps" and self.seed_mean_shrinkage and len(set(self.seed_counts)) != 1:
            # Refused here, before any data is read, as training would refuse it.
            raise ValueError(f"seed_mean_shrinkage depends on K: seed_counts must hold one value (got "
                             f"{self.seed_counts}); train one model per K, or turn seed_mean_shrinkage off")
        return self

    def training(self, batch_size: int, truth_probability: float = 0.0) -> TrainingConfig:
        """The run's `TrainingConfig`: this config's fields of that name, `batch_size` examples a
        step and the truth as the target with `truth_probability`, the rest at their defaults."""
        return science_config(TrainingConfig, self, batch_size=batch_size, truth_probability=truth_probability)

    def denoiser(self, num_leads: int) -> DenoiserConfig:
        """The network: this config's `DenoiserConfig` fields, for trajectories of `num_leads` leads."""
        return science_config(DenoiserConfig, self, num_variables=len(VARIABLES), num_leads=num_leads)

    def objective(self) -> Objective:
        """The generator's objective settings (`generator_objective`, as the benchmarks')."""
        return generator_objective(self.generator, self.steps, crps_members=self.crps_members,
                                   crps_alpha=self.crps_alpha, crps_finetune_steps=self.crps_finetune_steps,
                                   consistency_evaluations=self.consistency_evaluations,
                                   crps_variable_pair_weight=self.crps_variable_pair_weight,
                                   crps_spectral_weight=self.crps_spectral_weight)


class PostProcessorTrainingConfig(EmulatorTrainingConfig):
    """How SEEDS-GPP is made. `method` "frame" (the default): the emulator's members through a
    post-processing frame fitted on the reforecast inits and their truth (`seeds_dag.post_processing`
    says why): `frame_members` members of the emulator from each of `frame_seed_sets` disjoint sets
    of K seeds (K = the one `seed_counts` entry) of every training init, regressions pooled over
    longitudes unless `frame_pool_longitudes` is false; the network fields below are unused.
    `method` "generator": a generator of its own trained with the emulator's settings, the truth the
    target with probability `truth_probability` (SEEDS-GPP as published; benchmarks/skill.py
    compares p = 0.5 and 1.0), its generator `POST_PROCESSOR_GENERATOR` by default."""

    method: str = POST_PROCESSING_METHOD
    frame_members: int = FRAME_MEMBERS
    frame_seed_sets: int = FRAME_SEED_SETS
    frame_pool_longitudes: bool = FRAME_POOL_LONGITUDES
    generator: str = POST_PROCESSOR_GENERATOR
    truth_probability: float = POST_PROCESSOR_TRUTH_PROBABILITY

    @model_validator(mode="after")
    def _frame_settings(self) -> "PostProcessorTrainingConfig":
        if self.method not in POST_PROCESSING_METHODS:
            raise ValueError(f"method: {self.method!r} is not one of {list(POST_PROCESSING_METHODS)}")
        if self.method == "frame" and (len(self.seed_counts) != 1 or self.frame_members < 1
                                       or self.frame_seed_sets < 1):
            raise ValueError(f"method 'frame' is fitted for one K: seed_counts must hold one value (got "
                             f"{self.seed_counts}), frame_members and frame_seed_sets at least 1 (got "
                             f"{self.frame_members}, {self.frame_seed_sets})")
        return self


# One GPU per training process (assets/gpu.py).
TRAINING_GPU_STEP = gpu_step(training_processes_from_environment())


@asset(group_name="training", deps=[reforecast_shards, normalization_stats],
       code_version=CODE_VERSIONS[EMULATOR], **TRAINING_GPU_STEP,
       description="SEEDS-GEE emulator: generator of one member's trajectory (all leads) given K "
       "seed members, trained on the reforecast window; the one-pass CRPS generator with spatial "
       "noise by default, EDM diffusion or consistency generators on request (GPU when present).")
def trained_emulator(context: AssetExecutionContext, config: EmulatorTrainingConfig,
                     compute: ComputeResource, source: SourceResource,
                     storage: StorageResource) -> MaterializeResult:
    return _train(context, EMULATOR, config, 0.0, compute, source, storage)


@asset(group_name="training", deps=[reforecast_shards, normalization_stats, truth, trained_emulator],
       code_version=CODE_VERSIONS[POST_PROCESSOR], automation_condition=follows_updated(EMULATOR),
       **TRAINING_GPU_STEP,
       description="SEEDS-GPP post-processor: by default a frame that moves the emulator's members "
       "onto the truth's distribution (a regression of the truth on the seed mean and the truth's "
       "spread about it, fitted on the reforecast inits); or a generator of its own trained to "
       "produce the truth at the valid time from K reforecast members (GPU when present).")
def post_processor(context: AssetExecutionContext, config: PostProcessorTrainingConfig,
                   compute: ComputeResource, source: SourceResource,
                   storage: StorageResource) -> MaterializeResult:
    if config.method == "frame":
        return _fit_frame(context, config, compute, source, storage)
    result = _train(context, POST_PROCESSOR, config, config.truth_probability, compute, source, storage)
    # The network now answers for the post-processor: a frame of an earlier run must not.
    storage.store().delete_bytes(POST_PROCESSOR, FRAME)
    return result


def _fit_frame(context: AssetExecutionContext, config: PostProcessorTrainingConfig, compute: ComputeResource,
               source: SourceResource, storage: StorageResource) -> MaterializeResult:
    """Fit the post-processing frame to the emulator's members on the reforecast inits and commit
    it as `frame.npz` (`seeds_dag.post_processing`)."""
    device = compute.setup()
    store = storage.store()
    stats = store.load_dataset("normalization_stats")
    reforecasts, data, lead_days = _reforecast_arrays(store, source, stats)
    truth_fields = truth_at_valid_times(store.open_dataset("truth"), reforecasts, stats, list(VARIABLES))
    lat, lon = reforecasts["lat"].values, reforecasts["lon"].values
    emulator, emulator_version = load_model(store, EMULATOR, lat, lon, lead_days, config.seed_counts[0], device)
    spread = seed_spread(stats, list(VARIABLES), reforecasts["lead_time"].values)
    start = time.perf_counter()
    with compute.autocast(device):
        frame = fit_frame_to_emulator(
            emulator, data, truth_fields, spread, lead_days, seed_count=config.seed_counts[0],
            seed_sets=config.frame_seed_sets, n_members=config.frame_members, emulator_version=emulator_version,
            batch_size=compute.sample_batch_size, device=device, pool_longitudes=config.frame_pool_longitudes)
    seconds = time.perf_counter() - start
    frame_file = frame.to_bytes()
    store.write_bytes(POST_PROCESSOR, FRAME, frame_file)
    # A generator of an earlier run, and its checkpoint, no longer answer for the post-processor.
    store.delete_bytes(POST_PROCESSOR, MODEL)
    store.delete_bytes(POST_PROCESSOR, CHECKPOINT)

    def by_lead(array: np.ndarray) -> list[float]:
        return [round(float(x), 3) for x in array.reshape(array.shape[0], -1).mean(axis=1)]

    return MaterializeResult(metadata={
        "location": store.location(POST_PROCESSOR),
        "method": "frame",
        "fitting_seconds": round(seconds, 1),
        "emulator_version": emulator_version,
        "training_inits": data.shape[0],
        "members_per_init": config.frame_members * config.frame_seed_sets,
        "slope_by_lead": MetadataValue.json(by_lead(frame.slope)),
        "scale_by_lead": MetadataValue.json(by_lead(frame.scale)),
        **compute.describe(),
    }, data_version=DataVersion(model_version(frame_file)))


def _reforecast_arrays(store: ArtifactStore, source: SourceResource,
                       stats: xr.Dataset) -> tuple[xr.Dataset, np.ndarray, np.ndarray]:
    """The reforecast window as (dataset, normalised (init, lead, member, V, lat, lon) array, lead days)."""
    reforecasts = open_partitions(store, "reforecast_shards", source.reforecast_dates(), load=True)
    data = to_normalized_array(reforecasts[list(VARIABLES)], stats, list(VARIABLES))
    return reforecasts, data, reforecasts["lead_time"].values / np.timedelta64(1, "D")


def _train(context: AssetExecutionContext, asset_name: str, config: EmulatorTrainingConfig,
           truth_probability: float, compute: ComputeResource, source: SourceResource,
           storage: StorageResource) -> MaterializeResult:
    """Train one model on the reforecast window (and the truth, when truth_probability > 0),
    resuming from the asset's checkpoint, and commit it as `model.pt`."""
    device = compute.setup()
    store = storage.store()
    stats = store.load_dataset("normalization_stats")
    dates = source.reforecast_dates()
    reforecasts, data, lead_days = _reforecast_arrays(store, source, stats)
    truth_fields = None
    if truth_probability > 0:
        truth_fields = truth_at_valid_times(store.open_dataset("truth"), reforecasts, stats, list(VARIABLES))

    data_id = (f"reforecast_shards {dates[0]}..{dates[-1]} ({len(dates)} inits), stats "
               f"{hashlib.sha256(stats[list(VARIABLES)].to_array().values.tobytes()).hexdigest()[:16]}")
    if truth_fields is not None:
        data_id += f", truth {hashlib.sha256(truth_fields.tobytes()).hexdigest()[:16]}"

    # The loop calls back every log_every steps with the mean loss since; about ten lines reach the log.
    report = progress_logger(context, "training", config.steps, "steps")

    def log(step: int, loss: float) -> None:
        report(step, f"loss {loss:.4f}")

    spread = seed_spread(stats, list(VARIABLES), reforecasts["lead_time"].values)
    objective = config.objective()
    # train_batch_size counts network samples per step, so the generators cost about the same a step.
    examples = examples_per_step(objective, compute.train_batch_size)
    run = {"data": data, "lead_days": lead_days, "spread": spread, "lat_deg": reforecasts["lat"].values,
           "lon_deg": reforecasts["lon"].values, "denoiser_config": config.denoiser(len(lead_days)),
           "objective": objective,
           "config": config.training(examples, truth_probability),
           "checkpoint": StoreCheckpointIO(store, asset_name, CHECKPOINT), "device": device,
           "on_log": log, "data_id": data_id, "autocast_dtype": compute.autocast_dtype,
           "truth": truth_fields}

    def train():
        if compute.training_processes > 1:
            return train_data_parallel(compute.training_processes, threads=compute.threads, **run)
        return train_generator(**run)

    start = time.perf_counter()
    try:
        result = train()
    except StaleCheckpointError as stale:
        context.log.warning(f"discarding the interrupted run's checkpoint: {stale}")
        store.delete_bytes(asset_name, CHECKPOINT)
        result = train()
    seconds = time.perf_counter() - start
    model_file = store.read_bytes(asset_name, CHECKPOINT)
    store.write_bytes(asset_name, MODEL, model_file)
    store.delete_bytes(asset_name, CHECKPOINT)
    losses = [loss for _, loss in result.losses]
    window = max(1, len(losses) // 20)
    smoothed = [float(np.mean(losses[i:i + window])) for i in range(0, len(losses), window)]
    return MaterializeResult(metadata={
        "location": store.location(asset_name),
        "training_seconds": round(seconds, 1),
        "steps": result.steps_done,
        "resumed_from_step": result.resumed_from_step,
        **({} if result.best_step is None else {
            "validation_inits": config.validation_inits,
            "best_step": result.best_step,
            "validation_curve": MetadataValue.json([[s, round(loss, 4)] for s, loss in result.validation])}),
        **({} if config.weight_decay == 0 else {"weight_decay": config.weight_decay}),
        "final_loss": round(float(np.mean(losses[-window:])), 4),
        "loss_curve": MetadataValue.json([round(x, 4) for x in smoothed]),
        "training_examples": int((data.shape[0] - config.validation_inits) * data.shape[1]),
        "truth_probability": truth_probability,
        "generator": config.generator,
        "examples_per_step": examples,
        "parameters": sum(p.numel() for p in result.model.parameters()),
        **compute.describe(),
    }, data_version=DataVersion(model_version(model_file)))
