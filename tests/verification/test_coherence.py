"""Lead-to-lead coherence: identities (same field 1, negated -1, independent 0), invariances (member
order, a field shared by every member), the cos-lat weighting against a brute-force sum, pooling
of sums over inits, and the tables built on it."""

import numpy as np
import pandas as pd
import pandera.pandas as pa
import pytest
import xarray as xr
from synthetic_grid import forecast_coords

from seeds_dag.verification.coherence import lead_coherence, lead_moments
from seeds_dag.verification.coherence_table import (
    CoherenceTableSchema,
    coherence_columns,
    coherence_summary,
    coherence_table,
    format_coherence,
)
from seeds_dag.verification.scores import ensemble_spread

DIMS = ("init_time", "lead_time", "member", "lat", "lon")


def forecast(values: np.ndarray, leads_days=None, **fields: np.ndarray) -> xr.Dataset:
    """A forecast Dataset with variable z500 = ``values`` (init, lead, member, lat, lon) and any
    other variables given, on the synthetic grid; leads 1, 2, ... days unless given."""
    coords = forecast_coords(*values.shape)
    if leads_days is not None:
        coords["lead_time"] = pd.to_timedelta(leads_days, unit="D")
    data = {"z500": values, **fields}
    return xr.Dataset({name: (DIMS, v) for name, v in data.items()}, coords=coords)


def noise(shape, seed=0) -> np.ndarray:
    return np.random.default_rng(seed).normal(size=shape)


def brute_force(x: np.ndarray, lat: np.ndarray, weighted: bool) -> np.ndarray:
    """corr(l, l+1) = sum w d_l d_l+1 / sqrt(sum w d_l^2 sum w d_l+1^2) over inits, members and
    the grid, in float64 loops over lead pairs; w = cos(lat) or 1."""
    d = x - x.mean(axis=2, keepdims=True)
    w = np.cos(np.deg2rad(lat))[:, None] if weighted else np.ones((lat.size, 1))
    corr = []
    for lead in range(x.shape[1] - 1):
        a, b = d[:, lead], d[:, lead + 1]
        corr.append((w * a * b).sum() / np.sqrt((w * a * a).sum() * (w * b * b).sum()))
    return np.array(corr)


def test_one_coherence_per_consecutive_lead_pair():
    leads = [1, 3, 5, 7, 10, 15]  # uneven steps and more than today's four leads
    coherence = lead_coherence(forecast(noise((2, 6, 3, 4, 8)), leads_days=leads))
    assert coherence["z500"].dims == ("lead_pair",)
    np.testing.assert_array_equal(coherence["first_lead"] / np.timedelta64(1, "D"), leads[:-1])
    np.testing.assert_array_equal(coherence["second_lead"] / np.timedelta64(1, "D"), leads[1:])


def test_the_same_deviation_at_both_leads_gives_one_and_its_negative_minus_one():
    x = noise((2, 3, 5, 6, 8))
    x[:, 1] = x[:, 0] + 3.0  # the same deviations from a shifted ensemble mean
    x[:, 2] = -x[:, 1]
    coherence = lead_coherence(forecast(x))["z500"].values
    np.testing.assert_allclose(coherence, [1.0, -1.0], atol=1e-6)


def test_members_drawn_independently_at_each_lead_give_about_zero():
    # 4 inits x 16 members x 16 x 32 points per lead: the sampling sd of r is about 0.01.
    coherence = lead_coherence(forecast(noise((4, 3, 16, 16, 32)).astype(np.float32)))
    assert np.all(np.abs(coherence["z500"].values) < 0.05)


def test_member_order_does_not_matter():
    x = noise((2, 3, 5, 4, 8)) + 1.5 * noise((2, 1, 5, 4, 8), seed=1)  # correlated leads
    shuffled = x[:, :, np.random.default_rng(2).permutation(5)]
    original = lead_coherence(forecast(x))
    np.testing.assert_allclose(lead_coherence(forecast(shuffled))["z500"], original["z500"],
                               rtol=1e-12)
    assert np.all(original["z500"].values > 0.5)


def test_a_field_shared_by_every_member_changes_nothing():
    """Only deviations from the ensemble mean count: a common field (any init, lead, place) is
    the mean's, however large and however it changes between leads."""
    x = noise((2, 3, 5, 4, 8)) + 0.5 * noise((2, 1, 5, 4, 8), seed=1)
    common = 100.0 * noise((2, 3, 1, 4, 8), seed=3)
    np.testing.assert_allclose(lead_coherence(forecast(x + common))["z500"],
                               lead_coherence(forecast(x))["z500"], rtol=1e-9)


def test_latitudes_are_weighted_by_cos_lat_and_sums_pool_over_inits():
    """Members keep their deviation in the tropics and flip it at high latitudes, where the
    same values recur (so the same variance): unweighted that is 0, cos(lat)-weighted clearly
    positive."""
    x = noise((3, 2, 4, 8, 16))
    coords = forecast_coords(*x.shape)
    tropics = np.abs(coords["lat"]) < 45
    x[:, 0, :, ~tropics] = x[:, 0, :, tropics]
    x[:, 1] = np.where(tropics[:, None], x[:, 0], -x[:, 0])
    got = lead_coherence(forecast(x))["z500"].values
    unweighted = brute_force(x, coords["lat"], weighted=False)
    np.testing.assert_allclose(got, brute_force(x, coords["lat"], weighted=True), rtol=1e-9)
    assert abs(unweighted[0]) < 1e-12 and got[0] > 0.3


def test_inits_pool_by_their_sums_not_by_their_correlations():
    """A wide init that keeps its deviations and a narrow one that flips them: the pooled
    correlation is the wide init's (variance 100 vs 1), not the mean of +1 and -1."""
    x = noise((2, 2, 6, 4, 8))
    x[0] *= 10.0
    x[0, 1] = x[0, 0]
    x[1, 1] = -x[1, 0]
    coherence = float(lead_coherence(forecast(x))["z500"].squeeze())
    per_init = [float(lead_coherence(forecast(x[[i]]))["z500"].squeeze()) for i in range(2)]
    np.testing.assert_allclose(per_init, [1.0, -1.0], atol=1e-9)
    variances = [(x[i, 0] - x[i, 0].mean(axis=0)).var() for i in range(2)]
    assert coherence == pytest.approx((variances[0] - variances[1]) / sum(variances), rel=0.05)
    assert coherence > 0.9


def test_variance_at_each_lead_is_the_ensemble_spread_squared():
    ensemble = forecast(noise((2, 3, 5, 4, 8)))
    moments = lead_moments(ensemble)
    spread_squared = ensemble_spread(ensemble)["z500"] ** 2
    np.testing.assert_allclose(moments.first_variance["z500"], spread_squared.isel(lead_time=[0, 1]))
    np.testing.assert_allclose(moments.second_variance["z500"], spread_squared.isel(lead_time=[1, 2]))


@pytest.mark.parametrize("shape, message", [((1, 3, 1, 4, 8), "at least 2 member"),
                                            ((1, 1, 4, 4, 8), "at least 2 leads")])
def test_too_few_members_or_leads_are_refused(shape, message):
    with pytest.raises(ValueError, match=message):
        lead_coherence(forecast(noise(shape)))


def test_decreasing_leads_are_refused():
    with pytest.raises(ValueError, match="strictly increasing"):
        lead_coherence(forecast(noise((1, 3, 3, 4, 8)), leads_days=[1, 5, 3]))


@pytest.fixture(scope="module")
def ensembles() -> dict[str, xr.Dataset]:
    """Three models of two variables on the same 3 inits and 4 uneven leads: members that keep
    most of their deviation (physics-like), that keep less, and that keep none."""
    shape = (3, 4, 6, 4, 8)
    leads = [1, 3, 5, 7]
    models = {}
    for seed, (model, memory) in enumerate({"physics-6": 0.9, "gee-6": 0.6, "gpp-6": 0.0}.items()):
        fields = {}
        for offset, name in enumerate(("z500", "t850")):
            x = noise(shape, seed=10 * seed + offset)
            for lead in range(1, shape[1]):
                x[:, lead] = memory * x[:, lead - 1] + np.sqrt(1 - memory**2) * x[:, lead]
            fields[name] = x.astype(np.float32)
        models[model] = forecast(fields.pop("z500"), leads_days=leads, **fields)
    return models


def test_coherence_table_holds_the_moments_of_each_model_init_and_lead_pair(ensembles):
    table = coherence_table(ensembles)
    CoherenceTableSchema.validate(table)
    assert list(table.columns) == ["init_time", "first_lead_days", "second_lead_days", "variable",
                                   "model", "n_members", "covariance", "first_variance",
                                   "second_variance"]
    assert len(table) == 3 * 2 * 3 * 3  # models x variables x inits x lead pairs
    assert list(table["model"].unique()) == list(ensembles)
    pairs = set(zip(table["first_lead_days"], table["second_lead_days"]))
    assert pairs == {(1.0, 3.0), (3.0, 5.0), (5.0, 7.0)}


def test_summary_of_partitions_equals_the_coherence_over_all_inits(ensembles):
    """Each partition's table holds one init; concatenated and summarised they give the
    correlation of the sums over every init."""
    partitions = [coherence_table({m: f.isel(init_time=[i]) for m, f in ensembles.items()})
                  for i in range(3)]
    summary = coherence_summary(pd.concat(partitions, ignore_index=True))
    for model, ensemble in ensembles.items():
        expected = lead_coherence(ensemble)["t850"].values
        rows = summary.query("model == @model and variable == 't850'")
        np.testing.assert_allclose(rows.sort_values("first_lead_days")["coherence"], expected,
                                   rtol=1e-6)
    by_model = summary.groupby("model", sort=False)["coherence"].mean()
    assert by_model["physics-6"] > 0.8 and 0.4 < by_model["gee-6"] < 0.75
    assert abs(by_model["gpp-6"]) < 0.1


def test_columns_put_models_side_by_side_with_their_difference_to_physics(ensembles):
    summary = coherence_summary(coherence_table(ensembles))
    wide = coherence_columns(summary, "physics-6")
    assert wide.index.names == ["variable", "first_lead_days", "second_lead_days"]
    assert list(wide.columns) == ["physics-6", "gee-6", "gpp-6", "gee-6 - physics-6",
                                  "gpp-6 - physics-6"]
    np.testing.assert_allclose(wide["gpp-6 - physics-6"], wide["gpp-6"] - wide["physics-6"])
    text = format_coherence(wide)
    assert "Lead-to-lead coherence" in text and "gee-6 - physics-6" in text
    with pytest.raises(ValueError, match="reference model 'physics-31'"):
        coherence_columns(summary, "physics-31")


@pytest.mark.parametrize("column, bad", [("second_lead_days", 1.0), ("covariance", 1e6),
                                         ("n_members", 1)])
def test_schema_rejects_impossible_rows(ensembles, column, bad):
    broken = coherence_table(ensembles)
    broken.loc[0, column] = bad
    with pytest.raises(pa.errors.SchemaError):
        CoherenceTableSchema.validate(broken)
