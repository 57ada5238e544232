"""Latitude-to-latitude coherence tables: per-init moments of each ensemble at adjacent latitudes,
and the coherence over inits.

As for the lead-to-lead coherence (:mod:`seeds_dag.verification.coherence_table`), the per-init
table keeps the moments, not the correlation, so that partitions concatenated pool by their sums;
its key (model, variable, init_time, lead_time_days) is unique across partitions.
"""

from collections.abc import Mapping

import pandas as pd
import pandera.pandas as pa
import xarray as xr
from pandera.typing import Series

from seeds_dag.conventions import INIT
from seeds_dag.verification.coherence_table import PairMomentsSchema, pair_moment_table, pooled_correlation
from seeds_dag.verification.meridional import latitude_moments
from seeds_dag.verification.scores_table import (
    LEAD_DAYS,
    MODEL,
    VARIABLE,
    fixed_width,
    model_columns,
    with_differences,
)

LATITUDE_COHERENCE = "latitude_coherence"
# Rows of the printed table: one per variable and lead.
LEAD_INDEX = [VARIABLE, LEAD_DAYS]


class MeridionalTableSchema(PairMomentsSchema):
    """Per-init moments of member deviations from the ensemble mean at adjacent latitudes
    (:func:`~seeds_dag.verification.meridional.latitude_moments`), per lead."""

    lead_time_days: Series[float] = pa.Field(ge=0)

    class Config:
        strict = True
        unique = [MODEL, VARIABLE, INIT, LEAD_DAYS]


def meridional_table(ensembles: Mapping[str, xr.Dataset]) -> pd.DataFrame:
    """Per-init moments at adjacent latitudes of several ensembles, validated.

    Args:
        ensembles: model name -> forecast (init_time, lead_time, member, lat, lon), each with at
            least 2 members; sizes may differ between models.

    Returns:
        columns init_time, lead_time_days, variable, model, n_members, covariance,
        first_variance, second_variance, valid under :class:`MeridionalTableSchema`.
    """
    return pair_moment_table(ensembles, latitude_moments, [LEAD_DAYS], MeridionalTableSchema,
                             "meridional_table")


def meridional_summary(table: pd.DataFrame) -> pd.DataFrame:
    """Latitude-to-latitude coherence per (model, variable, lead) over every init of ``table``
    (the moments averaged over inits, then one correlation: `coherence_table.pooled_correlation`).

    Args:
        table: rows valid under :class:`MeridionalTableSchema` (partitions concatenated).

    Returns:
        columns model, variable, lead_time_days, latitude_coherence; models in order of first
        appearance.
    """
    return pooled_correlation(MeridionalTableSchema.validate(table), LEAD_INDEX, LATITUDE_COHERENCE)


def meridional_columns(summary: pd.DataFrame, reference: str | None = None) -> pd.DataFrame:
    """Latitude-to-latitude coherence side by side per model, then each other model's difference
    to ``reference`` (the physics ensemble), or no difference columns for None.

    Returns:
        index (variable, lead_time_days); a column per model in order of first appearance, then
        f"{model} - {reference}" per other model.
    """
    wide = model_columns(summary, LEAD_INDEX, LATITUDE_COHERENCE)
    return with_differences(wide, reference, "meridional_columns")


def format_meridional(columns: pd.DataFrame) -> str:
    """Fixed-width text of :func:`meridional_columns`, with its heading."""
    return ("Latitude-to-latitude coherence: correlation of member deviations from the ensemble mean "
            f"between adjacent latitudes (0: striped along the latitude circles)\n{fixed_width(columns)}")
