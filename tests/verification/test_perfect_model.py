"""Perfect-model scores: each non-seed physics member plays the truth in turn, ideal-K is built
without it, and the scores are those of scores.py averaged over the members playing truth."""

import numpy as np
import pandas as pd
import pytest
import xarray as xr
from synthetic_grid import forecast_coords

from seeds_dag.verification.perfect_model import (
    N_TRUTH_MEMBERS,
    PerfectModelTableSchema,
    leave_one_out_ideal,
    members_playing_truth,
    perfect_model_tables,
)
from seeds_dag.verification.perfect_model_summary import (
    FAIR_OVER_IDEAL,
    STANDARD_OVER_IDEAL,
    format_perfect_model,
    perfect_model_by_lead,
    perfect_model_summary,
)
from seeds_dag.verification.scores import (
    ensemble_mean_rmse,
    ensemble_spread,
    fair_crps,
    rank_histogram,
    standard_crps,
)
from seeds_dag.verification.seed_sets import ideal_emulation

DIMS = ("init_time", "lead_time", "member", "lat", "lon")


def gaussian_physics(rng, n_member: int, n_init: int = 1, n_lead: int = 1, n_lat: int = 4,
                     n_lon: int = 8, variables=("t850",), init_offset: int = 0):
    """Exchangeable members N(mu, 1), mu ~ N(0, 5²) per point (so the seeds barely know it
    beforehand), and the seeds' mean m_K of members 0 and 1."""
    coords = forecast_coords(n_init, n_lead, n_member, n_lat, n_lon)
    coords["init_time"] = coords["init_time"] + pd.Timedelta(days=init_offset)
    shape = tuple(len(coords[d]) for d in DIMS)
    mu = 5 * rng.standard_normal((*shape[:2], 1, *shape[3:]))
    return xr.Dataset({v: (DIMS, mu + rng.standard_normal(shape)) for v in variables}, coords=coords)


def draws_about_the_seeds(rng, physics: xr.Dataset, seeds, n_member: int, scale: float) -> xr.Dataset:
    """`n_member` draws of N(m_K, scale² (1 + 1/K)): for scale 1 the law of a new member given K
    seeds of exchangeable N(mu, 1) members, mu unknown (flat prior)."""
    centre = physics.isel(member=list(seeds)).mean("member")
    coords = {**{d: physics[d] for d in DIMS if d != "member"}, "member": np.arange(n_member)}
    noise = xr.DataArray(rng.standard_normal(tuple(len(coords[d]) for d in DIMS)), dims=DIMS,
                         coords=coords)
    return (centre + scale * np.sqrt(1 + 1 / len(seeds)) * noise).transpose(*DIMS)


def test_ideal_k_of_a_member_playing_truth_is_built_without_it():
    """For every non-seed member j: ideal-K is `ideal_emulation` of the ensemble without j, and
    changing x_j by 1000 leaves it alone (while every other truth's ideal-K moves)."""
    rng = np.random.default_rng(0)
    physics = gaussian_physics(rng, 7, n_init=2, n_lead=2)
    seeds = (2, 5)  # not the first members: positions must follow the seeds
    ideal = leave_one_out_ideal(physics, seeds)
    assert list(ideal["truth_member"].values) == [0, 1, 3, 4, 6]
    assert ideal.sizes["member"] == 4
    for j in (0, 1, 3, 4, 6):
        kept = [m for m in range(7) if m != j]
        expected = ideal_emulation(physics.drop_sel(member=j), tuple(kept.index(s) for s in seeds))
        got = ideal.sel(truth_member=j)["t850"].transpose(*DIMS)
        np.testing.assert_allclose(got.values, expected["t850"].transpose(*DIMS).values, atol=1e-12)
    moved = physics.copy(deep=True)
    moved["t850"].loc[{"member": 3}] += 1000.0
    shifted = leave_one_out_ideal(moved, seeds)
    xr.testing.assert_allclose(shifted.sel(truth_member=3), ideal.sel(truth_member=3))
    assert float(abs(shifted.sel(truth_member=4) - ideal.sel(truth_member=4))["t850"].min()) > 10
    truths = members_playing_truth(physics, seeds)
    np.testing.assert_array_equal(truths.sel(truth_member=4)["t850"].values,
                                  physics.sel(member=4)["t850"].values)


def test_the_table_holds_the_per_truth_scores_averaged_and_the_ranks_summed():
    """Against a loop over the members playing truth with the scores of scores.py: CRPS means,
    RMSE and spread root-mean-squares, spread/skill from those, rank counts summed."""
    rng = np.random.default_rng(1)
    physics = gaussian_physics(rng, 6, n_init=1, n_lead=2, variables=("t850", "z500"))
    seeds = (0, 1)
    gee = draws_about_the_seeds(rng, physics, seeds, 5, 1.0)
    tables = perfect_model_tables(physics, seeds, {"seeds-2": physics.isel(member=[0, 1]),
                                                   "gee-5": gee}, "ideal-2", seed=3)
    scores = PerfectModelTableSchema.validate(tables.scores).set_index(
        ["model", "variable", "lead_time_days"]).sort_index()
    assert list(tables.scores["model"].unique()) == ["ideal-2", "seeds-2", "gee-5"]
    assert (tables.scores[N_TRUTH_MEMBERS] == 4).all()
    assert scores.loc["ideal-2", "n_members"].unique().tolist() == [3]
    truths = [physics.sel(member=j, drop=True) for j in (2, 3, 4, 5)]
    ideals = [ideal_emulation(physics.drop_sel(member=j), (0, 1)) for j in (2, 3, 4, 5)]
    for model, forecasts in (("gee-5", [gee] * 4), ("ideal-2", ideals)):
        pairs = list(zip(forecasts, truths))
        crps = sum(fair_crps(f, y) for f, y in pairs) / 4
        standard = sum(standard_crps(f, y) for f, y in pairs) / 4
        rmse = np.sqrt(sum(ensemble_mean_rmse(f, y) ** 2 for f, y in pairs) / 4)
        spread = np.sqrt(sum(ensemble_spread(f) ** 2 for f, _ in pairs) / 4)
        n = forecasts[0].sizes["member"]
        for variable in ("t850", "z500"):
            rows = scores.loc[(model, variable)]
            np.testing.assert_allclose(rows["crps"], crps[variable].values.ravel(), rtol=1e-6)
            np.testing.assert_allclose(rows["crps_standard"], standard[variable].values.ravel(),
                                       rtol=1e-6)
            np.testing.assert_allclose(rows["rmse"], rmse[variable].values.ravel(), rtol=1e-6)
            np.testing.assert_allclose(rows["spread_skill"],
                                       (np.sqrt((n + 1) / n) * spread / rmse)[variable].values.ravel(),
                                       rtol=1e-6)
    ranks = tables.ranks.set_index(["model", "variable", "lead_time_days", "rank"])["count"].sort_index()
    expected = sum(rank_histogram(gee, y, seed=3)["t850"] for y in truths)
    for lead, counts in zip((1.0, 2.0), expected.values):
        np.testing.assert_array_equal(ranks.loc[("gee-5", "t850", lead)].values, counts)


@pytest.fixture(scope="module")
def gaussian_perfect_model():
    """201 exchangeable members (so ideal-K is near the exact law of a member given the seeds:
    see `perfect_model`'s docstring for M = 31), an emulator sampling that law exactly with 256
    members and one twice as wide; their perfect-model summary."""
    rng = np.random.default_rng(2)
    physics = gaussian_physics(rng, 201, n_lat=8, n_lon=16)
    seeds = (0, 1)
    forecasts = {"seeds-2": physics.isel(member=[0, 1]),
                 "gee-256": draws_about_the_seeds(rng, physics, seeds, 256, 1.0),
                 "wide-256": draws_about_the_seeds(rng, physics, seeds, 256, 2.0)}
    tables = perfect_model_tables(physics, seeds, forecasts, "ideal-2")
    summary = perfect_model_summary(tables.scores, tables.ranks, "seeds-2", "ideal-2")
    return perfect_model_by_lead(summary).set_index("model")


def test_an_emulator_sampling_the_law_given_the_seeds_scores_as_ideal_k(gaussian_perfect_model):
    exact = gaussian_perfect_model.loc["gee-256"]
    assert exact[FAIR_OVER_IDEAL] == pytest.approx(1.0, abs=0.02)
    assert exact["spread_skill"] == pytest.approx(1.0, abs=0.05)
    assert gaussian_perfect_model.loc["ideal-2", "spread_skill"] == pytest.approx(1.0, abs=0.05)
    # Two members pay the standard CRPS: sqrt(1.5) x ideal-K's (1 + 1/K over sqrt(1 + 1/K)).
    assert gaussian_perfect_model.loc["seeds-2", STANDARD_OVER_IDEAL] == pytest.approx(
        np.sqrt(1.5), rel=0.04)


def test_an_over_dispersed_emulator_is_seen_in_spread_skill_and_the_crps_ratio(
        gaussian_perfect_model):
    """Twice the spread: spread/skill ≈ 2 and fair CRPS ≈ 16 % above ideal-K's (Gaussian: the
    expected CRPS of N(0, 4s²) for a N(0, s²) truth is 1.16 times that of N(0, s²))."""
    wide = gaussian_perfect_model.loc["wide-256"]
    assert wide["spread_skill"] == pytest.approx(2.0, rel=0.1)
    assert wide[FAIR_OVER_IDEAL] > 1.1
    assert wide["max_bin_ratio"] > gaussian_perfect_model.loc["gee-256", "max_bin_ratio"]


def test_the_summary_pools_inits_and_prints_the_ratios_per_lead():
    """Two inits: CRPS are means over inits, the ratios per variable then means over variables;
    ideal-K and the seeds have no fair ratio (the seeds' fair CRPS is that of the physics
    distribution), ideal-K no standard one; the text names the target."""
    rng = np.random.default_rng(3)
    scores, ranks = [], []
    for offset in (0, 1):
        physics = gaussian_physics(rng, 6, n_lead=2, variables=("t850", "z500"), init_offset=offset)
        tables = perfect_model_tables(physics, (0, 1), {
            "seeds-2": physics.isel(member=[0, 1]),
            "gee-8": draws_about_the_seeds(rng, physics, (0, 1), 8, 1.5)}, "ideal-2")
        scores.append(tables.scores)
        ranks.append(tables.ranks)
    scores = pd.concat(scores, ignore_index=True)
    summary = perfect_model_summary(scores, pd.concat(ranks, ignore_index=True), "seeds-2",
                                    "ideal-2")
    assert list(summary["model"].unique()) == ["ideal-2", "seeds-2", "gee-8"]
    rows = summary.set_index(["model", "variable", "lead_time_days"]).sort_index()
    means = scores.groupby(["model", "variable", "lead_time_days"])["crps"].mean()
    np.testing.assert_allclose(rows.loc["gee-8", "crps"], means.loc["gee-8"])
    ratio = means.loc["gee-8"] / means.loc["ideal-2"]
    np.testing.assert_allclose(rows.loc["gee-8", FAIR_OVER_IDEAL], ratio)
    assert rows.loc[["ideal-2", "seeds-2"], FAIR_OVER_IDEAL].isna().all()
    assert rows.loc["ideal-2", STANDARD_OVER_IDEAL].isna().all()
    by_lead = perfect_model_by_lead(summary).set_index(["model", "lead_time_days"])
    assert by_lead.loc[("gee-8", 2.0), FAIR_OVER_IDEAL] == pytest.approx(
        ratio.xs(2.0, level="lead_time_days").mean())
    text = format_perfect_model(summary, "ideal-2")
    assert text.startswith("Perfect model: each of the 4 non-seed members")
    fair = text[text.index("Fair CRPS / fair CRPS of ideal-2; target <= 1.02"):].split("\n\n")[0]
    assert "gee-8" in fair and "seeds-2" not in fair and "ideal-2" not in fair.splitlines()[1]
    assert f"{by_lead.loc[('gee-8', 2.0), FAIR_OVER_IDEAL]:#.4g}" in fair
    assert "Spread/skill against the member playing truth" in text
    assert "Rank histogram of the member playing truth: max-bin share" in text


def test_ideal_k_needs_a_member_beside_the_one_playing_truth():
    physics = gaussian_physics(np.random.default_rng(4), 3)
    with pytest.raises(ValueError, match="leave 1 member"):
        perfect_model_tables(physics, (0, 1), {"seeds-2": physics.isel(member=[0, 1])}, "ideal-2")
    with pytest.raises(ValueError, match="names ideal-K and one of the forecasts"):
        perfect_model_tables(physics, (0,), {"ideal-1": physics}, "ideal-1")


def test_at_the_main_jobs_ensemble_size_ideal_k_knows_no_more_than_the_seeds():
    """M = 31: an exact sampler of the law given the seeds scores within 3 % of ideal-K (expected
    1.018, `perfect_model_summary`); with ideal-K centred on all members' mean, as before, it
    scored 1.045, the other members' mean leaking into ideal-K's."""
    rng = np.random.default_rng(2)
    physics = gaussian_physics(rng, 31, n_lat=16, n_lon=32)
    forecasts = {"seeds-2": physics.isel(member=[0, 1]),
                 "gee-64": draws_about_the_seeds(rng, physics, (0, 1), 64, 1.0)}
    tables = perfect_model_tables(physics, (0, 1), forecasts, "ideal-2")
    by_lead = perfect_model_by_lead(perfect_model_summary(tables.scores, tables.ranks, "seeds-2", "ideal-2"))
    ratio = by_lead.set_index("model").loc["gee-64", FAIR_OVER_IDEAL]
    assert 1.0 <= ratio <= 1.03
