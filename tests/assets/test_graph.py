"""The whole asset graph materialised once on a tiny experiment: every asset and check succeeds,
the store holds each artifact where the layout says, and each artifact is what its readers need."""

import warnings

import numpy as np
import pytest
import torch
import xarray as xr
from dagster import AssetCheckSeverity, AssetKey

from assets.definitions import ALL_ASSETS
from assets.ensembles import MODELS
from seeds_dag.checkpoints import checkpoint_from_bytes
from seeds_dag.conventions import FORECAST_DIMS, TRUTH_DIMS, VARIABLES, validate
from seeds_dag.emulated_ensemble import EnsembleProvenance
from seeds_dag.emulation import MODEL_DIM, SamplerConfig, forecast_seed
from seeds_dag.model_file import model_from_checkpoint, model_version
from seeds_dag.networks.generator import NoiseGenerator, noise_shapes
from seeds_dag.normalization import REDUCED_DIMS, STATISTIC
from seeds_dag.post_processing import PostProcessingFrame
from seeds_dag.store import POINTER
from seeds_dag.verification.scores_table import ScoreTableSchema
from tiny_experiment import (
    EMULATION,
    GRAPH_STEPS,
    N_EMULATED,
    OPERATIONAL_INIT,
    REFORECAST_INITS,
    SOURCE,
    TRAINING,
    partition_dir,
)

LEAD_DAYS = [float(d) for d in SOURCE.lead_days]
# Assets stored as whole objects rather than dataset versions, with the objects each leaves.
OBJECTS = {
    "trained_emulator": ["model.pt"],  # the finished run's checkpoint is removed
    "post_processor": ["frame.npz"],  # the default: a frame around the emulator, no network of its own
    "verification_scores": ["bias_maps.parquet", "calibration.parquet", "coherence.parquet", "extremes.parquet",
                            "meridional_coherence.parquet", "multivariate.parquet", "perfect_model.parquet",
                            "perfect_model_ranks.parquet", "rank_histograms.parquet",
                            "reliability.parquet", "roc.parquet", "spectra.parquet",
                            "table.parquet", "variable_moments.parquet"],
    "verification_summary": ["bias_maps.parquet", "calibration.parquet", "coherence.parquet", "crps_claim.parquet",
                             "energy_score.parquet", "extremes.parquet", "headline.txt", "inits.json",
                             "meridional_coherence.parquet", "perfect_model.parquet", "power_ratio.parquet",
                             "realism.parquet",
                             "reliability.parquet", "spectra.parquet", "summary.txt",
                             "table.parquet", "variable_correlation.parquet"],
    "verification_report": ["bias_maps.png", "coherence_by_lead_pair.png", "crps_by_lead.png",
                            "energy_score_by_lead.png", "example_members.png",
                            "latitude_coherence_by_lead.png", "perfect_model_crps_over_ideal.png",
                            "power_ratio.png",
                            "rank_histograms.png", "reliability_q01.png", "reliability_q99.png",
                            "report.html", "spread_skill_by_lead.png",
                            "variable_correlation_by_lead.png", "variance_ratio_by_band.png",
                            "zonal_spectra.png"],
}
# Of those, the assets whose objects are committed as one set: a version that CURRENT names.
SETS = {"verification_scores", "verification_summary"}
# Artifacts stored as versioned datasets, with their dims and member counts.
DATASETS = [
    ("truth", None, TRUTH_DIMS, None),
    *[("reforecast_shards", key, FORECAST_DIMS, SOURCE.reforecast_members)
      for key in REFORECAST_INITS],
    ("operational_ensemble", OPERATIONAL_INIT, FORECAST_DIMS, SOURCE.operational_members),
    *[(f"daily_emulated_ensembles/{model}", OPERATIONAL_INIT, FORECAST_DIMS, N_EMULATED) for model in MODELS],
]


def test_every_asset_is_materialised(tiny_graph):
    for (asset, partition), result in tiny_graph.results.items():
        assert result.success, f"{asset}[{partition}] failed"
        events = result.get_asset_materialization_events()
        assert [(e.asset_key, e.partition) for e in events] == [(AssetKey(asset), partition)]
    assert {asset for asset, _ in GRAPH_STEPS} == {a.key.path[-1] for a in ALL_ASSETS}


def test_every_dataset_opens_in_plain_xarray_without_a_warning(tiny_graph):
    """Each committed zarr artifact, opened as a user would (`xr.open_zarr(url)`), reads from its
    consolidated metadata: no "Failed to open Zarr store with consolidated metadata" fallback."""
    store = tiny_graph.store
    opened = []
    for asset, partition in tiny_graph.results:
        url = store.location(asset, partition)
        if not url.endswith(".zarr"):
            continue
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            ds = xr.open_zarr(url)
        assert ds.data_vars, url
        opened.append(asset)
    assert {"physics_spinup", "truth", "reforecast_shards", "operational_ensemble", "normalization_stats",
            "climatology", "daily_emulated_ensembles"} <= set(opened)


def test_every_declared_check_runs_and_every_error_check_passes(tiny_graph):
    """The skill checks (WARN) run too; on a model trained for 60 steps they may well warn."""
    declared = {
        (spec.asset_key.path[-1], spec.name)
        for definition in ALL_ASSETS for spec in definition.check_specs
    }
    evaluated = set()
    for (asset, partition), result in tiny_graph.results.items():
        for evaluation in result.get_asset_check_evaluations():
            assert evaluation.passed or evaluation.severity == AssetCheckSeverity.WARN, \
                (asset, partition, evaluation.metadata)
            evaluated.add((evaluation.asset_key.path[-1], evaluation.check_name, partition))
    expected = {(asset, name, partition) for asset, partition in GRAPH_STEPS
                for checked, name in declared if checked == asset}
    assert declared and evaluated == expected


@pytest.mark.parametrize("asset, partition", [(a, p) for a, p in GRAPH_STEPS if a not in OBJECTS])
def test_datasets_are_committed_under_their_partition(tiny_graph, asset, partition):
    directory = partition_dir(tiny_graph.root, asset, partition)
    version = (directory / POINTER).read_text()
    assert (directory / version / "zarr.json").is_file()
    assert [p.name for p in directory.iterdir() if p.name.startswith("v-")] == [version]
    assert tiny_graph.metadata(asset, partition)["location"] == str(directory / version)


@pytest.mark.parametrize("asset, partition", [(a, p) for a, p in GRAPH_STEPS if a in OBJECTS])
def test_objects_are_stored_under_their_partition(tiny_graph, asset, partition):
    directory = partition_dir(tiny_graph.root, asset, partition)
    if asset in SETS:
        version = (directory / POINTER).read_text()
        assert sorted(p.name for p in directory.iterdir()) == [POINTER, version]
        directory = directory / version
    assert sorted(p.name for p in directory.iterdir()) == OBJECTS[asset]
    assert tiny_graph.metadata(asset, partition)["location"] == str(directory)


@pytest.mark.parametrize("asset, partition, dims, n_members", DATASETS)
def test_stored_datasets_follow_the_conventions(tiny_graph, asset, partition, dims, n_members):
    asset, _, model = asset.partition("/")
    ds = tiny_graph.store.load_dataset(asset, partition)
    if model:
        ds = ds.sel(model=model)
    validate(ds, dims, f"{asset}[{partition}]", n_members=n_members)
    if dims == FORECAST_DIMS:
        assert ds["init_time"].values.astype("datetime64[D]").astype(str).tolist() == [partition]
        assert (ds["lead_time"].values / np.timedelta64(1, "D")).tolist() == LEAD_DAYS


def test_spinup_keeps_the_pool_of_climate_states(tiny_graph):
    spinup = tiny_graph.store.load_dataset("physics_spinup")
    assert spinup.sizes["pool_day"] == SOURCE.pool_days
    assert spinup["pool"].shape[1:] == spinup["final_state"].shape
    assert np.isfinite(spinup["pool"].values).all()
    assert tiny_graph.metadata("physics_spinup")["pool_states"] == SOURCE.pool_days


def test_normalization_stats_are_the_moments_of_the_reforecasts(tiny_graph):
    store = tiny_graph.store
    stats = store.load_dataset("normalization_stats")
    reforecasts = xr.concat([store.load_dataset("reforecast_shards", key)
                             for key in REFORECAST_INITS], dim="init_time")
    kept = tuple(d for d in FORECAST_DIMS if d not in REDUCED_DIMS)
    assert "lead_time" in kept
    assert sorted(stats.data_vars) == sorted(VARIABLES)
    assert stats[STATISTIC].values.tolist() == ["mean", "std", "spread"]
    assert (stats["lead_time"].values / np.timedelta64(1, "D")).tolist() == LEAD_DAYS
    for name in VARIABLES:
        assert stats[name].dims == (STATISTIC, *kept)
        # Reference: numpy over the stored shards, the pooled dims flattened last.
        values = reforecasts[name].transpose(*kept, *REDUCED_DIMS).values.astype(np.float64)
        pooled = values.reshape(*values.shape[:len(kept)], -1)
        np.testing.assert_allclose(stats[name].sel({STATISTIC: "mean"}), pooled.mean(axis=-1),
                                   rtol=1e-9, err_msg=name)
        np.testing.assert_allclose(stats[name].sel({STATISTIC: "std"}), pooled.std(axis=-1),
                                   rtol=1e-7, err_msg=name)
        # The spread: root mean over inits and longitudes of the unbiased variance over members.
        member_variance = reforecasts[name].astype(np.float64).var("member", ddof=1)
        np.testing.assert_allclose(stats[name].sel({STATISTIC: "spread"}),
                                   np.sqrt(member_variance.mean(("init_time", "lon"))).transpose(*kept),
                                   rtol=1e-7, err_msg=name)
    assert (stats.attrs["n_inits"], stats.attrs["n_members"]) == (
        len(REFORECAST_INITS), SOURCE.reforecast_members)


def test_emulator_checkpoint_loads_with_weights_only(tiny_graph):
    store = tiny_graph.store
    model_bytes = store.read_bytes("trained_emulator", "model.pt")
    assert checkpoint_from_bytes(model_bytes, "cpu")["step"] == TRAINING.steps
    truth = store.open_dataset("truth")
    lat, lon = truth["lat"].values, truth["lon"].values
    model = model_from_checkpoint(model_bytes, lat, lon, "cpu", LEAD_DAYS)
    assert not model.training and not any(p.requires_grad for p in model.parameters())
    assert isinstance(model, NoiseGenerator)  # the emulator's default: the one-pass crps generator
    channels, shape = len(LEAD_DAYS) * len(VARIABLES), (len(lat), len(lon))
    z, *spatial = noise_shapes(model.config, shape)
    with torch.no_grad():
        out = model(torch.zeros(1, *z), torch.zeros(1, 2 * channels, *shape),
                    *(torch.zeros(1, *field) for field in spatial))
    assert out.shape == (1, channels, *shape) and torch.isfinite(out).all()
    # The post-processor's default: a frame fitted to this emulator's members, for K = 2 seeds.
    frame = PostProcessingFrame.from_bytes(store.read_bytes("post_processor", "frame.npz"), "post_processor")
    assert frame.emulator_version == model_version(model_bytes) and frame.seed_count == 2
    assert frame.offset.shape == (len(LEAD_DAYS), len(VARIABLES), len(lat))
    assert np.all(frame.scale > 0) and np.all(np.isfinite(frame.slope))


def test_emulated_ensembles_are_new_members_of_each_model_on_the_operational_grid(tiny_graph):
    store = tiny_graph.store
    emulated = store.load_dataset("daily_emulated_ensembles", OPERATIONAL_INIT)
    operational = store.load_dataset("operational_ensemble", OPERATIONAL_INIT)
    assert emulated[MODEL_DIM].values.tolist() == list(MODELS)
    assert emulated["member"].values.tolist() == list(range(N_EMULATED))
    for coord in ("init_time", "lead_time", "lat", "lon"):
        np.testing.assert_array_equal(emulated[coord].values, operational[coord].values)
    for name in VARIABLES:
        seeds = operational[name].values[0][:, [0, 1]]
        for model in MODELS:
            generated = emulated[name].sel(model=model).values[0]  # (lead, member, lat, lon)
            for lead in range(len(LEAD_DAYS)):
                for member in generated[lead]:
                    assert not any(np.allclose(member, seed) for seed in seeds[lead]), (name, model)
                # Every member is its own sample, not one field repeated.
                assert np.all(generated[lead].std(axis=0) > 0), (name, model)
        # The two models are different networks: same noise, different members.
        assert not np.allclose(emulated[name].sel(model="gee"), emulated[name].sel(model="gpp")), name


def test_emulated_ensembles_record_what_produced_them(tiny_graph):
    store = tiny_graph.store
    stored = store.open_dataset("daily_emulated_ensembles", OPERATIONAL_INIT)
    provenance = EnsembleProvenance.of(stored, "test")
    assert provenance.init_time == OPERATIONAL_INIT
    assert provenance.seed_members == (0, 1) and provenance.seed_count == 2
    assert provenance.n_members == N_EMULATED
    assert provenance.sampling_seed == forecast_seed(OPERATIONAL_INIT, EMULATION.seed)
    default = SamplerConfig()
    assert provenance.sampler == {"solver": "dpm_solver_2m", "num_steps": 16, "sigma_min": default.sigma_min,
                                  "sigma_max": default.sigma_max, "rho": "inf", "S_churn": 0.0}
    # All leads together: one pass of the crps emulator; the post-processor (the default frame)
    # draws with the emulator's network and names the frame's version and the emulator's.
    emulator_version = model_version(store.read_bytes("trained_emulator", "model.pt"))
    assert provenance.models == {
        "gee": {"generator": "crps", "nfe": 1, "model_version": emulator_version},
        "gpp": {"generator": "crps", "nfe": 1,
                "model_version": model_version(store.read_bytes("post_processor", "frame.npz")),
                "post_processing": f"frame around the emulator {emulator_version}"}}
    for name, asset in MODELS.items():
        # The model asset's data version is the same content hash: lineage from model to members.
        assert tiny_graph.results[(asset, None)].get_asset_materialization_events()[0] \
            .materialization.tags["dagster/data_version"] == provenance.models[name]["model_version"]


def test_verification_scores_compare_seeds_physics_and_emulation(tiny_graph):
    scores = tiny_graph.store.read_table("verification_scores", OPERATIONAL_INIT)
    ScoreTableSchema.validate(scores)
    members = {"seeds-2": 2, f"physics-{SOURCE.operational_members}": SOURCE.operational_members,
               f"gee-{N_EMULATED}": N_EMULATED, f"gpp-{N_EMULATED}": N_EMULATED}
    assert scores.groupby("model")["n_members"].unique().map(list).to_dict() == {
        model: [n] for model, n in members.items()}
    assert set(scores["variable"]) == set(VARIABLES)
    assert sorted(set(scores["lead_time_days"])) == LEAD_DAYS
    assert len(scores) == len(members) * len(VARIABLES) * len(LEAD_DAYS)
    assert tiny_graph.metadata("verification_scores", OPERATIONAL_INIT)["rows"] == len(scores)


def test_verification_summary_reports_every_variable(tiny_graph):
    text = tiny_graph.store.read_bytes("verification_summary", "summary.txt").decode()
    for name in VARIABLES:
        assert name in text
    for model in ("seeds-2", f"physics-{SOURCE.operational_members}", f"gee-{N_EMULATED}", f"gpp-{N_EMULATED}"):
        assert model in text
    for heading in ("Lead-to-lead coherence", "Zonal power of members / physics-",
                    "The paper's claim", "Energy score over the", "Cross-variable correlation",
                    "Perfect model: each of the 4 non-seed members"):
        assert heading in text
    assert tiny_graph.metadata("verification_summary")["inits"] == [OPERATIONAL_INIT]


def test_the_headline_puts_the_summarys_own_ratios_side_by_side(tiny_graph):
    """headline.txt (what the main job prints) holds, per lead and emulated model, the claim's two
    ratios and the perfect-model ratio of the pooled tables, to 3 decimals."""
    objects = tiny_graph.store.objects("verification_summary")
    lines = objects.read_bytes("headline.txt").decode().splitlines()
    claim = objects.read_table("crps_claim.parquet")
    perfect = objects.read_table("perfect_model.parquet").groupby(["lead_time_days", "model"])[
        "fair_crps_over_ideal"].mean()
    rows = {line.split()[0]: [float(v) for v in line.split()[1:]] for line in lines
            if line.split() and line.split()[0] in {f"{d:g}" for d in LEAD_DAYS}}
    assert list(rows) == [f"{d:g}" for d in LEAD_DAYS]
    models = [f"gee-{N_EMULATED}", f"gpp-{N_EMULATED}"]
    for lead in LEAD_DAYS:
        at = claim.set_index(["lead_time_days", "model"]).loc[float(lead)]
        expected = ([at.loc[m, "standard_crps_over_seeds"] for m in models]
                    + [at.loc[m, "fair_crps_over_physics"] for m in models]
                    + [perfect.loc[(float(lead), m)] for m in models])
        np.testing.assert_allclose(rows[f"{lead:g}"], expected, atol=5e-4)
    assert lines[-1].startswith("Realism targets met") and f"gee-{N_EMULATED}" in lines[-1]


def test_materialisations_record_timings_and_losses(tiny_graph):
    spinup = tiny_graph.metadata("physics_spinup")
    assert spinup["cached"] is False and spinup["seconds"] > 0
    shard = tiny_graph.metadata("reforecast_shards", REFORECAST_INITS[0])
    assert shard["members"] == SOURCE.reforecast_members
    assert shard["physics_seconds_per_member"] > 0

    training = tiny_graph.metadata("trained_emulator")
    assert (training["steps"], training["resumed_from_step"]) == (TRAINING.steps, 0)
    assert np.isfinite(training["final_loss"]) and training["final_loss"] > 0
    assert training["training_seconds"] > 0 and training["parameters"] > 0
    assert len(training["loss_curve"]) > 1 and np.isfinite(training["loss_curve"]).all()

    emulation = tiny_graph.metadata("daily_emulated_ensembles", OPERATIONAL_INIT)
    assert emulation["n_members"] == N_EMULATED and emulation["seconds_per_member"] > 0
    assert emulation["provenance"] == tiny_graph.store.open_dataset(
        "daily_emulated_ensembles", OPERATIONAL_INIT).attrs["provenance"]
    assert emulation["dims"]["member"] == N_EMULATED
