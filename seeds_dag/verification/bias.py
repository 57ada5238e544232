"""Bias of the ensemble mean against truth: maps per init and their area-weighted mean.

Shapes as in :mod:`seeds_dag.verification.scores`: ``forecast`` (init_time, lead_time, member,
lat, lon), ``truth`` (init_time, lead_time, lat, lon) at the forecast valid times.
"""

import xarray as xr

from seeds_dag.conventions import MEMBER
from seeds_dag.verification.scores import _check_pair
from seeds_dag.weighting import spatial_mean


def bias_map(forecast: xr.Dataset, truth: xr.Dataset) -> xr.Dataset:
    """Error of the ensemble mean per point:  xbar_ij - y_ij  (positive: forecast too high).

    Averaging these maps over inits gives the systematic error map of a model, with no
    weighting needed (each point is its own mean).

    Returns:
        (init_time, lead_time, lat, lon) per variable, in the variable's units.
    """
    truth = _check_pair(forecast, truth)
    return (forecast.mean(MEMBER) - truth).reset_coords(drop=True)


def mean_error(forecast: xr.Dataset, truth: xr.Dataset) -> xr.Dataset:
    """Area-weighted mean error of the ensemble mean:  sum_ij w_i (xbar_ij - y_ij) / sum_ij w_i,
    w = cos(lat) area weights; equal to the weighted mean of :func:`bias_map`.

    Returns:
        (init_time, lead_time) per variable, in the variable's units.
    """
    return spatial_mean(bias_map(forecast, truth))
