"""Latitude-to-latitude coherence: a known chain in latitude recovered, stripes (zonally smooth,
white in latitude) at 0 where the same zonal structure shared across latitudes is at 1, the
cos(mid-latitude) weighting against a brute-force sum, a field shared by every member ignored,
refusals, and the tables built on it (pooled over partitions by their sums, difference columns,
the schema)."""

import numpy as np
import pandas as pd
import pandera.pandas as pa
import pytest
import xarray as xr
from synthetic_grid import forecast_coords

from seeds_dag.verification.meridional import latitude_coherence
from seeds_dag.verification.meridional_table import (
    MeridionalTableSchema,
    format_meridional,
    meridional_columns,
    meridional_summary,
    meridional_table,
)

DIMS = ("init_time", "lead_time", "member", "lat", "lon")


def forecast(values: np.ndarray, **fields: np.ndarray) -> xr.Dataset:
    """A forecast with variable z500 = ``values`` (init, lead, member, lat, lon) and any others."""
    coords = forecast_coords(*values.shape)
    return xr.Dataset({name: (DIMS, v) for name, v in {"z500": values, **fields}.items()}, coords=coords)


def noise(shape, seed=0) -> np.ndarray:
    return np.random.default_rng(seed).normal(size=shape)


def chain_in_latitude(shape, rho, seed=0) -> np.ndarray:
    """N(0, 1) at every point, correlated ``rho`` between adjacent latitudes (a stationary
    first-order chain from latitude to latitude, independent across members and longitudes)."""
    x = noise(shape, seed)
    for j in range(1, shape[3]):
        x[:, :, :, j] = rho * x[:, :, :, j - 1] + np.sqrt(1 - rho**2) * x[:, :, :, j]
    return x


def brute_force(x: np.ndarray, lat: np.ndarray) -> np.ndarray:
    """Per lead, sum w d_j d_j+1 / sqrt(sum w d_j^2 sum w d_j+1^2) over inits, members, longitudes
    and latitude pairs in float64 loops, w = cos of each pair's mid-latitude."""
    d = x - x.mean(axis=2, keepdims=True)
    corr = []
    for lead in range(x.shape[1]):
        c = v1 = v2 = 0.0
        for j in range(lat.size - 1):
            w = np.cos(np.deg2rad((lat[j] + lat[j + 1]) / 2))
            a, b = d[:, lead, :, j], d[:, lead, :, j + 1]
            c, v1, v2 = c + w * (a * b).sum(), v1 + w * (a * a).sum(), v2 + w * (b * b).sum()
        corr.append(c / np.sqrt(v1 * v2))
    return np.array(corr)


def test_a_chain_in_latitude_gives_its_correlation_lead_by_lead():
    # 4 inits x 16 members x 31 pairs x 32 longitudes a lead: the sampling sd of r is below 0.01.
    shape = (4, 1, 16, 32, 32)
    x = np.concatenate([chain_in_latitude(shape, 0.8), chain_in_latitude(shape, 0.3, seed=1)], axis=1)
    coherence = latitude_coherence(forecast(x))["z500"]
    assert coherence.dims == ("lead_time",)
    np.testing.assert_allclose(coherence.values, [0.8, 0.3], atol=0.03)


def test_stripes_white_in_latitude_are_told_from_the_same_zonal_structure_broad_in_latitude():
    """Each member a few zonal waves: drawn afresh at every latitude (stripes along the circles)
    or the same at every latitude. Their zonal spectra are alike; the coherence is 0 and 1."""
    rng = np.random.default_rng(3)
    lon = np.deg2rad(forecast_coords(1, 1, 1, 16, 32)["lon"])

    def waves(n_lat):
        amplitude = rng.normal(size=(2, 1, 12, n_lat, 3, 1))
        phase = rng.uniform(0, 2 * np.pi, size=(2, 1, 12, n_lat, 3, 1))
        k = np.arange(1, 4)[:, None]
        return (amplitude * np.cos(k * lon + phase)).sum(axis=-2)

    striped = latitude_coherence(forecast(waves(16)))["z500"].item()
    broad = latitude_coherence(forecast(np.repeat(waves(1), 16, axis=3)))["z500"].item()
    assert abs(striped) < 0.05
    assert broad == pytest.approx(1.0, abs=1e-9)


def test_pairs_are_weighted_by_the_cosine_of_their_mid_latitude():
    """Deviations broad in latitude near the equator and alternating in sign near the poles:
    weighted, the tropics count most; the brute-force sum agrees to rounding."""
    shape = (2, 2, 5, 12, 8)
    lat = forecast_coords(*shape)["lat"]
    x = chain_in_latitude(shape, 0.9, seed=4)
    polar = np.abs(lat) > 50
    x[:, :, :, polar] *= np.where(np.arange(polar.sum()) % 2, -1.0, 1.0)[:, None]
    got = latitude_coherence(forecast(x))["z500"].values
    np.testing.assert_allclose(got, brute_force(x, lat), rtol=1e-9)
    assert np.all(got > 0.3)


def test_a_field_shared_by_every_member_changes_nothing():
    x = chain_in_latitude((2, 2, 5, 8, 8), 0.5)
    common = 100.0 * noise((2, 2, 1, 8, 8), seed=5)
    np.testing.assert_allclose(latitude_coherence(forecast(x + common))["z500"],
                               latitude_coherence(forecast(x))["z500"], rtol=1e-9)


@pytest.mark.parametrize("shape, message", [((1, 2, 1, 4, 8), "at least 2 member"),
                                            ((1, 2, 4, 1, 8), "at least 2 latitudes")])
def test_too_few_members_or_latitudes_are_refused(shape, message):
    with pytest.raises(ValueError, match=message):
        latitude_coherence(forecast(noise(shape)))


@pytest.fixture(scope="module")
def ensembles() -> dict[str, xr.Dataset]:
    """Three models of two variables on the same 3 inits and 2 leads: members broad in latitude
    (physics-like), broad but less so, and striped."""
    shape = (3, 2, 6, 10, 8)
    return {model: forecast(chain_in_latitude(shape, rho, seed).astype(np.float32),
                            t850=chain_in_latitude(shape, rho, seed + 10).astype(np.float32))
            for seed, (model, rho) in enumerate({"physics-6": 0.85, "gee-6": 0.6, "gpp-6": 0.0}.items())}


def test_the_table_holds_the_moments_of_each_model_init_and_lead(ensembles):
    table = meridional_table(ensembles)
    assert list(table.columns) == ["init_time", "lead_time_days", "variable", "model", "n_members",
                                   "covariance", "first_variance", "second_variance"]
    assert len(table) == 3 * 2 * 3 * 2  # models x variables x inits x leads
    assert list(table["model"].unique()) == list(ensembles)


def test_summary_of_partitions_equals_the_coherence_over_all_inits(ensembles):
    partitions = [meridional_table({m: f.isel(init_time=[i]) for m, f in ensembles.items()})
                  for i in range(3)]
    summary = meridional_summary(pd.concat(partitions, ignore_index=True))
    for model, ensemble in ensembles.items():
        rows = summary.query("model == @model and variable == 't850'").sort_values("lead_time_days")
        np.testing.assert_allclose(rows["latitude_coherence"], latitude_coherence(ensemble)["t850"].values,
                                   rtol=1e-6)
    by_model = summary.groupby("model", sort=False)["latitude_coherence"].mean()
    assert by_model["physics-6"] > 0.75 and 0.45 < by_model["gee-6"] < 0.75 and abs(by_model["gpp-6"]) < 0.1


def test_columns_put_models_side_by_side_with_their_difference_to_physics(ensembles):
    wide = meridional_columns(meridional_summary(meridional_table(ensembles)), "physics-6")
    assert wide.index.names == ["variable", "lead_time_days"]
    assert list(wide.columns) == ["physics-6", "gee-6", "gpp-6", "gee-6 - physics-6", "gpp-6 - physics-6"]
    np.testing.assert_allclose(wide["gpp-6 - physics-6"], wide["gpp-6"] - wide["physics-6"])
    assert "Latitude-to-latitude coherence" in format_meridional(wide)
    with pytest.raises(ValueError, match="reference model 'physics-31'"):
        meridional_columns(meridional_summary(meridional_table(ensembles)), "physics-31")


@pytest.mark.parametrize("column, bad", [("covariance", 1e6), ("first_variance", -1.0), ("n_members", 1)])
def test_schema_rejects_impossible_rows(ensembles, column, bad):
    broken = meridional_table(ensembles)
    broken.loc[0, column] = bad
    with pytest.raises(pa.errors.SchemaError):
        MeridionalTableSchema.validate(broken)
