"""Zonal power spectra: Parseval, pure waves, rotation invariance and the latitude weighting; the
emulated members' power relative to the physics members'."""

import numpy as np
import pandas as pd
import pytest
import xarray as xr

from seeds_dag.verification.spectra_table import (
    MAX_RATIO_WAVENUMBER,
    SpectrumTableSchema,
    format_power_ratio,
    power_ratio_range,
    power_ratio_table,
    spectrum_table,
)
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


def test_power_ratio_of_members_scaled_by_a_factor_is_its_square_at_every_wavenumber():
    forecast, truth = forecast_and_truth(np.random.default_rng(4), n_lon=40)
    spectra = spectrum_table({"physics-3": forecast, "gee-3": 1.5 * forecast,
                              "seeds-2": forecast.isel(member=[0, 1])}, truth)
    ratios = power_ratio_table(spectra, "physics-3", ["gee-3"])
    assert list(ratios.columns) == ["model", "variable", "lead_time_days", "wavenumber",
                                    "power_ratio"]
    # 40 longitudes hold wavenumbers 0..20; the ratio is judged at 1..MAX_RATIO_WAVENUMBER only.
    assert sorted(ratios["wavenumber"].unique()) == list(range(1, MAX_RATIO_WAVENUMBER + 1))
    np.testing.assert_allclose(ratios["power_ratio"], 2.25, rtol=1e-9)
    ranges = power_ratio_range(ratios)
    assert ranges[["min_power_ratio", "max_power_ratio"]].to_numpy() == pytest.approx(2.25)
    # Without a list: every model but the reference and the truth.
    assert list(power_ratio_table(spectra, "physics-3")["model"].unique()) == ["gee-3", "seeds-2"]


def test_power_ratio_pools_the_inits_spectra_before_dividing():
    """Two partitions: the model has power 4 against the reference's 1 in one, 3 against 3 in
    the other; the ratio of the mean powers is (4 + 3) / (1 + 3), not the mean ratio
    (4/1 + 3/3) / 2."""
    rows = [{"model": model, "variable": "t850", "lead_time_days": 1.0, "wavenumber": k,
             "power": power} for powers in ((1.0, 4.0), (3.0, 3.0)) for k in (0, 1, 2)
            for model, power in zip(("physics-31", "gee-32"), powers)]
    ratios = power_ratio_table(pd.DataFrame(rows), "physics-31", ["gee-32"])
    assert list(ratios["wavenumber"]) == [1, 2]
    np.testing.assert_allclose(ratios["power_ratio"], 7 / 4)


def test_power_ratio_range_says_where_the_extremes_lie_and_prints_them():
    rows = []
    for model, worst in (("gee-32", (0.5, 3, 5.0)), ("gpp-32", (2.0, 14, 1.0))):
        for lead in (1.0, 5.0):
            for k in range(1, 16):
                ratio = worst[0] if (k, lead) == worst[1:] else 1.0 + 0.01 * k
                rows.append({"model": model, "variable": "z500", "lead_time_days": lead,
                             "wavenumber": k, "power_ratio": ratio})
    ranges = power_ratio_range(pd.DataFrame(rows)).set_index("model")
    assert ranges.loc["gee-32", ["min_power_ratio", "min_wavenumber", "min_lead_time_days"]
                      ].tolist() == [0.5, 3, 5.0]
    assert ranges.loc["gee-32", "max_power_ratio"] == pytest.approx(1.15)
    assert ranges.loc["gpp-32", ["max_power_ratio", "max_wavenumber", "max_lead_time_days"]
                      ].tolist() == [2.0, 14, 1.0]
    text = format_power_ratio(ranges.reset_index(), "physics-31")
    assert "physics-31" in text and "0.8-1.25" in text and "gpp-32" in text
    assert "0.5000" in text and "2.000" in text


def test_power_ratio_needs_the_reference_and_the_models():
    forecast, truth = forecast_and_truth(np.random.default_rng(5))
    spectra = spectrum_table({"gee-3": forecast}, truth)
    with pytest.raises(ValueError, match=r"no spectra of model\(s\) \['physics-31'\]"):
        power_ratio_table(spectra, "physics-31", ["gee-3"])
