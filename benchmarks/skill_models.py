"""Training the skill benchmark's models on the experiment's reforecast: the emulator (GEE) with
each generator and post-processors (GPP, truth as the target with probability p). Checkpoints live under the
benchmark's root, so an interrupted benchmark resumes training where it stopped."""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path

import numpy as np
import torch
import xarray as xr

from seeds_dag.checkpoints import LocalCheckpointIO
from seeds_dag.conventions import VARIABLES
from seeds_dag.generators.kinds import Objective, examples_per_step, kind_of
from seeds_dag.model_file import model_from_checkpoint, model_version
from seeds_dag.networks.unet import DenoiserConfig
from seeds_dag.normalization import to_normalized_array, truth_at_valid_times
from seeds_dag.training import TrainingConfig, train_generator


@dataclasses.dataclass(frozen=True)
class ModelSpec:
    """One model the benchmark trains: name (e.g. "gee-crps", "gpp-crps-p1.0") and its settings;
    training.batch_size counts network samples per step (as the compute resource's
    train_batch_size does), so every generator costs about the same a step."""

    name: str
    denoiser: DenoiserConfig
    objective: Objective
    training: TrainingConfig


def training_arrays(reforecast: xr.Dataset, truth: xr.Dataset, stats: xr.Dataset) -> dict[str, np.ndarray]:
    """Normalised reforecast (init, lead, member, V, lat, lon) and the truth at its valid times
    (init, lead, V, lat, lon), normalised with the reforecast's statistics of each lead."""
    variables = list(VARIABLES)
    return {"data": to_normalized_array(reforecast[variables], stats, variables),
            "truth": truth_at_valid_times(truth, reforecast, stats, variables)}


def train_model(spec: ModelSpec, arrays: dict[str, np.ndarray], lead_days: np.ndarray, spread: np.ndarray,
                lat: np.ndarray, lon: np.ndarray, root: Path, device: torch.device,
                data_id: str) -> tuple[torch.nn.Module, dict]:
    """Train (or resume, or just load when finished) `spec`; returns the EMA model and a summary
    (seconds of this call's training, steps, final loss averaged over the last 100 steps, the
    model file's version)."""
    checkpoint = LocalCheckpointIO(root / f"{spec.name}.pt")
    start = time.perf_counter()

    def log(step: int, loss: float) -> None:
        print(f"  {spec.name} step {step}: loss {loss:.4f} ({time.perf_counter() - start:.0f} s)", flush=True)

    truth = arrays["truth"] if spec.training.truth_probability > 0 else None
    examples = examples_per_step(spec.objective, spec.training.batch_size)
    training = dataclasses.replace(spec.training, batch_size=examples)
    result = train_generator(arrays["data"], lead_days, spread, lat, lon, spec.denoiser, spec.objective, training,
                             checkpoint, device, on_log=log, data_id=data_id, truth=truth)
    losses = [loss for _, loss in result.losses]
    summary = {"model": spec.name, "generator": kind_of(spec.objective), "train_seconds": round(time.perf_counter() - start, 1),
               "steps": result.steps_done, "resumed_from_step": result.resumed_from_step,
               "final_loss": round(float(np.mean(losses[-100:])), 4),
               "best_step": result.best_step,
               "best_validation_loss": min((loss for _, loss in result.validation), default=None),
               "parameters": sum(p.numel() for p in result.model.parameters())}
    model_file = checkpoint.load()
    summary["model_version"] = model_version(model_file)
    return model_from_checkpoint(model_file, lat, lon, device, lead_days), summary
