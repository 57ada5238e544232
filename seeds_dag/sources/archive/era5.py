"""ERA5 truth from an analysis-ready zarr store through fsspec (gs:// via gcsfs, s3:// via s3fs).

The default store is Google's ARCO-ERA5 `gs://gcp-public-data-arco-era5/ar/
full_37-1h-0p25deg-chunk-1.zarr-v3` (hourly, 0.25°, 37 pressure levels, one time per chunk,
latitudes descending, longitudes 0–359.75; read anonymously with `{"token": "anon"}`), as listed in
google-research/arco-era5's own ingestion job and opened that way by public users of it. Arrays
are named `geopotential`, `temperature`, `u_component_of_wind`, `v_component_of_wind` (dims time,
level [hPa], latitude, longitude) and `surface_pressure` (time, latitude, longitude).

Only the times, variables and levels asked for are read, a few times at a time (each ARCO chunk
holds one time of one variable, all 37 levels for pressure-level arrays), each read retried with
backoff on transient errors, then converted to our units and regridded conservatively.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
import xarray as xr

from seeds_dag.conventions import TRUTH_DIMS, OutputGrid, attach_attributes, validate
from seeds_dag.sources.archive.errors import ArchiveDecodeError
from seeds_dag.sources.archive.regrid import ToModelGrid
from seeds_dag.sources.archive.s3_io import RetryPolicy, with_retries
from seeds_dag.sources.archive.variables import CORE_VARIABLES, ERA5_FIELDS, ZarrField

ARCO_ERA5_URL = "gs://gcp-public-data-arco-era5/ar/full_37-1h-0p25deg-chunk-1.zarr-v3"
_RENAMES = {"latitude": "lat", "longitude": "lon"}
_SHOWN_MISSING = 5


@dataclasses.dataclass(frozen=True, repr=False)
class Era5Store:
    """An ERA5 zarr store: URL, fsspec options (credentials among them, so never shown), which of
    our variables to read and how many times per read."""

    url: str = ARCO_ERA5_URL
    storage_options: Mapping[str, Any] = dataclasses.field(
        default_factory=lambda: {"token": "anon"})
    variables: tuple[str, ...] = CORE_VARIABLES
    retry: RetryPolicy = dataclasses.field(default_factory=RetryPolicy)
    times_per_read: int = 4

    def __repr__(self) -> str:
        return f"Era5Store(url={self.url!r}, storage_options=<{len(self.storage_options)} keys>)"


def _open(store: Era5Store) -> xr.Dataset:
    ds = with_retries(
        lambda: xr.open_zarr(store.url, storage_options=dict(store.storage_options),
                             chunks=None, consolidated=None),
        f"ERA5 store {store.url}: opening", store.retry)
    return ds.rename({k: v for k, v in _RENAMES.items() if k in ds.dims})


def _check_store(ds: xr.Dataset, store: Era5Store, times: pd.DatetimeIndex) -> None:
    """Every array, level and time asked for is in the store; else one error listing what is not."""
    problems = []
    for name in store.variables:
        field = ERA5_FIELDS[name]
        if field.array not in ds.data_vars:
            problems.append(f"no array {field.array!r} (for {name})")
        elif field.level is not None and field.level not in ds[field.array]["level"].values:
            problems.append(f"{field.array!r} has no level {field.level} hPa (for {name})")
    missing = times.difference(pd.DatetimeIndex(ds.indexes["time"]))
    if len(missing):
        shown = ", ".join(f"{t:%Y-%m-%d %H}h" for t in missing[:_SHOWN_MISSING])
        more = f" and {len(missing) - _SHOWN_MISSING} more" if len(missing) > _SHOWN_MISSING else ""
        problems.append(f"no time(s) {shown}{more}")
    if problems:
        raise ArchiveDecodeError(f"ERA5 store {store.url}: " + "; ".join(problems))


def _read(ds: xr.Dataset, field: ZarrField, times: pd.DatetimeIndex, store: Era5Store
          ) -> xr.DataArray:
    da = ds[field.array]
    level = ""
    if field.level is not None:
        da, level = da.sel(level=field.level), f" at {field.level} hPa"
    da = da.sel(time=times)
    what = (f"ERA5 store {store.url}: reading {field.array}{level} for "
            f"{times[0]:%Y-%m-%d %H}h..{times[-1]:%Y-%m-%d %H}h")
    return with_retries(da.load, what, store.retry) * field.scale


def era5_truth(store: Era5Store, times: Sequence[pd.Timestamp] | pd.DatetimeIndex,
               grid: OutputGrid) -> xr.Dataset:
    """ERA5 at `times` on `grid`: dims (time, lat, lon), float32, our variables and units,
    validated by `conventions.validate`. Raises an `ArchiveError` naming the store and what it
    lacks (array, level, times) or what could not be read after retries."""
    times = pd.DatetimeIndex(times)
    if times.empty:
        raise ValueError(f"ERA5 store {store.url}: no times asked for")
    ds = _open(store)
    _check_store(ds, store, times)
    to_grid = ToModelGrid(grid.n_lat, grid.n_lon)
    fields = {name: np.zeros((len(times), grid.n_lat, grid.n_lon), np.float32)
              for name in store.variables}
    step = max(1, store.times_per_read)
    for start in range(0, len(times), step):
        batch = times[start:start + step]
        for name in store.variables:
            source = _read(ds, ERA5_FIELDS[name], batch, store)
            fields[name][start:start + len(batch)] = to_grid(
                source.transpose("time", ...), f"ERA5 {name} from {store.url}")
    truth = xr.Dataset(
        {name: (TRUTH_DIMS, values) for name, values in fields.items()},
        coords={"time": times.values, "lat": to_grid.lat, "lon": to_grid.lon},
        attrs={"source": f"ERA5, {store.url}",
               "regridding": "first-order conservative to the model grid"},
    )
    truth = attach_attributes(truth)
    return validate(truth, TRUTH_DIMS, f"ERA5 truth from {store.url}", variables=store.variables,
                    lat=to_grid.lat, lon=to_grid.lon)
