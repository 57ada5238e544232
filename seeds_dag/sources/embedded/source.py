"""The embedded source: spin-up, nature run ("truth") and ensemble forecasts as xarray datasets.

The calendar: the nature run starts at `start_date` (after spin-up) and writes one truth state a
day. A forecast initialised on date d starts from the nature run's state at d (plus an analysis
error), so it can be made for any date the nature run covers.
"""

from __future__ import annotations

import dataclasses
import hashlib
from collections.abc import Callable

import numpy as np
import pandas as pd
import torch
import xarray as xr

from seeds_dag.conventions import EXPERIMENT_START, FORECAST_DIMS, TRUTH_DIMS, OutputGrid, attach_attributes
from seeds_dag.sources.embedded import runs
from seeds_dag.sources.embedded.config import ENSEMBLE_MODEL, TRUTH_MODEL, ModelConfig, PerturbationConfig
from seeds_dag.sources.embedded.dycore import Dycore
from seeds_dag.sources.embedded.output_fields import OutputFields

STATE_DIMS = ("time", "channel", "m", "l")
REFORECAST_BATCH_INITS = 6
"""Reforecast inits worth integrating as one batch (`run_forecasts`): 6 inits of 5 members make a
batch of 30, and a member of a 15-day forecast cost 1.59 s in a batch of 31 against 1.94 s in one
of 5 (benchmarks/cost.py, docs/benchmarks.md)."""


@dataclasses.dataclass(frozen=True)
class EmbeddedSourceConfig:
    """Everything that defines the embedded experiment. Defaults run the demo in minutes."""

    start_date: str = EXPERIMENT_START
    # From rest (0.1 K noise) eddies appear by day 60–70 and the run is statistically steady
    # from ~day 100–160 (measured); the pool starts at day spinup − gap − pool = 155.
    spinup_days: int = 250
    # Last days of spin-up kept as climate states for perturbations: 20 for analysis errors, 7
    # unused, 53 for members (PerturbationConfig.analysis_pool_days, min_separation_days).
    pool_days: int = 80
    # Covers the reforecast window (24 inits), the gap of max(lead) + 1 days before the first
    # operational init, three operational inits and their longest lead: 23 + 16 + 2 + 15 = 56.
    truth_days: int = 60
    # As SEEDS (1–16 days): the short range, where spread is ~22 % of the climatological std, to
    # the medium range, where it reaches ~65 % and ensembles matter most.
    lead_days: tuple[int, ...] = (1, 3, 5, 7, 10, 15)
    reforecast_members: int = 5
    operational_members: int = 31
    truth_model: ModelConfig = TRUTH_MODEL
    ensemble_model: ModelConfig = ENSEMBLE_MODEL
    perturbation: PerturbationConfig = PerturbationConfig()
    grid: OutputGrid = OutputGrid()
    seed: int = 0

    @property
    def start(self) -> pd.Timestamp:
        return pd.Timestamp(self.start_date)

    @property
    def lead_times(self) -> np.ndarray:
        return np.array([np.timedelta64(d, "D") for d in self.lead_days], dtype="timedelta64[ns]")


def _stable_seed(*parts: object) -> int:
    """A seed from its parts that is the same in every process (unlike `hash`)."""
    digest = hashlib.sha256("/".join(map(str, parts)).encode()).digest()
    return int.from_bytes(digest[:7], "little")


def spinup_settings(config: EmbeddedSourceConfig) -> str:
    """Everything a spin-up depends on, as text: equal settings give an identical spin-up."""
    return repr((config.truth_model, config.spinup_days, config.pool_days,
                 config.perturbation.gap_days, config.seed))


def run_spinup(config: EmbeddedSourceConfig,
               on_day: Callable[[int], None] | None = None) -> xr.Dataset:
    """Spin the truth model up; returns the final state and the pool of climate states.
    `on_day(d)` is called after model day d of `config.spinup_days`."""
    model = Dycore(config.truth_model)
    spun = runs.spin_up(model, config.spinup_days, config.pool_days,
                        config.perturbation.gap_days, config.seed, on_day)
    return xr.Dataset(
        {
            "final_state": (STATE_DIMS[1:], spun.state.numpy()),
            "pool": (("pool_day",) + STATE_DIMS[1:], spun.pool.numpy()),
        },
        attrs={"settings": spinup_settings(config)},
    )


def run_truth(config: EmbeddedSourceConfig, spinup: xr.Dataset,
              on_day: Callable[[int], None] | None = None) -> xr.Dataset:
    """The nature run from the end of spin-up: output fields (time, lat, lon) and the daily
    model states (time, channel, m, l) that forecasts start from. `on_day(d)` is called after
    model day d of `config.truth_days`."""
    model = Dycore(config.truth_model)
    output = OutputFields(model, config.grid)
    initial = torch.from_numpy(spinup["final_state"].values)
    fields, states = runs.nature_run(model, output, initial, config.truth_days, on_day)
    times = pd.date_range(config.start, periods=config.truth_days + 1, freq="D")
    ds = xr.Dataset(
        {name: (TRUTH_DIMS, values) for name, values in fields.items()}
        | {"state": (STATE_DIMS, states.numpy())},
        coords={"time": times, "lat": output.latitudes_deg, "lon": output.longitudes_deg},
        attrs={"source": "embedded Held-Suarez nature run", "model": repr(config.truth_model)},
    )
    return attach_attributes(ds)


def run_forecast(
    config: EmbeddedSourceConfig,
    truth: xr.Dataset,
    pool: xr.DataArray,
    init_time: pd.Timestamp,
    n_members: int,
    purpose: str,
) -> xr.Dataset:
    """An ensemble of `n_members` from the nature run's state at `init_time`.

    `purpose` ("reforecast" or "operational") separates the member seeds of the two ensembles;
    the analysis error depends on the date only. Returns dims (init_time=1, lead_time, member,
    lat, lon).
    """
    return run_forecasts(config, truth, pool, [init_time], n_members, purpose)


def run_forecasts(
    config: EmbeddedSourceConfig,
    truth: xr.Dataset,
    pool: xr.DataArray,
    init_times: list[pd.Timestamp],
    n_members: int,
    purpose: str,
) -> xr.Dataset:
    """`run_forecast` for several init dates integrated as one batch (cheaper per member for
    small ensembles; each forecast is the one `run_forecast` makes for its date). Returns dims
    (init_time, lead_time, member, lat, lon)."""
    init_times = [pd.Timestamp(t) for t in init_times]
    covered = truth.indexes["time"]
    outside = [t for t in init_times if t not in covered]
    if outside:
        raise ValueError(
            f"init {outside[0]:%Y-%m-%d}: the nature run covers {covered[0]:%Y-%m-%d}..{covered[-1]:%Y-%m-%d}; "
            "lengthen truth_days or choose a date inside it"
        )
    model = Dycore(config.ensemble_model)
    output = OutputFields(model, config.grid)
    initials = torch.from_numpy(truth["state"].sel(time=init_times).values)
    fields = runs.ensemble_forecasts(
        model,
        output,
        initials,
        torch.from_numpy(pool.values),
        n_members,
        config.lead_days,
        config.perturbation,
        analysis_seeds=[_stable_seed(config.seed, "analysis", t.date()) for t in init_times],
        member_seeds=[_stable_seed(config.seed, purpose, t.date()) for t in init_times],
    )
    ds = xr.Dataset(
        {name: (FORECAST_DIMS, values) for name, values in fields.items()},
        coords={
            "init_time": init_times,
            "lead_time": config.lead_times,
            "member": np.arange(n_members),
            "lat": output.latitudes_deg,
            "lon": output.longitudes_deg,
        },
        attrs={"source": f"embedded Held-Suarez {purpose} ensemble",
               "model": repr(config.ensemble_model)},
    )
    return attach_attributes(ds)
