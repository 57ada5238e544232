"""Area weighting on a regular latitude-longitude grid: the one place cos(latitude) lives.

Beside the conventions rather than in `seeds_dag.verification`: the training loss is weighted by
the same cos(latitude) as the scores, and training does not import verification."""

import numpy as np
import xarray as xr

from seeds_dag.conventions import LAT, SPATIAL_DIMS


def area_weights(lat: xr.DataArray) -> xr.DataArray:
    """Grid-cell area weights w(lat) = cos(lat) / mean_lat cos(lat).

    On a regular grid the area of a cell is proportional to cos(latitude); normalising to mean 1
    over the latitudes given makes a weighted mean equal a plain mean when the field is constant,
    and keeps weighted sums on the scale of unweighted ones.

    Args:
        lat: latitudes in degrees north, shape (lat,), within [-90, 90].

    Returns:
        weights, shape (lat,), same coordinate as ``lat``, mean 1, 0 at the poles.
    """
    lat_values = np.asarray(lat)
    if lat_values.size == 0 or np.any(np.abs(lat_values) > 90):
        raise ValueError(
            f"area_weights: latitudes must be non-empty and within [-90, 90] degrees north, "
            f"got {lat_values.size} values in [{lat_values.min(initial=np.inf)}, "
            f"{lat_values.max(initial=-np.inf)}]"
        )
    # max(., 0) removes the -6e-17 that cos(90 degrees) rounds to.
    weights = np.maximum(np.cos(np.deg2rad(lat)), 0.0)
    return (weights / weights.mean()).rename("area_weight")


def spatial_mean(x: xr.DataArray | xr.Dataset, dims=SPATIAL_DIMS) -> xr.DataArray | xr.Dataset:
    """Area-weighted mean  sum_ij w_i x_ij / sum_ij w_i  over ``dims`` with w = area_weights(lat).

    Args:
        x: field(s) with a ``lat`` coordinate (degrees north), shape (..., lat, lon).
        dims: dimensions reduced; by default the whole grid.

    Returns:
        ``x`` without ``dims``: shape (...,).
    """
    return x.weighted(area_weights(x[LAT])).mean(dim=list(dims))
