"""Emulator side of the cost benchmark: K = 2 seed members of the physics forecast → N member
trajectories with each generator, normalised, sampled (seeds_dag.emulation) and streamed to zarr
member batch by member batch by the daily_emulated_ensembles asset's own function, with the time split into
the network's forward passes, the sampler around them, normalisation and the zarr write.

The members are not checked against the physical range the way the asset's are (`validation_recorded`):
the benchmark measures what a member costs, and its members are meaningless by design.
"""

from __future__ import annotations

import contextlib
import dataclasses
import time
from collections.abc import Iterator
from pathlib import Path
from unittest import mock

import numpy as np
import torch
import xarray as xr

from seeds_dag import emulated_ensemble as ensemble_writer
from seeds_dag.conventions import validation_problems
from seeds_dag.emulated_ensemble import DEFAULT_SEED_MEMBERS, emulated_ensemble, write_emulated_ensemble
from seeds_dag.emulation import SamplerConfig
from seeds_dag.generators.kinds import Objective, build_model, model_kind, network_config
from seeds_dag.generators.recipes import generator_objective
from seeds_dag.generators.sampling import nfe
from seeds_dag.networks.unet import DenoiserConfig
from seeds_dag.store import ArtifactStore
from seeds_dag.model_file import model_from_checkpoint
from seeds_dag.training import TrainingConfig

EMULATED_ASSET = "emulated_ensemble"
UNRECORDED_VERSION = "not recorded (cost benchmark)"  # what matters here is the cost, not the weights


@dataclasses.dataclass(frozen=True)
class EmulatorTiming:
    """Seconds of one emulated ensemble, by where they went; `sampler_s` is the rest of sampling
    (noise, solver updates, batching) outside the network's forward passes. `refused`: what the
    asset's validation would have refused, one message per member batch (`validation_recorded`)."""

    members: int
    batch: int
    nfe: int
    seconds: float
    network_s: float
    normalisation_s: float
    zarr_s: float
    refused: tuple[str, ...] = ()

    @property
    def sampler_s(self) -> float:
        return self.seconds - self.network_s - self.normalisation_s - self.zarr_s

    def fractions(self) -> dict[str, float]:
        parts = dict(network=self.network_s, sampler=self.sampler_s,
                     normalisation=self.normalisation_s, zarr=self.zarr_s)
        return {f"{name}_frac": round(value / self.seconds, 3) for name, value in parts.items()}


@contextlib.contextmanager
def timed_network(model: torch.nn.Module, device: torch.device) -> Iterator[list[float]]:
    """Adds up the wall time of the U-Net's forward passes inside the block into the yielded
    one-element list (CUDA synchronised on both sides, so the time is the pass's, not a queue's)."""
    unet = model.unet if hasattr(model, "unet") else model.net.unet
    total, started = [0.0], []

    def sync() -> None:
        if device.type == "cuda":
            torch.cuda.synchronize(device)

    def before(module, args) -> None:
        sync()
        started.append(time.perf_counter())

    def after(module, args, out) -> None:
        sync()
        total[0] += time.perf_counter() - started.pop()

    hooks = [unet.register_forward_pre_hook(before), unet.register_forward_hook(after)]
    try:
        yield total
    finally:
        for hook in hooks:
            hook.remove()


@contextlib.contextmanager
def validation_recorded() -> Iterator[list[str]]:
    """Inside, the emulated-ensemble writer checks each member batch as it does for the asset, but
    appends what it would refuse to the yielded list instead of raising.

    Why not refuse: the check keeps broken ensembles from the consumers of a real artifact. The
    benchmark's ensembles have none, and their members are meaningless by design: an untrained
    network puts t850 outside [190, 345] K (measured: [162, 356] K, N=32 of the default settings'
    memory run), and so does a trained model.pt fed the benchmark's short-spin-up init, which is not
    the climate it learnt (reported: [183, 380] K). A member costs the same whatever its values, so
    the benchmark must not depend on them to finish. Feeding inputs of the trained climate instead would
    need the main job's long spin-up and would still fail for untrained networks. The check still
    runs on every batch, so its cost stays in the timing, and what it found is reported."""
    refused: list[str] = []

    def record(ds, dims, where, **kwargs):
        problems = validation_problems(ds, dims, where, **kwargs)
        if problems:
            refused.append("; ".join(problems))
        return ds

    with mock.patch.object(ensemble_writer, "validate", record):
        yield refused


def refusal_note(name: str, timing: EmulatorTiming) -> list[str]:
    """A summary note on the member batches of `timing` that the asset would have refused (none if none)."""
    if not timing.refused:
        return []
    batches = -(-timing.members // timing.batch)
    return [f"{name}: {len(timing.refused)} of {batches} member batches outside what the asset accepts "
            f"(timed, not refused), first: {timing.refused[0].split('; ')[0]}"]


def shipped_objective(generator: str) -> Objective:
    """The objective of `generator` as the training assets build it by default (`generator_objective`
    for a run of TrainingConfig's steps), for an untrained network of the same build."""
    return generator_objective(generator, TrainingConfig.steps)


def load_emulator(checkpoint: Path | None, generator: str, lat: np.ndarray, lon: np.ndarray, lead_days: np.ndarray,
                  device: torch.device) -> tuple[torch.nn.Module, float, str]:
    """(model, load seconds, note): the trained EMA generator of a model.pt, or an untrained network
    of `generator` with the default DenoiserConfig (same cost per pass, meaningless samples)."""
    start = time.perf_counter()
    if checkpoint is None:
        config = DenoiserConfig(num_leads=len(lead_days))
        model = build_model(shipped_objective(generator), config, lat, lon).to(device).eval().requires_grad_(False)
        note = (f"{generator}: untrained network of the default DenoiserConfig (no checkpoint): cost only, samples "
                "meaningless")
    else:
        model = model_from_checkpoint(Path(checkpoint).read_bytes(), lat, lon, device, lead_days)
        note = f"{model_kind(model)}: trained generator from {checkpoint}"
    return model, time.perf_counter() - start, note


def same_architecture(model: torch.nn.Module, lat: np.ndarray, lon: np.ndarray, device: torch.device
                      ) -> torch.nn.Module:
    """An untrained network of `model`'s generator and architecture on another grid (the growth
    comparison)."""
    objective = model.config if model_kind(model) == "consistency" else shipped_objective(model_kind(model))
    net = build_model(objective, network_config(model), lat, lon)
    return net.to(device).eval().requires_grad_(False)


def emulate_to_zarr(model: torch.nn.Module, forecast: xr.Dataset, stats: xr.Dataset,
                    store: ArtifactStore, partition: str, n_members: int, batch: int, sampler: SamplerConfig,
                    device: torch.device) -> EmulatorTiming:
    """Seeds of `forecast` (one init) -> `n_members` member trajectories written to `store` by the
    asset's own function (`write_emulated_ensemble`), timed."""
    start = time.perf_counter()
    with timed_network(model, device) as network, validation_recorded() as refused:
        timing = write_emulated_ensemble(store, EMULATED_ASSET, partition, forecast, stats, {"emulated": model},
                                         model_versions={"emulated": UNRECORDED_VERSION}, seed_members=DEFAULT_SEED_MEMBERS,
                                         n_members=n_members, batch_size=batch, sampler=sampler, device=device,
                                         stack_models=False)
    return EmulatorTiming(members=n_members, batch=batch, nfe=nfe(model, sampler), seconds=time.perf_counter() - start,
                          network_s=network[0], normalisation_s=timing.normalisation_s, zarr_s=timing.zarr_s,
                          refused=tuple(refused))


def warm_up(model: torch.nn.Module, forecast: xr.Dataset, stats: xr.Dataset, batch: int, device: torch.device) -> None:
    """One untimed batch of one step, so that one-off allocations and kernel choices are not
    charged to the first measurement."""
    with validation_recorded():
        emulated_ensemble(model, forecast, stats, seed_members=DEFAULT_SEED_MEMBERS, n_members=batch,
                          batch_size=batch, sampler=SamplerConfig(num_steps=1), device=device)
