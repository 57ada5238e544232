"""The code location loads, with the lineage, partitions, job and schedule the design describes."""

from dagster import AssetKey, DefaultSensorStatus

from assets.automation import SENSOR, SENSOR_INTERVAL_S

from assets.definitions import defs
from assets.partitions import init_dates
from assets.versions import CODE_VERSIONS

LINEAGE = {
    "physics_spinup": set(),
    "truth": {"physics_spinup"},
    "reforecast_shards": {"truth", "physics_spinup"},
    "operational_ensemble": {"truth", "physics_spinup"},
    "normalization_stats": {"reforecast_shards"},
    "climatology": {"truth"},
    "trained_emulator": {"reforecast_shards", "normalization_stats"},
    "post_processor": {"reforecast_shards", "normalization_stats", "truth", "trained_emulator"},
    "daily_emulated_ensembles": {"operational_ensemble", "trained_emulator", "post_processor",
                                 "normalization_stats"},
    "verification_scores": {"daily_emulated_ensembles", "operational_ensemble", "truth",
                            "climatology"},
    "verification_summary": {"verification_scores"},
    "verification_report": {"verification_summary"},
}
PARTITIONED = {"reforecast_shards", "operational_ensemble", "daily_emulated_ensembles",
               "verification_scores"}


def test_asset_graph_has_the_designed_lineage():
    graph = defs.resolve_asset_graph()
    parents = {key.path[-1]: {p.path[-1] for p in graph.get(key).parent_keys}
               for key in graph.get_all_asset_keys()}
    assert parents == LINEAGE


def test_per_init_assets_are_daily_partitioned():
    graph = defs.resolve_asset_graph()
    for name in LINEAGE:
        partitions = graph.get(AssetKey(name)).partitions_def
        assert partitions == (init_dates if name in PARTITIONED else None), name


def test_daily_job_and_schedule_exist():
    job = defs.resolve_job_def("daily_emulation")
    assert {key.path[-1] for key in job.asset_layer.executable_asset_keys} == {
        "operational_ensemble", "daily_emulated_ensembles", "verification_scores"}
    schedule = defs.resolve_schedule_def("daily_emulation_schedule")
    assert schedule.job_name == "daily_emulation"
    assert schedule.cron_schedule == "30 0 * * *"


def test_resources_are_bound():
    assert set(defs.resources) >= {"storage", "compute", "source"}


def test_every_asset_has_a_code_version():
    graph = defs.resolve_asset_graph()
    versions = {key.path[-1]: graph.get(key).code_version for key in graph.get_all_asset_keys()}
    assert versions == {name: CODE_VERSIONS[name] for name in LINEAGE}
    assert all(versions.values())


def test_what_follows_its_dependencies_and_the_sensor_that_runs_it():
    graph = defs.resolve_asset_graph()
    automated = {key.path[-1] for key in graph.get_all_asset_keys()
                 if graph.get(key).automation_condition is not None}
    assert automated == {"climatology", "post_processor", "daily_emulated_ensembles", "verification_scores",
                         "verification_summary", "verification_report"}
    sensor = defs.resolve_sensor_def(SENSOR)
    assert sensor.default_status == DefaultSensorStatus.RUNNING
    assert sensor.minimum_interval_seconds == SENSOR_INTERVAL_S
