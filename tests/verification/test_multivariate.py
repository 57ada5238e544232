"""Multivariate realism: energy score over the variables and cross-variable correlation of member
deviations."""

import numpy as np
import pandas as pd
import pytest
import scoringrules as sr
import xarray as xr
from synthetic_grid import forecast_coords

from seeds_dag.verification.multivariate import (
    climatological_scale,
    energy_score,
    variable_correlation_summary,
    variable_correlation_table,
    variable_moments,
)
from seeds_dag.weighting import area_weights

DIMS = ("init_time", "lead_time", "member", "lat", "lon")


def correlated_ensemble(rng, rho: float, n_member=16, n_init=3, n_lat=8, n_lon=12, truth_rho=0.8):
    """Two variables whose member deviations correlate with `rho` (truth's deviation with
    `truth_rho`), the second in other units (×100) about a random common centre."""
    coords = forecast_coords(n_init, 2, n_member, n_lat, n_lon)
    shape = (n_init, 2, n_member, n_lat, n_lon)
    centre = rng.standard_normal((n_init, 2, 1, n_lat, n_lon))

    def pair(r, size):
        a = rng.standard_normal(size)
        return a, r * a + np.sqrt(1 - r**2) * rng.standard_normal(size)

    a, b = pair(rho, shape)
    ta, tb = pair(truth_rho, centre.shape)
    forecast = xr.Dataset({"z500": (DIMS, centre + a), "u850": (DIMS, 100 * (centre + b))}, coords=coords)
    truth_dims = tuple(d for d in DIMS if d != "member")
    truth = xr.Dataset({"z500": (truth_dims, (centre + ta)[:, :, 0]), "u850": (truth_dims, 100 * (centre + tb)[:, :, 0])},
                       coords={k: v for k, v in coords.items() if k != "member"})
    return forecast, truth


def test_energy_score_is_scoringrules_es_over_scaled_variables_area_weighted():
    forecast, truth = correlated_ensemble(np.random.default_rng(0), 0.5, n_member=5)
    scale = {"z500": 2.0, "u850": 150.0}
    for estimator in ("fair", "nrg"):
        ours = energy_score(forecast, truth, scale, estimator)
        obs = np.stack([truth["z500"].values / 2.0, truth["u850"].values / 150.0], axis=-1)
        fct = np.stack([forecast["z500"].values / 2.0, forecast["u850"].values / 150.0], axis=-1)
        points = sr.es_ensemble(np.moveaxis(obs, -1, -1), np.moveaxis(fct, 2, -2), estimator=estimator)
        weights = area_weights(forecast["lat"]).values
        expected = (points * weights[:, None]).mean(axis=-1).sum(axis=-1) / weights.sum()
        np.testing.assert_allclose(ours.values, expected, rtol=1e-6)


def test_energy_score_prefers_members_that_keep_the_truths_cross_variable_relation():
    """Same marginals, truth correlated 0.8 between variables: members with correlation 0.8 score
    better than independent ones (the CRPS of each variable alone cannot tell them apart)."""
    scale = {"z500": 1.0, "u850": 100.0}
    keep = energy_score(*correlated_ensemble(np.random.default_rng(1), 0.8, n_init=8), scale).mean()
    lose = energy_score(*correlated_ensemble(np.random.default_rng(1), 0.0, n_init=8), scale).mean()
    assert float(keep) < 0.99 * float(lose)


def test_energy_score_refuses_missing_or_bad_scales():
    forecast, truth = correlated_ensemble(np.random.default_rng(0), 0.5, n_member=3)
    with pytest.raises(ValueError, match=r"no scale for variable\(s\) \['u850'\]"):
        energy_score(forecast, truth, {"z500": 1.0})
    with pytest.raises(ValueError, match="positive and finite"):
        energy_score(forecast, truth, {"z500": 1.0, "u850": 0.0})


def test_cross_variable_correlation_recovers_the_members_correlation_and_pools_moments():
    forecast, _ = correlated_ensemble(np.random.default_rng(2), -0.6, n_member=24)
    moments = variable_moments(forecast)
    assert set(moments[["first_variable", "second_variable"]].itertuples(index=False)) == {("z500", "u850")}
    assert len(moments) == 3 * 2  # init × lead
    table = variable_correlation_table({"physics-24": forecast, "gee-24": forecast.isel(member=slice(0, 12)),
                                        "seeds-1": forecast.isel(member=[0])})
    assert set(table["model"]) == {"physics-24", "gee-24"}
    summary = variable_correlation_summary(table, "physics-24")
    assert summary["physics-24"].to_numpy() == pytest.approx(-0.6, abs=0.03)
    np.testing.assert_allclose(summary["gee-24 - physics-24"], summary["gee-24"] - summary["physics-24"])
    # Pooled = ratio of the mean moments, not the mean of per-init ratios.
    rows = table[table["model"] == "physics-24"]
    first_lead = rows[rows["lead_time_days"] == rows["lead_time_days"].min()]
    pooled = first_lead["covariance"].mean() / np.sqrt(first_lead["first_variance"].mean()
                                                        * first_lead["second_variance"].mean())
    assert summary["physics-24"].iloc[0] == pytest.approx(pooled)


def test_climatological_scale_is_the_area_mean_temporal_std():
    rng = np.random.default_rng(0)
    times = pd.date_range("2000-01-01", periods=400, freq="D")
    lat = np.linspace(-80, 80, 6)
    truth = xr.Dataset({"t850": (("time", "lat", "lon"), 3.0 * rng.standard_normal((400, 6, 8)))},
                       coords={"time": times, "lat": lat, "lon": np.arange(8) * 45.0})
    assert climatological_scale(truth)["t850"] == pytest.approx(3.0, rel=0.03)
