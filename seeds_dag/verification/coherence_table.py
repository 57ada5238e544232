"""Coherence tables: per-init lead moments of each ensemble, and the coherence over inits.

The per-init table keeps the moments, not the correlation, so that partitions concatenated pool
the way :mod:`seeds_dag.verification.coherence` says (mean moments, then one ratio); its key
(model, variable, init_time, first_lead_days) is unique across partitions since each holds its
own inits.
"""

from collections.abc import Callable, Mapping

import numpy as np
import pandas as pd
import pandera.pandas as pa
import xarray as xr
from pandera.typing import Series

from seeds_dag.conventions import INIT, MEMBER
from seeds_dag.verification.coherence import (
    FIRST_LEAD,
    SECOND_LEAD,
    PairMoments,
    lead_moments,
    pair_correlation,
)
from seeds_dag.verification.scores_table import (
    MODEL,
    N_MEMBERS,
    VARIABLE,
    fixed_width,
    long_table,
    model_columns,
    with_differences,
)

# long_table's names for the two leads of a lead_pair.
FIRST_LEAD_DAYS = f"{FIRST_LEAD}_days"
SECOND_LEAD_DAYS = f"{SECOND_LEAD}_days"
MOMENTS = list(PairMoments._fields)
COHERENCE = "coherence"
# Rows of the printed coherence table: one per variable and lead pair.
PAIR_INDEX = [VARIABLE, FIRST_LEAD_DAYS, SECOND_LEAD_DAYS]


class PairMomentsSchema(pa.DataFrameModel):
    """What every per-init table of moments at the two places of pairs holds (consecutive leads
    here, adjacent latitudes in `meridional_table`), in the variable's units squared; each table
    adds the columns that say where its pairs are."""

    init_time: Series[pa.DateTime]
    variable: Series[str] = pa.Field(str_length={"min_value": 1})
    model: Series[str] = pa.Field(str_length={"min_value": 1})
    n_members: Series[int] = pa.Field(ge=2)
    covariance: Series[float]
    first_variance: Series[float] = pa.Field(ge=0)
    second_variance: Series[float] = pa.Field(ge=0)

    @pa.dataframe_check
    def cauchy_schwarz(cls, df: pd.DataFrame) -> Series[bool]:
        """|C| <= sqrt(V_1 V_2) (to rounding), as for any covariance."""
        return df["covariance"] ** 2 <= df["first_variance"] * df["second_variance"] * (1 + 1e-6)


class CoherenceTableSchema(PairMomentsSchema):
    """Per-init moments of member deviations from the ensemble mean at consecutive leads
    (:func:`~seeds_dag.verification.coherence.lead_moments`)."""

    first_lead_days: Series[float] = pa.Field(ge=0)
    second_lead_days: Series[float] = pa.Field(gt=0)

    @pa.dataframe_check
    def pairs_are_consecutive(cls, df: pd.DataFrame) -> Series[bool]:
        """The second lead follows the first."""
        return df[SECOND_LEAD_DAYS] > df[FIRST_LEAD_DAYS]

    class Config:
        strict = True
        unique = [MODEL, VARIABLE, INIT, FIRST_LEAD_DAYS]


def pair_moment_table(ensembles: Mapping[str, xr.Dataset], moments_of: Callable[[xr.Dataset], PairMoments],
                      places: list[str], schema: type[PairMomentsSchema], caller: str) -> pd.DataFrame:
    """Per-init pair moments of several ensembles as one long table, validated by `schema`.

    Args:
        ensembles: model name -> forecast (init_time, lead_time, member, lat, lon); sizes may
            differ between models.
        moments_of: a forecast's PairMoments, Datasets over init_time and the pairs' dims.
        places: the columns `long_table` makes of those dims, in the order the table keeps them.
        caller: named in the error for no ensembles.

    Returns:
        columns init_time, *places, variable, model, n_members and the moments.
    """
    if not ensembles:
        raise ValueError(f"{caller}: no ensembles given")
    frames = []
    for model, forecast in ensembles.items():
        frame = long_table(moments_of(forecast)._asdict(), model)
        frame[N_MEMBERS] = forecast.sizes[MEMBER]
        frames.append(frame)
    # float64 whatever the fields' dtype (stored forecasts are float32), as the schema declares.
    table = pd.concat(frames, ignore_index=True).astype({m: np.float64 for m in MOMENTS})
    return schema.validate(table[[INIT, *places, VARIABLE, MODEL, N_MEMBERS, *MOMENTS]])


def pooled_correlation(table: pd.DataFrame, index: list[str], name: str) -> pd.DataFrame:
    """The correlation per (model, *index) over every init of a pair-moment table: the moments
    averaged over inits, then :func:`~seeds_dag.verification.coherence.pair_correlation` (not the
    mean of per-init correlations); a column `name`, models in order of first appearance."""
    means = table.groupby([MODEL, *index], sort=False)[MOMENTS].mean()
    return pair_correlation(*(means[m] for m in MOMENTS)).rename(name).reset_index()


def coherence_table(ensembles: Mapping[str, xr.Dataset]) -> pd.DataFrame:
    """Per-init lead moments of several ensembles, validated.

    Args:
        ensembles: model name -> forecast (init_time, lead_time, member, lat, lon), each with
            at least 2 members and 2 leads; sizes may differ between models.

    Returns:
        columns init_time, first_lead_days, second_lead_days, variable, model, n_members,
        covariance, first_variance, second_variance, valid under :class:`CoherenceTableSchema`.
    """
    return pair_moment_table(ensembles, lead_moments, [FIRST_LEAD_DAYS, SECOND_LEAD_DAYS],
                             CoherenceTableSchema, "coherence_table")


def coherence_summary(table: pd.DataFrame) -> pd.DataFrame:
    """Coherence per (model, variable, lead pair) over every init of ``table``
    (:func:`pooled_correlation`).

    Args:
        table: rows valid under :class:`CoherenceTableSchema` (partitions concatenated).

    Returns:
        columns model, variable, first_lead_days, second_lead_days, coherence; models in order
        of first appearance.
    """
    return pooled_correlation(CoherenceTableSchema.validate(table), PAIR_INDEX, COHERENCE)


def coherence_columns(summary: pd.DataFrame, reference: str | None = None) -> pd.DataFrame:
    """Coherence side by side per model, then each other model's difference to ``reference``.

    Args:
        summary: from :func:`coherence_summary`.
        reference: the model every other is read against (the physics ensemble), or None for
            no difference columns.

    Returns:
        index (variable, first_lead_days, second_lead_days); a column per model in order of
        first appearance, then f"{model} - {reference}" per other model.
    """
    return with_differences(model_columns(summary, PAIR_INDEX, COHERENCE), reference, "coherence_columns")


def format_coherence(columns: pd.DataFrame) -> str:
    """Fixed-width text of :func:`coherence_columns`, with its heading."""
    return ("Lead-to-lead coherence: correlation of member deviations from the ensemble mean "
            f"between consecutive leads (1: kept, 0: independent)\n{fixed_width(columns)}")
