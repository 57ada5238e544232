"""The data model every part of seeds-dag shares: dimensions, variables, units, the grid and the
experiment's first day.

Forecast ensembles are `xarray.Dataset`s with one float32 data variable per field and dims
`FORECAST_DIMS = (init_time, lead_time, member, lat, lon)`; truth (reanalysis or nature run) has
dims `TRUTH_DIMS = (time, lat, lon)`. Latitudes are degrees north, ascending; longitudes degrees
east in [0, 360). `lead_time` is timedelta64. Validation helpers raise `DataValidationError`
naming the variable and the partition at fault.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import xarray as xr

# The dimension names, each declared here once: every module that names a dim imports it.
INIT = "init_time"
LEAD = "lead_time"
MEMBER = "member"
TIME = "time"
VALID_TIME = "valid_time"
"""The coordinate (init_time, lead_time) of the truth at a forecast's valid times (`align_truth`)."""
LAT = "lat"
LON = "lon"
SPATIAL_DIMS = (LAT, LON)
FORECAST_DIMS = (INIT, LEAD, MEMBER, LAT, LON)
TRUTH_DIMS = (TIME, LAT, LON)


@dataclasses.dataclass(frozen=True)
class Variable:
    """One output field, with the CF attributes we write and the range we accept as physical."""

    name: str
    units: str
    long_name: str
    standard_name: str
    valid_min: float
    valid_max: float


# Physical ranges are generous bounds on the Earth's atmosphere (a little wider than observed
# extremes, so a sound but imperfect emulator is not refused); a value outside means a broken
# integration, a unit mix-up (gpm instead of m²/s², °C instead of K, hPa instead of Pa) or corrupt
# data.
VARIABLES: dict[str, Variable] = {
    v.name: v
    for v in (
        Variable("z500", "m2 s-2", "geopotential at 500 hPa", "geopotential", 35_000.0, 65_000.0),
        Variable("t850", "K", "air temperature at 850 hPa", "air_temperature", 190.0, 345.0),
        Variable("u850", "m s-1", "eastward wind at 850 hPa", "eastward_wind", -120.0, 120.0),
        Variable("v850", "m s-1", "northward wind at 850 hPa", "northward_wind", -120.0, 120.0),
        Variable("sp", "Pa", "surface air pressure", "surface_air_pressure", 80_000.0, 112_000.0),
    )
}

# Fields the archive sources (GEFS, ERA5) can add on request; the embedded physics has no moisture
# or boundary layer, so the graph's core set stays `VARIABLES`. Bounds as above: recorded MSLP runs
# 870–1084 hPa, 2 m temperature 184–330 K, total column water vapour 0–~80 kg m⁻².
OPTIONAL_VARIABLES: dict[str, Variable] = {
    v.name: v
    for v in (
        Variable("msl", "Pa", "air pressure at mean sea level", "air_pressure_at_mean_sea_level",
                 85_000.0, 110_000.0),
        Variable("t2m", "K", "air temperature at 2 m", "air_temperature", 170.0, 350.0),
        Variable("tcwv", "kg m-2", "total column water vapour",
                 "atmosphere_mass_content_of_water_vapor", 0.0, 100.0),
    )
}
KNOWN_VARIABLES: dict[str, Variable] = VARIABLES | OPTIONAL_VARIABLES


@dataclasses.dataclass(frozen=True)
class OutputGrid:
    """Regular latitude–longitude grid the sources write (cell centres, no pole points): the
    embedded physics and the archive readers alike (`regular_latitudes`, `regular_longitudes`)."""

    n_lat: int = 32
    n_lon: int = 64


EXPERIMENT_START = "2000-01-01"
"""The first day of the experiment: the embedded nature run, the reforecast (training) window and
the daily partitions start here (real GEFS reforecasts start in 2000 too)."""


class DataValidationError(ValueError):
    """An artifact breaks the data conventions; the message names what and where."""


def regular_latitudes(n_lat: int) -> np.ndarray:
    """Cell-centre latitudes of an equiangular grid without pole points, ascending, degrees."""
    spacing = 180.0 / n_lat
    return -90.0 + spacing * (np.arange(n_lat) + 0.5)


def regular_longitudes(n_lon: int) -> np.ndarray:
    """Equally spaced longitudes starting at 0°E, degrees in [0, 360)."""
    return np.arange(n_lon) * (360.0 / n_lon)


def attach_attributes(ds: xr.Dataset) -> xr.Dataset:
    """Add CF attributes to the variables and coordinates we know."""
    for name in ds.data_vars:
        if name in KNOWN_VARIABLES:
            var = KNOWN_VARIABLES[name]
            ds[name].attrs.update(units=var.units, long_name=var.long_name,
                                  standard_name=var.standard_name)
    if "lat" in ds.coords:
        ds["lat"].attrs.update(units="degrees_north", standard_name="latitude")
    if "lon" in ds.coords:
        ds["lon"].attrs.update(units="degrees_east", standard_name="longitude")
    return ds


def _check_grid(ds: xr.Dataset, where: str, lat: np.ndarray | None, lon: np.ndarray | None) -> None:
    # `ds["lat"]` of a dim without a coordinate is xarray's default 0, 1, 2, … (ascending, within
    # [-90, 90]), so a missing coordinate must be caught by name, not by a KeyError.
    missing = [name for name in ("lat", "lon") if name not in ds.coords]
    if missing:
        raise DataValidationError(f"{where}: missing coordinate(s) {missing}")
    ds_lat, ds_lon = ds["lat"].values, ds["lon"].values
    if not np.all(np.diff(ds_lat) > 0) or ds_lat.min() < -90 or ds_lat.max() > 90:
        raise DataValidationError(f"{where}: lat must ascend within [-90, 90]")
    if ds_lon.min() < 0 or ds_lon.max() >= 360 or not np.all(np.diff(ds_lon) > 0):
        raise DataValidationError(f"{where}: lon must ascend within [0, 360)")
    if lat is not None and (ds_lat.shape != lat.shape or not np.allclose(ds_lat, lat)):
        raise DataValidationError(f"{where}: lat grid {ds_lat.shape} differs from the expected {lat.shape}")
    if lon is not None and (ds_lon.shape != lon.shape or not np.allclose(ds_lon, lon)):
        raise DataValidationError(f"{where}: lon grid {ds_lon.shape} differs from the expected {lon.shape}")


def validation_problems(
    ds: xr.Dataset,
    dims: tuple[str, ...],
    where: str,
    *,
    variables: tuple[str, ...] = tuple(VARIABLES),
    n_members: int | None = None,
    lat: np.ndarray | None = None,
    lon: np.ndarray | None = None,
) -> list[str]:
    """Everything wrong with `ds` against the conventions, as messages naming `where` and the
    variable; empty when the artifact is valid. Loads the data (call on one partition)."""
    problems: list[str] = []
    try:
        _check_grid(ds, where, lat, lon)
    except DataValidationError as err:
        problems.append(str(err))
    if n_members is not None and ds.sizes.get("member") != n_members:
        problems.append(f"{where}: {ds.sizes.get('member')} members, expected {n_members}")
    for name in variables:
        if name not in ds.data_vars:
            problems.append(f"{where}: variable {name!r} is missing")
            continue
        da = ds[name]
        if da.dims != dims:
            problems.append(f"{where}: variable {name!r} has dims {da.dims}, expected {dims}")
            continue
        if da.dtype != np.float32:
            problems.append(f"{where}: variable {name!r} is {da.dtype}, expected float32")
        values = da.values
        n_bad = int(np.count_nonzero(~np.isfinite(values)))
        if n_bad:
            problems.append(f"{where}: variable {name!r} has {n_bad} NaN/inf values")
            continue
        var = KNOWN_VARIABLES[name]
        lo, hi = float(values.min()), float(values.max())
        if lo < var.valid_min or hi > var.valid_max:
            problems.append(
                f"{where}: variable {name!r} spans [{lo:.6g}, {hi:.6g}] {var.units}, outside the "
                f"physical range [{var.valid_min:g}, {var.valid_max:g}]"
            )
    return problems


def validate(ds: xr.Dataset, dims: tuple[str, ...], where: str, **kwargs) -> xr.Dataset:
    """Raise `DataValidationError` listing every problem `validation_problems` finds."""
    problems = validation_problems(ds, dims, where, **kwargs)
    if problems:
        raise DataValidationError("; ".join(problems))
    return ds
