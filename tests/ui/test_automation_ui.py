"""Declarative automation in `dagster dev` (webserver and daemon), as a person sees it: one manual
launch of the daily job for a new init, and the daemon's `follow_dependencies` sensor
materialises the verification summary and report on its own; the UI shows that run as the
sensor's and plots the scores' numeric metadata of both inits.

The instance (a temporary DAGSTER_HOME, queued runs started by the daemon) starts with the tiny
experiment (the session's `tiny_graph`) copied into a temporary storage root and recorded as its
runs recorded it, metadata included: everything up to the scores of the first operational init,
the summary pooling that one init, and the report. Its nature run is rerun one day longer
(TRUTH_DAYS), so that a second init can be verified; the code location loads these settings
($SEEDS_DAG_SOURCE), so its partitions are this experiment's inits. Copying costs seconds where a
tiny experiment of its own would cost a minute. Screenshots go where dagster_ui puts them.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from dagster import (
    AssetMaterialization,
    DagsterInstance,
    MetadataValue,
    PathMetadataValue,
    RunConfig,
    TextMetadataValue,
)
from dagster_ui import (
    PAGE_S,
    SENSOR_EVERY_LOOP,
    browser_page,
    graphql,
    requires_chromium,
    served,
    wait_for,
    wait_for_success,
    write_instance_config,
)
from playwright.sync_api import Page
from tiny_experiment import (
    COMPUTE,
    EMULATION,
    GRAPH_STEPS,
    SOURCE_SETTINGS,
    TinyGraph,
    copy_artifacts,
    materialise,
    materialization,
    tiny_source,
)

from assets.automation import SENSOR, SENSOR_INTERVAL_S
from assets.main_job import operational_dates
from assets.report import REPORT
from assets.sources import CODE_VERSION_TAG, DATA_VERSION_TAG
from assets.verification import SCORES, SUMMARY

pytestmark = requires_chromium

TRUTH_DAYS = SOURCE_SETTINGS["truth_days"] + 1
"""A nature run one day longer than the tiny experiment's: the leads of one more init reach into
it, so a second operational init can be verified."""
SOURCE = tiny_source(truth_days=TRUTH_DAYS)
FIRST, NEW = operational_dates(SOURCE, 2)
JOB = "daily_emulation"
RUN_CONFIG = RunConfig(ops={"daily_emulated_ensembles": EMULATION},
                       resources={"source": SOURCE, "compute": COMPUTE}).to_config_dict()
# One of the scores' numeric headlines: the emulator's fair CRPS over the physics ensemble's.
PLOTTED = "gee_fair_crps_over_physics"
# Dagster's tags on the runs its automation launches (dagster._core.storage.tags).
SENSOR_NAME_TAG, FROM_AUTOMATION_TAG = "dagster/sensor_name", "dagster/from_automation_condition"
# Seconds to wait for a tick of the sensor: here it ticks at every loop of the daemon, 5 s apart
# (SENSOR_EVERY_LOOP); four of its default intervals (15-20 s each) leave room for a loaded machine.
AUTOMATION_S = 4 * SENSOR_INTERVAL_S
FINISHED_TICKS = {"SKIPPED", "SUCCESS", "FAILURE"}

SENSOR_QUERY = """
{ repositoriesOrError { ... on RepositoryConnection { nodes {
    name location { name }
    sensors { name sensorState { status ticks(limit: 1) { status timestamp } } } } } } }
"""
LAUNCH_MUTATION = """
mutation ($params: ExecutionParams!) { launchRun(executionParams: $params) {
  __typename
  ... on LaunchRunSuccess { run { runId } }
  ... on PythonError { message }
  ... on RunConfigValidationInvalid { errors { message } }
} }
"""
PARTITIONS_QUERY = """
{ assetNodes { assetKey { path } partitionKeys } }
"""
RUNS_QUERY = """
{ runsOrError { ... on Runs { results {
    runId status endTime assetSelection { path } tags { key value } } } } }
"""
LATEST_QUERY = """
query ($keys: [AssetKeyInput!]) { assetNodes(assetKeys: $keys) {
  assetKey { path }
  assetMaterializations(limit: 1) {
    runId timestamp metadataEntries { label ... on JsonMetadataEntry { jsonString } } } } }
"""
# The horizontal extent of a plot's line colour in its canvas (Chart.js draws into the pixels,
# so the points are not in the DOM): [canvas width, leftmost, rightmost x of the blue pixels].
LINE_EXTENT_JS = """canvas => {
  const {width, height} = canvas;
  const pixels = canvas.getContext('2d').getImageData(0, 0, width, height).data;
  let left = width, right = -1;
  for (let i = 0; i < pixels.length; i += 4) {
    const [r, g, b, a] = [pixels[i], pixels[i + 1], pixels[i + 2], pixels[i + 3]];
    if (a > 200 && b - r > 60 && b - g > 60) {
      const x = (i / 4) % width;
      left = Math.min(left, x);
      right = Math.max(right, x);
    }
  }
  return [width, left, right];
}"""


def record_tiny_experiment(graph: TinyGraph, storage: Path, instance: DagsterInstance) -> None:
    """The tiny experiment's artifacts copied into `storage`, with SOURCE's longer nature run,
    and every materialisation recorded in `instance` with the metadata its run recorded (its
    locations moved to `storage`), in the main job's order, as runless events."""
    copy_artifacts(graph.root, storage, [asset for asset in dict.fromkeys(a for a, _ in GRAPH_STEPS)
                                         if asset != "truth"])
    truth = materialise(storage, "truth", source=SOURCE)
    for asset, partition in GRAPH_STEPS:
        recorded = materialization(truth if asset == "truth" else graph.results[(asset, partition)],
                                   asset)
        # The versions the run recorded; its input event pointers are storage ids of another instance.
        tags = {tag: recorded.tags[tag] for tag in (DATA_VERSION_TAG, CODE_VERSION_TAG)
                if tag in recorded.tags}
        instance.report_runless_asset_event(AssetMaterialization(
            asset, partition=partition, tags=tags,
            metadata={name: _moved(value, graph.root, storage)
                      for name, value in recorded.metadata.items()}))


def _moved(value: MetadataValue, old_root: Path, new_root: Path) -> MetadataValue:
    """A text or path metadata value naming a place under old_root, named under new_root."""
    for kind, make in ((TextMetadataValue, MetadataValue.text), (PathMetadataValue, MetadataValue.path)):
        if isinstance(value, kind) and value.value.startswith(str(old_root)):
            return make(str(new_root) + value.value[len(str(old_root)):])
    return value


@pytest.fixture
def dagster_dev(tiny_graph: TinyGraph, tmp_path: Path) -> Iterator[tuple[str, dict]]:
    """(URL, selector of the code location's repository) of `dagster dev` over the tiny experiment,
    once the automation sensor has evaluated the instance as set up (its first tick only records
    the state: what changes after it is what the sensor follows)."""
    home, storage = tmp_path / "dagster_home", tmp_path / "storage"
    home.mkdir()
    # The daemon starts queued runs: each second rather than every 5 s.
    write_instance_config(home, "QueuedRunCoordinator", dequeue_interval_seconds=1)
    with DagsterInstance.from_config(str(home)) as instance:
        record_tiny_experiment(tiny_graph, storage, instance)
    # The code location's source settings, whose operational partitions hold FIRST and NEW.
    settings = tmp_path / "source.yaml"
    settings.write_text(yaml.safe_dump(SOURCE_SETTINGS | {"truth_days": TRUTH_DAYS}))
    with served(["dagster", "dev"], home, storage, tmp_path / "dagster_dev.log",
                source_settings=settings, extra_environment=SENSOR_EVERY_LOOP) as url:
        [repository] = graphql(url, SENSOR_QUERY)["repositoriesOrError"]["nodes"]
        wait_for(lambda: _finished_tick(url, after=0), AUTOMATION_S,
                 f"the daemon's first tick of {SENSOR}")
        yield url, {"repositoryLocationName": repository["location"]["name"],
                    "repositoryName": repository["name"]}


def test_the_summary_and_report_follow_a_launched_day(dagster_dev: tuple[str, dict], tmp_path: Path):
    """Nothing runs until the daily job is launched for NEW; then one run of the sensor's
    materialises the summary (now pooling FIRST and NEW) and after it the report, and nothing
    more follows. The summary's Events tab links that run, whose page says the sensor launched
    it; the scores' Plots draw a numeric headline through the events of both inits."""
    url, repository = dagster_dev
    assert _runs(url) == [], "the automation launched runs for the experiment as set up"
    # The UI offers the inits of the loaded settings: the training window and FIRST, NEW.
    offered = {"/".join(node["assetKey"]["path"]): node["partitionKeys"]
               for node in graphql(url, PARTITIONS_QUERY)["assetNodes"] if node["partitionKeys"]}
    assert offered == {"reforecast_shards": SOURCE.reforecast_dates(),
                       **{asset: [FIRST, NEW] for asset in ("operational_ensemble", SCORES,
                                                            "daily_emulated_ensembles")}}
    assert _pooled_inits(_latest(url)[SUMMARY]) == [FIRST]

    params = {"selector": {**repository, "jobName": JOB}, "runConfigData": RUN_CONFIG,
              "executionMetadata": {"tags": [{"key": "dagster/partition", "value": NEW}]}}
    launched = graphql(url, LAUNCH_MUTATION, {"params": params})["launchRun"]
    assert launched["__typename"] == "LaunchRunSuccess", f"launch of {JOB} [{NEW}]: {launched}"
    daily_run = launched["run"]["runId"]
    wait_for_success(url, daily_run, f"{JOB} [{NEW}]")

    def automation_run() -> dict | None:
        runs = [r for r in _runs(url) if r["tags"].get(SENSOR_NAME_TAG) == SENSOR]
        return runs[0] if runs else None
    run = wait_for(automation_run, AUTOMATION_S, f"a run launched by {SENSOR}")
    assert run["tags"].get(FROM_AUTOMATION_TAG) == "true"
    assert run["assets"] == {SUMMARY, REPORT}
    wait_for_success(url, run["runId"], f"{SUMMARY} and {REPORT} launched by {SENSOR}")
    [ended] = [r["endTime"] for r in _runs(url) if r["runId"] == run["runId"]]

    latest = _latest(url)
    assert {asset: event["runId"] for asset, event in latest.items()} == \
        {SUMMARY: run["runId"], REPORT: run["runId"]}
    assert int(latest[SUMMARY]["timestamp"]) < int(latest[REPORT]["timestamp"])
    assert _pooled_inits(latest[SUMMARY]) == [FIRST, NEW]

    with browser_page(tmp_path) as (page, screens):
        show_run_of_latest_materialisation(page, url, run["runId"])
        page.screenshot(path=str(screens / "summary_events.png"))
        page.get_by_role("link", name=run["runId"][:8], exact=True).first.click()
        # The run's header: "Launched by follow_dependencies" (the name middle-truncated to fit,
        # whole in its title) and the "Automation condition" tag.
        page.locator("div", has=page.get_by_text("Launched by")).filter(
            has=page.get_by_title(SENSOR, exact=True)).last.wait_for(state="visible")
        page.get_by_text("Automation condition", exact=True).first.wait_for(state="visible")
        page.get_by_text("STEP_SUCCESS", exact=True).first.wait_for(state="visible")  # its logs
        page.screenshot(path=str(screens / "automation_run.png"))

        left, right, width = plotted_line(page, url, PLOTTED)
        # The events of the two inits are the ends of the time axis; one point alone is ~5 px wide.
        assert right - left > width / 2, f"{PLOTTED}: the line spans x {left}..{right} of {width} px"
        page.screenshot(path=str(screens / "scores_plots.png"))

    # The next tick after the sensor's run requests nothing more.
    wait_for(lambda: _finished_tick(url, after=ended), AUTOMATION_S,
             f"a tick of {SENSOR} after its run")
    assert {r["runId"] for r in _runs(url)} == {daily_run, run["runId"]}


def show_run_of_latest_materialisation(page: Page, url: str, run_id: str) -> None:
    """The summary's Events tab with its latest materialisation selected: the run that made it
    and the inits it pooled."""
    page.goto(f"{url}/assets/{SUMMARY}?view=events", wait_until="domcontentloaded")
    page.get_by_text("Materialized in run").first.wait_for(state="visible")
    page.get_by_role("link", name=run_id[:8], exact=True).first.wait_for(state="visible")
    for init in (FIRST, NEW):
        page.get_by_text(f'"{init}"', exact=False).first.wait_for(state="visible")


def plotted_line(page: Page, url: str, label: str) -> tuple[int, int, int]:
    """(leftmost, rightmost x, width) in px of the line that the scores' Plots draw for numeric
    metadata `label` by event time (the events of both inits, whatever the partitions view shows)."""
    page.goto(f"{url}/assets/{SCORES}", wait_until="domcontentloaded")
    # Buttons named by their icon and text ("asset_plot Plots"): found by the text.
    page.locator("button", has_text=re.compile(r"^Plots$")).click()
    page.locator("button", has_text=re.compile(r"^Events$")).click()
    plot = page.locator("div", has=page.get_by_text(label, exact=True)).filter(
        has=page.locator("canvas")).last
    canvas = plot.locator("canvas")
    canvas.wait_for(state="visible")
    plot.scroll_into_view_if_needed()

    def drawn() -> tuple[int, int, int] | None:
        width, left, right = canvas.evaluate(LINE_EXTENT_JS)
        return (left, right, width) if right >= 0 else None
    return wait_for(drawn, PAGE_S, f"the plot of {label} drawn")


def _runs(url: str) -> list[dict]:
    """The instance's runs, newest first, with their tags as a dict and asset selection as a set."""
    return [{**r, "tags": {t["key"]: t["value"] for t in r["tags"]},
             "assets": {"/".join(key["path"]) for key in r["assetSelection"] or []}}
            for r in graphql(url, RUNS_QUERY)["runsOrError"]["results"]]


def _latest(url: str) -> dict[str, dict]:
    """The latest materialisation of the summary and of the report."""
    nodes = graphql(url, LATEST_QUERY, {"keys": [{"path": [SUMMARY]}, {"path": [REPORT]}]})
    return {"/".join(node["assetKey"]["path"]): node["assetMaterializations"][0]
            for node in nodes["assetNodes"]}


def _pooled_inits(summary: dict) -> list[str]:
    """The `inits` metadata of a materialisation of the summary."""
    [inits] = [json.loads(entry["jsonString"]) for entry in summary["metadataEntries"]
               if entry["label"] == "inits"]
    return inits


def _finished_tick(url: str, after: float) -> bool:
    """Whether the automation sensor's latest tick started after time `after` (s since the epoch)
    and has finished."""
    [repository] = graphql(url, SENSOR_QUERY)["repositoriesOrError"]["nodes"]
    [sensor] = [s for s in repository["sensors"] if s["name"] == SENSOR]
    return any(tick["timestamp"] > after and tick["status"] in FINISHED_TICKS
               for tick in sensor["sensorState"]["ticks"])
