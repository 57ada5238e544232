"""Coherence tables: per-init lead moments of each ensemble, and the coherence over inits.

The per-init table keeps the moments, not the correlation, so that partitions concatenated pool
the way :mod:`seeds_dag.verification.coherence` says (mean moments, then one ratio); its key
(model, variable, init_time, first_lead_days) is unique across partitions since each holds its
own inits.
"""

from collections.abc import Mapping

import numpy as np
import pandas as pd
import pandera.pandas as pa
import xarray as xr
from pandera.typing import Series

from seeds_dag.conventions import INIT, MEMBER
from seeds_dag.verification.coherence import (
    FIRST_LEAD,
    SECOND_LEAD,
    LeadMoments,
    lead_correlation,
    lead_moments,
)
from seeds_dag.verification.scores_table import (
    MODEL,
    N_MEMBERS,
    VARIABLE,
    fixed_width,
    long_table,
    model_columns,
)

# long_table's names for the two leads of a lead_pair.
FIRST_LEAD_DAYS = f"{FIRST_LEAD}_days"
SECOND_LEAD_DAYS = f"{SECOND_LEAD}_days"
MOMENTS = list(LeadMoments._fields)
COHERENCE = "coherence"
# Rows of the printed coherence table: one per variable and lead pair.
PAIR_INDEX = [VARIABLE, FIRST_LEAD_DAYS, SECOND_LEAD_DAYS]


class CoherenceTableSchema(pa.DataFrameModel):
    """Per-init moments of member deviations from the ensemble mean at consecutive leads
    (:func:`~seeds_dag.verification.coherence.lead_moments`), in the variable's units squared."""

    init_time: Series[pa.DateTime]
    first_lead_days: Series[float] = pa.Field(ge=0)
    second_lead_days: Series[float] = pa.Field(gt=0)
    variable: Series[str] = pa.Field(str_length={"min_value": 1})
    model: Series[str] = pa.Field(str_length={"min_value": 1})
    n_members: Series[int] = pa.Field(ge=2)
    covariance: Series[float]
    first_variance: Series[float] = pa.Field(ge=0)
    second_variance: Series[float] = pa.Field(ge=0)

    @pa.dataframe_check
    def pairs_are_consecutive_and_cauchy_schwarz(cls, df: pd.DataFrame) -> Series[bool]:
        """The second lead follows the first, and |C| <= sqrt(V_1 V_2) (to rounding), as for
        any covariance."""
        bound = df["first_variance"] * df["second_variance"] * (1 + 1e-6)
        return (df[SECOND_LEAD_DAYS] > df[FIRST_LEAD_DAYS]) & (df["covariance"] ** 2 <= bound)

    class Config:
        strict = True
        unique = [MODEL, VARIABLE, INIT, FIRST_LEAD_DAYS]


def coherence_table(ensembles: Mapping[str, xr.Dataset]) -> pd.DataFrame:
    """Per-init lead moments of several ensembles, validated.

    Args:
        ensembles: model name -> forecast (init_time, lead_time, member, lat, lon), each with
            at least 2 members and 2 leads; sizes may differ between models.

    Returns:
        columns init_time, first_lead_days, second_lead_days, variable, model, n_members,
        covariance, first_variance, second_variance, valid under :class:`CoherenceTableSchema`.
    """
    if not ensembles:
        raise ValueError("coherence_table: no ensembles given")
    frames = []
    for model, forecast in ensembles.items():
        frame = long_table(lead_moments(forecast)._asdict(), model)
        frame[N_MEMBERS] = forecast.sizes[MEMBER]
        frames.append(frame)
    # float64 whatever the fields' dtype (stored forecasts are float32), as the schema declares.
    table = pd.concat(frames, ignore_index=True).astype({m: np.float64 for m in MOMENTS})
    return CoherenceTableSchema.validate(
        table[[INIT, FIRST_LEAD_DAYS, SECOND_LEAD_DAYS, VARIABLE, MODEL, N_MEMBERS, *MOMENTS]])


def coherence_summary(table: pd.DataFrame) -> pd.DataFrame:
    """Coherence per (model, variable, lead pair) over every init of ``table``: the moments
    averaged over inits, then :func:`~seeds_dag.verification.coherence.lead_correlation`
    (not the mean of per-init correlations).

    Args:
        table: rows valid under :class:`CoherenceTableSchema` (partitions concatenated).

    Returns:
        columns model, variable, first_lead_days, second_lead_days, coherence; models in order
        of first appearance.
    """
    table = CoherenceTableSchema.validate(table)
    means = table.groupby([MODEL, *PAIR_INDEX], sort=False)[MOMENTS].mean()
    return lead_correlation(*(means[m] for m in MOMENTS)).rename(COHERENCE).reset_index()


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
    wide = model_columns(summary, PAIR_INDEX, COHERENCE)
    if reference is None:
        return wide
    if reference not in wide:
        raise ValueError(f"coherence_columns: reference model {reference!r} is not in the "
                         f"summary (models {list(wide.columns)})")
    differences = {f"{model} - {reference}": wide[model] - wide[reference]
                   for model in wide if model != reference}
    return wide.assign(**differences)


def format_coherence(columns: pd.DataFrame) -> str:
    """Fixed-width text of :func:`coherence_columns`, with its heading."""
    return ("Lead-to-lead coherence: correlation of member deviations from the ensemble mean "
            f"between consecutive leads (1: kept, 0: independent)\n{fixed_width(columns)}")
