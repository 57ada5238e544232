"""Data conventions: the regular grid, CF attributes and the validator's findings, each naming
the partition and the variable at fault."""

import numpy as np
import pandas as pd
import pytest
import xarray as xr

from seeds_dag.conventions import (
    FORECAST_DIMS,
    TRUTH_DIMS,
    VARIABLES,
    DataValidationError,
    attach_attributes,
    regular_latitudes,
    regular_longitudes,
    validate,
    validation_problems,
)

WHERE = "reforecast 2001-01-01"
TYPICAL = {"z500": 54_000.0, "t850": 275.0, "u850": 5.0, "v850": 0.0, "sp": 100_000.0}


def forecast(n_member=3, n_lat=8, n_lon=16, seed=0):
    """A valid forecast partition: typical values plus small noise, float32, conventions' grid."""
    rng = np.random.default_rng(seed)
    shape = (1, 2, n_member, n_lat, n_lon)
    data = {
        name: (FORECAST_DIMS,
               (value + (0.01 * abs(value) + 0.1) * rng.standard_normal(shape)).astype(np.float32))
        for name, value in TYPICAL.items()
    }
    coords = {
        "init_time": [pd.Timestamp("2001-01-01")],
        "lead_time": pd.to_timedelta([1, 2], unit="D"),
        "member": np.arange(n_member),
        "lat": regular_latitudes(n_lat),
        "lon": regular_longitudes(n_lon),
    }
    return xr.Dataset(data, coords=coords)


def problems(ds, dims=FORECAST_DIMS, **kwargs):
    return validation_problems(ds, dims, WHERE, **kwargs)


def test_regular_grid_is_the_cell_centred_equiangular_grid():
    lat = regular_latitudes(32)
    assert lat[0] == pytest.approx(-90 + 180 / 64) and lat[-1] == pytest.approx(90 - 180 / 64)
    np.testing.assert_allclose(np.diff(lat), 180 / 32)
    np.testing.assert_allclose(lat, -lat[::-1])  # symmetric about the equator, no pole points
    lon = regular_longitudes(64)
    assert lon[0] == 0.0 and lon[-1] == pytest.approx(360 - 360 / 64)
    np.testing.assert_allclose(np.diff(lon), 5.625)


def test_a_valid_forecast_and_truth_have_no_problems():
    ds = forecast()
    assert problems(ds, n_members=3, lat=regular_latitudes(8), lon=regular_longitudes(16)) == []
    assert validate(ds, FORECAST_DIMS, WHERE, n_members=3) is ds
    truth = ds.isel(init_time=0, lead_time=0, member=0, drop=True).expand_dims(
        time=[pd.Timestamp("2001-01-02")])
    assert truth["z500"].dims == TRUTH_DIMS
    assert validation_problems(truth, TRUTH_DIMS, "truth") == []


def test_a_nan_is_reported_with_the_variable_and_the_partition():
    ds = forecast()
    ds["t850"][0, 1, 2, 3, 4] = np.nan
    found = problems(ds)
    assert len(found) == 1
    assert WHERE in found[0] and "'t850'" in found[0] and "1 NaN" in found[0]


@pytest.mark.parametrize("name, scale", [("z500", 1 / 9.80665), ("t850", 1.0), ("sp", 0.01)])
def test_values_in_the_wrong_units_are_out_of_range(name, scale):
    """z500 in gpm, t850 in °C, sp in hPa: each a classic unit mix-up."""
    ds = forecast()
    ds[name] = ds[name] * scale - (273.15 if name == "t850" else 0.0)
    found = problems(ds)
    assert len(found) == 1
    assert WHERE in found[0] and repr(name) in found[0] and "outside the physical range" in found[0]


def test_one_value_just_outside_the_range_is_caught():
    ds = forecast()
    ds["u850"][0, 0, 0, 0, 0] = VARIABLES["u850"].valid_max + 1.0
    assert any("'u850'" in p and "outside" in p for p in problems(ds))


def test_a_wrong_member_count_is_reported():
    found = problems(forecast(n_member=3), n_members=5)
    assert found == [f"{WHERE}: 3 members, expected 5"]


def test_a_missing_variable_is_reported():
    found = problems(forecast().drop_vars("v850"))
    assert found == [f"{WHERE}: variable 'v850' is missing"]


def test_descending_latitudes_are_reported():
    ds = forecast().isel(lat=slice(None, None, -1))
    found = problems(ds)
    assert len(found) == 1 and WHERE in found[0] and "lat must ascend" in found[0]


def test_a_grid_other_than_the_expected_one_is_reported():
    found = problems(forecast(n_lat=8), lat=regular_latitudes(16))
    assert len(found) == 1 and "lat grid" in found[0]
    shifted = forecast().assign_coords(lon=regular_longitudes(16) + 1.0)
    assert any("lon" in p for p in problems(shifted, lon=regular_longitudes(16)))


def test_longitudes_outside_0_360_are_reported():
    ds = forecast().assign_coords(lon=regular_longitudes(16) - 180.0)
    assert any("lon must ascend within [0, 360)" in p for p in problems(ds))


def test_wrong_dims_and_dtype_are_reported_per_variable():
    ds = forecast()
    ds["z500"] = ds["z500"].transpose("init_time", "member", "lead_time", "lat", "lon")
    ds["sp"] = ds["sp"].astype(np.float64)
    found = problems(ds)
    assert len(found) == 2
    assert "'z500' has dims ('init_time', 'member', 'lead_time', 'lat', 'lon')" in found[0]
    assert "'sp' is float64, expected float32" in found[1]


@pytest.mark.parametrize("name", ["lat", "lon"])
def test_a_missing_grid_coordinate_is_reported(name):
    # Without the coordinate xarray still answers ds[name] with 0, 1, 2, …, which looks valid.
    found = problems(forecast().drop_vars(name))
    assert found == [f"{WHERE}: missing coordinate(s) [{name!r}]"]


def test_validate_raises_with_every_problem_listed():
    ds = forecast().drop_vars("v850")
    ds["t850"][0, 0, 0, 0, 0] = np.inf
    with pytest.raises(DataValidationError) as info:
        validate(ds, FORECAST_DIMS, WHERE, n_members=4)
    message = str(info.value)
    for part in ("3 members, expected 4", "'v850' is missing", "'t850' has 1 NaN/inf"):
        assert part in message
    assert isinstance(info.value, ValueError)


def test_attach_attributes_writes_cf_units_of_known_variables():
    ds = attach_attributes(forecast().assign(other=(("lat",), np.zeros(8))))
    for name, var in VARIABLES.items():
        assert ds[name].attrs["units"] == var.units
        assert ds[name].attrs["standard_name"] == var.standard_name
    assert ds["lat"].attrs["units"] == "degrees_north"
    assert ds["lon"].attrs["units"] == "degrees_east"
    assert ds["other"].attrs == {}
