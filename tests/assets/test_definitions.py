"""The code location loads, with the lineage, partitions, job and schedule the design describes;
the partitions follow the source settings it loads, and Dagster refuses an init they do not make."""

import re

import pandas as pd
import pytest
from dagster import (
    AssetKey,
    BackfillPolicy,
    DagsterInstance,
    DagsterUnknownPartitionError,
    DefaultSensorStatus,
    EnvVar,
    build_schedule_context,
    materialize,
)

from assets.automation import (
    SENSOR,
    SENSOR_INTERVAL_ENV_VAR,
    SENSOR_INTERVAL_S,
    sensor_interval_from_environment,
)
from assets.definitions import ALL_ASSETS, defs
from assets.partitions import OPERATIONAL_INITS, operational_inits
from assets.versions import CODE_VERSIONS
from resources import ComputeResource, SourceResource, StorageResource
from resources.source import SETTINGS_ENV_VAR, source_from_environment
from seeds_dag.sources.embedded.source import REFORECAST_BATCH_INITS


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


def test_per_init_assets_are_partitioned_by_the_inits_the_source_makes():
    """The reforecast by the training window's inits, the operational assets by the inits after
    it that the nature run verifies (defaults: 24 and 7), nothing else partitioned."""
    graph = defs.resolve_asset_graph()
    source = SourceResource()
    operational = [f"2000-02-{day:02d}" for day in range(9, 16)]
    assert source.first_operational_date() == pd.Timestamp(operational[0])
    assert source.last_verified_date() == pd.Timestamp(operational[-1])
    for name in LINEAGE:
        partitions = graph.get(AssetKey(name)).partitions_def
        expected = (source.reforecast_dates() if name == "reforecast_shards" else
                    operational if name in PARTITIONED else None)
        assert (partitions and partitions.get_partition_keys()) == expected, name
    assert len(source.reforecast_dates()) == 24


def test_what_each_asset_reads_of_the_partitioned_ones():
    """Dagster's partition mappings: the training assets read the whole reforecast window, an
    init's emulation and scores their own init, the summary every scored init."""
    graph = defs.resolve_asset_graph()

    def parents(child: str, partition: str | None, parent: str) -> list[str]:
        mapped = graph.get_parent_partition_keys_for_child(partition, AssetKey(parent), AssetKey(child))
        return sorted(mapped.partitions_subset.get_partition_keys())

    window, inits = SourceResource().reforecast_dates(), OPERATIONAL_INITS.get_partition_keys()
    for training in ("normalization_stats", "trained_emulator", "post_processor"):
        assert parents(training, None, "reforecast_shards") == window, training
    init = inits[1]
    assert parents("daily_emulated_ensembles", init, "operational_ensemble") == [init]
    assert parents("verification_scores", init, "daily_emulated_ensembles") == [init]
    assert parents("verification_scores", init, "operational_ensemble") == [init]
    assert parents("verification_summary", None, "verification_scores") == inits


def test_a_reforecast_backfill_runs_inits_in_batches():
    graph = defs.resolve_asset_graph()
    assert graph.get(AssetKey("reforecast_shards")).backfill_policy == \
        BackfillPolicy.multi_run(REFORECAST_BATCH_INITS)
    assert graph.get(AssetKey("operational_ensemble")).backfill_policy is None


@pytest.mark.parametrize("key", ["1999-12-31", "2000-01-25", "2000-02-08", "2000-02-16"])
def test_dagster_refuses_an_init_outside_the_calendars_before_any_step_runs(tmp_path, key):
    """Dates the settings make no forecast for: before the experiment, between the training window
    and the first operational init, after the last the nature run verifies. Refused at launch for
    the reforecast (as in a partitioned asset's launch) and the daily job: no run, nothing written."""
    instance = DagsterInstance.ephemeral()
    with pytest.raises(DagsterUnknownPartitionError, match=f"Could not find a partition with key `{key}`"):
        materialize(ALL_ASSETS, selection=["reforecast_shards"], partition_key=key, instance=instance,
                    resources={"storage": StorageResource(root=str(tmp_path / "root")),
                               "compute": ComputeResource(), "source": SourceResource()})
    with pytest.raises(DagsterUnknownPartitionError, match=f"Could not find a partition with key `{key}`"):
        defs.resolve_job_def("daily_emulation").execute_in_process(
            partition_key=key, instance=instance,
            resources={"storage": StorageResource(root=str(tmp_path / "root"))})
    assert instance.get_runs() == [] and not (tmp_path / "root").exists()


def test_the_partitions_follow_the_settings_the_code_location_loads(fresh_code_locations):
    """$SEEDS_DAG_SOURCE names the definitions' source settings: the code location, loaded in its
    own process as Dagster loads it, has their resource and their calendars (the settings: a
    reforecast of 2000-01-03..2000-01-05, truth_days 12, leads of 1 and 2 days)."""
    loaded = fresh_code_locations.output("source_settings")
    # Operational: from reforecast_end + 2 + 1 days to start + 12 - 2 days.
    operational = "2000-01-08 2000-01-09 2000-01-10 2000-01-11"
    assert loaded.splitlines() == [
        "12", f"daily_emulated_ensembles {operational}", f"operational_ensemble {operational}",
        "reforecast_shards 2000-01-03 2000-01-04 2000-01-05", f"verification_scores {operational}"]


def test_settings_that_leave_no_init_or_cannot_be_read_are_refused_by_name(tmp_path, monkeypatch):
    with pytest.raises(ValueError, match=re.escape(
            "no operational init to verify: the first after the training window is 2000-01-28 "
            "(reforecast_end=2000-01-24 + the longest lead 3 days + 1), the last the nature run "
            "verifies 2000-01-27 (start_date=2000-01-01 + truth_days=29 - the longest lead); raise "
            "truth_days to at least 30")):
        operational_inits(SourceResource(lead_days=[1, 3], truth_days=29))
    settings = tmp_path / "source.yaml"
    monkeypatch.setenv(SETTINGS_ENV_VAR, str(settings))
    with pytest.raises(ValueError, match=re.escape(f"$SEEDS_DAG_SOURCE={settings}: cannot read")):
        source_from_environment()
    settings.write_text("lead_days: []\n")
    with pytest.raises(ValueError, match="(?s)" + re.escape(f"$SEEDS_DAG_SOURCE={settings}: ") + ".*"
                       + re.escape("source.lead_days=[]: expected at least one lead")):
        source_from_environment()
    settings.write_text("[1, 2]\n")
    with pytest.raises(ValueError, match="expected a mapping of source settings, got list"):
        source_from_environment()
    settings.write_text("truth_days: 30\n")
    assert source_from_environment() == SourceResource(truth_days=30)


def test_credentials_in_the_settings_file_are_read_from_the_environment(tmp_path, monkeypatch):
    settings = tmp_path / "source.yaml"
    settings.write_text("kind: gefs\nreforecast_start: '2019-01-01'\nreforecast_end: '2019-12-31'\n"
                        "gefs: {anon: false, key: {env: GEFS_KEY}, secret: {env: GEFS_SECRET}}\n")
    monkeypatch.setenv(SETTINGS_ENV_VAR, str(settings))
    monkeypatch.setenv("GEFS_SECRET", "topsecret")
    gefs = source_from_environment().gefs
    assert (gefs.key, gefs.secret) == (EnvVar("GEFS_KEY"), EnvVar("GEFS_SECRET"))
    assert isinstance(gefs.secret, EnvVar) and gefs.secret.get_value() == "topsecret"


def test_daily_job_and_schedule_exist():
    job = defs.resolve_job_def("daily_emulation")
    assert {key.path[-1] for key in job.asset_layer.executable_asset_keys} == {
        "operational_ensemble", "daily_emulated_ensembles", "verification_scores"}
    schedule = defs.resolve_schedule_def("daily_emulation_schedule")
    assert schedule.job_name == "daily_emulation"
    assert schedule.cron_schedule == "30 0 * * *"


@pytest.mark.parametrize("tick, requested", [
    ("2000-02-12", "2000-02-11"),  # an operational init just ended
    ("2000-02-09", None),  # the day before the first operational init: the training window's
    ("2026-12-07", None),  # long after the experiment's last
])
def test_the_schedule_asks_for_the_day_just_ended_when_it_is_an_operational_init(tick, requested):
    schedule = defs.resolve_schedule_def("daily_emulation_schedule")
    when = pd.Timestamp(f"{tick} 00:30", tz="UTC").to_pydatetime()
    with DagsterInstance.ephemeral() as instance:
        result = schedule.evaluate_tick(build_schedule_context(
            instance=instance, scheduled_execution_time=when, repository_def=defs.get_repository_def()))
    assert [r.partition_key for r in result.run_requests or []] == ([requested] if requested else [])
    if requested is None:
        day = (pd.Timestamp(tick) - pd.Timedelta(days=1)).strftime("%Y-%m-%d")
        assert result.skip_message == f"{day} is no operational init (the source settings make 2000-02-09..2000-02-15)"


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


def test_the_sensor_interval_comes_from_the_environment(monkeypatch):
    monkeypatch.delenv(SENSOR_INTERVAL_ENV_VAR, raising=False)
    assert sensor_interval_from_environment() == SENSOR_INTERVAL_S
    monkeypatch.setenv(SENSOR_INTERVAL_ENV_VAR, "1")
    assert sensor_interval_from_environment() == 1
    for value in ("0", "-5", "ten", "2.5"):
        monkeypatch.setenv(SENSOR_INTERVAL_ENV_VAR, value)
        with pytest.raises(ValueError, match=f"{SENSOR_INTERVAL_ENV_VAR}='{value}'"):
            sensor_interval_from_environment()
