"""Bias of the ensemble mean: maps, their area mean against xskillscore, and pooling of the
per-partition bias-map tables."""

import numpy as np
import pandas as pd
import pytest
import xarray as xr
import xskillscore as xs

from seeds_dag.verification.bias import bias_map, mean_error
from seeds_dag.verification.bias_table import (
    BiasMapTableSchema,
    bias_map_table,
    format_mean_error,
    mean_error_summary,
)
from seeds_dag.verification.scores_table import average_over_inits

DIMS = ("init_time", "lead_time", "member", "lat", "lon")


def forecast_and_truth(rng, n_init=3, n_member=4, variables=("z500", "t850")):
    coords = {"init_time": pd.date_range("2001-01-01", periods=n_init, freq="D"),
              "lead_time": pd.to_timedelta([1, 3], unit="D"), "member": np.arange(n_member),
              "lat": [-60.0, -20.0, 20.0, 60.0], "lon": np.arange(6) * 60.0}
    shape = tuple(len(coords[d]) for d in DIMS)
    forecast = xr.Dataset({v: (DIMS, rng.normal(size=shape)) for v in variables}, coords=coords)
    truth = xr.Dataset({v: (DIMS[:2] + DIMS[3:], rng.normal(size=shape[:2] + shape[3:]))
                        for v in variables},
                       coords={k: v for k, v in coords.items() if k != "member"})
    return forecast, truth


def test_mean_error_matches_xskillscore_weighted_mean_error():
    forecast, truth = forecast_and_truth(np.random.default_rng(0))
    weights = xr.broadcast(np.cos(np.deg2rad(forecast.lat)), forecast.lon)[0]
    expected = xs.me(forecast.mean("member"), truth, dim=["lat", "lon"], weights=weights)
    got = mean_error(forecast, truth)
    assert got["z500"].dims == ("init_time", "lead_time")
    xr.testing.assert_allclose(got, expected)


def test_a_constant_offset_of_the_members_shifts_the_bias_map_by_that_offset():
    forecast, truth = forecast_and_truth(np.random.default_rng(1))
    shifted = bias_map(forecast + 2.5, truth) - bias_map(forecast, truth)
    np.testing.assert_allclose(shifted["t850"].values, 2.5)
    assert bias_map(forecast, truth)["t850"].dims == ("init_time", "lead_time", "lat", "lon")


def test_bias_tables_of_single_inits_pool_to_the_mean_error_over_inits():
    forecast, truth = forecast_and_truth(np.random.default_rng(2))
    parts = [bias_map_table({"gpp-4": forecast.isel(init_time=[i])}, truth.isel(init_time=[i]))
             for i in range(3)]
    for part in parts:
        BiasMapTableSchema.validate(part)
    assert list(parts[0].columns) == ["model", "variable", "lead_time_days", "lat", "lon",
                                      "mean_error"]
    maps = pd.concat(parts, ignore_index=True)
    pd.testing.assert_frame_equal(average_over_inits(maps, "mean_error"),
                                  bias_map_table({"gpp-4": forecast}, truth))
    summary = mean_error_summary(maps).set_index(["variable", "lead_time_days"])["mean_error"]
    expected = mean_error(forecast, truth).mean("init_time")
    for name in ("z500", "t850"):
        assert summary[(name, 3.0)] == pytest.approx(float(expected[name].isel(lead_time=1)))


def test_mean_error_summary_keeps_the_model_order_in_the_text():
    forecast, truth = forecast_and_truth(np.random.default_rng(3), n_init=1)
    maps = bias_map_table({"physics-4": forecast, "gee-4": forecast + 1.0}, truth)
    errors = mean_error_summary(maps)
    assert list(errors["model"].unique()) == ["physics-4", "gee-4"]
    by_model = errors.pivot_table(index=["variable", "lead_time_days"], columns="model",
                                  values="mean_error")
    np.testing.assert_allclose(by_model["gee-4"] - by_model["physics-4"], 1.0)
    text = format_mean_error(errors)
    assert text.index("physics-4") < text.index("gee-4")
