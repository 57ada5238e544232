"""The verification assets on a hand-made store (no physics, no training): which ensembles they
score, the climatological thresholds from the training window, every per-init table and the
pooled summary tables, whatever leads the partitions hold."""

import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import xarray as xr
from dagster import AssetCheckSeverity
from tiny_experiment import (
    SOURCE,
    copy_artifacts,
    materialise as materialise_tiny,
    metadata,
    record_materialised,
    tiny_source,
)

from assets.verification import VerificationConfig
from seeds_dag.conventions import (
    FORECAST_DIMS,
    KNOWN_VARIABLES,
    TRUTH_DIMS,
    VARIABLES,
    DataValidationError,
)
from seeds_dag.emulated_ensemble import EnsembleProvenance
from seeds_dag.emulation import forecast_seed
from seeds_dag.store import ArtifactStore
from seeds_dag.truth_alignment import align_truth
from seeds_dag.verification.calibration import calibration_summary, calibration_table
from seeds_dag.verification.coherence_table import CoherenceTableSchema, coherence_summary
from seeds_dag.verification.meridional_table import (
    MeridionalTableSchema,
    meridional_columns,
    meridional_summary,
)
from seeds_dag.verification.extremes import climatological_thresholds
from seeds_dag.verification.extremes_table import (
    ExtremesTableSchema,
    ReliabilityTableSchema,
    RocTableSchema,
    extremes_summary,
    extremes_tables,
)
from seeds_dag.verification.bias_table import BiasMapTableSchema
from seeds_dag.verification.spectra_table import SpectrumTableSchema
from seeds_dag.verification.coherence import pair_correlation
from seeds_dag.verification.multivariate import climatological_scale, energy_score
from seeds_dag.verification.multivariate_table import energy_score_summary
from seeds_dag.verification.perfect_model import PerfectModelTableSchema, perfect_model_tables
from seeds_dag.verification.perfect_model_summary import perfect_model_summary
from seeds_dag.verification.scores_table import summary_table

INITS = ["2000-01-06", "2000-01-07"]
STORE_CALENDAR = tiny_source(truth_days=11)
"""The tiny source with the hand-made store's truth, 2000-01-01..12 (`make_store`): its operational
partitions, 2000-01-05..10, hold INITS."""
N_PHYSICS, N_EMULATED = 6, 8
MODELS = ["seeds-2", f"physics-{N_PHYSICS}", f"gee-{N_EMULATED}", f"gpp-{N_EMULATED}"]
PHYSICS = MODELS[1]
N_PAIRS = len(VARIABLES) * (len(VARIABLES) - 1) // 2
LAT, LON = [-45.0, -15.0, 15.0, 45.0], list(np.arange(8) * 45.0)
# The tiny source trains on inits 2000-01-01..02 with leads up to 2 days: truth 01-01..01-04.
TRAINING_DAYS = 4
TABLES = {"extremes.parquet": ExtremesTableSchema, "reliability.parquet": ReliabilityTableSchema,
          "roc.parquet": RocTableSchema, "bias_maps.parquet": BiasMapTableSchema,
          "spectra.parquet": SpectrumTableSchema, "coherence.parquet": CoherenceTableSchema,
          "meridional_coherence.parquet": MeridionalTableSchema}


def materialise(root: Path, asset: str, partition: str | None = None, **changes):
    """`tiny_experiment.materialise` with the partitions of STORE_CALENDAR (the run's source stays
    the tiny experiment's unless `changes` say otherwise)."""
    return materialise_tiny(root, asset, partition, calendar=STORE_CALENDAR, **changes)


def fields(rng, dims: tuple[str, ...], coords: dict) -> xr.Dataset:
    """Unit-variance noise around the middle of each variable's physical range (the verification
    refuses unphysical ensembles)."""
    shape = tuple(len(coords[d]) for d in dims)
    middle = {name: (var.valid_min + var.valid_max) / 2 for name, var in KNOWN_VARIABLES.items()}
    return xr.Dataset({name: (dims, (middle[name] + rng.normal(size=shape)).astype(np.float32))
                       for name in VARIABLES}, coords=coords)


def forecast(rng, key: str, n_members: int, models: list[str] | None = None,
             lead_days=tuple(SOURCE.lead_days)) -> xr.Dataset:
    coords = {"init_time": pd.to_datetime([key]),
              "lead_time": pd.to_timedelta(list(lead_days), unit="D"),
              "member": np.arange(n_members), "lat": LAT, "lon": LON}
    if models is None:
        return fields(rng, FORECAST_DIMS, coords)
    return fields(rng, ("model", *FORECAST_DIMS), {"model": models, **coords})


def provenance(key: str, models: list[str] | None, seed_members=(0, 1)) -> dict:
    """The provenance attrs of an emulated ensemble of `models` made from `seed_members`."""
    return EnsembleProvenance(
        init_time=key, seed_members=tuple(seed_members), n_members=N_EMULATED, sampling_seed=0,
        sampler={"num_steps": 4}, models={m: {"generator": "edm", "nfe": 7, "model_version": "test"}
                                          for m in models or ["emulated"]}).attrs()


def make_store(root: Path, models: list[str] | None,
               lead_days: dict[str, list[int]] | None = None, seed_members=(0, 1)) -> ArtifactStore:
    """Truth for 2000-01-01..12, shifted by +5 in the training window (so thresholds from it
    differ from any others), its climatology materialised, and per init a physics and an
    emulated ensemble made from `seed_members`, at the source's leads or at ``lead_days[init]``."""
    rng = np.random.default_rng(0)
    store = ArtifactStore(str(root))
    times = pd.date_range("2000-01-01", periods=12, freq="D")
    truth = fields(rng, TRUTH_DIMS, {"time": times, "lat": LAT, "lon": LON})
    truth = truth + 5.0 * (truth["time"] < times[TRAINING_DAYS])
    store.write_dataset(truth, "truth")
    for key in INITS:
        leads = (lead_days or {}).get(key, SOURCE.lead_days)
        store.write_dataset(forecast(rng, key, N_PHYSICS, lead_days=leads),
                            "operational_ensemble", key)
        emulated = forecast(rng, key, N_EMULATED, models, lead_days=leads)
        store.write_dataset(emulated.assign_attrs(provenance(key, models, seed_members)),
                            "daily_emulated_ensembles", key)
    materialise(root, "climatology")
    return store


@pytest.fixture(scope="module")
def stacked(tmp_path_factory):
    """Emulated artifacts with a model dim (gee, gpp), every init scored and summarised."""
    root = tmp_path_factory.mktemp("verification_stacked").resolve()
    store = make_store(root, ["gee", "gpp"])
    results = {key: materialise(root, "verification_scores", key) for key in INITS}
    results["summary"] = materialise(root, "verification_summary")
    return store, results


def test_stacked_emulators_are_scored_as_gee_and_gpp(stacked):
    store, results = stacked
    models = MODELS
    assert metadata(results[INITS[0]], "verification_scores")["models"] == models
    scores = store.read_table("verification_scores", INITS[0])
    assert list(scores["model"].unique()) == models
    for name, schema in TABLES.items():
        table = schema.validate(store.read_table("verification_scores", INITS[0], name=name))
        expected = [*models, "truth"] if name == "spectra.parquet" else models
        assert list(table["model"].unique()) == expected, name


def test_thresholds_come_from_the_training_window_of_the_truth(stacked):
    store, results = stacked
    key = INITS[1]
    assert metadata(results[key], "verification_scores")["climatology_days"] == TRAINING_DAYS
    assert store.load_dataset("climatology").attrs["days"] == TRAINING_DAYS
    variables = list(VARIABLES)  # the order the asset scores them in
    truth = store.load_dataset("truth")[variables]
    thresholds = climatological_thresholds(truth.isel(time=slice(0, TRAINING_DAYS)))
    emulated = store.load_dataset("daily_emulated_ensembles", key)[variables]
    observed = align_truth(truth, emulated["init_time"].values, emulated["lead_time"].values)
    expected = extremes_tables({"gpp-8": emulated.sel(model="gpp", drop=True)}, observed,
                               thresholds).extremes
    stored = store.read_table("verification_scores", key, name="extremes.parquet")
    pd.testing.assert_frame_equal(stored.query("model == 'gpp-8'").reset_index(drop=True),
                                  expected, check_dtype=False)
    # The +5 training climate puts every verified value below the low thresholds.
    assert (stored.query("quantile == 0.01")["brier_climatology"] > 0.9).all()


def test_summary_pools_every_init_into_text_and_tables(stacked):
    store, _ = stacked
    text = store.read_bytes("verification_summary", "summary.txt").decode()
    for heading in ("CRPS", "Mean error of the ensemble mean", "Brier skill score", "ROC area"):
        assert heading in text
    assert "gpp-8" in text and "gee-8" in text
    reliability = store.read_table("verification_summary", name="reliability.parquet")
    per_key = reliability.groupby(["model", "variable", "lead_time_days", "quantile"])
    assert (per_key["n_forecasts"].sum() == len(INITS) * len(LAT) * len(LON)).all()
    read = {name: pd.concat([store.read_table("verification_scores", k, name=name)
                             for k in INITS], ignore_index=True)
            for name in ("extremes.parquet", "roc.parquet", "bias_maps.parquet")}
    pd.testing.assert_frame_equal(
        store.read_table("verification_summary", name="extremes.parquet"),
        extremes_summary(read["extremes.parquet"], read["roc.parquet"]))
    maps = store.read_table("verification_summary", name="bias_maps.parquet")
    assert len(maps) == len(read["bias_maps.parquet"]) // len(INITS)
    spectra = store.read_table("verification_summary", name="spectra.parquet")
    assert set(spectra["model"]) == {"seeds-2", "physics-6", "gee-8", "gpp-8", "truth"}


def test_summary_pools_coherence_and_power_ratios_into_text_tables_and_metadata(stacked):
    store, results = stacked
    per_init = pd.concat([store.read_table("verification_scores", k, name="coherence.parquet")
                          for k in INITS], ignore_index=True)
    coherence = store.read_table("verification_summary", name="coherence.parquet")
    pd.testing.assert_frame_equal(coherence, coherence_summary(per_init))
    assert list(coherence["model"].unique()) == ["seeds-2", "physics-6", "gee-8", "gpp-8"]
    ratios = store.read_table("verification_summary", name="power_ratio.parquet")
    assert list(ratios["model"].unique()) == ["gee-8", "gpp-8"]
    # 8 longitudes hold wavenumbers 0..4: the ratio is of all but the zonal mean (k = 0).
    assert sorted(ratios["wavenumber"].unique()) == [1, 2, 3, 4]
    text = store.read_bytes("verification_summary", "summary.txt").decode()
    assert "Lead-to-lead coherence" in text and "gpp-8 - physics-6" in text
    assert "Zonal power of members / physics-6 members" in text
    meta = metadata(results["summary"], "verification_summary")
    assert "gee-8 - physics-6" in meta["coherence"] and "min_power_ratio" in meta["power_ratio"]
    table = meta["coherence_table"]
    assert [c.name for c in table.schema.columns][:3] == ["variable", "first_lead_days",
                                                          "second_lead_days"]
    assert len(table.records) == len(coherence) // 4  # a row per variable and lead pair
    assert len(meta["power_ratio_table"].records) == 2 * len(VARIABLES)
    per_init_table = metadata(results[INITS[0]], "verification_scores")["coherence"]
    assert "gee-8 - physics-6" in [c.name for c in per_init_table.schema.columns]
    # Across latitudes as across leads: pooled from the partitions' moments, printed, in the metadata
    # and the scorecard (the tiny grid's 4 latitudes give 3 pairs).
    across = pd.concat([store.read_table("verification_scores", k, name="meridional_coherence.parquet")
                        for k in INITS], ignore_index=True)
    meridional = store.read_table("verification_summary", name="meridional_coherence.parquet")
    pd.testing.assert_frame_equal(meridional, meridional_summary(across))
    assert "Latitude-to-latitude coherence" in text and "gee-8 - physics-6" in meta["latitude_coherence"]
    wide = meridional_columns(meridional, "physics-6")
    realism = store.read_table("verification_summary", name="realism.parquet").set_index(["model", "target"])
    gap = realism.loc[("gee-8", "latitude-to-latitude coherence - physics")]
    assert gap["lowest"] == pytest.approx(wide["gee-8 - physics-6"].min())
    assert gap["highest"] == pytest.approx(wide["gee-8 - physics-6"].max())


def test_energy_scores_divide_each_variable_by_its_spread_in_the_training_window(stacked):
    store, results = stacked
    key = INITS[1]
    variables = list(VARIABLES)
    truth = store.load_dataset("truth")[variables]
    scale = climatological_scale(truth.isel(time=slice(0, TRAINING_DAYS)))
    assert metadata(results[key], "verification_scores")["energy_score_scale"] == (
        pytest.approx(scale))
    physics = store.load_dataset("operational_ensemble", key)[variables]
    observed = align_truth(truth, physics["init_time"].values, physics["lead_time"].values)
    stored = store.read_table("verification_scores", key, name="multivariate.parquet")
    assert list(stored["model"].unique()) == MODELS
    assert len(stored) == len(MODELS) * len(SOURCE.lead_days)
    rows = stored.query(f"model == '{PHYSICS}'")
    for column, estimator in (("energy_score", "fair"), ("energy_score_standard", "nrg")):
        expected = energy_score(physics, observed, scale, estimator)
        np.testing.assert_allclose(rows[column], expected.values.ravel(), rtol=1e-6)
    moments = store.read_table("verification_scores", key, name="variable_moments.parquet")
    assert list(moments["model"].unique()) == MODELS
    assert len(moments) == len(MODELS) * N_PAIRS * len(SOURCE.lead_days)


def test_summary_states_the_papers_claim_as_ratios_of_the_summary_table(stacked):
    """Per lead, the mean over variables of each emulated model's standard CRPS over the seeds'
    and of its fair CRPS over the physics ensemble's, recomputed here from the pooled table."""
    store, results = stacked
    pooled = store.read_table("verification_summary")
    claim = store.read_table("verification_summary", name="crps_claim.parquet")
    assert len(claim) == len(SOURCE.lead_days) * 2  # leads x (gee, gpp)
    for _, row in claim.iterrows():
        at = pooled[pooled["lead_time_days"] == row["lead_time_days"]].set_index(
            ["model", "variable"])
        seeds = at.loc[row["model"], "crps_standard"] / at.loc["seeds-2", "crps_standard"]
        physics = at.loc[row["model"], "crps"] / at.loc[PHYSICS, "crps"]
        assert len(seeds) == len(VARIABLES)
        assert row["standard_crps_over_seeds"] == pytest.approx(seeds.mean())
        assert row["fair_crps_over_physics"] == pytest.approx(physics.mean())
    text = store.read_bytes("verification_summary", "summary.txt").decode()
    block = text[text.index("The paper's claim"):]
    assert f"{claim['standard_crps_over_seeds'].iloc[0]:#.4g}" in block.split("\n\n")[0]
    assert "target <= 0.90" in block and f"fair CRPS of {PHYSICS}" in block
    assert "CRPS (standard estimator" in text
    table = metadata(results["summary"], "verification_summary")["crps_claim_table"]
    assert len(table.records) == len(claim)


def test_summary_pools_energy_scores_and_cross_variable_correlations(stacked):
    store, results = stacked
    per_init = {name: pd.concat([store.read_table("verification_scores", k, name=name)
                                 for k in INITS], ignore_index=True)
                for name in ("multivariate.parquet", "variable_moments.parquet")}
    energy = store.read_table("verification_summary", name="energy_score.parquet")
    pd.testing.assert_frame_equal(energy, energy_score_summary(per_init["multivariate.parquet"]))
    assert len(energy) == len(MODELS) * len(SOURCE.lead_days)
    first = per_init["multivariate.parquet"].query(f"model == 'gee-{N_EMULATED}' and "
                                                   "lead_time_days == 1.0")
    assert energy.query(f"model == 'gee-{N_EMULATED}' and lead_time_days == 1.0")[
        "energy_score"].item() == pytest.approx(first["energy_score"].mean())
    correlations = store.read_table("verification_summary", name="variable_correlation.parquet")
    assert len(correlations) == N_PAIRS * len(SOURCE.lead_days) * len(MODELS)
    # Pooled over inits as moments: mean covariance over the root of the mean variances.
    moments = per_init["variable_moments.parquet"].query(
        f"model == 'gpp-{N_EMULATED}' and first_variable == 'z500' and "
        "second_variable == 't850' and lead_time_days == 2.0")
    assert len(moments) == len(INITS)
    pooled = correlations.query(f"model == 'gpp-{N_EMULATED}' and first_variable == 'z500' and "
                                "second_variable == 't850' and lead_time_days == 2.0")
    assert pooled["correlation"].item() == pytest.approx(pair_correlation(
        *(moments[m].mean() for m in ("covariance", "first_variance", "second_variance"))))
    text = store.read_bytes("verification_summary", "summary.txt").decode()
    assert "Energy score over the 5 variables (z500, t850, u850, v850, sp)" in text
    assert "divided by its climatological std" in text
    block = text[text.index("Cross-variable correlation"):]
    assert f"gpp-{N_EMULATED} - {PHYSICS}" in block.splitlines()[1]
    assert "(over the" not in text  # every init holds every table
    meta = metadata(results["summary"], "verification_summary")
    assert len(meta["energy_score_table"].records) == len(energy)
    assert len(meta["variable_correlation_table"].records) == N_PAIRS * len(SOURCE.lead_days)
    assert f"gee-{N_EMULATED} - {PHYSICS}" in meta["variable_correlation"]


def test_perfect_model_tables_are_written_pooled_and_printed(stacked):
    """Per init, the seeds, ideal-K and both emulated ensembles against each of the 4 non-seed
    physics members (as `perfect_model_tables` scores them from the stored ensembles); the
    summary pools them, prints the section and gives the figure of merit as metadata."""
    store, results = stacked
    variables = list(VARIABLES)
    physics = store.load_dataset("operational_ensemble", INITS[0])[variables]
    emulated = store.load_dataset("daily_emulated_ensembles", INITS[0])[variables]
    scores = PerfectModelTableSchema.validate(
        store.read_table("verification_scores", INITS[0], name="perfect_model.parquet"))
    perfect_models = ["ideal-2", "seeds-2", f"gee-{N_EMULATED}", f"gpp-{N_EMULATED}"]
    assert list(scores["model"].unique()) == perfect_models
    assert (scores["n_truth_members"] == N_PHYSICS - 2).all()
    assert set(scores.query("model == 'ideal-2'")["n_members"]) == {N_PHYSICS - 3}
    expected = perfect_model_tables(physics, (0, 1), {
        "seeds-2": physics.isel(member=[0, 1]),
        **{f"{m}-{N_EMULATED}": emulated.sel(model=m, drop=True) for m in ("gee", "gpp")}},
        "ideal-2", seed=forecast_seed(INITS[0]))
    pd.testing.assert_frame_equal(scores, expected.scores, check_dtype=False)
    ranks = store.read_table("verification_scores", INITS[0], name="perfect_model_ranks.parquet")
    totals = ranks.groupby(["model", "variable", "lead_time_days"])["count"].sum()
    assert (totals == (N_PHYSICS - 2) * len(LAT) * len(LON)).all()
    assert len(totals) == len(perfect_models) * len(VARIABLES) * len(SOURCE.lead_days)

    per_init = {name: pd.concat([store.read_table("verification_scores", k, name=name)
                                 for k in INITS], ignore_index=True)
                for name in ("perfect_model.parquet", "perfect_model_ranks.parquet")}
    pooled = store.read_table("verification_summary", name="perfect_model.parquet")
    pd.testing.assert_frame_equal(pooled, perfect_model_summary(
        per_init["perfect_model.parquet"], per_init["perfect_model_ranks.parquet"], "seeds-2",
        "ideal-2"))
    text = store.read_bytes("verification_summary", "summary.txt").decode()
    block = text[text.index("Perfect model: each of the 4 non-seed members"):]
    assert "Fair CRPS / fair CRPS of ideal-2; target <= 1.02" in block
    assert text.index("The paper's claim") < text.index("Perfect model") < text.index(
        "Mean error of the ensemble mean")
    gee = pooled.query(f"model == 'gee-{N_EMULATED}'")
    mean_ratio = gee.groupby("lead_time_days")["fair_crps_over_ideal"].mean()
    assert f"{mean_ratio.iloc[0]:#.4g}" in block.split("\n\n")[1]
    meta = metadata(results["summary"], "verification_summary")
    assert len(meta["perfect_model_table"].records) == len(perfect_models) * len(SOURCE.lead_days)
    scored = metadata(results[INITS[0]], "verification_scores")
    for family in ("gee", "gpp"):
        assert isinstance(scored[f"{family}_perfect_model_fair_crps_over_ideal"], float)


def test_partitions_scored_before_the_multivariate_tables_are_left_out_with_a_note(stacked,
                                                                                  tmp_path):
    store, _ = stacked
    copy_artifacts(Path(store.root), tmp_path, ["verification_scores"])
    record_materialised(tmp_path, "verification_scores", INITS)
    older = ArtifactStore(str(tmp_path))
    older.delete_bytes("verification_scores", "multivariate.parquet", INITS[0])
    for key in INITS:
        older.delete_bytes("verification_scores", "variable_moments.parquet", key)
        older.delete_bytes("verification_scores", "meridional_coherence.parquet", key)
    for name in ("perfect_model.parquet", "perfect_model_ranks.parquet"):
        older.delete_bytes("verification_scores", name, INITS[1])
    meta = metadata(materialise(tmp_path, "verification_summary"), "verification_summary")
    text = older.read_bytes("verification_summary", "summary.txt").decode()
    perfect_block = text[text.index("Perfect model"):text.index("Mean error of the ensemble mean")]
    assert "(over the 1 of 2 inits that hold it)" in perfect_block
    assert set(older.read_table("verification_summary", name="perfect_model.parquet")[
        "n_truth_members"]) == {N_PHYSICS - 2}
    energy_block = text[text.index("Energy score over"):]
    assert "(over the 1 of 2 inits that hold it)" in energy_block
    energy = older.read_table("verification_summary", name="energy_score.parquet")
    pd.testing.assert_frame_equal(energy, energy_score_summary(older.read_table(
        "verification_scores", INITS[1], name="multivariate.parquet")))
    assert ("Cross-variable correlation: no verification_scores partition holds "
            "variable_moments.parquet") in text
    assert not older.exists_bytes("verification_summary", "variable_correlation.parquet")
    assert "variable_correlation" not in meta and "energy_score" in meta
    assert ("Latitude-to-latitude coherence: no verification_scores partition holds "
            "meridional_coherence.parquet") in text
    realism = older.read_table("verification_summary", name="realism.parquet")
    assert not realism["target"].str.startswith("latitude-to-latitude").any() and len(realism)


def test_coherence_pools_whatever_leads_each_partition_holds(tmp_path):
    """One init with a single lead (no coherence to score) and one with four uneven leads: the
    summary pools the lead pairs there are and says over how many inits."""
    store = make_store(tmp_path, ["gee", "gpp"], {INITS[0]: [1], INITS[1]: [1, 2, 3, 5]})
    for key in INITS:
        materialise(tmp_path, "verification_scores", key)
    assert not store.exists_bytes("verification_scores", "coherence.parquet", INITS[0])
    summary = metadata(materialise(tmp_path, "verification_summary"), "verification_summary")
    coherence = store.read_table("verification_summary", name="coherence.parquet")
    pairs = set(zip(coherence["first_lead_days"], coherence["second_lead_days"]))
    assert pairs == {(1.0, 2.0), (2.0, 3.0), (3.0, 5.0)}
    assert len(coherence) == 3 * 4 * len(VARIABLES)  # pairs x models x variables
    # A row per variable and consecutive pair, not per combination of first and second lead.
    assert len(summary["coherence_table"].records) == 3 * len(VARIABLES)
    text = store.read_bytes("verification_summary", "summary.txt").decode()
    assert "over the 1 of 2 inits that hold it" in text


def test_an_emulated_artifact_without_a_model_dim_keeps_its_name(tmp_path):
    store = make_store(tmp_path, None)
    result = materialise(tmp_path, "verification_scores", INITS[0])
    assert metadata(result, "verification_scores")["models"] == [
        "seeds-2", f"physics-{N_PHYSICS}", f"emulated-{N_EMULATED}"]
    bias = store.read_table("verification_scores", INITS[0], name="bias_maps.parquet")
    assert f"emulated-{N_EMULATED}" in set(bias["model"])


def test_thresholds_need_truth_in_the_training_window(tmp_path):
    make_store(tmp_path, None)
    before_truth = tiny_source(reforecast_start="1999-01-01", reforecast_end="1999-01-02")
    with pytest.raises(ValueError, match="training window 1999-01-01"):
        materialise(tmp_path, "climatology", source=before_truth)


def test_the_summary_pools_the_partitions_dagster_recorded_not_whatever_is_stored(stacked,
                                                                                 tmp_path):
    """A scores partition in storage that Dagster does not record (wiped, or written by another
    instance) is left out; a recorded one whose tables are gone is an error naming it."""
    store, _ = stacked
    copy_artifacts(Path(store.root), tmp_path, ["verification_scores"])
    copied = ArtifactStore(str(tmp_path))
    record_materialised(tmp_path, "verification_scores", INITS[:1])
    meta = metadata(materialise(tmp_path, "verification_summary"), "verification_summary")
    assert meta["inits"] == INITS[:1]
    pooled = copied.read_table("verification_summary")
    expected = summary_table(store.read_table("verification_scores", INITS[0]))
    pd.testing.assert_frame_equal(pooled, expected.stack("model", future_stack=True).reset_index())
    assert copied.read_bytes("verification_summary", "inits.json") == b'["2000-01-06"]'

    record_materialised(tmp_path, "verification_scores", ["2000-01-09"])
    with pytest.raises(FileNotFoundError, match=r"partitions \['2000-01-09'\] are recorded as "
                       "materialised but their tables are not in"):
        materialise(tmp_path, "verification_summary")


def test_scores_carry_numeric_headlines_and_skill_checks_that_warn(stacked, tmp_path):
    store, results = stacked
    meta = metadata(results[INITS[0]], "verification_scores")
    table = store.read_table("verification_scores", INITS[0])
    physics = table[table["model"] == PHYSICS].set_index(["variable", "lead_time_days"])["crps"]
    for model in (f"gee-{N_EMULATED}", f"gpp-{N_EMULATED}"):
        ratio = table[table["model"] == model].set_index(["variable", "lead_time_days"])["crps"] / physics
        family = model.split("-")[0]
        assert meta[f"{family}_fair_crps_over_physics"] == pytest.approx(ratio.mean(), abs=1e-4)
    for model in MODELS[1:]:
        # The estimator from the table's own spread and RMSE, sqrt((N+1)/N) spread / RMSE, averaged
        # over variables and leads; noise scored against noise of the same size is near 1.
        rows = table[table["model"] == model]
        correction = np.sqrt((rows["n_members"] + 1) / rows["n_members"])
        expected = (correction * rows["spread"] / rows["rmse"]).mean()
        headline = meta[f"{model.split('-')[0]}_spread_skill"]
        assert headline == pytest.approx(expected, abs=1e-4) and 0.8 < headline < 1.25, (model, headline)
    assert [c.name for c in meta["crps"].schema.columns] == ["variable", "lead_time_days", *MODELS]

    # Noise against noise: every ratio is near 1, so the defaults pass and a tight bound warns.
    checks = {e.check_name: e for e in results[INITS[0]].get_asset_check_evaluations()}
    assert all(e.passed for e in checks.values()) and len(checks) == 2
    copy_artifacts(Path(store.root), tmp_path, ["truth", "operational_ensemble",
                                                 "daily_emulated_ensembles", "climatology"])
    strict = VerificationConfig(max_crps_over_physics=0.5, spread_skill_range=[1.5, 3.0])
    result = materialise(tmp_path, "verification_scores", INITS[0], config=strict)
    assert result.success  # a warning, not a failure
    warned = {e.check_name: e for e in result.get_asset_check_evaluations()}
    for name, problem in (("emulated_crps_within_bound", "fair CRPS / physics"),
                          ("emulated_spread_skill_in_range", "outside [1.5, 3]")):
        assert not warned[name].passed and warned[name].severity == AssetCheckSeverity.WARN
        problems = warned[name].metadata["problems"].value
        assert len(problems) == 2 and all(problem in p for p in problems), problems


@pytest.mark.parametrize("asset, model", [("operational_ensemble", None),
                                          ("daily_emulated_ensembles", "gpp")])
def test_a_damaged_ensemble_is_refused_by_name_not_scored(tmp_path, asset, model):
    """Damage done after an ensemble's own check passed (a NaN written into the stored data)
    stops the scoring with an error naming the artifact, the model and the variable."""
    store = make_store(tmp_path, ["gee", "gpp"])
    damaged = store.load_dataset(asset, INITS[0])
    where = {"model": model} if model else {}
    damaged["t850"].loc[where] = damaged["t850"].loc[where].where(damaged["member"] != 1)
    store.write_dataset(damaged, asset, INITS[0])
    named = f"{asset}[{INITS[0]}]" + (f" model {model}" if model else "")
    with pytest.raises(DataValidationError, match=re.escape(named) + r".*'t850'.*NaN"):
        materialise(tmp_path, "verification_scores", INITS[0])
    assert not store.exists_bytes("verification_scores", "table.parquet", INITS[0])


def test_the_summary_pools_calibration_by_scale_and_prints_the_realism_scorecard(stacked):
    """Each init's variance about the seeds' mean (against its physics members, no truth) is
    stored, the summary pools it as a ratio of means and prints it with the scorecard, which
    reads the pooled tables and sits after the perfect-model block."""
    store, results = stacked
    physics = store.load_dataset("operational_ensemble", INITS[0])[list(VARIABLES)]
    emulated = store.load_dataset("daily_emulated_ensembles", INITS[0])[list(VARIABLES)]
    ensembles = {f"physics-{N_PHYSICS}": physics,
                 **{f"{m}-{N_EMULATED}": emulated.sel(model=m, drop=True) for m in ("gee", "gpp")}}
    stored = store.read_table("verification_scores", INITS[0], name="calibration.parquet")
    pd.testing.assert_frame_equal(stored, calibration_table(ensembles, f"physics-{N_PHYSICS}", (0, 1)),
                                  check_dtype=False)
    per_init = pd.concat([store.read_table("verification_scores", k, name="calibration.parquet")
                          for k in INITS], ignore_index=True)
    pooled = store.read_table("verification_summary", name="calibration.parquet")
    pd.testing.assert_frame_equal(pooled, calibration_summary(per_init, f"physics-{N_PHYSICS}"))
    text = store.read_bytes("verification_summary", "summary.txt").decode()
    assert text.index("Perfect model") < text.index("Realism of members") < text.index("Rank histogram max-bin share")
    assert "Variance of members about the seeds' mean" in text
    card = store.read_table("verification_summary", name="realism.parquet")
    assert list(card["model"].unique()) == [f"gee-{N_EMULATED}", f"gpp-{N_EMULATED}"]
    assert len(card) == 2 * 5  # power, variance, cross-variable correlation, coherence in lead and latitude
    total = pooled.query(f"model == 'gee-{N_EMULATED}' and band == 'all'")["variance_ratio"]
    row = card.set_index(["model", "target"]).loc[(f"gee-{N_EMULATED}", "variance about seeds / physics")]
    assert row["highest"] == pytest.approx(total.max()) and row["lowest"] == pytest.approx(total.min())
    assert "realism_table" in metadata(results["summary"], "verification_summary")
