"""Emulator side of the cost benchmark: K = 2 seed members of the physics forecast → N members at
every lead, normalised, sampled (seeds_dag.emulation) and streamed to zarr member batch by member
batch, as the daily_emulated_ensembles asset does, with the time split into the network's
forward passes, the sampler around them, normalisation and the zarr write.
"""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path

import numpy as np
import torch
import xarray as xr
from torch import Tensor

from seeds_dag.conventions import VARIABLES
from seeds_dag.diffusion.edm import EDMConfig, EDMPrecond
from seeds_dag.emulation import (
    SamplerConfig,
    ensemble_template,
    forecast_seed,
    generate_members,
    normalized_seeds,
)
from seeds_dag.networks.denoiser import DenoiserConfig, build_denoiser
from seeds_dag.normalization import from_normalized_array
from seeds_dag.store import ArtifactStore
from seeds_dag.training import model_from_checkpoint

EMULATED_ASSET = "emulated_ensemble"
SEED_MEMBERS = [0, 1]  # K = 2, as in the main job


@dataclasses.dataclass(frozen=True)
class EmulatorTiming:
    """Seconds of one emulated ensemble, by where they went; `sampler_s` is the rest of sampling
    (noise, Heun updates, batching) outside the network's forward passes."""

    members: int
    batch: int
    num_steps: int
    seconds: float
    network_s: float
    normalisation_s: float
    zarr_s: float

    @property
    def sampler_s(self) -> float:
        return self.seconds - self.network_s - self.normalisation_s - self.zarr_s

    def fractions(self) -> dict[str, float]:
        parts = dict(network=self.network_s, sampler=self.sampler_s,
                     normalisation=self.normalisation_s, zarr=self.zarr_s)
        return {f"{name}_frac": round(value / self.seconds, 3) for name, value in parts.items()}


class TimedDenoiser:
    """The model D(x; σ, cond, lead) with the wall time of its calls added up (CUDA synchronised
    on both sides, so the time is the forward pass's and not a queue's)."""

    def __init__(self, model: EDMPrecond, device: torch.device) -> None:
        self.model, self.device, self.seconds = model, device, 0.0

    def _sync(self) -> None:
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)

    def __call__(self, x: Tensor, sigma: Tensor, cond: Tensor, lead: Tensor) -> Tensor:
        self._sync()
        start = time.perf_counter()
        out = self.model(x, sigma, cond, lead)
        self._sync()
        self.seconds += time.perf_counter() - start
        return out


def load_emulator(checkpoint: Path | None, lat: np.ndarray, lon: np.ndarray,
                  device: torch.device) -> tuple[EDMPrecond, float, str]:
    """(model, load seconds, note): the trained EMA model of a model.pt, or an untrained network
    of the default DenoiserConfig (same cost per forward, meaningless samples)."""
    start = time.perf_counter()
    if checkpoint is None:
        model = build_denoiser(DenoiserConfig(), lat, lon).to(device).eval().requires_grad_(False)
        note = "untrained network of the default DenoiserConfig (no --checkpoint): cost only, samples meaningless"
    else:
        model = model_from_checkpoint(Path(checkpoint).read_bytes(), lat, lon, device)
        note = f"trained emulator from {checkpoint}"
    return model, time.perf_counter() - start, note


def same_architecture(model: EDMPrecond, lat: np.ndarray, lon: np.ndarray, device: torch.device) -> EDMPrecond:
    """An untrained network of `model`'s architecture on another grid (the growth comparison)."""
    net = build_denoiser(model.net.config, lat, lon, dataclasses.replace(EDMConfig(), sigma_data=model.sigma_data))
    return net.to(device).eval().requires_grad_(False)


def emulate_to_zarr(model: EDMPrecond, forecast: xr.Dataset, stats: xr.Dataset, store: ArtifactStore,
                    partition: str, n_members: int, batch: int, sampler: SamplerConfig,
                    device: torch.device) -> EmulatorTiming:
    """Seeds of `forecast` (one init) → `n_members` members written to `store`, timed."""
    variables = list(VARIABLES)
    timed = TimedDenoiser(model, device)
    start = time.perf_counter()
    seeds, spread, lead_days = normalized_seeds(forecast, stats, SEED_MEMBERS)
    normalisation = time.perf_counter() - start
    lead_time = forecast["lead_time"].values
    template = ensemble_template(forecast, n_members, max(1, batch // len(lead_days)))
    seed = forecast_seed(forecast["init_time"].values[0])
    zarr = 0.0
    with store.dataset_writer(EMULATED_ASSET, partition, template) as writer:
        for members, normalized in generate_members(timed, seeds, spread, lead_days, n_members, batch, sampler, seed,
                                                    device):
            mark = time.perf_counter()
            fields = from_normalized_array(normalized, stats, variables, lead_time)
            piece = template.isel(member=members).copy(data={n: fields[n].values[None] for n in variables})
            written = time.perf_counter()
            writer.write_region(piece, region={"member": members})
            normalisation += written - mark
            zarr += time.perf_counter() - written
        mark = time.perf_counter()
    zarr += time.perf_counter() - mark  # the commit: chunk check and pointer
    return EmulatorTiming(members=n_members, batch=batch, num_steps=sampler.num_steps,
                          seconds=time.perf_counter() - start, network_s=timed.seconds,
                          normalisation_s=normalisation, zarr_s=zarr)


def warm_up(model: EDMPrecond, forecast: xr.Dataset, stats: xr.Dataset, batch: int, device: torch.device) -> None:
    """One untimed batch of one step, so that one-off allocations and kernel choices are not
    charged to the first measurement."""
    seeds, spread, lead_days = normalized_seeds(forecast, stats, SEED_MEMBERS)
    n_members = max(1, batch // len(lead_days))
    for _ in generate_members(model, seeds, spread, lead_days, n_members, batch, SamplerConfig(num_steps=1), 0,
                              device):
        pass
