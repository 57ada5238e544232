"""Training the skill benchmark's models on the experiment's reforecast: the emulator (GEE) and
post-processors (GPP, truth as the target with probability p). Checkpoints live under the
benchmark's root, so an interrupted benchmark resumes training where it stopped."""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path

import numpy as np
import torch
import xarray as xr

from seeds_dag.conventions import VARIABLES
from seeds_dag.diffusion.edm import EDMConfig, EDMPrecond
from seeds_dag.networks.denoiser import DenoiserConfig
from seeds_dag.normalization import to_normalized_array, truth_at_valid_times
from seeds_dag.training import LocalCheckpointIO, TrainingConfig, model_from_checkpoint, train_diffusion


@dataclasses.dataclass(frozen=True)
class ModelSpec:
    """One model the benchmark trains: name (e.g. "gee", "gpp-p1.0") and its settings."""

    name: str
    denoiser: DenoiserConfig
    training: TrainingConfig


def training_arrays(reforecast: xr.Dataset, truth: xr.Dataset, stats: xr.Dataset) -> dict[str, np.ndarray]:
    """Normalised reforecast (init, lead, member, V, lat, lon) and the truth at its valid times
    (init, lead, V, lat, lon), normalised with the reforecast's statistics of each lead."""
    variables = list(VARIABLES)
    return {"data": to_normalized_array(reforecast[variables], stats, variables),
            "truth": truth_at_valid_times(truth, reforecast, stats, variables)}


def train_model(spec: ModelSpec, arrays: dict[str, np.ndarray], lead_days: np.ndarray, spread: np.ndarray,
                lat: np.ndarray, lon: np.ndarray, root: Path, device: torch.device,
                data_id: str) -> tuple[EDMPrecond, dict]:
    """Train (or resume, or just load when finished) `spec`; returns the EMA model and a summary
    (seconds of this call's training, steps, final loss averaged over the last 100 steps)."""
    checkpoint = LocalCheckpointIO(root / f"{spec.name}.pt")
    start = time.perf_counter()

    def log(step: int, loss: float) -> None:
        print(f"  {spec.name} step {step}: loss {loss:.4f} ({time.perf_counter() - start:.0f} s)", flush=True)

    truth = arrays["truth"] if spec.training.truth_probability > 0 else None
    result = train_diffusion(arrays["data"], lead_days, spread, lat, lon, spec.denoiser, EDMConfig(), spec.training,
                             checkpoint, device, on_log=log, data_id=data_id, truth=truth)
    losses = [loss for _, loss in result.losses]
    summary = {"model": spec.name, "train_seconds": round(time.perf_counter() - start, 1),
               "steps": result.steps_done, "resumed_from_step": result.resumed_from_step,
               "final_loss": round(float(np.mean(losses[-100:])), 4),
               "parameters": sum(p.numel() for p in result.model.parameters())}
    model = model_from_checkpoint(checkpoint.load(), lat, lon, device)
    return model, summary
