"""The embedded experiment the skill benchmark runs on: a long nature run, a reforecast over its
first part and an operational ensemble over a later, disjoint part.

Calendar (days after the nature run starts):

    [0, n_reforecast)                      reforecast inits, one a day, `reforecast_members` each
    gap of max(lead) + 1 days              so no reforecast valid time reaches an evaluation init
    [start_ops, start_ops + n_ops·spacing) operational inits, every `ops_spacing_days`, 31 members

Every stage is stored in an ArtifactStore under the benchmark's root, per init date, and skipped when
already there: an interrupted benchmark resumes, and a rerun that changes only the model reuses
the physics. Settings are recorded with the spin-up and the truth, and a store made with other
settings is refused rather than mixed.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable

import pandas as pd
import xarray as xr

from seeds_dag.sources.embedded.source import (
    REFORECAST_BATCH_INITS,
    EmbeddedSourceConfig,
    run_forecasts,
    run_spinup,
    run_truth,
)
from seeds_dag.store import ArtifactStore


@dataclasses.dataclass(frozen=True)
class ExperimentCalendar:
    """Init dates of the skill experiment (see the module docstring)."""

    reforecast_inits: int = 240
    operational_inits: int = 60
    ops_spacing_days: int = 1
    reforecast_members: int = 5
    operational_members: int = 31
    # Inits integrated together: batches of ~30 members cost ~25% less per member than one
    # forecast, and 62 members another ~25% less than 31 (benchmarks/cost.py).
    reforecast_batch_inits: int = REFORECAST_BATCH_INITS
    operational_batch_inits: int = 2
    # Spin-up, models, perturbations and leads; truth_days and member counts are set from the above.
    # Not in the repr: the source config it yields, recorded beside the calendar, covers it.
    base: EmbeddedSourceConfig = dataclasses.field(default_factory=EmbeddedSourceConfig, repr=False)

    def source_config(self) -> EmbeddedSourceConfig:
        base = self.base
        return dataclasses.replace(base, truth_days=self.last_ops_day(base) + max(base.lead_days),
                                   reforecast_members=self.reforecast_members,
                                   operational_members=self.operational_members)

    def first_ops_day(self, base: EmbeddedSourceConfig) -> int:
        return self.reforecast_inits - 1 + max(base.lead_days) + 1

    def last_ops_day(self, base: EmbeddedSourceConfig) -> int:
        return self.first_ops_day(base) + (self.operational_inits - 1) * self.ops_spacing_days

    def reforecast_dates(self, config: EmbeddedSourceConfig) -> list[pd.Timestamp]:
        return list(pd.date_range(config.start, periods=self.reforecast_inits, freq="D"))

    def operational_dates(self, config: EmbeddedSourceConfig) -> list[pd.Timestamp]:
        first = config.start + pd.Timedelta(days=self.first_ops_day(config))
        return list(pd.date_range(first, periods=self.operational_inits, freq=f"{self.ops_spacing_days}D"))


def _key(date: pd.Timestamp) -> str:
    return f"{date:%Y-%m-%d}"


def _cached(store: ArtifactStore, asset: str, settings: str, make: Callable[[], xr.Dataset]) -> xr.Dataset:
    if store.has(asset):
        stored = store.open_dataset(asset).attrs.get("experiment_settings")
        if stored != settings:
            raise ValueError(
                f"{store.location(asset)} was made with other settings ({stored!r}, now {settings!r}); "
                "use another --root or delete it"
            )
        return store.load_dataset(asset)
    ds = make()
    ds.attrs["experiment_settings"] = settings
    store.write_dataset(ds, asset)
    return store.load_dataset(asset)


def prepare(store: ArtifactStore, calendar: ExperimentCalendar, log: Callable[..., None] = print,
            ensembles: tuple[str, ...] = ("reforecast", "operational"), held_out: int | None = None) -> dict:
    """Make (or reuse) spin-up, truth and the `ensembles` (reforecast, operational) — of the
    operational inits only the first `held_out` when given; returns the timings (seconds) of the
    stages run now. Two processes may make different ensembles at once
    (one CPU thread each uses two cores better than one process with two threads)."""
    config = calendar.source_config()
    settings = repr((config, calendar))
    timings = {}
    t0 = time.perf_counter()
    spinup = _cached(store, "spinup", settings, lambda: run_spinup(config))
    truth = _cached(store, "truth", settings, lambda: run_truth(config, spinup))
    timings["spinup_and_truth_s"] = time.perf_counter() - t0
    pool = spinup["pool"]
    for asset, dates, members, per_batch in (
        ("reforecast", calendar.reforecast_dates(config), calendar.reforecast_members, calendar.reforecast_batch_inits),
        ("operational", calendar.operational_dates(config)[:held_out], calendar.operational_members,
         calendar.operational_batch_inits),
    ):
        if asset not in ensembles:
            continue
        missing = [d for d in dates if not store.has(asset, _key(d))]
        t0 = time.perf_counter()
        for start in range(0, len(missing), per_batch):
            batch = missing[start:start + per_batch]
            purpose = "reforecast" if asset == "reforecast" else "operational"
            ds = run_forecasts(config, truth, pool, batch, members, purpose)
            for date in batch:
                store.write_dataset(ds.sel(init_time=[date]), asset, _key(date))
            done = start + len(batch)
            log(f"{asset}: {done}/{len(missing)} inits made ({time.perf_counter() - t0:.0f} s)", flush=True)
        timings[f"{asset}_s"] = time.perf_counter() - t0
        timings[f"{asset}_member_days"] = len(missing) * members * max(config.lead_days)
    return timings


def open_forecasts(store: ArtifactStore, asset: str, dates: list[pd.Timestamp]) -> xr.Dataset:
    """The stored ensembles of `dates`, concatenated along init_time (lazily)."""
    return xr.concat([store.open_dataset(asset, _key(d)) for d in dates], dim="init_time")


def main() -> None:
    import argparse

    import torch

    parser = argparse.ArgumentParser(description="Make the skill experiment's physics data")
    parser.add_argument("--root", default="data/benchmarks/skill")
    parser.add_argument("--reforecast-inits", type=int, default=ExperimentCalendar.reforecast_inits)
    parser.add_argument("--operational-inits", type=int, default=ExperimentCalendar.operational_inits)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--ensembles", default="reforecast,operational")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    calendar = ExperimentCalendar(reforecast_inits=args.reforecast_inits, operational_inits=args.operational_inits)
    print(prepare(ArtifactStore(args.root), calendar, ensembles=tuple(args.ensembles.split(","))))


if __name__ == "__main__":
    main()
