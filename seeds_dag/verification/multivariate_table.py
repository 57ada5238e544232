"""Multivariate tables: per-init energy scores of each ensemble and their mean over inits, and the
pooled cross-variable correlations of :mod:`seeds_dag.verification.multivariate` as text and as
long rows for the report.

The energy score is proper and computed per init, so it pools as a plain mean over inits, like
the CRPS; the correlations pool as moments (see
:func:`~seeds_dag.verification.multivariate.variable_correlation_summary`).
"""

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd
import xarray as xr

from seeds_dag.conventions import INIT, LEAD, MEMBER
from seeds_dag.verification.multivariate import (
    CORRELATION,
    FIRST_VARIABLE,
    SECOND_VARIABLE,
    energy_score,
)
from seeds_dag.verification.scores_table import LEAD_DAYS, MODEL, frame_of, model_columns_text

# Column -> scoringrules estimator. The fair one compares ensembles of any size and needs two
# members; the standard one is what a user of these N members pays (cf. crps_standard).
ENERGY_SCORES = {"energy_score": "fair", "energy_score_standard": "nrg"}
ENERGY_HEADINGS = {"energy_score": "fair estimator",
                   "energy_score_standard": "standard estimator (what a user of these N members pays)"}
PAIR_INDEX = [FIRST_VARIABLE, SECOND_VARIABLE, LEAD_DAYS]


def energy_score_table(ensembles: Mapping[str, xr.Dataset], truth_aligned: xr.Dataset,
                       scale: Mapping[str, float]) -> pd.DataFrame:
    """Per-init energy scores of several ensembles over all their variables jointly.

    Args:
        ensembles: model name -> forecast (init_time, lead_time, member, lat, lon).
        truth_aligned: (init_time, lead_time, lat, lon) at the forecasts' valid times.
        scale: variable -> climatological scale in its units
            (:func:`~seeds_dag.verification.multivariate.climatological_scale`).

    Returns:
        columns model, init_time, lead_time_days and ``ENERGY_SCORES`` (dimensionless, in units
        of the scales); energy_score is NaN for a one-member ensemble.
    """
    if not ensembles:
        raise ValueError("energy_score_table: no ensembles given")
    frames = []
    for model, forecast in ensembles.items():
        scores = {column: energy_score(forecast, truth_aligned, scale, estimator)
                  for column, estimator in ENERGY_SCORES.items()
                  if estimator != "fair" or forecast.sizes[MEMBER] >= 2}
        frame = frame_of(xr.Dataset(scores).reset_coords(drop=True)).reset_index()
        frame[LEAD_DAYS] = frame.pop(LEAD) / pd.Timedelta(days=1)
        frames.append(frame.assign(**{MODEL: model}))
    table = pd.concat(frames, ignore_index=True).reindex(
        columns=[MODEL, INIT, LEAD_DAYS, *ENERGY_SCORES])
    return table.astype({column: np.float64 for column in ENERGY_SCORES})


def energy_score_summary(table: pd.DataFrame) -> pd.DataFrame:
    """Energy scores averaged over whatever inits ``table`` holds, per model and lead: columns
    model, lead_time_days and ``ENERGY_SCORES``; models in order of first appearance."""
    means = table.groupby([MODEL, LEAD_DAYS], sort=False)[list(ENERGY_SCORES)].mean()
    return means.reset_index()


def format_energy_score(summary: pd.DataFrame, variables: Sequence[str]) -> str:
    """Fixed-width text of :func:`energy_score_summary`, one sub-block per estimator."""
    heading = (f"Energy score over the {len(variables)} variables ({', '.join(variables)}) at "
               "each grid point, each divided by its climatological std (training truth), "
               "area mean, mean over inits; lower is better")
    return "\n\n".join([heading] + [f"{ENERGY_HEADINGS[column]}\n"
                                    + model_columns_text(summary, [LEAD_DAYS], column)
                                    for column in ENERGY_SCORES])


def correlation_rows(summary: pd.DataFrame, models: Sequence[str]) -> pd.DataFrame:
    """The model columns of
    :func:`~seeds_dag.verification.multivariate.variable_correlation_summary` as long rows (the
    difference columns left out): first_variable, second_variable, lead_time_days, model,
    correlation."""
    return (summary[list(models)]
            .melt(ignore_index=False, var_name=MODEL, value_name=CORRELATION).reset_index())


def format_variable_correlation(summary: pd.DataFrame) -> str:
    """Text of :func:`~seeds_dag.verification.multivariate.variable_correlation_summary`, with
    its heading: correlations to 3 decimals rather than the other blocks' 4 significant digits,
    so that a column of values in [-1, 1] lines up and differences of 0.01 read at a glance."""
    return ("Cross-variable correlation of member deviations from the ensemble mean at the same "
            "point (pooled over members, grid points and inits)\n"
            + summary.to_string(float_format="{:.3f}".format, col_space=8))
