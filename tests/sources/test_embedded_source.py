"""The embedded source end to end on a tiny experiment: spin-up → nature run → ensembles.

One spin-up and one nature run (module fixtures) serve every test; each forecast is 2 days of the
ensemble model.
"""

import dataclasses

import numpy as np
import pandas as pd
import pytest
import torch
import xarray as xr

from seeds_dag.conventions import (
    FORECAST_DIMS,
    TRUTH_DIMS,
    VARIABLES,
    regular_latitudes,
    regular_longitudes,
    validate,
)
from seeds_dag.sources.embedded import runs
from seeds_dag.sources.embedded.config import PerturbationConfig
from seeds_dag.sources.embedded.dycore import state_to_tensor
from seeds_dag.sources.embedded.output_fields import OutputFields
from seeds_dag.sources.embedded.source import (
    EmbeddedSourceConfig,
    run_forecast,
    run_forecasts,
    run_spinup,
    run_truth,
    spinup_settings,
)

CONFIG = EmbeddedSourceConfig(
    spinup_days=4, pool_days=2, truth_days=3, lead_days=(1, 2),
    perturbation=PerturbationConfig(gap_days=1),
)
INIT = pd.Timestamp("2000-01-02")
GRID = {"lat": regular_latitudes(32), "lon": regular_longitudes(64)}


@pytest.fixture(scope="module")
def spinup():
    return run_spinup(CONFIG)


@pytest.fixture(scope="module")
def truth(spinup):
    return run_truth(CONFIG, spinup)


@pytest.fixture(scope="module")
def forecast(truth, spinup):
    """Forecasts from INIT, made once per (n_members, purpose)."""
    cache = {}

    def make(n_members=3, purpose="reforecast"):
        if (n_members, purpose) not in cache:
            cache[n_members, purpose] = run_forecast(CONFIG, truth, spinup["pool"], INIT, n_members, purpose)
        return cache[n_members, purpose]

    return make


def test_spinup_keeps_a_pool_of_daily_states_and_its_settings(spinup):
    assert spinup["pool"].shape == (2, 3 * 8 + 1, 43, 23)
    assert spinup["final_state"].shape == (3 * 8 + 1, 43, 23)
    assert np.isfinite(spinup["pool"].values).all()
    assert not np.array_equal(spinup["pool"][0], spinup["pool"][1])
    assert spinup.attrs["settings"] == spinup_settings(CONFIG)


def test_nature_run_starts_from_the_spun_up_state_and_is_valid(spinup, truth):
    validate(truth, TRUTH_DIMS, "truth", **GRID)
    assert truth.sizes["time"] == CONFIG.truth_days + 1
    assert truth.indexes["time"][0] == pd.Timestamp(CONFIG.start_date)
    assert (np.diff(truth.indexes["time"]) == np.timedelta64(1, "D")).all()
    np.testing.assert_array_equal(truth["state"].isel(time=0), spinup["final_state"])
    assert not np.array_equal(truth["t850"].isel(time=0), truth["t850"].isel(time=-1))


def test_forecast_has_the_conventions_dims_dtype_members_and_validates(forecast):
    ds = forecast()
    validate(ds, FORECAST_DIMS, "reforecast 2000-01-02", n_members=3, **GRID)
    for name in VARIABLES:
        assert ds[name].dims == FORECAST_DIMS and ds[name].dtype == np.float32, name
        assert ds[name].attrs["units"] == VARIABLES[name].units
    assert ds.sizes == {"init_time": 1, "lead_time": 2, "member": 3, "lat": 32, "lon": 64}
    assert ds.indexes["init_time"][0] == INIT
    np.testing.assert_array_equal(ds["lead_time"].values,
                                  np.array([1, 2], dtype="timedelta64[D]").astype("timedelta64[ns]"))


def test_same_config_gives_an_identical_forecast(truth, spinup, forecast):
    again = run_forecast(CONFIG, truth, spinup["pool"], INIT, 3, "reforecast")
    xr.testing.assert_identical(again, forecast())


def test_forecasts_batched_over_init_dates_are_each_dates_own_forecast(truth, spinup, forecast):
    other = pd.Timestamp("2000-01-03")
    batched = run_forecasts(CONFIG, truth, spinup["pool"], [INIT, other], 3, "reforecast")
    alone = run_forecast(CONFIG, truth, spinup["pool"], other, 3, "reforecast")
    assert list(batched.indexes["init_time"]) == [INIT, other]
    # Batch composition changes the order of float32 sums only (measured: ≤ 3e-4 of a field's std).
    for one, date in ((forecast(), INIT), (alone, other)):
        for name in VARIABLES:
            difference = np.abs(batched[name].sel(init_time=[date]).values - one[name].values).max()
            assert difference < 1e-3 * one[name].std().item(), (name, date)
    assert not np.allclose(batched["t850"].values[0], batched["t850"].values[1])


def test_members_differ_and_spread_is_positive(forecast):
    ds = forecast()
    for name in VARIABLES:
        spread = ds[name].std("member")
        assert (spread.mean(("lat", "lon")) > 0).all(), name
        values = ds[name].values[0]  # (lead, member, lat, lon)
        for a, b in ((0, 1), (0, 2), (1, 2)):
            assert not np.array_equal(values[:, a], values[:, b]), (name, a, b)


def test_reforecast_and_operational_share_the_analysis_but_not_the_members(forecast):
    # With one member the centred perturbation is zero: the member *is* the analysis.
    xr.testing.assert_equal(forecast(1, "reforecast"), forecast(1, "operational"))  # attrs differ
    reforecast, operational = forecast(3, "reforecast"), forecast(3, "operational")
    assert not np.array_equal(reforecast["t850"].values, operational["t850"].values)
    assert "operational" in operational.attrs["source"]


def test_an_init_outside_the_nature_run_is_refused_by_date(truth, spinup):
    with pytest.raises(ValueError, match="2000-01-10.*2000-01-01..2000-01-04"):
        run_forecast(CONFIG, truth, spinup["pool"], pd.Timestamp("2000-01-10"), 2, "reforecast")


@pytest.mark.parametrize("lead_days", [(2, 1), (1, 1), (0, 1)])
def test_lead_days_must_ascend_from_one_day(truth, spinup, lead_days):
    config = dataclasses.replace(CONFIG, lead_days=lead_days)
    with pytest.raises(ValueError, match="lead_days"):
        run_forecast(config, truth, spinup["pool"], INIT, 2, "reforecast")


def test_spinup_settings_change_exactly_when_the_spinup_would():
    base = spinup_settings(CONFIG)
    assert spinup_settings(dataclasses.replace(CONFIG)) == base
    for changed in (
        dataclasses.replace(CONFIG, spinup_days=5),
        dataclasses.replace(CONFIG, pool_days=3),
        dataclasses.replace(CONFIG, seed=1),
        dataclasses.replace(CONFIG, perturbation=PerturbationConfig(gap_days=2)),
    ):
        assert spinup_settings(changed) != base, changed
    # Settings that only the nature run and the forecasts use let a spin-up be reused.
    assert spinup_settings(dataclasses.replace(CONFIG, truth_days=10, lead_days=(1, 3, 5))) == base


def test_spin_up_reports_every_model_day_and_integrates_as_one_long_run(truth_model):
    days = []
    spun = runs.spin_up(truth_model, days=4, pool_days=2, gap_days=1, seed=0, on_day=days.append)
    assert days == [1, 2, 3, 4]
    # Integrated day by day for the callback: the states are those of uninterrupted integrations.
    initial = truth_model.initial_state(1, torch.Generator().manual_seed(0))
    np.testing.assert_array_equal(spun.pool[0], state_to_tensor(truth_model.advance(initial, 2))[0])
    np.testing.assert_array_equal(spun.state, state_to_tensor(truth_model.advance(initial, 4))[0])


def test_nature_run_reports_every_model_day(truth_model, spinup, truth):
    days = []
    output = OutputFields(truth_model, CONFIG.grid)
    initial = torch.from_numpy(spinup["final_state"].values)
    _, states = runs.nature_run(truth_model, output, initial, 2, on_day=days.append)
    assert days == [1, 2]
    np.testing.assert_array_equal(states, truth["state"].isel(time=slice(0, 3)))


def test_spin_up_refuses_a_pool_that_does_not_fit(truth_model):
    with pytest.raises(ValueError, match="pool_days"):
        runs.spin_up(truth_model, days=4, pool_days=3, gap_days=2, seed=0)
    with pytest.raises(ValueError, match="pool_days"):
        runs.spin_up(truth_model, days=4, pool_days=1, gap_days=0, seed=0)
