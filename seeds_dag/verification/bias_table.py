"""The bias maps table: the mean error of the ensemble mean per grid point, and its area mean.

Pooled over partitions by :func:`~seeds_dag.verification.scores_table.average_over_inits`.
"""

from collections.abc import Mapping

import numpy as np
import pandas as pd
import pandera.pandas as pa
import xarray as xr
from pandera.typing import Series

from seeds_dag.conventions import INIT, LAT, LON
from seeds_dag.verification.bias import bias_map
from seeds_dag.verification.scores_table import (
    LEAD_DAYS,
    MODEL,
    VARIABLE,
    average_over_inits,
    long_table,
    model_columns_text,
)
from seeds_dag.weighting import spatial_mean

MEAN_ERROR = "mean_error"


class BiasMapTableSchema(pa.DataFrameModel):
    """Mean error of the ensemble mean (forecast - truth) per grid point, in the variable's
    units, averaged over the inits the table covers."""

    model: Series[str] = pa.Field(str_length={"min_value": 1})
    variable: Series[str] = pa.Field(str_length={"min_value": 1})
    lead_time_days: Series[float] = pa.Field(ge=0)
    lat: Series[float] = pa.Field(ge=-90, le=90)
    lon: Series[float] = pa.Field(ge=0, lt=360)
    mean_error: Series[float]

    class Config:
        strict = True


def bias_map_table(ensembles: Mapping[str, xr.Dataset], truth_aligned: xr.Dataset) -> pd.DataFrame:
    """Bias maps of each ensemble, averaged over the inits given.

    Args:
        ensembles: model name -> forecast (init_time, lead_time, member, lat, lon).
        truth_aligned: (init_time, lead_time, lat, lon) at the forecasts' valid times.

    Returns:
        columns model, variable, lead_time_days, lat, lon, mean_error, valid under
        :class:`BiasMapTableSchema`.
    """
    frames = [long_table({MEAN_ERROR: bias_map(forecast, truth_aligned).mean(INIT)}, model)
              for model, forecast in ensembles.items()]
    # float64 whatever the fields' dtype (stored forecasts are float32), as the schema declares.
    table = pd.concat(frames, ignore_index=True).astype({MEAN_ERROR: np.float64})
    return BiasMapTableSchema.validate(table[[MODEL, VARIABLE, LEAD_DAYS, LAT, LON, MEAN_ERROR]])


def mean_error_summary(bias_maps: pd.DataFrame) -> pd.DataFrame:
    """Area-weighted mean error per model, variable and lead, from bias maps of any inits.

    The cos(lat)-weighted mean of the mean map over inits equals the mean over inits of
    :func:`seeds_dag.verification.bias.mean_error`.

    Args:
        bias_maps: rows valid under :class:`BiasMapTableSchema` (partitions concatenated).

    Returns:
        columns model, variable, lead_time_days, mean_error; models in order of appearance.
    """
    maps = average_over_inits(BiasMapTableSchema.validate(bias_maps), MEAN_ERROR)
    keys = [MODEL, VARIABLE, LEAD_DAYS]
    grids = maps.set_index([*keys, LAT, LON])[MEAN_ERROR].to_xarray()
    # to_xarray fills missing (model, variable, lead) combinations with NaN grids; drop them.
    errors = spatial_mean(grids).to_dataframe().dropna().reset_index()
    order = {model: i for i, model in enumerate(maps[MODEL].unique())}
    return errors.sort_values(MODEL, key=lambda m: m.map(order), kind="stable",
                              ignore_index=True)[[*keys, MEAN_ERROR]]


def format_mean_error(errors: pd.DataFrame) -> str:
    """Fixed-width text of :func:`mean_error_summary`: rows (variable, lead_time_days), one
    column per model."""
    text = model_columns_text(errors, [VARIABLE, LEAD_DAYS], MEAN_ERROR)
    return f"Mean error of the ensemble mean (forecast - truth, area-weighted)\n{text}"


