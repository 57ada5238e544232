"""Per-variable normalisation of forecast fields by lead time and latitude:
x_norm = (x − μ(v, lead, lat)) / σ(v, lead, lat), and the ensemble spread the diffusion models
scale their anomalies by (`seeds_dag.seed_anomalies`).

The diffusion model works on fields of unit variance (EDM's sigma_data = 1). Spread and climate
drift both change with lead time, and the climate changes with latitude far more than with
longitude: one global σ would be dominated by the equator-to-pole contrast (for z500 about 7× the
local variability), leaving the weather the model must learn at a tenth of the noise scale it is
trained on. So μ and σ are taken per lead time and latitude, pooled over initialisations, members
and longitudes (as SEEDS normalises by climatology, here zonal climatology, which the reforecast
can estimate from few inits).

Statistics are an `xarray.Dataset` with one float64 data variable per field, dims
("statistic", "lead_time", "lat"), statistic = STATISTICS: the mean and std above, and the spread:
the root mean over (init_time, lon) of the unbiased variance over members, i.e. the typical
ensemble std at that lead and latitude.
"""

from collections.abc import Sequence

import numpy as np
import pandas as pd
import xarray as xr

from seeds_dag.conventions import INIT, LAT, LEAD, LON, MEMBER, SPATIAL_DIMS, attach_attributes
from seeds_dag.truth_alignment import align_truth

STATISTIC = "statistic"
STATISTICS = ("mean", "std", "spread")
REDUCED_DIMS = (INIT, MEMBER, LON)
"""Dims pooled into one mean and std; lead_time and lat are kept."""


def compute_normalization(forecast: xr.Dataset) -> xr.Dataset:
    """Mean and population std of every data variable per (lead_time, lat), over (init_time, member, lon),
    and its ensemble spread (see the module docstring).

    Args:
        forecast: dims (init_time, lead_time, member, lat, lon), numpy- or dask-backed (e.g. a
            concat of zarr shards). Dask inputs are reduced chunk by chunk in one `compute`, so
            memory is bounded by the chunk size, not the dataset size.

    Returns:
        float64 Dataset, one variable per field with dims ("statistic", "lead_time", "lat"),
        statistic = STATISTICS; attrs n_inits and n_members record the sample it came from.

    Raises:
        ValueError naming the variable if it lacks a dim, if there are fewer than 2 members, or if
        a std or spread is 0 or non-finite (a constant field, identical members, or NaN/inf in the
        data: NaNs are not skipped).
    """
    if forecast.sizes.get("member", 0) < 2:
        raise ValueError(f"normalisation statistics need at least 2 members for the ensemble spread, "
                         f"got {forecast.sizes.get('member', 0)}")
    lazy = {}
    for name, da in forecast.data_vars.items():
        missing = [d for d in (*REDUCED_DIMS, LEAD, LAT) if d not in da.dims]
        if missing:
            raise ValueError(f"variable {name!r} lacks dims {missing}; expected {da.dims} to hold them")
        x = da.astype(np.float64)
        spread = np.sqrt(x.var("member", ddof=1, skipna=False).mean(("init_time", "lon"), skipna=False))
        moments = [x.mean(REDUCED_DIMS, skipna=False), x.std(REDUCED_DIMS, skipna=False), spread]
        lazy[name] = xr.concat(moments, dim=STATISTIC).transpose(STATISTIC, "lead_time", "lat")
        lazy[name].attrs = {"units": da.attrs["units"]} if "units" in da.attrs else {}
    stats = xr.Dataset(lazy).assign_coords({STATISTIC: list(STATISTICS)}).compute()
    for name in stats.data_vars:
        for statistic in ("std", "spread"):
            values = stats[name].sel({STATISTIC: statistic}).values
            bad = ~np.isfinite(values) | (values <= 0) | ~np.isfinite(stats[name].sel({STATISTIC: "mean"}).values)
            if bad.any():
                lead_index, lat_index = np.nonzero(bad)
                raise ValueError(
                    f"variable {name!r}: {statistic} {values[bad].tolist()[:5]} at lead_time "
                    f"{_format_leads(stats['lead_time'].values[np.unique(lead_index)])}, lat "
                    f"{stats['lat'].values[np.unique(lat_index)].tolist()[:5]} is zero or non-finite "
                    f"(constant field, identical members, or NaN/inf in the data); cannot normalise"
                )
    stats.attrs.update(n_inits=int(forecast.sizes["init_time"]), n_members=int(forecast.sizes["member"]))
    return stats


def _format_leads(lead_time: np.ndarray) -> list[str]:
    """Lead times as readable strings ('1 days 06:00:00'), for error messages."""
    if np.issubdtype(lead_time.dtype, np.timedelta64):
        return [str(t) for t in pd.to_timedelta(lead_time)]
    return [str(t) for t in lead_time]


def lead_statistic(stats: xr.Dataset, name: str, lead_time: np.ndarray, statistic: str) -> np.ndarray:
    """One statistic (of STATISTICS) of variable `name` at each of `lead_time`: float64 (n_lead, n_lat)."""
    if name not in stats.data_vars:
        raise ValueError(f"no normalisation statistics for variable {name!r}; have {list(stats.data_vars)}")
    if statistic not in stats[STATISTIC].values:
        raise ValueError(f"normalisation statistics lack {statistic!r} (have {list(stats[STATISTIC].values)}): "
                         "made by an older version, materialise normalization_stats again")
    lead_time = np.asarray(lead_time)
    missing = np.setdiff1d(lead_time, stats["lead_time"].values)
    if missing.size:
        raise ValueError(f"variable {name!r}: no normalisation statistics at lead_time {_format_leads(missing)}")
    return stats[name].sel(lead_time=lead_time).sel({STATISTIC: statistic}).values


def lead_statistics(stats: xr.Dataset, name: str, lead_time: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(mean, std) of variable `name` at each of `lead_time`: two float64 arrays (n_lead, n_lat)."""
    return lead_statistic(stats, name, lead_time, "mean"), lead_statistic(stats, name, lead_time, "std")


def to_normalized_array(ds: xr.Dataset, stats: xr.Dataset, variables: Sequence[str]) -> np.ndarray:
    """Normalised fields stacked along a variable axis just before (lat, lon), float32.

    Every variable in `variables` must have the same dims, among them lead_time, lat and lon;
    lat and lon move last, the other dims keep their order in the first variable. For the
    convention (init_time, lead_time, member, lat, lon) the result is
    (init, lead, member, V, lat, lon); for one initialisation (lead_time, member, lat, lon) it is
    (lead, member, V, lat, lon). Loads one variable at a time.
    """
    first = ds[variables[0]]
    if "lead_time" not in first.dims:
        raise ValueError(f"variable {variables[0]!r} has dims {first.dims}; to_normalized_array needs lead_time")
    leading = [d for d in first.dims if d not in SPATIAL_DIMS]
    lead_axis = leading.index("lead_time")
    out = np.empty([ds.sizes[d] for d in leading] + [len(variables)] + [ds.sizes[d] for d in SPATIAL_DIMS],
                   np.float32)
    for i, name in enumerate(variables):
        if set(ds[name].dims) != set(first.dims):
            raise ValueError(f"variable {name!r} has dims {ds[name].dims}, {variables[0]!r} has {first.dims}")
        mean, std = lead_statistics(stats, name, ds["lead_time"].values)
        broadcast = [1] * len(leading) + [-1, 1]
        broadcast[lead_axis] = len(ds["lead_time"])
        values = ds[name].transpose(*leading, *SPATIAL_DIMS).values.astype(np.float64)
        out[..., i, :, :] = (values - mean.reshape(broadcast)) / std.reshape(broadcast)
    return out


def from_normalized_array(
    arr: np.ndarray,
    stats: xr.Dataset,
    variables: Sequence[str],
    lead_time: np.ndarray,
    *,
    lat: np.ndarray | None = None,
    lon: np.ndarray | None = None,
    member: np.ndarray | None = None,
) -> xr.Dataset:
    """Inverse of `to_normalized_array` for one initialisation: x = x_norm·σ + μ (per lead, lat).

    Args:
        arr: (lead, member, V, lat, lon) normalised fields; V in the order of `variables`.
        lead_time: (lead,) timedelta64, the lead times of arr's first axis.
        lat, lon, member: coordinates to attach (optional; the dims exist either way).

    Returns:
        float32 Dataset, one variable per field with dims (lead_time, member, lat, lon), CF attributes.
    """
    lead_time = np.asarray(lead_time)
    if arr.ndim != 5 or arr.shape[0] != len(lead_time) or arr.shape[2] != len(variables):
        raise ValueError(
            f"arr: expected shape ({len(lead_time)}, member, {len(variables)}, lat, lon), got {arr.shape}"
        )
    data_vars = {}
    for i, name in enumerate(variables):
        mean, std = lead_statistics(stats, name, lead_time)
        physical = arr[:, :, i].astype(np.float64) * std[:, None, :, None] + mean[:, None, :, None]
        data_vars[name] = ((LEAD, MEMBER, *SPATIAL_DIMS), physical.astype(np.float32))
    coords = {"lead_time": lead_time}
    coords.update({k: v for k, v in (("member", member), ("lat", lat), ("lon", lon)) if v is not None})
    return attach_attributes(xr.Dataset(data_vars, coords=coords))


def truth_at_valid_times(truth: xr.Dataset, forecast: xr.Dataset, stats: xr.Dataset,
                         variables: Sequence[str]) -> np.ndarray:
    """The truth at the valid times of `forecast` (dims init_time, lead_time, …), normalised with
    the forecast's statistics of each lead so that it is comparable to the members (the
    post-processor's training target): (init, lead, V, lat, lon) float32."""
    observed = align_truth(truth[list(variables)], forecast["init_time"].values, forecast["lead_time"].values)
    observed = observed.drop_vars("valid_time").expand_dims(member=1, axis=2)
    return to_normalized_array(observed, stats, list(variables))[:, :, 0]
