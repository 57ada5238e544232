"""Seed sets and the ideal emulation of K seeds: the information bound an emulator is compared to."""

import numpy as np
import pytest
import scoringrules as sr
import xarray as xr
from synthetic_grid import forecast_coords

from seeds_dag.verification.scores import fair_crps, standard_crps
from seeds_dag.verification.seed_sets import disjoint_seed_sets, ideal_emulation


def test_seed_sets_are_disjoint_deterministic_and_refused_beyond_the_ensemble():
    sets = disjoint_seed_sets(31, 4, 7)
    assert sets == disjoint_seed_sets(31, 4, 7)
    assert all(len(s) == 4 for s in sets)
    flat = [m for s in sets for m in s]
    assert len(set(flat)) == len(flat) == 28 and max(flat) == 27
    assert disjoint_seed_sets(31, 2, 1) == [(0, 1)]
    with pytest.raises(ValueError, match="at most 7 sets"):
        disjoint_seed_sets(31, 4, 8)
    with pytest.raises(ValueError, match="k >= 1"):
        disjoint_seed_sets(31, 0, 1)


def _gaussian_ensemble(n_member: int, rng: np.random.Generator, sigma: float = 2.0):
    """Members and truth exchangeable: all N(mu, sigma²) at every point, mu random per point."""
    coords = forecast_coords(n_init=8, n_lead=1, n_member=n_member, n_lat=32, n_lon=64)
    shape = tuple(len(coords[d]) for d in ("init_time", "lead_time", "member", "lat", "lon"))
    mu = 5 * rng.standard_normal((*shape[:2], 1, *shape[3:]))
    physics = xr.Dataset({"t850": (tuple(coords), mu + sigma * rng.standard_normal(shape))}, coords=coords)
    truth_coords = {k: v for k, v in coords.items() if k != "member"}
    truth = xr.Dataset({"t850": (tuple(truth_coords), (mu + sigma * rng.standard_normal(mu.shape))[:, :, 0])},
                       coords=truth_coords)
    return physics, truth


@pytest.mark.parametrize("k", [1, 2, 3, 4])
def test_ideal_emulation_has_the_closed_form_crps_of_k_seeds(k):
    """For exchangeable Gaussian members the best any emulator of K seeds can do is the predictive
    N(m_K, σ²(1 + 1/K)), whose expected CRPS is σ√(1 + 1/K)/√π; the K seeds themselves pay the
    standard CRPS σ(1 + 1/K)/√π and the physics distribution σ/√π. The ideal emulation built from
    a large ensemble scores as the closed-form Gaussian CRPS of N(m_K, σ²(1 + 1/K)) on the same
    truths and seeds (to 1 %), and that agrees with its expectation (16 384 points: to 2.5 %)."""
    sigma = 2.0
    physics, truth = _gaussian_ensemble(400, np.random.default_rng(k), sigma)
    seeds = disjoint_seed_sets(400, k, 2)[1]
    ideal = ideal_emulation(physics, seeds)
    assert ideal.sizes["member"] == 400 - k
    closed_form = sigma / np.sqrt(np.pi)
    seeds_only = physics.isel(member=list(seeds))
    m_k = seeds_only["t850"].mean("member").values
    exact = sr.crps_normal(truth["t850"].values, m_k, sigma * np.sqrt(1 + 1 / k)).mean()
    assert float(fair_crps(ideal, truth)["t850"].mean()) == pytest.approx(exact, rel=0.01)
    assert exact == pytest.approx(closed_form * np.sqrt(1 + 1 / k), rel=0.025)
    assert float(standard_crps(seeds_only, truth)["t850"].mean()) == pytest.approx(closed_form * (1 + 1 / k), rel=0.04)
    assert float(fair_crps(physics, truth)["t850"].mean()) == pytest.approx(closed_form, rel=0.025)


def test_ideal_emulation_refuses_bad_seeds():
    physics, _ = _gaussian_ensemble(5, np.random.default_rng(0))
    with pytest.raises(ValueError, match="distinct member indices"):
        ideal_emulation(physics, (0, 0))
    with pytest.raises(ValueError, match="distinct member indices"):
        ideal_emulation(physics, (4, 5))
    with pytest.raises(ValueError, match="no other member"):
        ideal_emulation(physics, (0, 1, 2, 3, 4))


def test_ideal_emulation_spreads_about_the_seed_mean_as_a_new_member_would():
    """Exchangeable members x = μ + ε: a new member differs from the mean of 2 seeds with variance
    1.5·Var(ε); the ideal emulation's members are centred on the seed mean with that variance."""
    rng = np.random.default_rng(0)
    coords = forecast_coords(n_init=40, n_lead=2, n_member=31, n_lat=8, n_lon=16)
    shape = tuple(len(coords[d]) for d in ("init_time", "lead_time", "member", "lat", "lon"))
    mu = 10 * rng.standard_normal((*shape[:2], 1, *shape[3:]))
    physics = xr.Dataset({"t850": (tuple(coords), mu + 2.0 * rng.standard_normal(shape))}, coords=coords)
    ideal = ideal_emulation(physics, (0, 1))["t850"]
    assert ideal.sizes["member"] == 29
    seed_mean = physics["t850"].isel(member=[0, 1]).mean("member")
    deviations = ideal - seed_mean
    assert float(deviations.var("member", ddof=1).mean()) == pytest.approx(1.5 * 4.0, rel=0.03)
    # Each member is the seed mean plus its physics member's scaled deviation from the mean of the
    # non-seed members (not of all members: that mean holds the seeds, and the ensemble's mean would
    # lean 8 % of the way to the other members'), so the ensemble's mean is the seed mean.
    scale = np.sqrt(1.5)
    others = physics["t850"].isel(member=list(range(2, 31)))
    expected = seed_mean + scale * (physics["t850"].isel(member=5) - others.mean("member"))
    np.testing.assert_allclose(ideal.mean("member"), seed_mean, atol=1e-9)
    np.testing.assert_allclose(ideal.isel(member=3), expected)


def test_post_processing_oracle_removes_the_bias_and_is_calibrated_on_its_inits():
    """Physics members biased by +3 everywhere and under-dispersive (σ/2): the oracle finds the
    bias, its spread/skill over the fitted inits is exactly 1, and it beats the biased ideal-2."""
    from seeds_dag.verification.scores import (
        ensemble_mean_rmse,
        ensemble_spread,
        pool_over_inits,
        spread_skill_ratio,
    )
    from seeds_dag.verification.seed_sets import fit_post_processing_oracle, oracle_post_processing

    rng = np.random.default_rng(5)
    physics, truth = {}, {}
    for i in range(6):
        members, observed = _gaussian_ensemble(31, rng)
        key = f"i{i}"
        centre = members.mean("member")
        physics[key] = centre + 3.0 + 0.5 * (members - centre)
        truth[key] = observed
    oracle = fit_post_processing_oracle(physics, truth, (0, 1))
    assert float(oracle.bias["t850"].mean()) == pytest.approx(3.0, abs=0.1)
    processed = {k: oracle_post_processing(physics[k], (0, 1), oracle) for k in physics}
    rmse = pool_over_inits(xr.concat([ensemble_mean_rmse(processed[k], truth[k]) for k in physics], "init_time"))
    spread = pool_over_inits(xr.concat([ensemble_spread(processed[k]) for k in physics], "init_time"))
    np.testing.assert_allclose(spread_skill_ratio(spread, rmse, 29)["t850"].values, 1.0, rtol=1e-5)
    before = np.mean([float(fair_crps(ideal_emulation(physics[k], (0, 1)), truth[k])["t850"].mean()) for k in physics])
    after = np.mean([float(fair_crps(processed[k], truth[k])["t850"].mean()) for k in physics])
    assert after < 0.8 * before
    with pytest.raises(ValueError, match="same inits"):
        fit_post_processing_oracle(physics, {"i0": truth["i0"]}, (0, 1))
