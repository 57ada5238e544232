"""Normalisation statistics: numpy reference, unit scale per lead, round trip, dask, failures."""

import dask
import numpy as np
import pandas as pd
import pytest
import xarray as xr

from seeds_dag.conventions import FORECAST_DIMS
from seeds_dag.normalization import compute_normalization, from_normalized_array, to_normalized_array

VARIABLES = ("z500", "t850")


@pytest.fixture(autouse=True, scope="module")
def synchronous_dask():
    with dask.config.set(scheduler="synchronous"):
        yield


def forecast(seed=0, n_init=3, n_lead=2, n_member=4, n_lat=4, n_lon=8):
    """Fields with a large offset and a lead-dependent scale, as real z500/t850 have."""
    rng = np.random.default_rng(seed)
    shape = (n_init, n_lead, n_member, n_lat, n_lon)
    lead_scale = np.arange(1, n_lead + 1)[None, :, None, None, None]
    data = {
        "z500": 54_000 + 300 * lead_scale * rng.standard_normal(shape),
        "t850": 270 + 5 * rng.standard_normal(shape) + lead_scale,
    }
    coords = {
        "init_time": pd.date_range("2001-01-01", periods=n_init, freq="D"),
        "lead_time": pd.to_timedelta(np.arange(1, n_lead + 1), unit="D"),
        "member": np.arange(n_member),
        "lat": np.linspace(-67.5, 67.5, n_lat),
        "lon": np.arange(n_lon) * 360.0 / n_lon,
    }
    return xr.Dataset({k: (FORECAST_DIMS, v.astype(np.float32)) for k, v in data.items()}, coords=coords)


def test_statistics_match_numpy_per_lead_and_latitude():
    ds = forecast()
    stats = compute_normalization(ds)
    for name in VARIABLES:
        values = ds[name].values.astype(np.float64)
        assert stats[name].dims == ("statistic", "lead_time", "lat")
        assert stats[name].dtype == np.float64
        np.testing.assert_allclose(stats[name].sel(statistic="mean"), values.mean(axis=(0, 2, 4)), rtol=1e-12)
        np.testing.assert_allclose(stats[name].sel(statistic="std"), values.std(axis=(0, 2, 4)), rtol=1e-10)
    assert stats.attrs["n_inits"] == 3 and stats.attrs["n_members"] == 4


def test_normalised_data_has_zero_mean_and_unit_std_per_lead_and_latitude():
    ds = forecast()
    arr = to_normalized_array(ds, compute_normalization(ds), VARIABLES)
    assert arr.shape == (3, 2, 4, 2, 4, 8) and arr.dtype == np.float32
    # (init, lead, member, V, lat, lon) -> (lead, V, lat, init·member·lon)
    per_lead_variable_lat = arr.transpose(1, 3, 4, 0, 2, 5).reshape(2, 2, 4, -1)
    np.testing.assert_allclose(per_lead_variable_lat.mean(axis=-1), 0.0, atol=1e-5)
    np.testing.assert_allclose(per_lead_variable_lat.std(axis=-1), 1.0, atol=1e-5)


def test_round_trip_for_one_initialisation():
    ds = forecast()
    stats = compute_normalization(ds)
    one_init = ds.isel(init_time=1)
    arr = to_normalized_array(one_init, stats, VARIABLES)
    assert arr.shape == (2, 4, 2, 4, 8)
    back = from_normalized_array(arr, stats, VARIABLES, one_init.lead_time.values, lat=ds.lat.values, lon=ds.lon.values)
    for name in VARIABLES:
        assert back[name].dims == ("lead_time", "member", "lat", "lon") and back[name].dtype == np.float32
        np.testing.assert_allclose(back[name].values, one_init[name].values, rtol=1e-6)
    assert back.z500.attrs["units"] == "m2 s-2"
    np.testing.assert_array_equal(back.lat, ds.lat)


def test_dask_chunked_input_gives_the_same_statistics():
    ds = forecast(n_init=5)
    chunked = ds.chunk({"init_time": 1, "lead_time": 1})
    assert chunked.z500.chunks is not None
    stats = compute_normalization(chunked)
    assert stats.z500.chunks is None  # computed, not a lazy result
    xr.testing.assert_allclose(stats, compute_normalization(ds), rtol=1e-12)
    np.testing.assert_array_equal(
        to_normalized_array(chunked, stats, VARIABLES), to_normalized_array(ds, stats, VARIABLES)
    )


def test_constant_field_raises_naming_the_variable():
    ds = forecast()
    ds["t850"][:, 1] = 280.0
    with pytest.raises(ValueError, match="'t850'.*zero or non-finite"):
        compute_normalization(ds)


def test_nan_in_data_raises_naming_the_variable():
    ds = forecast()
    ds["z500"][0, 0, 0, 0, 0] = np.nan
    with pytest.raises(ValueError, match="'z500'"):
        compute_normalization(ds)


def test_lead_without_statistics_raises():
    ds = forecast(n_lead=3)
    stats = compute_normalization(ds.isel(lead_time=slice(0, 2)))
    with pytest.raises(ValueError, match="no normalisation statistics at lead_time"):
        to_normalized_array(ds, stats, VARIABLES)
