"""Scores: cross-checks against scoringrules/xskillscore/brute force, and calibration properties."""

import numpy as np
import pandas as pd
import pytest
import scoringrules as sr
import xarray as xr
import xskillscore as xs
from synthetic_grid import forecast_coords

from seeds_dag.truth_alignment import align_truth
from seeds_dag.verification.scores import (
    ensemble_mean_rmse,
    ensemble_spread,
    fair_crps,
    pool_over_inits,
    rank_histogram,
    rank_histogram_flatness,
    spread_skill_over_inits,
    spread_skill_ratio,
    standard_crps,
)
from seeds_dag.weighting import area_weights, spatial_mean

DIMS = ("init_time", "lead_time", "member", "lat", "lon")


def synthetic(
    rng, n_init=2, n_lead=2, n_member=4, n_lat=4, n_lon=6, member_std=1.0, variables=("z500",)
):
    """Forecast and aligned truth: per point a random mean mu and std sigma;
    truth ~ N(mu, sigma), members ~ N(mu, member_std * sigma), all independent.
    member_std = 1 is a calibrated ensemble, < 1 an underdispersive one."""
    coords = forecast_coords(n_init, n_lead, n_member, n_lat, n_lon)
    point_shape = (n_init, n_lead, 1, n_lat, n_lon)
    forecast, truth = {}, {}
    for name in variables:
        mu = rng.normal(0.0, 3.0, point_shape)
        sigma = rng.uniform(0.5, 2.0, point_shape)
        member_shape = (n_init, n_lead, n_member, n_lat, n_lon)
        members = mu + member_std * sigma * rng.standard_normal(member_shape)
        forecast[name] = (DIMS, members.astype(np.float32))
        truth[name] = (
            tuple(d for d in DIMS if d != "member"),
            (mu + sigma * rng.standard_normal(point_shape))[:, :, 0].astype(np.float32),
        )
    forecast = xr.Dataset(forecast, coords=coords)
    truth = xr.Dataset(truth, coords={k: v for k, v in coords.items() if k != "member"})
    return forecast, truth


def brute_force_fair_crps(members: np.ndarray, y: float) -> float:
    """mean_i |x_i - y| - 1/(2 m (m-1)) sum_i sum_j |x_i - x_j|, in float64 loops."""
    m = len(members)
    skill = sum(abs(x - y) for x in members) / m
    pairs = sum(abs(xi - xj) for xi in members for xj in members)
    return skill - pairs / (2 * m * (m - 1))


def test_area_weights_have_mean_one_and_favour_the_equator():
    lat = xr.DataArray(np.linspace(-87.5, 87.5, 36), dims="lat", name="lat")
    lat = lat.assign_coords(lat=lat)
    weights = area_weights(lat)
    assert float(weights.mean()) == pytest.approx(1.0)
    equator = np.argmin(np.abs(lat.values))
    zeros = xr.zeros_like(lat.expand_dims(lon=[0.0, 180.0]))
    equator_row = zeros.copy()
    equator_row[:, equator] = 1.0
    polar_row = zeros.copy()
    polar_row[:, -1] = 1.0
    assert float(spatial_mean(equator_row)) > 10 * float(spatial_mean(polar_row)) > 0


def test_fair_crps_matches_scoringrules_on_flattened_arrays_with_weights():
    forecast, truth = synthetic(np.random.default_rng(0), variables=("z500", "t850"))
    got = fair_crps(forecast, truth)
    weights = np.cos(np.deg2rad(forecast.lat.values))
    for name in ("z500", "t850"):
        fct = forecast[name].transpose(..., "member").values
        obs = truth[name].values
        pointwise = sr.crps_ensemble(
            obs.reshape(-1), fct.reshape(-1, fct.shape[-1]), estimator="fair", backend="numpy"
        ).reshape(obs.shape)
        expected = np.average(
            pointwise, axis=(2, 3), weights=np.broadcast_to(weights[:, None], obs.shape[2:])
        )
        assert got[name].dims == ("init_time", "lead_time")
        np.testing.assert_allclose(got[name].values, expected, rtol=1e-5)


def test_fair_crps_matches_brute_force_formula_on_tiny_case():
    forecast, truth = synthetic(
        np.random.default_rng(1), n_init=1, n_lead=1, n_member=3, n_lat=2, n_lon=2
    )
    weights = np.cos(np.deg2rad(forecast.lat.values))
    fct = forecast["z500"].values[0, 0].astype(np.float64)  # (member, lat, lon)
    obs = truth["z500"].values[0, 0].astype(np.float64)
    per_point = np.array(
        [[brute_force_fair_crps(fct[:, i, j], obs[i, j]) for j in range(2)] for i in range(2)]
    )
    expected = (per_point * weights[:, None]).sum() / (weights.sum() * 2)
    assert float(fair_crps(forecast, truth)["z500"].squeeze()) == pytest.approx(expected, rel=1e-5)


def test_fair_and_pwm_estimators_agree():
    forecast, truth = synthetic(np.random.default_rng(2), n_member=7)
    xr.testing.assert_allclose(
        fair_crps(forecast, truth, estimator="fair"),
        fair_crps(forecast, truth, estimator="pwm"),
        rtol=1e-5,
    )


def test_members_that_coincide_with_the_truth_score_zero_not_a_rounding_below_it():
    """No spread and no error: every CRPS is 0. The pwm form's sums cancelled to -1e-17 (float64,
    as ideal-K's members are) at most such points, and a negative score failed the perfect-model
    table's schema (skill benchmark, --tiny)."""
    forecast, truth = synthetic(np.random.default_rng(4), n_member=29, n_lat=8, n_lon=16)
    values = 1.3 + 1e-3 * np.random.default_rng(1).standard_normal(truth["z500"].shape)
    truth["z500"] = (truth["z500"].dims, values)
    forecast["z500"] = (DIMS, np.repeat(values[:, :, None], 29, axis=2))
    for estimator in ("pwm", "fair"):
        assert float(fair_crps(forecast, truth, estimator=estimator)["z500"].min()) >= 0.0, estimator


def test_rmse_matches_xskillscore_weighted_rmse():
    forecast, truth = synthetic(np.random.default_rng(3))
    weights = xr.broadcast(np.cos(np.deg2rad(forecast.lat)), forecast.lon)[0]
    expected = xs.rmse(forecast.mean("member"), truth, dim=["lat", "lon"], weights=weights)
    xr.testing.assert_allclose(ensemble_mean_rmse(forecast, truth), expected, rtol=1e-5)


def test_calibrated_ensemble_has_flat_ranks_and_unit_spread_skill():
    # 4 members: without the sqrt((N+1)/N) correction the ratio would be ~0.89.
    forecast, truth = synthetic(np.random.default_rng(4), n_init=24, n_member=4, n_lat=16, n_lon=32)
    ratio = spread_skill_over_inits(forecast, truth)["z500"]
    np.testing.assert_allclose(ratio.values, 1.0, atol=0.05)
    flatness = rank_histogram_flatness(rank_histogram(forecast, truth)["z500"])
    assert (flatness.max_bin_ratio <= 1.2).all()
    assert (flatness.p_value > 1e-3).all()


def test_underdispersive_ensemble_has_low_spread_skill_and_u_shaped_ranks():
    forecast, truth = synthetic(
        np.random.default_rng(5), n_init=24, n_member=4, n_lat=16, n_lon=32, member_std=0.5
    )
    assert (spread_skill_over_inits(forecast, truth)["z500"] < 0.7).all()
    counts = rank_histogram(forecast, truth)["z500"]
    outer = counts.isel(rank=[0, -1])
    inner = counts.isel(rank=slice(1, -1))
    assert (outer.min("rank") > 1.5 * inner.max("rank")).all()
    flatness = rank_histogram_flatness(counts)
    assert (flatness.max_bin_ratio > 1.5).all()
    assert (flatness.p_value < 1e-6).all()


def test_rank_histogram_counts_every_point_once_per_lead():
    forecast, truth = synthetic(
        np.random.default_rng(6), n_init=3, n_lead=2, n_member=5, variables=("z500", "sp")
    )
    counts = rank_histogram(forecast, truth)
    assert counts["sp"].dims == ("lead_time", "rank")
    np.testing.assert_array_equal(counts["rank"].values, np.arange(6))
    for name in ("z500", "sp"):
        np.testing.assert_array_equal(counts[name].sum("rank").values, [3 * 4 * 6] * 2)


def test_rank_zero_is_truth_below_all_members():
    forecast, truth = synthetic(np.random.default_rng(7), n_member=3)
    counts = rank_histogram(forecast, forecast.min("member") - 1.0)["z500"]
    assert (counts.sel(rank=0) == counts.sum("rank")).all()


def test_spread_is_sqrt_of_weighted_mean_unbiased_variance_and_pooled_before_the_ratio():
    forecast, truth = synthetic(np.random.default_rng(8), n_init=3)
    spread = ensemble_spread(forecast)
    variance = forecast.var("member", ddof=1)
    xr.testing.assert_allclose(spread**2, spatial_mean(variance), rtol=1e-5)
    rmse = ensemble_mean_rmse(forecast, truth)
    pooled = spread_skill_ratio(pool_over_inits(spread), pool_over_inits(rmse), 4)
    xr.testing.assert_allclose(spread_skill_over_inits(forecast, truth), pooled)
    per_init_mean = spread_skill_ratio(spread, rmse, 4).mean("init_time")
    assert not np.allclose(pooled["z500"], per_init_mean["z500"])


def test_scores_refuse_a_truth_on_another_grid():
    forecast, truth = synthetic(np.random.default_rng(9))
    shifted = truth.assign_coords(lat=truth.lat + 0.5)
    with pytest.raises(ValueError, match="'lat'"):
        fair_crps(forecast, shifted)


def test_align_truth_selects_valid_times_and_names_missing_ones():
    times = pd.date_range("2001-01-01", periods=5, freq="D")
    truth = xr.Dataset(
        {"z500": (("time", "lat", "lon"), np.arange(5.0)[:, None, None] * np.ones((5, 2, 3)))},
        coords={"time": times, "lat": [-45.0, 45.0], "lon": [0.0, 120.0, 240.0]},
    )
    init = times[:2]
    aligned = align_truth(truth, init, pd.to_timedelta([1, 3], unit="D"))
    assert aligned["z500"].dims == ("init_time", "lead_time", "lat", "lon")
    np.testing.assert_array_equal(aligned["z500"].values[:, :, 0, 0], [[1.0, 3.0], [2.0, 4.0]])
    with pytest.raises(ValueError, match="2001-01-06"):
        align_truth(truth, init, pd.to_timedelta([1, 4], unit="D"))


def test_standard_crps_is_scoringrules_nrg_and_the_fair_one_is_its_fair_estimator():
    """Both estimators, area-weighted, against scoringrules' "nrg" and "fair" point by point."""
    from seeds_dag.verification.scores import standard_crps

    forecast, truth = synthetic(np.random.default_rng(3), n_member=5)
    weights = area_weights(forecast["lat"])
    for ours, estimator in ((standard_crps(forecast, truth), "nrg"), (fair_crps(forecast, truth), "fair")):
        points = sr.crps_ensemble(truth["z500"].values, forecast["z500"].values, m_axis=2, estimator=estimator)
        expected = (points * weights.values[:, None]).sum(axis=(-2, -1)) / (weights.sum().item() * points.shape[-1])
        np.testing.assert_allclose(ours["z500"].values, expected, rtol=1e-5)


def test_standard_crps_exceeds_the_fair_one_by_the_members_mean_distance_over_2m():
    """CRPS_m − CRPS_fair = sum_ij |x_i − x_j| / (2 m^2 (m − 1)) at each point; one member: MAE."""
    from seeds_dag.verification.scores import standard_crps

    forecast, truth = synthetic(np.random.default_rng(4), n_member=3, n_lat=1, n_lon=1)
    x, y = forecast["z500"].values[0, 0, :, 0, 0].astype(np.float64), float(truth["z500"].values[0, 0, 0, 0])
    pairs = np.abs(x[:, None] - x[None, :]).sum()
    gap = standard_crps(forecast, truth)["z500"].values[0, 0] - fair_crps(forecast, truth)["z500"].values[0, 0]
    assert gap == pytest.approx(pairs / (2 * 9 * 2), rel=1e-4)
    one = standard_crps(forecast.isel(member=[1]), truth)["z500"].values[0, 0]
    assert one == pytest.approx(abs(x[1] - y), rel=1e-5)
    with pytest.raises(ValueError, match="at least 2 member"):
        fair_crps(forecast.isel(member=[1]), truth)


def _rank_by_brute_force(members: np.ndarray, truth: float) -> tuple[int, int]:
    """(rank below, ties): the truth's rank is uniform in below .. below + ties."""
    return int((members < truth).sum()), int((members == truth).sum())


def test_rank_histogram_breaks_ties_reproducibly_and_uniformly():
    """Rounded fields tie often: the same seed gives the same counts (whatever numpy's global
    state, which is left as it was), another seed other counts, and every count agrees with a
    brute-force bound of the tied ranks."""
    forecast, truth = synthetic(np.random.default_rng(10), n_init=6, n_member=4, n_lat=8, n_lon=16)
    forecast, truth = forecast.round(0), truth.round(0)
    np.random.seed(123)
    before = np.random.get_state()[1].copy()
    first = rank_histogram(forecast, truth, seed=20000105)["z500"]
    np.testing.assert_array_equal(np.random.get_state()[1], before)
    np.random.rand(7)  # whatever the global state has drawn since
    np.testing.assert_array_equal(rank_histogram(forecast, truth, seed=20000105)["z500"], first)
    assert not np.array_equal(rank_histogram(forecast, truth, seed=1)["z500"], first)
    # Brute force: each point's rank lies in [below, below + ties]; the lowest (highest)
    # possible ranks bound the cumulative counts from above (below).
    members = forecast["z500"].transpose("lead_time", "init_time", "lat", "lon", "member").values
    observed = truth["z500"].transpose("lead_time", "init_time", "lat", "lon").values
    for lead in range(members.shape[0]):
        pairs = [_rank_by_brute_force(m, y) for m, y in
                 zip(members[lead].reshape(-1, 4), observed[lead].ravel())]
        low = np.bincount([b for b, _ in pairs], minlength=5)
        high = np.bincount([b + t for b, t in pairs], minlength=5)
        counts = first.isel(lead_time=lead).values
        assert sum(t for _, t in pairs) > 50  # ties are common here
        assert (np.cumsum(counts) <= np.cumsum(low)).all() and (np.cumsum(counts) >= np.cumsum(high)).all()
        # A point with a unique rank lands in exactly that bin.
        untied = np.bincount([b for b, t in pairs if t == 0], minlength=5)
        assert (counts >= untied).all()


def test_rank_histogram_counts_as_xskillscore_where_nothing_ties():
    """Counting members below the truth gives xskillscore's histogram (which sorts them with the
    truth) wherever no member equals the truth."""
    forecast, truth = synthetic(np.random.default_rng(12), n_init=3, n_member=7, n_lat=8, n_lon=16)
    ours = rank_histogram(forecast, truth)["z500"]
    theirs = xs.rank_histogram(truth["z500"], forecast["z500"], dim=["init_time", "lat", "lon"],
                               member_dim="member")
    np.testing.assert_array_equal(ours.values, theirs.values)
    assert ours.dims == theirs.dims == ("lead_time", "rank")


def test_scores_against_a_truth_with_a_further_dim_are_per_value_of_it_and_ranks_pool_it():
    """A truth with a dim the forecast lacks (members playing truth): CRPS per value of it as if
    scored one by one, and the rank counts of each summed."""
    forecast, truth = synthetic(np.random.default_rng(13), n_member=5)
    _, other = synthetic(np.random.default_rng(14), n_member=5)
    truths = xr.concat([truth, other], dim="truth_member")
    for score in (fair_crps, standard_crps, ensemble_mean_rmse):
        both = score(forecast, truths)
        for index, one in enumerate((truth, other)):
            xr.testing.assert_allclose(both.isel(truth_member=index, drop=True), score(forecast, one))
    pooled = rank_histogram(forecast, truths, seed=5)["z500"]
    separate = rank_histogram(forecast, truth, seed=5)["z500"] + rank_histogram(forecast, other,
                                                                               seed=5)["z500"]
    np.testing.assert_array_equal(pooled.values, separate.values)


def test_each_variables_rank_histogram_is_its_own_whatever_the_others_and_their_order():
    """With ties, a variable's counts are those of its histogram alone, and the variables come
    in the forecast's order: neither depends on the process (test_dask_backfill compares a
    cluster worker's stored table with this process's, row by row)."""
    variables = ("z500", "t850", "u850", "sp")
    forecast, truth = synthetic(np.random.default_rng(11), n_init=4, n_member=4, n_lat=8, n_lon=16,
                                variables=variables)
    forecast, truth = forecast.round(0), truth.round(0)
    counts = rank_histogram(forecast, truth, seed=3)
    assert list(counts.data_vars) == list(variables)
    for name in variables:
        xr.testing.assert_identical(counts[name], rank_histogram(forecast[[name]], truth, seed=3)[name])


def brute_force_standard_crps(members: np.ndarray, y: float) -> float:
    """mean_i |x_i - y| - 1/(2 m^2) sum_i sum_j |x_i - x_j|: the CRPS of the members' empirical
    distribution, in float64 loops."""
    m = len(members)
    return (sum(abs(x - y) for x in members) / m
            - sum(abs(xi - xj) for xi in members for xj in members) / (2 * m * m))


@pytest.mark.parametrize("n_member", [2, 3, 5, 8])
def test_both_crps_estimators_match_brute_force_with_ties(n_member):
    """Independent of scoringrules: random ensembles of several sizes, rounded so that members
    tie with each other and with the truth, area-weighted by hand."""
    forecast, truth = synthetic(np.random.default_rng(20 + n_member), n_init=1, n_lead=1,
                                n_member=n_member, n_lat=3, n_lon=4)
    forecast, truth = forecast.round(0), truth.round(0)
    fct = forecast["z500"].values[0, 0].astype(np.float64)  # (member, lat, lon)
    obs = truth["z500"].values[0, 0].astype(np.float64)
    assert any(len(np.unique(fct[:, i, j])) < n_member or obs[i, j] in fct[:, i, j]
               for i in range(3) for j in range(4))  # some point has a tie
    weights = np.cos(np.deg2rad(forecast["lat"].values))
    for score, brute_force in ((fair_crps, brute_force_fair_crps),
                               (standard_crps, brute_force_standard_crps)):
        per_point = np.array([[brute_force(fct[:, i, j], obs[i, j]) for j in range(4)]
                              for i in range(3)])
        expected = (per_point * weights[:, None]).sum() / (weights.sum() * 4)
        assert float(score(forecast, truth)["z500"].squeeze()) == pytest.approx(expected, rel=1e-5,
                                                                                abs=1e-6)
