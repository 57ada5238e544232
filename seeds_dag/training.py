"""Training the generators (`seeds_dag.generators`): learn p(target trajectory | K seed members).

Every training example is one initialisation of the normalised reforecast, all its lead times
together: K random members of the same forecast are the seeds and the target is another member's
whole trajectory (SEEDS-GEE, the emulator) or, with probability `truth_probability`, the truth at
the valid times (SEEDS-GPP, the generative post-processor, whose samples then lean towards the
truth's distribution and so correct the physics model's bias). The model learns the target as its
anomaly from the seed mean (`seeds_dag.seed_anomalies`), conditioned on the seeds' summary; leads
are stacked as channels (lead-major), so a member is a trajectory. The loss is the generator's
(`generators.objectives`: EDM's denoising loss, consistency training, or the almost fair CRPS)
with cos(latitude) area weights; sampling uses an exponential moving average (EMA) of the weights.

Runs are resumable: a checkpoint (tensors, numbers and strings only, read back with
`torch.load(weights_only=True)`; `seeds_dag.checkpoints`) is saved every `checkpoint_every` steps
through a `CheckpointIO`,
and each step draws its batch and noise from generators seeded by (seed, step, rank), so a resumed
run continues exactly as an uninterrupted one would.

Data-parallel runs (`train_data_parallel`) run this same loop in several processes: each rank
draws its own batches, DDP averages the gradients, so every rank holds the same weights, and rank
0 alone writes the checkpoints (see `seeds_dag.distributed`).
"""

import copy
import dataclasses
import hashlib
import json
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import xarray as xr
from torch import Tensor

from seeds_dag import distributed
from seeds_dag.checkpoints import (
    CHECKPOINT_FORMAT,
    CheckpointIO,
    StaleCheckpointError,
    checkpoint_to_bytes,
    fingerprint_differences,
    resumable_checkpoint,
)
from seeds_dag.generators.kinds import Objective, kind_of
from seeds_dag.generators.objectives import training_loss
from seeds_dag.model_file import build_seeded_model, model_from_checkpoint, plain_config
from seeds_dag.networks.unet import DenoiserConfig
from seeds_dag.output_correlation import correlation_square_root, member_deviation_correlation
from seeds_dag.output_cross_spectrum import (hermitian_square_root, member_deviation_cross_spectrum,
                                             meridional_coherence)
from seeds_dag.output_spectrum import member_deviation_spectrum
from seeds_dag.precision import autocast_context
from seeds_dag.random_streams import seeded_generator
from seeds_dag.seed_anomalies import example_inputs
from seeds_dag.seed_mean_shrinkage import anomaly_correction, deviation_gain, reforecast_climate, wiener_factor
from seeds_dag.validation import split_validation, validation_examples, validation_loss
from seeds_dag.weighting import area_weights

RUN_LENGTH_FIELDS = ("steps", "checkpoint_every", "log_every", "validate_every")
"""TrainingConfig fields that leave the trajectory of a run unchanged; they are not part of the
fingerprint, so a finished run can be extended by raising `steps`."""
UNFINGERPRINTED_AT_ZERO = ("validation_inits", "weight_decay")
"""TrainingConfig fields left out of the fingerprint at 0, the value of every run before the field
existed, so that those runs' checkpoints still resume."""
EMA_WARMUP = 10
"""EMA decay is min(ema_decay, (1 + step) / (EMA_WARMUP + step)): early on the average forgets the
random initial weights quickly (as TensorFlow's ExponentialMovingAverage with num_updates)."""


@dataclass(frozen=True)
class TrainingConfig:
    """Optimisation of a generator; the defaults train the default network on a CPU in minutes.

    steps: total optimiser steps of the run (raise it to extend a finished run).
    batch_size: examples per step, each one (init, target member's trajectory, K seeds).
    learning_rate, adam_betas: Adam (AdamW with weight_decay); the rate ramps up linearly over
        warmup_steps, then stays.
    ema_decay: the most the decay of the EMA of the weights used for sampling may reach. Below it
        the decay is (1 + step)/(EMA_WARMUP + step), an average that widens with the run: half its
        weight comes from the last 7.4 % of the steps so far (59 of 800, 111 of 1500), so a short
        run needs no other decay than a long one. The cap binds only after
        (EMA_WARMUP·d − 1)/(1 − d) steps, 4490 for 0.998 (no run of the assets or the benchmarks
        has reached it), and then holds the width at about 1/(1 − d) steps. 0.998 is the value
        the skill benchmark's checkpoints were trained with, so they still resume with
        `--weight-decay 0` (with the default decay they are another run).
    seed_counts: the K values allowed; each step draws one (so a batch stacks), K ≤ n_members − 1.
    truth_probability: chance that an example's target is the truth rather than a member
        (0: the emulator, GEE; > 0: the post-processor, GPP, which needs the truth to train on).
    checkpoint_every: save a checkpoint every so many steps (and at the end).
    grad_clip: max global L2 norm of the gradient; 0 disables clipping.
    seed: seeds the initial weights and, with the step number, every batch and noise draw.
    log_every: call `on_log` every so many steps with the mean loss over them.
    validation_inits: hold the last so many inits of the data out of training and score the EMA
        weights on them every `validate_every` steps (and at the end) with the run's objective;
        the weights of the best score are the run's model (`seeds_dag.validation` says why).
        0: no validation, the last EMA weights are the model.
    weight_decay: decoupled weight decay (AdamW) of the weight matrices and convolution kernels,
        per step lr·weight_decay of each (the tensors of one dimension are not: biases, norm gains
        and the output noise's amplitude per channel, whose zero is no simpler a model; the
        kernels that bring the spatial noise in, and the head's noise map, are), so the product
        with the learning rate is what counts: 10 at 3e-4 takes 0.3 % of a weight a step. A
        regulariser against the conditional mean learnt by heart on few inits
        (`seeds_dag.validation`). Measured (main job's 24 inits, docs/benchmarks.md, eighth
        round): with 4 inits held out the validation score stops rising after its best (1.0967 at
        step 500, 1.0995 at 3000, against 1.0948 at 700 and 1.1735 at 3000 without decay; 1 only
        slows the rise), and at the main job's 800 steps the perfect-model fair CRPS over
        ideal-2's fell from 1.0512 and 1.0507 to 1.0443 and 1.0437 (two training seeds, mean over
        leads; the spread/skill 0.01-0.05 lower) while the realism scorecard's share within
        bounds rose from 0.69 and 0.66 to 0.78 and 0.82. 0: plain Adam, as every run before the
        field existed (left out of the fingerprint, so their checkpoints still resume).
    """

    steps: int = 800
    batch_size: int = 16
    learning_rate: float = 3e-4
    adam_betas: tuple[float, float] = (0.9, 0.99)
    warmup_steps: int = 100
    ema_decay: float = 0.998
    seed_counts: tuple[int, ...] = (2,)
    truth_probability: float = 0.0
    checkpoint_every: int = 200
    grad_clip: float = 1.0
    seed: int = 0
    log_every: int = 50
    validation_inits: int = 0
    validate_every: int = 100
    weight_decay: float = 10.0


@dataclass
class TrainingResult:
    """model: the EMA denoiser, eval mode, on the training device (with validation, the EMA
    weights of the best validation score); losses: (step, loss) of every step so far, resumed ones
    included; resumed_from_step: 0 for a fresh run; validation: (step, validation loss) of every
    validation so far, best_step the step whose weights are the model (None without validation)."""

    model: torch.nn.Module
    losses: list[tuple[int, float]]
    steps_done: int
    resumed_from_step: int
    validation: list[tuple[int, float]] = dataclasses.field(default_factory=list)
    best_step: int | None = None


def draw_batch(
    data: Tensor, batch_size: int, seed_counts: Sequence[int], generator: torch.Generator,
    truth: Tensor | None = None, truth_probability: float = 0.0,
) -> tuple[Tensor, Tensor]:
    """One training batch of trajectories from the reforecast.

    data: (n_init, n_lead, n_member, V, H, W) normalised; truth: (n_init, n_lead, V, H, W)
    normalised like data, the truth at each forecast's valid times.
    Returns target (B, n_lead, V, H, W) and seeds (B, K, n_lead, V, H, W): every example takes a
    uniform init and a uniform random permutation of the members: the first is the target, the
    next K are the seeds, all leads of each; then, with probability truth_probability, the truth's
    trajectory replaces the target. One K, drawn uniformly from `seed_counts`, serves the batch.
    """
    n_init, n_lead, n_member = data.shape[:3]
    k = seed_counts[int(torch.randint(len(seed_counts), (), generator=generator))]
    init = torch.randint(n_init, (batch_size,), generator=generator)
    members = torch.rand(batch_size, n_member, generator=generator).argsort(dim=1)[:, : 1 + k]
    fields = data[init[:, None], :, members]  # (B, 1 + K, n_lead, V, H, W)
    target = fields[:, 0]
    if truth_probability > 0:
        from_truth = torch.rand(batch_size, generator=generator) < truth_probability
        target = torch.where(from_truth[:, None, None, None, None], truth[init], target)
    return target, fields[:, 1:]


def run_fingerprint(
    denoiser_config: DenoiserConfig,
    objective: Objective,
    config: TrainingConfig,
    field_shape: Sequence[int],
    n_members: int,
    lead_days: np.ndarray,
    spread: np.ndarray,
    data_id: str = "",
    world_size: int = 1,
) -> str:
    """JSON of everything that shapes a run's trajectory: the network, the generator and its
    objective, the training config (less the run-length fields), the number of data-parallel processes (each adds a batch per step), the (V, H, W)
    field shape, the member count, the lead times, a digest of the anomaly spread and the caller's
    `data_id` naming the training data (the data values themselves are not hashed here)."""
    training = {k: v for k, v in dataclasses.asdict(config).items() if k not in RUN_LENGTH_FIELDS
                and not (k in UNFINGERPRINTED_AT_ZERO and v == 0)}
    training["processes"] = world_size
    data = {"field_shape": list(field_shape), "n_members": n_members,
            "lead_days": [float(d) for d in lead_days], "data_id": data_id,
            "spread": hashlib.sha256(np.ascontiguousarray(spread, np.float32).tobytes()).hexdigest()[:16]}
    return json.dumps(
        {"denoiser": dataclasses.asdict(denoiser_config), "generator": kind_of(objective),
         "objective": dataclasses.asdict(objective), "training": training, "data": data},
        sort_keys=True,
    )


def set_seed_mean_shrinkage(model: torch.nn.Module, data: np.ndarray, lat_deg: np.ndarray, spread: np.ndarray,
                            seed_counts: Sequence[int], device: torch.device) -> np.ndarray:
    """Give `model` the Wiener shrinkage of the seeds' mean measured on `data`
    (`seeds_dag.seed_mean_shrinkage`), and return the gain (W // 2 + 1, L·V) of the deviations
    about the shrunk mean, by which the output filter (`output_cross_spectrum`) is scaled."""
    if len(set(seed_counts)) != 1:
        raise ValueError(f"seed_mean_shrinkage: the shrinkage depends on K, so training takes one K; "
                         f"got seed_counts {tuple(seed_counts)} (train one model per K, or turn "
                         f"seed_mean_shrinkage off)")
    k = seed_counts[0]
    climate = reforecast_climate(data)
    factor = wiener_factor(data, climate, lat_deg, k)
    model.set_seed_mean_shrinkage(torch.from_numpy(factor).to(device),
                                  torch.from_numpy(anomaly_correction(factor, spread, k)).to(device),
                                  torch.from_numpy(climate).to(device))
    return deviation_gain(factor, k).T


def weight_decay_at(learning_rate: float, reference: TrainingConfig = TrainingConfig()) -> float:
    """The weight decay that takes as much of a weight a step at `learning_rate` as `reference`'s
    decay takes at its own rate (AdamW takes lr·weight_decay a step).

    For runs far from the default rate: at 17× it, the default's decay of 10 would take 5 % of every
    weight a step and leave nothing learnt. Rounded to 12 significant digits, so that 0.6 is written
    0.6 in fingerprints and metadata rather than 0.5999999999999999.
    """
    if not (math.isfinite(learning_rate) and learning_rate > 0):
        raise ValueError(f"weight_decay_at: learning_rate must be a finite value > 0, got {learning_rate}")
    return float(f"{reference.learning_rate * reference.weight_decay / learning_rate:.12g}")


def build_optimizer(model: torch.nn.Module, config: TrainingConfig) -> torch.optim.Optimizer:
    """Adam, or with `config.weight_decay` AdamW decaying the tensors of two or more dimensions only
    (weight matrices and kernels; a bias or a gain decayed towards 0 is pulled towards no simpler a
    model). Without decay it is the Adam of every earlier run, so their optimiser states load."""
    if config.weight_decay == 0:
        return torch.optim.Adam(model.parameters(), lr=config.learning_rate, betas=config.adam_betas)
    params = list(model.parameters())
    groups = [{"params": [p for p in params if p.dim() >= 2], "weight_decay": config.weight_decay},
              {"params": [p for p in params if p.dim() < 2], "weight_decay": 0.0}]
    return torch.optim.AdamW(groups, lr=config.learning_rate, betas=config.adam_betas)


@torch.no_grad()
def update_ema(ema: torch.nn.Module, model: torch.nn.Module, decay: float) -> None:
    """ema ← decay·ema + (1 − decay)·model for parameters; buffers are copied."""
    for ema_param, param in zip(ema.parameters(), model.parameters()):
        ema_param.lerp_(param, 1 - decay)
    for ema_buffer, buffer in zip(ema.buffers(), model.buffers()):
        ema_buffer.copy_(buffer)


def _check_inputs(
    data: np.ndarray, lead_days: np.ndarray, spread: np.ndarray, lat_deg: np.ndarray, lon_deg: np.ndarray,
    denoiser_config: DenoiserConfig, config: TrainingConfig, truth: np.ndarray | None,
) -> None:
    field = (denoiser_config.num_variables, len(lat_deg), len(lon_deg))
    if denoiser_config.num_leads != len(lead_days):
        raise ValueError(f"denoiser_config.num_leads is {denoiser_config.num_leads} but the data has "
                         f"{len(lead_days)} lead times {list(lead_days)}: a trajectory holds every lead")
    if data.ndim != 6 or data.shape[1] != len(lead_days) or data.shape[3:] != field:
        raise ValueError(
            f"training data: expected shape (n_init, {len(lead_days)}, n_member, {', '.join(map(str, field))}), "
            f"got {data.shape}"
        )
    if spread.shape != (len(lead_days), *field[:2]) or not (np.isfinite(spread) & (spread > 0)).all():
        raise ValueError(f"spread: expected positive finite values of shape ({len(lead_days)}, {field[0]}, "
                         f"{field[1]}) (seed_anomalies.seed_spread), got shape {spread.shape}")
    n_members = data.shape[2]
    if not config.seed_counts or min(config.seed_counts) < 1 or max(config.seed_counts) > n_members - 1:
        raise ValueError(
            f"seed_counts {config.seed_counts}: each K must lie in [1, {n_members - 1}] for {n_members} members "
            f"(one member is the target)"
        )
    if not np.isfinite(data).all():
        raise ValueError(f"training data holds {np.count_nonzero(~np.isfinite(data))} NaN/inf values")
    if config.validation_inits < 0 or (config.validation_inits > 0 and config.validate_every < 1):
        raise ValueError(f"validation_inits must be ≥ 0 and validate_every ≥ 1 with validation, got "
                         f"{config.validation_inits} and {config.validate_every}")
    if not (math.isfinite(config.weight_decay) and config.weight_decay >= 0):
        raise ValueError(f"weight_decay must be a finite value ≥ 0, got {config.weight_decay}")
    if not 0 <= config.truth_probability <= 1:
        raise ValueError(f"truth_probability must lie in [0, 1], got {config.truth_probability}")
    if config.truth_probability > 0:
        expected = (*data.shape[:2], *data.shape[3:])
        if truth is None or truth.shape != expected:
            raise ValueError(
                f"truth_probability {config.truth_probability} needs the truth at the valid times, shape "
                f"{expected}, got {None if truth is None else truth.shape}"
            )
        if not np.isfinite(truth).all():
            raise ValueError(f"training truth holds {np.count_nonzero(~np.isfinite(truth))} NaN/inf values")


def train_generator(
    data: np.ndarray,
    lead_days: np.ndarray,
    spread: np.ndarray,
    lat_deg: np.ndarray,
    lon_deg: np.ndarray,
    denoiser_config: DenoiserConfig,
    objective: Objective,
    config: TrainingConfig,
    checkpoint: CheckpointIO,
    device: torch.device,
    on_log: Callable[[int, float], None] | None = None,
    data_id: str = "",
    autocast_dtype: torch.dtype | None = None,
    rank: int = 0,
    world_size: int = 1,
    truth: np.ndarray | None = None,
) -> TrainingResult:
    """Train (or resume training) a generator of member trajectories on a normalised reforecast.

    Args:
        data: (n_init, n_lead, n_member, V, H, W) normalised float32, kept in host memory;
            batches move to `device` step by step.
        lead_days: (n_lead,) lead time of data's second axis, in days.
        spread: (n_lead, V, H) the reforecast's ensemble spread in normalised units
            (`seed_anomalies.seed_spread`): the unit of the anomalies the model learns.
        lat_deg, lon_deg: the grid, degrees (lat ascending), sizes H and W.
        denoiser_config: the network; its num_leads must be n_lead.
        objective: the generator and its loss (`generators.kinds`: EDMConfig, ConsistencyCRPSConfig
            or CRPSConfig).
        checkpoint: holds the run's state. If it has a checkpoint with this run's fingerprint the
            run resumes from its step (and returns at once if that is ≥ config.steps); a
            checkpoint of another configuration or data raises StaleCheckpointError naming the
            differing keys; a damaged one is moved aside and the run resumes from the previous
            checkpoint or from scratch (`checkpoints.resumable_checkpoint`).
        on_log: called every `log_every` steps and at the end with (step, mean loss of the last
            log_every steps).
        data_id: names the training data (e.g. the reforecast window and a digest of the
            normalisation statistics), so that a checkpoint of other data is not resumed.
        autocast_dtype: run the forward pass and loss under torch.autocast to this dtype
            (bf16 on CUDA), or None for full precision.
        rank, world_size: this process's place in an initialised torch.distributed process group
            (as `train_data_parallel` sets up); world_size 1 trains alone. Each rank draws its
            own `config.batch_size` examples per step, DDP averages the gradients, the logged
            loss is the mean over ranks, and rank 0 alone saves checkpoints and calls `on_log`.
        truth: (n_init, n_lead, V, H, W) normalised like `data`, the truth at each forecast's valid
            time; needed (only) when config.truth_probability > 0. Name it in `data_id`.

    Returns:
        TrainingResult with the EMA model (the same on every rank). The loss per step is the
        objective's, area-weighted (`generators.objectives`).
    """
    data = np.ascontiguousarray(data, dtype=np.float32)
    lead_days = np.asarray(lead_days, dtype=np.float32)
    truth = None if truth is None else np.ascontiguousarray(truth, dtype=np.float32)
    spread = np.ascontiguousarray(spread, dtype=np.float32)
    _check_inputs(data, lead_days, spread, lat_deg, lon_deg, denoiser_config, config, truth)
    distributed.check_rank(rank, world_size)
    fingerprint = run_fingerprint(denoiser_config, objective, config, data.shape[3:], data.shape[2], lead_days,
                                  spread, data_id, world_size)
    # Held out before anything is fitted to the data: the output structure's statistics too.
    data, held_out, truth, held_out_truth = split_validation(data, config.validation_inits, truth)

    model = build_seeded_model(denoiser_config, objective, lat_deg, lon_deg, config.seed).to(device)
    if getattr(model, "output_mixing", None) is not None:
        model.set_output_correlation(correlation_square_root(member_deviation_correlation(data)).to(device))
    # S for the seeds' mean, and the gain that scales the output filter to the deviations about it.
    deviation_gains = (set_seed_mean_shrinkage(model, data, lat_deg, spread, config.seed_counts, device)
                       if getattr(model, "seed_mean_correction", None) is not None else None)
    if getattr(model, "output_cross_root", None) is not None:
        cross = member_deviation_cross_spectrum(data)
        if deviation_gains is not None:
            cross = cross * deviation_gains[None, :, :, None] * deviation_gains[None, :, None, :]
        model.set_output_cross_spectrum(hermitian_square_root(cross).to(device))
    if getattr(model, "output_noise_meridional", None) is not None:
        chain = meridional_coherence(data).astype(np.complex64)
        model.set_output_noise_meridional(torch.from_numpy(chain).to(device))
    if getattr(model, "output_gains", None) is not None:
        gains = torch.from_numpy(member_deviation_spectrum(data).astype(np.float32))
        model.set_output_spectrum(gains.to(device))
    ema = copy.deepcopy(model).eval().requires_grad_(False)
    optimizer = build_optimizer(model, config)
    step, losses = 0, []
    validation: list[tuple[int, float]] = []
    best: dict[str, Any] | None = None  # {"step", "loss", "ema"}: the EMA weights of the best validation
    # One process recovers from a damaged checkpoint; train_data_parallel's ranks find it done.
    resumed = resumable_checkpoint(checkpoint, device, recover=world_size == 1)
    latest = None  # the bytes of the latest checkpoint, kept as the previous one at the next save
    if resumed is not None:
        state, latest = resumed
        if state["fingerprint"] != fingerprint:
            differences = "; ".join(fingerprint_differences(state["fingerprint"], fingerprint))
            raise StaleCheckpointError(
                f"the stored checkpoint belongs to another configuration: {differences}")
        model.load_state_dict(state["model"])
        ema.load_state_dict(state["ema"])
        optimizer.load_state_dict(state["optimizer"])
        step, losses = state["step"], [(int(s), float(loss)) for s, loss in state["losses"]]
        validation = [(int(s), float(loss)) for s, loss in state.get("validation", [])]
        if "best_ema" in state:
            best = {"step": int(state["best_step"]), "loss": float(state["best_loss"]),
                    "ema": state["best_ema"]}
    resumed_from_step = step
    # Gradients flow through the DDP wrapper; the EMA and the checkpoint hold the bare model.
    trainer = distributed.data_parallel(model, device) if world_size > 1 else model
    autocast = autocast_context(device, autocast_dtype)

    def save() -> None:
        nonlocal latest
        data = checkpoint_to_bytes({
            "format": CHECKPOINT_FORMAT, "fingerprint": fingerprint,
            "denoiser_config": plain_config(denoiser_config), "generator": kind_of(objective),
            "objective": plain_config(objective),
            "step": step, "losses": [[s, loss] for s, loss in losses],
            "model": model.state_dict(), "ema": ema.state_dict(), "optimizer": optimizer.state_dict(),
            **({} if best is None else {
                "validation": [[s, loss] for s, loss in validation], "best_step": best["step"],
                "best_loss": best["loss"], "best_ema": best["ema"]}),
        })
        # The one replaced is kept to fall back on while the run goes on; a finished run keeps one.
        checkpoint.save(data, previous=None if step == config.steps else latest)
        latest = data

    # spread (L, V, H) as the trajectory's channels (1, L·V, H), one row for every example.
    data_t, spread_t = torch.from_numpy(data), torch.from_numpy(spread).flatten(0, 1)[None]
    truth_t = None if truth is None else torch.from_numpy(truth)
    lat_weights = area_weights(xr.DataArray(np.asarray(lat_deg), dims="lat")).values
    weights = torch.as_tensor(lat_weights, dtype=torch.float32, device=device)
    examples = (None if held_out is None
                else validation_examples(held_out, config.seed_counts[0], held_out_truth))

    def validate() -> None:
        # Every rank scores the same EMA weights on the same examples, so all agree on the best.
        nonlocal best
        loss = validation_loss(ema, objective, examples, spread_t, weights, config.seed, step,
                               config.batch_size, device, config.truth_probability)
        validation.append((step, loss))
        if best is None or loss < best["loss"]:
            best = {"step": step, "loss": loss,
                    "ema": {key: value.detach().clone() for key, value in ema.state_dict().items()}}

    model.train()
    while step < config.steps:
        step += 1
        # Rank 0 keys its streams (seed, step, 0|1), which SeedSequence reads as (seed, step, 0|1, 0):
        # a one-process run is rank 0 of one.
        target, seeds = draw_batch(
            data_t, config.batch_size, config.seed_counts, seeded_generator(config.seed, step, 0, rank),
            truth_t, config.truth_probability,
        )
        anomaly, cond = example_inputs(target, seeds, spread_t)
        with autocast:
            loss = training_loss(
                trainer, objective, anomaly.to(device), cond.to(device), weights,
                seeded_generator(config.seed, step, 1, rank, device=device), step,
            )
        # Every rank sees the same mean, so all of them stop together on a non-finite loss.
        value = (distributed.mean_over_ranks(loss) if world_size > 1 else loss).item()
        if not math.isfinite(value):
            raise FloatingPointError(f"training loss is {value} at step {step}")
        for group in optimizer.param_groups:
            group["lr"] = config.learning_rate * min(1.0, step / max(config.warmup_steps, 1))
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if config.grad_clip > 0:
            torch.nn.utils.clip_grad_norm_(model.parameters(), config.grad_clip)
        optimizer.step()
        update_ema(ema, model, min(config.ema_decay, (1 + step) / (EMA_WARMUP + step)))
        losses.append((step, value))
        if examples is not None and (step % config.validate_every == 0 or step == config.steps):
            validate()
        if rank == 0 and on_log is not None and (step % config.log_every == 0 or step == config.steps):
            on_log(step, float(np.mean([loss for _, loss in losses[-config.log_every:]])))
        if rank == 0 and (step % config.checkpoint_every == 0 or step == config.steps):
            save()
    if best is not None:
        ema.load_state_dict(best["ema"])
    return TrainingResult(model=ema, losses=losses, steps_done=step, resumed_from_step=resumed_from_step,
                          validation=validation, best_step=None if best is None else best["step"])


def train_data_parallel(
    processes: int,
    *,
    data: np.ndarray,
    lat_deg: np.ndarray,
    lon_deg: np.ndarray,
    checkpoint: CheckpointIO,
    device: torch.device,
    threads: int = 0,
    on_log: Callable[[int, float], None] | None = None,
    **training: Any,
) -> TrainingResult:
    """`train_generator` in `processes` spawned processes with DDP (gloo on the CPU; NCCL on CUDA,
    one GPU per process), one machine.

    The arguments are train_generator's, by keyword (`training` holds the rest of them). The
    training data (and truth) is placed in shared memory once, not copied per process; `checkpoint` is
    pickled to every process, so it must reach the same place from each (a file, the artifact
    store). Each process draws `config.batch_size` examples a step: the effective batch is
    `processes` times larger. `on_log` is called here as rank 0 logs; `threads` sets torch's CPU
    threads per process (0: this process's threads shared out). Exceptions of the processes
    (e.g. StaleCheckpointError) are raised here as themselves.

    Returns the TrainingResult of rank 0, its EMA model read back from the final checkpoint onto
    `device`.
    """
    def shared(array: np.ndarray | None) -> Tensor | None:
        return None if array is None else torch.from_numpy(np.ascontiguousarray(array, dtype=np.float32)).share_memory_()

    # A damaged checkpoint is recovered from here, once, before the ranks read it.
    resumable_checkpoint(checkpoint, "cpu")
    summary = distributed.launch(
        _train_rank, processes, device.type, threads=threads, on_log=on_log,
        data=shared(data), truth=shared(training.pop("truth", None)), lat_deg=lat_deg, lon_deg=lon_deg,
        checkpoint=checkpoint, **training,
    )
    model = model_from_checkpoint(checkpoint.load(), lat_deg, lon_deg, device)
    return TrainingResult(model=model, **summary)


def _train_rank(*, data: Tensor, truth: Tensor | None, **kwargs: Any) -> dict[str, Any]:
    """One process of `train_data_parallel`: the loop, and what rank 0 reports back (the model
    travels through the checkpoint rather than the result queue)."""
    result = train_generator(data.numpy(), truth=None if truth is None else truth.numpy(), **kwargs)
    return {"losses": result.losses, "steps_done": result.steps_done,
            "resumed_from_step": result.resumed_from_step, "validation": result.validation,
            "best_step": result.best_step}
