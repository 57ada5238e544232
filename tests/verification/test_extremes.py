"""Extreme events: thresholds, Brier, reliability and ROC against xskillscore, pooling of counts,
and the behaviour of calibrated and biased synthetic ensembles."""

import numpy as np
import pandas as pd
import pytest
import xarray as xr
import xskillscore as xs
from synthetic_grid import forecast_coords

from seeds_dag.verification.extremes import (
    brier_score,
    climatological_brier_score,
    climatological_thresholds,
    ensemble_events,
    probability_thresholds,
    roc_auc,
)
from seeds_dag.verification.extremes_table import (
    extremes_summary,
    extremes_tables,
    format_extremes,
    reliability_diagram,
)
from seeds_dag.verification.scores import (
    rank_histogram,
    rank_histogram_flatness,
    spread_skill_over_inits,
)

DIMS = ("init_time", "lead_time", "member", "lat", "lon")
TRUTH_DIMS = ("init_time", "lead_time", "lat", "lon")
SIGMA = 0.8  # unpredictable part of each field; the predictable part mu has std 1


def exchangeable(rng, n_init=3, n_lead=2, n_member=10, n_lat=4, n_lon=8, n_time=400,
                 shift=0.0, variables=("z500", "t850")):
    """Forecast, aligned truth and a climate sample (time, lat, lon) of the same process.

    Per point and init a predictable part mu ~ N(0, 1); truth and members are mu + SIGMA * eps
    with independent eps, so truth and members are exchangeable: a calibrated ensemble with
    skill beyond climatology. The climate is mu + SIGMA * eps with fresh mu. ``shift`` is added
    to the members (a biased ensemble)."""
    coords = forecast_coords(n_init, n_lead, n_member, n_lat, n_lon)
    grid = {"lat": coords["lat"], "lon": coords["lon"]}
    forecast, truth, climate = {}, {}, {}
    for name in variables:
        mu = rng.standard_normal((n_init, n_lead, 1, n_lat, n_lon))
        members = mu + shift + SIGMA * rng.standard_normal((n_init, n_lead, n_member, n_lat, n_lon))
        forecast[name] = (DIMS, members)
        truth[name] = (TRUTH_DIMS, (mu + SIGMA * rng.standard_normal(mu.shape))[:, :, 0])
        sample = rng.standard_normal((n_time, n_lat, n_lon)) + SIGMA * rng.standard_normal(
            (n_time, n_lat, n_lon))
        climate[name] = (("time", "lat", "lon"), sample)
    forecast = xr.Dataset(forecast, coords=coords)
    truth = xr.Dataset(truth, coords={k: v for k, v in coords.items() if k != "member"})
    climate = xr.Dataset(climate, coords={"time": pd.date_range("1990-01-01", periods=n_time),
                                          **grid})
    return forecast, truth, climate


@pytest.fixture(scope="module")
def small():
    """A small ensemble with quantiles whose events occur in a 96-point sample."""
    forecast, truth, climate = exchangeable(np.random.default_rng(0))
    return forecast, truth, climatological_thresholds(climate, quantiles=(0.05, 0.25, 0.75, 0.95))


def weights_like(field: xr.DataArray) -> xr.DataArray:
    return xr.broadcast(np.cos(np.deg2rad(field.lat)), field.lon)[0]


def test_thresholds_are_per_point_quantiles_over_time():
    _, _, climate = exchangeable(np.random.default_rng(1), n_time=50)
    thresholds = climatological_thresholds(climate, quantiles=(0.05, 0.9))
    assert thresholds["z500"].dims == ("quantile", "lat", "lon")
    expected = np.quantile(climate["t850"].values, [0.05, 0.9], axis=0)
    np.testing.assert_allclose(thresholds["t850"].values, expected)
    with pytest.raises(ValueError, match="0.5"):
        climatological_thresholds(climate, quantiles=(0.5,))


def test_low_quantile_events_are_below_and_high_ones_above_the_threshold():
    forecast, truth, _ = exchangeable(np.random.default_rng(2), n_member=3, variables=("z500",))
    thresholds = xr.Dataset({"z500": xr.DataArray(
        np.zeros((2, 4, 8)), dims=("quantile", "lat", "lon"),
        coords={"quantile": [0.05, 0.95], "lat": forecast.lat, "lon": forecast.lon})})
    events = ensemble_events(forecast, truth, thresholds)
    counts = events.member_count["z500"]
    assert counts.dims == ("init_time", "lead_time", "quantile", "lat", "lon")
    xr.testing.assert_equal(counts.sel(quantile=0.05, drop=True),
                            (forecast["z500"] < 0).sum("member"))
    xr.testing.assert_equal(counts.sel(quantile=0.95, drop=True),
                            (forecast["z500"] > 0).sum("member"))
    xr.testing.assert_equal(events.observed["z500"].sel(quantile=0.05, drop=True),
                            truth["z500"] < 0)


def test_events_refuse_thresholds_on_another_grid(small):
    forecast, truth, thresholds = small
    with pytest.raises(ValueError, match="'lon'"):
        ensemble_events(forecast, truth, thresholds.assign_coords(lon=thresholds.lon + 1.0))


def test_brier_scores_match_xskillscore_with_area_weights(small):
    forecast, truth, thresholds = small
    events = ensemble_events(forecast, truth, thresholds)
    observed = events.observed["t850"]
    probability = events.member_count["t850"] / forecast.sizes["member"]
    expected = xs.brier_score(observed, probability, dim=["lat", "lon"],
                              weights=weights_like(observed))
    xr.testing.assert_allclose(brier_score(events)["t850"], expected)
    base = xr.DataArray([0.05, 0.25, 0.25, 0.05], dims="quantile",
                        coords={"quantile": observed["quantile"]})
    climatology = xs.brier_score(observed, base.broadcast_like(observed), dim=["lat", "lon"],
                                 weights=weights_like(observed))
    xr.testing.assert_allclose(climatological_brier_score(events)["t850"], climatology)


def test_reliability_matches_xskillscore_including_probabilities_on_bin_edges(small):
    # 10 members: every probability k/10 lies on a bin edge, where rounding would misplace it.
    forecast, truth, thresholds = small
    tables = extremes_tables({"m-10": forecast}, truth, thresholds)
    diagram = reliability_diagram(tables.reliability)
    events = ensemble_events(forecast, truth, thresholds)
    for lead, lead_days in zip(forecast.lead_time.values, (1.0, 2.0), strict=True):
        expected = xs.reliability(
            events.observed["z500"].sel(lead_time=lead),
            events.member_count["z500"].sel(lead_time=lead) / 10,
            dim=["init_time", "lat", "lon"],
            probability_bin_edges=np.arange(11) / 10,
        )
        rows = diagram.query("variable == 'z500' and lead_time_days == @lead_days")
        for q in thresholds["quantile"].values:
            got = rows[rows["quantile"] == q].sort_values("bin")
            np.testing.assert_array_equal(got["n_forecasts"], expected.samples.sel(quantile=q))
            np.testing.assert_allclose(got["observed_frequency"], expected.sel(quantile=q))
    assert (tables.reliability.groupby(["variable", "lead_time_days", "quantile"])["n_forecasts"]
            .sum() == 3 * 4 * 8).all()


def test_roc_area_matches_xskillscore(small):
    forecast, truth, thresholds = small
    tables = extremes_tables({"m-10": forecast}, truth, thresholds)
    summary = extremes_summary(tables.extremes, tables.roc)
    events = ensemble_events(forecast, truth, thresholds)
    observed = events.observed["t850"].astype(float)
    probability = events.member_count["t850"] / 10
    # (xskillscore binarises the observations at each threshold too; for 0/1 and t > 0 that is
    # the observation itself.)
    expected = xs.roc(observed, probability, bin_edges=probability_thresholds(),
                      dim=["init_time", "lat", "lon"], return_results="area")
    got = summary.query("variable == 't850'").set_index(["lead_time_days", "quantile"])["roc_auc"]
    assert got.notna().all()
    for lead, lead_days in zip(forecast.lead_time.values, (1.0, 2.0), strict=True):
        for q in thresholds["quantile"].values:
            assert got[(lead_days, q)] == pytest.approx(
                float(expected.sel(lead_time=lead, quantile=q)))


def test_roc_area_is_one_for_perfect_and_one_half_for_blind_forecasts():
    thresholds = 4
    perfect = roc_auc(hits=[10] * thresholds, misses=[0] * thresholds,
                      false_alarms=[0] * thresholds, correct_negatives=[90] * thresholds)
    assert perfect == pytest.approx(1.0)
    # POD = POFD at every threshold: the curve is the diagonal.
    blind = roc_auc(hits=[8, 6, 3, 1], misses=[2, 4, 7, 9],
                    false_alarms=[72, 54, 27, 9], correct_negatives=[18, 36, 63, 81])
    assert blind == pytest.approx(0.5)
    assert np.isnan(roc_auc([0, 0], [0, 0], [3, 1], [7, 9]))


def test_counts_and_scores_pool_over_inits_like_one_computation(small):
    forecast, truth, thresholds = small
    together = extremes_tables({"m-10": forecast}, truth, thresholds)
    parts = [extremes_tables({"m-10": forecast.isel(init_time=[i])}, truth.isel(init_time=[i]),
                             thresholds) for i in range(forecast.sizes["init_time"])]
    pooled = [pd.concat(tables, ignore_index=True) for tables in zip(*parts, strict=True)]
    pd.testing.assert_frame_equal(extremes_summary(pooled[0], pooled[2]),
                                  extremes_summary(together.extremes, together.roc))
    pd.testing.assert_frame_equal(reliability_diagram(pooled[1]),
                                  reliability_diagram(together.reliability))


def test_calibrated_ensemble_is_reliable_skilful_and_discriminating():
    n_member = 50
    forecast, truth, climate = exchangeable(
        np.random.default_rng(3), n_init=40, n_lead=1, n_member=n_member, n_lat=16, n_lon=32,
        variables=("z500",))
    # The premise: members and truth are exchangeable.
    ratio = spread_skill_over_inits(forecast, truth)["z500"].item()
    assert ratio == pytest.approx(1.0, abs=0.05)
    assert (rank_histogram_flatness(rank_histogram(forecast, truth)["z500"]).p_value > 1e-3).all()

    tables = extremes_tables({"m-50": forecast}, truth, climatological_thresholds(climate))
    summary = extremes_summary(tables.extremes, tables.roc)
    assert (summary["bss"] > 0.1).all()
    assert (summary["roc_auc"] > 0.7).all()
    # Calibration in the large: as many events as the probabilities add up to.
    totals = tables.reliability.groupby("quantile")[["n_observed", "sum_probability"]].sum()
    expected = totals["sum_probability"]
    assert (np.abs(totals["n_observed"] - expected) <= 3 * np.sqrt(expected)).all()
    diagram = reliability_diagram(tables.reliability).query("n_forecasts >= 30")
    p, n = diagram["mean_probability"], diagram["n_forecasts"]
    sampling = 3 * np.sqrt(p * (1 - p) / n)
    # k/N is not exactly the event frequency given k (that is the posterior mean of the event
    # probability, shrunk towards the base rate by O(1/N)); allow 1/N besides sampling error.
    assert (np.abs(diagram["observed_frequency"] - p) <= sampling + 1 / n_member).all()
    assert len(diagram) >= 20  # populated bins over the four quantiles


def test_high_biased_ensemble_over_forecasts_high_extremes():
    forecast, truth, climate = exchangeable(
        np.random.default_rng(4), n_init=20, n_lead=1, n_member=20, n_lat=16, n_lon=32,
        shift=1.0, variables=("z500",))
    tables = extremes_tables({"warm-20": forecast}, truth, climatological_thresholds(climate))
    diagram = reliability_diagram(tables.reliability).query("n_forecasts >= 30")
    high = diagram[(diagram["quantile"] > 0.5) & (diagram["bin"] >= 3)]
    assert len(high) > 0
    assert (high["observed_frequency"] < high["mean_probability"] - 0.1).all()
    summary = extremes_summary(tables.extremes, tables.roc).set_index("quantile")
    assert (summary.loc[[0.95, 0.99], "bss"] < 0).all()


def test_format_shows_skill_of_the_tails_per_model(small):
    forecast, truth, thresholds = small
    ensembles = {"gee-10": forecast, "seeds-2": forecast.isel(member=slice(0, 2))}
    tables = extremes_tables(ensembles, truth, thresholds)
    text = format_extremes(extremes_summary(tables.extremes, tables.roc), quantiles=(0.05, 0.95))
    assert "Brier skill score" in text and "ROC area" in text and "5%, 95%" in text
    assert text.index("gee-10") < text.index("seeds-2")
    assert "0.95" in text and "0.25" not in text
