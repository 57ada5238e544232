"""The trained models: the emulator (SEEDS-GEE), a generator of member trajectories fitted to the
reforecasts, and the post-processor (SEEDS-GPP), the same generator trained with the truth at the
valid times as the target with probability `truth_probability`. `generator` picks the kind
(`seeds_dag.generators`): the one-pass `crps` generator (the emulator's default, `DEFAULT_GENERATOR`
says why), `edm`, the diffusion model of SEEDS (the post-processor's default), or `consistency`.

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
import torch
from dagster import AssetExecutionContext, Config, DataVersion, MaterializeResult, MetadataValue, asset

from assets.gpu import gpu_step, training_processes_from_environment
from assets.inputs import open_partitions
from assets.progress import progress_logger
from assets.sources import reforecast_shards, truth
from assets.statistics import normalization_stats
from assets.versions import CODE_VERSIONS
from resources import ComputeResource, SourceResource, StorageResource
from seeds_dag.checkpoints import StaleCheckpointError, StoreCheckpointIO
from seeds_dag.conventions import VARIABLES
from seeds_dag.emulated_ensemble import model_version
from seeds_dag.generators.kinds import CRPSConfig, Objective, samples_per_example
from seeds_dag.generators.recipes import CONSISTENCY_EVALUATIONS, CRPS_FINETUNE_STEPS, generator_objective
from seeds_dag.networks.unet import DenoiserConfig
from seeds_dag.normalization import to_normalized_array, truth_at_valid_times
from seeds_dag.seed_anomalies import seed_spread
from seeds_dag.store import ArtifactStore
from seeds_dag.training import TrainingConfig, model_from_checkpoint, train_data_parallel, train_generator

EMULATOR = "trained_emulator"
POST_PROCESSOR = "post_processor"
CHECKPOINT = "checkpoint.pt"
MODEL = "model.pt"
_TRAINING = TrainingConfig()
_DENOISER = DenoiserConfig()
_CRPS = CRPSConfig()
DEFAULT_GENERATOR = "crps"
"""The emulator's generator, by the written rule (`seeds_dag.verification.targets.choose_generator`:
most realism targets met, then within 1 % of the best perfect-model fair CRPS, then fewest network
passes), applied to the main job's 3 inits (29 physics members each playing the truth, 800 training
steps; README, Measured): every generator missed all four realism targets, and the perfect-model
fair CRPS over ideal-2's, mean over leads, was 1.039 for `crps` with spatial noise (1 pass),
1.059 for `edm` (DPM-Solver++(2M), 16 passes) and 1.065 for `crps` without spatial noise. The skill
benchmark applies the same rule over ≥ 12 held-out inits; it has not been rerun since (README)."""
POST_PROCESSOR_GENERATOR = "edm"
"""The post-processor's generator: GPP is judged against the truth, not in a perfect model. On the
same 3 inits its fair CRPS over physics-31's was 1.18 / 1.08 / 1.01 / 0.96 / 0.97 / 0.90 at days
1 / 3 / 5 / 7 / 10 / 15 with `edm` and 1.17 / 1.10 / 1.08 / 1.05 / 1.03 / 0.93 with `crps`."""


class EmulatorTrainingConfig(Config):
    """Exposes `TrainingConfig`, `DenoiserConfig` and the arguments of `generator_objective`, their
    defaults taken from there; they train the demo in minutes on CPU. `generator`: "crps" (the
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
    channels: list[int] = list(_DENOISER.channels)
    embed_dim: int = _DENOISER.embed_dim
    attention_at_bottom: bool = _DENOISER.attention_at_bottom
    noise_dim: int = _DENOISER.noise_dim
    noise_channels: int = _DENOISER.noise_channels
    noise_levels: int = _DENOISER.noise_levels

    def training(self, batch_size: int, truth_probability: float = 0.0) -> TrainingConfig:
        return TrainingConfig(steps=self.steps, batch_size=batch_size,
                              learning_rate=self.learning_rate, ema_decay=self.ema_decay,
                              seed_counts=tuple(self.seed_counts),
                              checkpoint_every=self.checkpoint_every, seed=self.seed,
                              truth_probability=truth_probability)

    def denoiser(self, num_leads: int) -> DenoiserConfig:
        return DenoiserConfig(channels=tuple(self.channels), embed_dim=self.embed_dim,
                              attention_at_bottom=self.attention_at_bottom, noise_dim=self.noise_dim,
                              noise_channels=self.noise_channels, noise_levels=self.noise_levels,
                              num_variables=len(VARIABLES), num_leads=num_leads)

    def objective(self) -> Objective:
        """The generator's objective settings (`generator_objective`, as the skill benchmark's)."""
        return generator_objective(self.generator, self.steps, crps_members=self.crps_members,
                                   crps_alpha=self.crps_alpha, crps_finetune_steps=self.crps_finetune_steps,
                                   consistency_evaluations=self.consistency_evaluations,
                                   crps_variable_pair_weight=self.crps_variable_pair_weight,
                                   crps_spectral_weight=self.crps_spectral_weight)


class PostProcessorTrainingConfig(EmulatorTrainingConfig):
    """The emulator's settings plus the chance that a training target is the truth (SEEDS-GPP;
    benchmarks/skill.py compares p = 0.5 and 1.0), with its own default generator
    (`POST_PROCESSOR_GENERATOR`)."""

    generator: str = POST_PROCESSOR_GENERATOR
    truth_probability: float = 1.0


def load_model(store: ArtifactStore, asset: str, lat: np.ndarray, lon: np.ndarray, lead_days: np.ndarray,
               device: torch.device) -> tuple[torch.nn.Module, str]:
    """A committed generator (EMA weights) of `asset` (EMULATOR or POST_PROCESSOR), read with
    torch.load(weights_only=True) and refused unless it generates trajectories at `lead_days`,
    and the version of its file (`model_version`, the asset's data version)."""
    model_file = store.read_bytes(asset, MODEL)
    return model_from_checkpoint(model_file, lat, lon, device, lead_days), model_version(model_file)


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


@asset(group_name="training", deps=[reforecast_shards, normalization_stats, truth],
       code_version=CODE_VERSIONS[POST_PROCESSOR], **TRAINING_GPU_STEP,
       description="SEEDS-GPP post-processor: the emulator's model family trained to produce the "
       "truth at the valid time (with probability p, else another member) from K reforecast "
       "members, so its samples correct the physics model's bias (GPU when present).")
def post_processor(context: AssetExecutionContext, config: PostProcessorTrainingConfig,
                   compute: ComputeResource, source: SourceResource,
                   storage: StorageResource) -> MaterializeResult:
    return _train(context, POST_PROCESSOR, config, config.truth_probability, compute, source, storage)


def _train(context: AssetExecutionContext, asset_name: str, config: EmulatorTrainingConfig,
           truth_probability: float, compute: ComputeResource, source: SourceResource,
           storage: StorageResource) -> MaterializeResult:
    """Train one model on the reforecast window (and the truth, when truth_probability > 0),
    resuming from the asset's checkpoint, and commit it as `model.pt`."""
    device = compute.setup()
    store = storage.store()
    stats = store.load_dataset("normalization_stats")
    dates = source.reforecast_dates()
    reforecasts = open_partitions(store, "reforecast_shards", dates, load=True)
    data = to_normalized_array(reforecasts[list(VARIABLES)], stats, list(VARIABLES))
    lead_days = reforecasts["lead_time"].values / np.timedelta64(1, "D")
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
    examples = max(1, compute.train_batch_size // samples_per_example(objective))
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
        "final_loss": round(float(np.mean(losses[-window:])), 4),
        "loss_curve": MetadataValue.json([round(x, 4) for x in smoothed]),
        "training_examples": int(np.prod(data.shape[:2])),
        "truth_probability": truth_probability,
        "generator": config.generator,
        "examples_per_step": examples,
        "parameters": sum(p.numel() for p in result.model.parameters()),
        **compute.describe(),
    }, data_version=DataVersion(model_version(model_file)))
