"""Score tables: one long row per (model, variable, init, lead), and the summary over inits.

Rank histograms are pooled over inits by construction, so they are not in the per-init table
(see :func:`seeds_dag.verification.scores.rank_histogram`).
"""

from collections.abc import Mapping

import numpy as np
import pandas as pd
import pandera.pandas as pa
import xarray as xr
from pandera.typing import Series

from seeds_dag.conventions import INIT, LEAD, MEMBER
from seeds_dag.verification.scores import (
    RANK,
    ensemble_mean_rmse,
    ensemble_spread,
    fair_crps,
    rank_histogram,
    rank_histogram_flatness,
    spread_skill_ratio,
    standard_crps,
)

VARIABLE = "variable"
MODEL = "model"
LEAD_DAYS = f"{LEAD}_days"  # what long_table makes of lead_time
N_MEMBERS = "n_members"
SCORES = ("crps", "crps_standard", "rmse", "spread", "spread_skill")
# The one place listing what a summary shows, in order, with the heading format_summary prints.
SUMMARY_METRICS = {
    "crps": "CRPS (fair estimator: the ensemble's distribution, any size compares fairly)",
    "crps_standard": "CRPS (standard estimator: what a user of these N members pays)",
    "rmse": "Ensemble-mean RMSE (sqrt of mean MSE over inits)",
    "spread": "Ensemble spread (sqrt of mean variance over inits)",
    "spread_skill": "Spread/skill, sqrt((N+1)/N)-corrected (1 = calibrated)",
}


class ScoreTableSchema(pa.DataFrameModel):
    """Per-init scores, long format: one row per (model, variable, init_time, lead_time_days).

    crps: area-weighted fair CRPS; crps_standard: the standard ensemble CRPS (the members'
    empirical distribution); rmse: ensemble-mean RMSE; spread: sqrt of the area-mean unbiased
    variance; spread_skill: sqrt((N+1)/N) * spread / rmse of that init. Units of
    crps/crps_standard/rmse/spread are the variable's.
    """

    init_time: Series[pa.DateTime]
    lead_time_days: Series[float] = pa.Field(ge=0)
    variable: Series[str] = pa.Field(str_length={"min_value": 1})
    model: Series[str] = pa.Field(str_length={"min_value": 1})
    # The fair CRPS and the unbiased variance are undefined for one member.
    n_members: Series[int] = pa.Field(ge=2)
    crps: Series[float] = pa.Field(ge=0)
    crps_standard: Series[float] = pa.Field(ge=0)
    rmse: Series[float] = pa.Field(ge=0)
    spread: Series[float] = pa.Field(ge=0)
    spread_skill: Series[float] = pa.Field(ge=0)

    class Config:
        strict = True
        unique = [MODEL, VARIABLE, "init_time", LEAD_DAYS]


def frame_of(ds: xr.Dataset) -> pd.DataFrame:
    """`ds.to_dataframe()` with the rows in the order of its first data variable's dims. A
    Dataset's own order of dims can follow the process's string hashes (xarray merges
    coordinates through sets): a stored table's rows came out in another order in another
    process (a cluster's worker)."""
    first = next(iter(ds.data_vars.values()))
    return ds.to_dataframe(dim_order=[*first.dims, *(d for d in ds.dims if d not in first.dims)])


def long_table(statistics: Mapping[str, xr.Dataset], model: str) -> pd.DataFrame:
    """Statistics of one model as a long frame: a row per variable and point of their shared
    dims, a column per statistic, each lead turned into float days, and a model column.

    Args:
        statistics: name -> Dataset with one variable per field; all with the same dims.
        model: the model name, e.g. "physics-31".

    Returns:
        DataFrame with the statistics' dims and index levels, timedelta ones as float days
        named ``{name}_days`` (lead_time -> lead_time_days; a lead_pair's first_lead ->
        first_lead_days), a ``variable`` column, one column per statistic and ``model``;
        non-index coordinates (valid_time) are dropped.
    """
    data = xr.Dataset({name: ds.to_dataarray(VARIABLE) for name, ds in statistics.items()})
    table = frame_of(data.reset_coords(drop=True)).reset_index()
    for column in [c for c in table if pd.api.types.is_timedelta64_dtype(table[c])]:
        table[f"{column}_days"] = table.pop(column) / pd.Timedelta(days=1)
    table[VARIABLE] = table[VARIABLE].astype(str)
    table[MODEL] = model
    return table


def _model_scores(model: str, forecast: xr.Dataset, truth_aligned: xr.Dataset) -> pd.DataFrame:
    """Long per-init scores of one ensemble."""
    n_members = forecast.sizes[MEMBER]
    rmse = ensemble_mean_rmse(forecast, truth_aligned)
    spread = ensemble_spread(forecast)
    return score_rows(
        model,
        {
            "crps": fair_crps(forecast, truth_aligned),
            "crps_standard": standard_crps(forecast, truth_aligned),
            "rmse": rmse,
            "spread": spread,
            "spread_skill": spread_skill_ratio(spread, rmse, n_members),
        },
        n_members,
    )


def score_rows(model: str, scores: Mapping[str, xr.Dataset], n_members: int) -> pd.DataFrame:
    """The rows of :class:`ScoreTableSchema` of one ensemble of `n_members` members, from its
    ``SCORES`` as Datasets with dims (init_time, lead_time) per variable."""
    table = long_table(scores, model)
    table[N_MEMBERS] = n_members
    table[list(SCORES)] = table[list(SCORES)].astype(np.float64)
    return table[[INIT, LEAD_DAYS, VARIABLE, MODEL, N_MEMBERS, *SCORES]]


def score_table(ensembles: Mapping[str, xr.Dataset], truth_aligned: xr.Dataset) -> pd.DataFrame:
    """Per-init scores of several ensembles against the same truth, validated.

    Args:
        ensembles: model name (e.g. "seeds-2", "physics-31", "emulated-32") -> forecast with
            dims (init_time, lead_time, member, lat, lon); sizes may differ between models.
        truth_aligned: (init_time, lead_time, lat, lon) at the forecasts' valid times
            (see :func:`seeds_dag.truth_alignment.align_truth`).

    Returns:
        long DataFrame valid under :class:`ScoreTableSchema`, models in the given order.
    """
    if not ensembles:
        raise ValueError("score_table: no ensembles given")
    table = pd.concat(
        [_model_scores(model, forecast, truth_aligned) for model, forecast in ensembles.items()],
        ignore_index=True,
    )
    return ScoreTableSchema.validate(table)


def summary_table(scores: pd.DataFrame) -> pd.DataFrame:
    """Scores averaged over init_time, side by side per model.

    crps and crps_standard are means over inits; rmse and spread are pooled as sqrt(mean over inits of their
    squares) (mean MSE, mean variance), and spread_skill is recomputed from those pooled values
    with the sqrt((N+1)/N) correction, *not* averaged from the per-init ratios.

    Args:
        scores: a table valid under :class:`ScoreTableSchema`.

    Returns:
        index (variable, lead_time_days); columns MultiIndex (metric, model), metrics in
        ``SUMMARY_METRICS`` order and models in order of first appearance in ``scores``.
    """
    scores = ScoreTableSchema.validate(scores)
    sizes = scores.groupby(MODEL)[N_MEMBERS].nunique()
    if (sizes > 1).any():
        raise ValueError(
            f"summary_table: model(s) {list(sizes.index[sizes > 1])} have several ensemble "
            f"sizes; give each size its own model name"
        )
    keys = [MODEL, N_MEMBERS, VARIABLE, LEAD_DAYS]
    means = (
        scores.assign(mse=scores["rmse"] ** 2, variance=scores["spread"] ** 2)
        .groupby(keys)[["crps", "crps_standard", "mse", "variance"]]
        .mean()
    )
    rmse = np.sqrt(means["mse"])
    spread = np.sqrt(means["variance"])
    n_members = means.index.get_level_values(N_MEMBERS)
    pooled = pd.DataFrame(
        {
            "crps": means["crps"],
            "crps_standard": means["crps_standard"],
            "rmse": rmse,
            "spread": spread,
            "spread_skill": spread_skill_ratio(spread, rmse, n_members),
        }
    )
    wide = pooled.droplevel(N_MEMBERS).unstack(MODEL)
    columns = pd.MultiIndex.from_product(
        [list(SUMMARY_METRICS), scores[MODEL].unique()], names=["metric", MODEL]
    )
    return wide.reindex(columns=columns).sort_index()


def fixed_width(wide: pd.DataFrame) -> str:
    """The text every summary block is printed as: numbers to 4 significant digits, columns at
    least 12 characters wide."""
    return wide.to_string(float_format=lambda v: f"{v:#.4g}", col_space=12)


def format_summary(summary: pd.DataFrame) -> str:
    """Fixed-width text of :func:`summary_table`: one block per metric, one column per model."""
    return "\n\n".join(f"{heading}\n{fixed_width(summary[metric])}"
                       for metric, heading in SUMMARY_METRICS.items())


def model_columns(rows: pd.DataFrame, index: list[str], value: str) -> pd.DataFrame:
    """One column of a long table side by side per model: a row per value of ``index`` in
    ``rows`` (sorted; pivot_table would add every combination of the index levels, e.g. lead
    pairs that are not consecutive), one column per model in order of first appearance, NaN
    where a model lacks a row. A repeated (index, model) raises ValueError."""
    wide = rows.pivot(index=index, columns=MODEL, values=value)
    return wide.reindex(columns=list(rows[MODEL].unique()))


def with_differences(wide: pd.DataFrame, reference: str | None, what: str) -> pd.DataFrame:
    """``wide`` (a column per model), then each other model's difference to ``reference``, named
    f"{model} - {reference}"; unchanged for no reference. ``what`` names the table in the error
    for a reference that is not among the columns."""
    if reference is None:
        return wide
    if reference not in wide:
        raise ValueError(f"{what}: reference model {reference!r} is not in the summary (models "
                         f"{list(wide.columns)})")
    differences = {f"{model} - {reference}": wide[model] - wide[reference]
                   for model in wide if model != reference}
    return wide.assign(**differences)


def model_columns_text(rows: pd.DataFrame, index: list[str], value: str) -> str:
    """Fixed-width text of :func:`model_columns`."""
    return fixed_width(model_columns(rows, index, value))


COUNT = "count"


def rank_table(ensembles: Mapping[str, xr.Dataset], truth_aligned: xr.Dataset,
               seed: int = 0) -> pd.DataFrame:
    """Rank-histogram counts of each ensemble, long format: model, variable, lead_time_days,
    rank, count (pooled over the inits and grid points given); ties broken by draws seeded with
    `seed` (the same for every ensemble: each histogram is reproducible on its own)."""
    return pd.concat([rank_rows(model, rank_histogram(forecast, truth_aligned, seed))
                      for model, forecast in ensembles.items()], ignore_index=True)


def rank_rows(model: str, counts: xr.Dataset) -> pd.DataFrame:
    """Rank counts of one model (dims lead_time, rank per variable, from
    :func:`~seeds_dag.verification.scores.rank_histogram`) as long rows: model, variable,
    lead_time_days, rank, count."""
    return long_table({COUNT: counts}, model)[[MODEL, VARIABLE, LEAD_DAYS, RANK, COUNT]]


def rank_flatness_table(ranks: pd.DataFrame) -> pd.DataFrame:
    """Sum rank counts over whatever inits `ranks` holds and measure flatness per model, variable
    and lead: columns max_bin_ratio (1 = flat) and chi2_p_value (see `rank_histogram_flatness`)."""
    totals = ranks.groupby([MODEL, VARIABLE, LEAD_DAYS, RANK], sort=False)[COUNT].sum()
    rows = []
    for (model, variable, lead), counts in totals.groupby(level=[0, 1, 2], sort=False):
        flat = rank_histogram_flatness(
            xr.DataArray(counts.to_numpy(), dims=[RANK])
        )
        rows.append({MODEL: model, VARIABLE: variable, LEAD_DAYS: lead,
                     "max_bin_ratio": float(flat.max_bin_ratio),
                     "chi2_p_value": float(flat.p_value)})
    return pd.DataFrame(rows)


def average_over_inits(table: pd.DataFrame, value: str) -> pd.DataFrame:
    """Mean of ``value`` over the rows that agree on every other column: the partitions'
    tables concatenated, each holding one init, become the mean over inits (row order kept).

    A per-partition table of gridded diagnostics (bias maps, spectra) holds the mean over the inits
    it was given (one per daily partition), so the summary pools partitions with this; their
    schemas allow a key to repeat (once per partition) in a concatenation."""
    keys = [c for c in table.columns if c != value]
    return table.groupby(keys, sort=False)[value].mean().reset_index()
