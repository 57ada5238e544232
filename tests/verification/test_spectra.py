"""Zonal power spectra: Parseval, pure waves, rotation invariance and the latitude weighting."""

import numpy as np
import pandas as pd
import pytest
import xarray as xr

from seeds_dag.verification.field_table import SpectrumTableSchema, spectrum_table
from seeds_dag.verification.spectra import mean_zonal_spectrum, zonal_power_spectrum


def circle(values: np.ndarray, lat=(0.0,)) -> xr.DataArray:
    """(lat, lon) field on equally spaced longitudes."""
    n_lon = values.shape[-1]
    return xr.DataArray(np.broadcast_to(values, (len(lat), n_lon)), dims=("lat", "lon"),
                        coords={"lat": list(lat), "lon": np.arange(n_lon) * 360.0 / n_lon})


@pytest.mark.parametrize("n_lon", [16, 15])
def test_power_sums_to_the_mean_square_along_the_circle(n_lon):
    rng = np.random.default_rng(0)
    field = circle(rng.normal(3.0, 2.0, (4, n_lon)), lat=(-60.0, -20.0, 20.0, 60.0))
    spectrum = zonal_power_spectrum(field)
    assert spectrum.dims == ("lat", "wavenumber")
    np.testing.assert_array_equal(spectrum["wavenumber"], np.arange(n_lon // 2 + 1))
    np.testing.assert_allclose(spectrum.sum("wavenumber"), (field**2).mean("lon"), rtol=1e-12)


def test_a_cosine_puts_half_its_squared_amplitude_at_its_wavenumber():
    n_lon = 24
    phase = 2 * np.pi * np.arange(n_lon) / n_lon
    field = circle(5.0 + 3.0 * np.cos(4 * phase + 0.7) + 2.0 * np.cos(12 * phase))
    power = zonal_power_spectrum(field).isel(lat=0).values
    expected = np.zeros(n_lon // 2 + 1)
    # Mean squared at k = 0; A^2/2 for a wave; the Nyquist wave cos(pi j) has mean square A^2.
    expected[[0, 4, 12]] = [25.0, 9.0 / 2, 4.0]
    np.testing.assert_allclose(power, expected, atol=1e-12)


def test_spectrum_does_not_change_when_the_field_is_rotated():
    field = circle(np.random.default_rng(1).normal(size=(2, 20)), lat=(-30.0, 30.0))
    rotated = field.roll(lon=7, roll_coords=False)
    xr.testing.assert_allclose(zonal_power_spectrum(field), zonal_power_spectrum(rotated))


def test_uneven_longitudes_are_refused():
    field = circle(np.ones((1, 8))).assign_coords(lon=[0.0, 40, 90, 135, 180, 225, 270, 315])
    with pytest.raises(ValueError, match="equally spaced"):
        zonal_power_spectrum(field)


def forecast_and_truth(rng, n_init=2, n_member=3, lat=(-45.0, 0.0, 45.0), n_lon=8):
    coords = {"init_time": pd.date_range("2001-01-01", periods=n_init, freq="D"),
              "lead_time": pd.to_timedelta([1, 2], unit="D"), "member": np.arange(n_member),
              "lat": list(lat), "lon": np.arange(n_lon) * 360.0 / n_lon}
    shape = (n_init, 2, n_member, len(lat), n_lon)
    dims = tuple(coords)
    forecast = xr.Dataset({"z500": (dims, rng.normal(size=shape))}, coords=coords)
    truth = forecast.isel(member=0, drop=True) * 2.0
    return forecast, truth


def test_mean_spectrum_weights_latitudes_by_cos_and_averages_members_and_inits():
    forecast, truth = forecast_and_truth(np.random.default_rng(2))
    got = mean_zonal_spectrum(forecast)["z500"]
    assert got.dims == ("lead_time", "wavenumber")
    per_circle = zonal_power_spectrum(forecast["z500"]).values  # (init, lead, member, lat, k)
    weights = np.cos(np.deg2rad(forecast.lat.values))
    expected = np.average(per_circle.mean(axis=(0, 2)), axis=1, weights=weights)
    np.testing.assert_allclose(got.values, expected, rtol=1e-12)
    # Truth has no member dim; twice the field is four times the power.
    np.testing.assert_allclose(mean_zonal_spectrum(truth)["z500"],
                               4 * mean_zonal_spectrum(forecast.isel(member=[0]))["z500"])


def test_spectrum_table_holds_each_model_and_the_truth():
    forecast, truth = forecast_and_truth(np.random.default_rng(3))
    table = spectrum_table({"gee-3": forecast}, truth)
    SpectrumTableSchema.validate(table)
    assert list(table.columns) == ["model", "variable", "lead_time_days", "wavenumber", "power"]
    assert list(table["model"].unique()) == ["gee-3", "truth"]
    assert len(table) == 2 * 2 * 5  # models x leads x wavenumbers 0..4
    with pytest.raises(ValueError, match="reserved"):
        spectrum_table({"truth": forecast}, truth)
