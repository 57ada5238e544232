"""Physics side of the cost benchmark: the embedded ensemble model integrates a batch of members
from one init to the longest lead, diagnosing every lead, and the forecast is written to zarr —
what the operational_ensemble asset does for one date. Runs on the CPU (the embedded source does).
"""

from __future__ import annotations

import contextlib
import dataclasses
import time
from collections.abc import Callable, Iterator
from unittest import mock

import torch
import xarray as xr

from seeds_dag.conventions import OutputGrid
from seeds_dag.sources.embedded import source
from seeds_dag.sources.embedded.config import ENSEMBLE_MODEL, TRUTH_MODEL, PerturbationConfig
from seeds_dag.sources.embedded.dycore import Dycore
from seeds_dag.store import ArtifactStore

PHYSICS_ASSET = "physics_forecast"


@dataclasses.dataclass(frozen=True)
class GridCase:
    """One resolution of the comparison: the dycore's truncation and the output grid (lat, lon)."""

    truncation: int
    n_lat: int
    n_lon: int

    @property
    def name(self) -> str:
        return f"{self.n_lat}x{self.n_lon}"


def source_config(case: GridCase, lead_days: tuple[int, ...], spinup_days: int, pool_days: int,
                  gap_days: int) -> source.EmbeddedSourceConfig:
    """The main job's source settings at `case`'s resolution, with a short spin-up: the cost of a
    forecast does not depend on how steady the state it starts from is. The nature run is one
    state, the init."""
    return dataclasses.replace(
        source.EmbeddedSourceConfig(), spinup_days=spinup_days, pool_days=pool_days, truth_days=0,
        lead_days=lead_days, perturbation=dataclasses.replace(PerturbationConfig(), gap_days=gap_days),
        truth_model=dataclasses.replace(TRUTH_MODEL, truncation=case.truncation),
        ensemble_model=dataclasses.replace(ENSEMBLE_MODEL, truncation=case.truncation),
        grid=OutputGrid(n_lat=case.n_lat, n_lon=case.n_lon),
    )


def initial_conditions(config: source.EmbeddedSourceConfig) -> tuple[xr.Dataset, xr.DataArray, float]:
    """(truth, perturbation pool, seconds) after spin-up: what every forecast starts from."""
    start = time.perf_counter()
    spinup = source.run_spinup(config)
    truth = source.run_truth(config, spinup)
    return truth, spinup["pool"], time.perf_counter() - start


def timed_forecast(config: source.EmbeddedSourceConfig, truth: xr.Dataset, pool: xr.DataArray,
                   n_members: int, store: ArtifactStore, partition: str) -> tuple[xr.Dataset, float]:
    """One operational forecast of `n_members` from the init (model set-up, integration to the
    longest lead, every lead diagnosed, zarr write): (forecast, seconds)."""
    start = time.perf_counter()
    forecast = source.run_forecast(config, truth, pool, config.start, n_members, "operational")
    store.write_dataset(forecast, PHYSICS_ASSET, partition)
    return forecast, time.perf_counter() - start


def _time_invariant(step: Callable, dt: float) -> Callable:
    """`step` called with sim_time held at 0 and the clock advanced outside it: a float sim_time
    is a guard of torch.compile that would recompile every step. Held–Suarez forcing does not
    depend on time, so the states are unchanged."""

    def wrapped(state):
        advanced = step(dataclasses.replace(state, sim_time=0.0))
        return dataclasses.replace(advanced, sim_time=(state.sim_time or 0.0) + dt)

    return wrapped


@contextlib.contextmanager
def compiled_dycore_step() -> Iterator[None]:
    """Forecasts made inside integrate with a torch.compile'd time step, compiled once per model
    configuration (the first forecast pays the compilation)."""
    compiled: dict = {}

    class CompiledDycore(Dycore):
        def __init__(self, config):
            super().__init__(config)
            if config not in compiled:
                compiled[config] = _time_invariant(torch.compile(self.step), self.dt)
            self.step = compiled[config]

    with mock.patch.object(source, "Dycore", CompiledDycore):
        yield
