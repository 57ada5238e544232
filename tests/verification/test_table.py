"""Score tables: layout, schema, and that the summary pools over inits like scores.py does."""

import numpy as np
import pandas as pd
import pandera.pandas as pa
import pytest
import xarray as xr

from seeds_dag.verification.scores import fair_crps, spread_skill_over_inits
from seeds_dag.verification.scores_table import (
    ScoreTableSchema,
    format_summary,
    long_table,
    score_table,
    summary_table,
)

VARIABLES = ("z500", "t850")
MODELS = {"seeds-2": 2, "physics-5": 5, "emulated-8": 8}
N_INIT, N_LEAD, N_LAT, N_LON = 3, 2, 3, 4
MEMBER_DIMS = ("init_time", "lead_time", "member", "lat", "lon")


def truth_and_ensembles(seed=0):
    """Random truth and, per model, members = truth + noise + a per-init error common to members
    (so per-init spread/skill ratios vary and their mean differs from the pooled ratio)."""
    rng = np.random.default_rng(seed)
    coords = {
        "init_time": pd.date_range("2001-01-01", periods=N_INIT, freq="D"),
        "lead_time": pd.to_timedelta([12, 36], unit="h"),
        "lat": [-60.0, 0.0, 60.0],
        "lon": [0.0, 90.0, 180.0, 270.0],
    }
    shape = (N_INIT, N_LEAD, N_LAT, N_LON)
    dims = tuple(coords)
    truth = xr.Dataset(
        {v: (dims, rng.normal(size=shape).astype(np.float32)) for v in VARIABLES}, coords=coords
    )
    ensembles = {}
    for model, n in MODELS.items():
        members = {}
        for v in VARIABLES:
            error_std = rng.uniform(0.2, 2.0, (N_INIT, 1, 1, 1, 1))
            error = rng.normal(0.0, error_std, (N_INIT, N_LEAD, 1, N_LAT, N_LON))
            noise = rng.normal(size=(N_INIT, N_LEAD, n, N_LAT, N_LON))
            values = truth[v].values[:, :, None] + error + noise
            members[v] = (MEMBER_DIMS, values.astype(np.float32))
        ensembles[model] = xr.Dataset(members, coords={**coords, "member": np.arange(n)})
    return truth, ensembles


@pytest.fixture(scope="module")
def inputs():
    return truth_and_ensembles()


@pytest.fixture(scope="module")
def table(inputs):
    truth, ensembles = inputs
    return score_table(ensembles, truth)


def test_score_table_is_long_and_typed(table, inputs):
    truth, ensembles = inputs
    assert list(table.columns) == [
        "init_time", "lead_time_days", "variable", "model", "n_members",
        "crps", "crps_standard", "rmse", "spread", "spread_skill",
    ]
    assert len(table) == len(MODELS) * len(VARIABLES) * N_INIT * N_LEAD
    assert sorted(table["lead_time_days"].unique()) == [0.5, 1.5]
    assert table.groupby("model")["n_members"].first().to_dict() == MODELS
    assert pd.api.types.is_datetime64_any_dtype(table["init_time"])
    rows = table.query("model == 'physics-5' and variable == 't850' and lead_time_days == 1.5")
    row = rows.iloc[1]
    expected = fair_crps(ensembles["physics-5"], truth)["t850"].isel(init_time=1, lead_time=1)
    assert row["crps"] == pytest.approx(float(expected))


def test_summary_pools_spread_skill_like_scores_and_averages_crps(table, inputs):
    truth, ensembles = inputs
    summary = summary_table(table)
    assert summary.index.names == ["variable", "lead_time_days"]
    assert list(summary["crps"].columns) == list(MODELS)
    crps_mean = table.groupby(["model", "variable", "lead_time_days"])["crps"].mean()
    assert summary.loc[("z500", 0.5), ("crps", "emulated-8")] == pytest.approx(
        crps_mean[("emulated-8", "z500", 0.5)]
    )
    pooled = spread_skill_over_inits(ensembles["seeds-2"], truth)["z500"].values
    summarised = summary.loc["z500", ("spread_skill", "seeds-2")].values
    np.testing.assert_allclose(summarised, pooled, rtol=1e-6)
    seeds_z500 = table.query("model == 'seeds-2' and variable == 'z500'")
    mean_of_ratios = seeds_z500.groupby("lead_time_days")["spread_skill"].mean()
    assert not np.allclose(mean_of_ratios.values, pooled)


def test_format_summary_names_models_variables_and_metrics(table):
    text = format_summary(summary_table(table))
    for word in (*MODELS, *VARIABLES, "CRPS", "Spread/skill"):
        assert word in text


@pytest.mark.parametrize(
    "column, bad",
    [("crps", -0.1), ("spread", np.nan), ("model", ""), ("n_members", 1)],
)
def test_schema_rejects_bad_values(table, column, bad):
    broken = table.copy()
    broken.loc[0, column] = bad
    with pytest.raises(pa.errors.SchemaError):
        ScoreTableSchema.validate(broken)


def test_schema_rejects_duplicate_rows(table):
    with pytest.raises(pa.errors.SchemaError):
        ScoreTableSchema.validate(pd.concat([table, table.iloc[:1]], ignore_index=True))


def test_a_long_tables_rows_follow_the_statistics_dims_not_the_datasets():
    """A Dataset's own order of dims can differ from its variables' (xarray builds it from sets of
    coordinates, so it changed between processes): the rows follow the variables' dims."""
    lead, lat = pd.to_timedelta([1, 2], unit="D"), [-30.0, 30.0, 60.0]
    values = np.arange(6.0).reshape(2, 3)
    stats = xr.Dataset(coords={"lat": lat, "lead_time": lead}).assign(
        z500=(("lead_time", "lat"), values))
    assert list(stats.sizes) == ["lat", "lead_time"]
    table = long_table({"mean": stats}, "physics-5")
    assert table["lead_time_days"].tolist() == [1.0, 1.0, 1.0, 2.0, 2.0, 2.0]
    assert table["lat"].tolist() == lat * 2 and table["mean"].tolist() == values.ravel().tolist()
