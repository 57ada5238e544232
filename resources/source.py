"""The source resource: which source feeds the graph, its settings, and the experiment calendar."""

from __future__ import annotations

import dataclasses
from typing import Literal

import pandas as pd
from dagster import ConfigurableResource

from seeds_dag.sources.embedded.config import PerturbationConfig
from seeds_dag.sources.embedded.source import EmbeddedSourceConfig

_DEFAULTS = EmbeddedSourceConfig()


class SourceResource(ConfigurableResource):
    """Settings of the source and the calendar of the experiment.

    Reforecasts initialised in [reforecast_start, reforecast_end] train the models; operational
    ensembles may only be emulated for inits after reforecast_end + the longest lead, so that no
    training target overlaps a verification period. Defaults run the demo in minutes.
    """

    kind: Literal["embedded"] = "embedded"
    start_date: str = _DEFAULTS.start_date
    spinup_days: int = _DEFAULTS.spinup_days
    pool_days: int = _DEFAULTS.pool_days
    truth_days: int = _DEFAULTS.truth_days
    lead_days: list[int] = list(_DEFAULTS.lead_days)
    reforecast_members: int = _DEFAULTS.reforecast_members
    operational_members: int = _DEFAULTS.operational_members
    perturbation_amplitude: float = _DEFAULTS.perturbation.amplitude
    seed: int = _DEFAULTS.seed
    reforecast_start: str = "2000-01-01"
    reforecast_end: str = "2000-01-24"
    threads: int = 0

    def embedded_config(self) -> EmbeddedSourceConfig:
        return dataclasses.replace(
            _DEFAULTS,
            start_date=self.start_date,
            spinup_days=self.spinup_days,
            pool_days=self.pool_days,
            truth_days=self.truth_days,
            lead_days=tuple(self.lead_days),
            reforecast_members=self.reforecast_members,
            operational_members=self.operational_members,
            perturbation=dataclasses.replace(PerturbationConfig(),
                                             amplitude=self.perturbation_amplitude),
            seed=self.seed,
        )

    def reforecast_dates(self) -> list[str]:
        """Partition keys of the training reforecasts."""
        dates = pd.date_range(self.reforecast_start, self.reforecast_end, freq="D")
        return [d.strftime("%Y-%m-%d") for d in dates]

    def check_operational_date(self, partition_key: str) -> None:
        """Refuse an operational init whose forecasts could overlap the training period."""
        first_allowed = pd.Timestamp(self.reforecast_end) + pd.Timedelta(days=max(self.lead_days))
        if pd.Timestamp(partition_key) <= first_allowed:
            raise ValueError(
                f"operational init {partition_key} overlaps the training reforecasts "
                f"({self.reforecast_start}..{self.reforecast_end}, leads to {max(self.lead_days)} "
                f"days); use an init after {first_allowed:%Y-%m-%d}"
            )
