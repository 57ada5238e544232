"""Extreme-event tables: per-init Brier scores, reliability and ROC counts, and their pooling.

Long format, one row per (model, variable, lead_time_days, quantile, ...). The per-init Brier
scores are area-weighted; the reliability and ROC counts are unweighted grid-point counts summed
over the inits a table holds, so tables of several partitions pool by summation
(see :mod:`seeds_dag.verification.extremes`); their schemas therefore allow a key to repeat
(once per partition) in a concatenation.
"""

from collections.abc import Mapping
from typing import NamedTuple

import numpy as np
import pandas as pd
import pandera.pandas as pa
import xarray as xr
from pandera.typing import DataFrame, Series

from seeds_dag.conventions import INIT
from seeds_dag.verification.extremes import (
    BIN,
    PROBABILITY_BINS,
    PROBABILITY_THRESHOLD,
    QUANTILE,
    brier_score,
    climatological_brier_score,
    ensemble_events,
    reliability_counts,
    roc_auc,
    roc_counts,
)
from seeds_dag.verification.scores_table import (
    LEAD_DAYS,
    MODEL,
    VARIABLE,
    long_table,
    model_columns_text,
)

KEYS = [MODEL, VARIABLE, LEAD_DAYS, QUANTILE]
BIN_COLUMNS = [BIN, "bin_lower", "bin_upper"]
RELIABILITY_COUNTS = ["n_forecasts", "n_observed", "sum_probability"]
ROC_COUNTS = ["hits", "misses", "false_alarms", "correct_negatives"]


class _Keyed(pa.DataFrameModel):
    """Columns every extremes table starts with."""

    model: Series[str] = pa.Field(str_length={"min_value": 1})
    variable: Series[str] = pa.Field(str_length={"min_value": 1})
    lead_time_days: Series[float] = pa.Field(ge=0)
    quantile: Series[float] = pa.Field(gt=0, lt=1)


class ExtremesTableSchema(_Keyed):
    """Per-init Brier scores: brier of the member fraction, brier_climatology of the base rate;
    both area-weighted means over the grid, in [0, 1]."""

    init_time: Series[pa.DateTime]
    brier: Series[float] = pa.Field(ge=0, le=1)
    brier_climatology: Series[float] = pa.Field(ge=0, le=1)

    class Config:
        strict = True
        unique = [MODEL, VARIABLE, LEAD_DAYS, "init_time", QUANTILE]


class ReliabilityTableSchema(_Keyed):
    """Grid-point counts per probability bin [bin_lower, bin_upper) (the last bin closed),
    summed over the inits the table holds."""

    bin: Series[int] = pa.Field(ge=0)
    bin_lower: Series[float] = pa.Field(ge=0, lt=1)
    bin_upper: Series[float] = pa.Field(gt=0, le=1)
    n_forecasts: Series[int] = pa.Field(ge=0)
    n_observed: Series[int] = pa.Field(ge=0)
    sum_probability: Series[float] = pa.Field(ge=0)

    @pa.dataframe_check
    def counts_nest(cls, df: pd.DataFrame) -> Series[bool]:
        """Observed events and probability mass cannot exceed the forecasts in the bin."""
        return (df["n_observed"] <= df["n_forecasts"]) & (
            df["sum_probability"] <= df["n_forecasts"] * (1 + 1e-9)
        )

    class Config:
        strict = True


class RocTableSchema(_Keyed):
    """2x2 contingency counts per probability threshold ("yes" = p >= threshold), grid points
    summed over the inits the table holds."""

    probability_threshold: Series[float] = pa.Field(gt=0, le=1)
    hits: Series[int] = pa.Field(ge=0)
    misses: Series[int] = pa.Field(ge=0)
    false_alarms: Series[int] = pa.Field(ge=0)
    correct_negatives: Series[int] = pa.Field(ge=0)

    class Config:
        strict = True


class ExtremeTables(NamedTuple):
    """The three extremes tables of a set of ensembles."""

    extremes: DataFrame[ExtremesTableSchema]
    reliability: DataFrame[ReliabilityTableSchema]
    roc: DataFrame[RocTableSchema]


def _model_tables(model: str, forecast: xr.Dataset, truth_aligned: xr.Dataset,
                  thresholds: xr.Dataset, n_bins: int) -> ExtremeTables:
    events = ensemble_events(forecast, truth_aligned, thresholds)
    extremes = long_table({"brier": brier_score(events),
                           "brier_climatology": climatological_brier_score(events)}, model)
    counts = reliability_counts(events, n_bins)._asdict()
    reliability = long_table({name: c.sum(INIT) for name, c in counts.items()}, model)
    reliability["bin_lower"] = reliability[BIN] / n_bins
    reliability["bin_upper"] = (reliability[BIN] + 1) / n_bins
    contingency = roc_counts(events, n_bins)._asdict()
    roc = long_table({name: c.sum(INIT) for name, c in contingency.items()}, model)
    return ExtremeTables(
        extremes[[*KEYS[:3], INIT, QUANTILE, "brier", "brier_climatology"]],
        reliability[[*KEYS, *BIN_COLUMNS, *RELIABILITY_COUNTS]],
        roc[[*KEYS, PROBABILITY_THRESHOLD, *ROC_COUNTS]],
    )


def extremes_tables(ensembles: Mapping[str, xr.Dataset], truth_aligned: xr.Dataset,
                    thresholds: xr.Dataset, n_bins: int = PROBABILITY_BINS) -> ExtremeTables:
    """Brier scores per init, and reliability and ROC counts summed over the inits given.

    Args:
        ensembles: model name -> forecast (init_time, lead_time, member, lat, lon).
        truth_aligned: (init_time, lead_time, lat, lon) at the forecasts' valid times.
        thresholds: (quantile, lat, lon) from
            :func:`~seeds_dag.verification.extremes.climatological_thresholds`.
        n_bins: probability bins of width 1/n_bins; the ROC thresholds are their upper edges.

    Returns:
        ExtremeTables, each validated by its schema, models in the given order.
    """
    if not ensembles:
        raise ValueError("extremes_tables: no ensembles given")
    parts = [_model_tables(model, forecast, truth_aligned, thresholds, n_bins)
             for model, forecast in ensembles.items()]
    schemas = (ExtremesTableSchema, ReliabilityTableSchema, RocTableSchema)
    return ExtremeTables(*(
        schema.validate(pd.concat(frames, ignore_index=True))
        for schema, frames in zip(schemas, zip(*parts), strict=True)
    ))


def extremes_summary(extremes: pd.DataFrame, roc: pd.DataFrame) -> pd.DataFrame:
    """Pooled extremes scores per (model, variable, lead_time_days, quantile).

    brier and brier_climatology are means over the inits (area-weighted scores, each init
    counting once); bss = 1 - brier / brier_climatology of those means (> 0: better than
    climatology); roc_auc from the ROC counts summed over all rows of ``roc``
    (:func:`~seeds_dag.verification.extremes.roc_auc`, NaN where no event was observed).

    Args:
        extremes: rows valid under :class:`ExtremesTableSchema` (several partitions concatenated).
        roc: rows valid under :class:`RocTableSchema`, of the same inits.

    Returns:
        columns model, variable, lead_time_days, quantile, brier, brier_climatology, bss,
        roc_auc; models in order of first appearance.
    """
    extremes = ExtremesTableSchema.validate(extremes)
    roc = RocTableSchema.validate(roc)
    brier = extremes.groupby(KEYS, sort=False)[["brier", "brier_climatology"]].mean()
    brier["bss"] = 1.0 - brier["brier"] / brier["brier_climatology"]
    # Sorting puts the thresholds in ascending order along the columns, as roc_auc expects.
    pooled = roc.groupby([*KEYS, PROBABILITY_THRESHOLD])[ROC_COUNTS].sum()
    wide = pooled.unstack(PROBABILITY_THRESHOLD)
    auc = pd.Series(roc_auc(*(wide[c].to_numpy() for c in ROC_COUNTS)), index=wide.index,
                    name="roc_auc")
    return brier.join(auc).reset_index()


def reliability_diagram(reliability: pd.DataFrame) -> pd.DataFrame:
    """Reliability diagram from counts summed over every row of ``reliability``.

    observed_frequency = n_observed / n_forecasts (the event's frequency when p is in the bin)
    and mean_probability = sum_probability / n_forecasts; both NaN for empty bins. A reliable
    forecast has observed_frequency = mean_probability within sampling error.

    Args:
        reliability: rows valid under :class:`ReliabilityTableSchema`.

    Returns:
        columns model, variable, lead_time_days, quantile, bin, bin_lower, bin_upper,
        observed_frequency, mean_probability, n_forecasts.
    """
    reliability = ReliabilityTableSchema.validate(reliability)
    pooled = reliability.groupby([*KEYS, *BIN_COLUMNS], sort=False)[RELIABILITY_COUNTS].sum()
    n_forecasts = pooled["n_forecasts"].where(pooled["n_forecasts"] > 0)
    pooled["observed_frequency"] = pooled["n_observed"] / n_forecasts
    pooled["mean_probability"] = pooled["sum_probability"] / n_forecasts
    columns = ["observed_frequency", "mean_probability", "n_forecasts"]
    return pooled[columns].reset_index()


def format_extremes(summary: pd.DataFrame, quantiles=(0.01, 0.99)) -> str:
    """Fixed-width text of :func:`extremes_summary` for some quantiles: a Brier-skill-score block
    and a ROC-AUC block, rows (variable, lead_time_days, quantile), one column per model."""
    rows = summary[np.isin(summary[QUANTILE], quantiles)]
    levels = ", ".join(f"{q:.0%}" for q in quantiles)
    headings = {"bss": f"Brier skill score vs climatology, {levels} events (> 0: better than "
                       f"climatology)",
                "roc_auc": f"ROC area, {levels} events (0.5: no skill)"}
    return "\n\n".join(
        f"{heading}\n{model_columns_text(rows, [VARIABLE, LEAD_DAYS, QUANTILE], column)}"
        for column, heading in headings.items()
    )
