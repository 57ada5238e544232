"""The Dagster UI end to end, as a person uses it: `dagster-webserver` serves workspace.yaml from the
repository root, headless Chromium (Debian's /usr/bin/chromium, driven by playwright) opens the
global asset graph, finds every asset of the definitions, and materialises `normalization_stats`
from its page; the test waits for that run to succeed. A second test materialises
`verification_report` from its page and opens one of the figures attached to the materialisation.

The webserver sees a temporary DAGSTER_HOME and a temporary storage root in which 24 tiny synthetic
reforecast shards stand in for the default training window (the source resource's defaults) and a
synthetic pooled verification summary for the verification scores, so the runs take seconds. The
two tests share one webserver (its start, loading torch and the definitions, took as long as either
test's own work); each materialises a different asset and reads back only that asset's run.
Screenshots are saved under each test's tmp dir and copied to SCREENSHOT_COPY_DIR.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
import report_tables
from dagster import AssetMaterialization, DagsterInstance
from dagster_ui import (
    ASSET_NODES_QUERY,
    PAGE_S,
    browser_page,
    graphql,
    requires_chromium,
    served,
    wait_for,
    wait_for_success,
    write_instance_config,
)
from forecast_shards import shard
from playwright.sync_api import Page

from assets.definitions import ALL_ASSETS
from assets.report import FIGURES, REPORT
from assets.verification import SUMMARY
from resources import SourceResource
from seeds_dag.store import ArtifactStore

ASSET = "normalization_stats"
SINK = REPORT  # every asset is upstream of it
# The report's figures drawn from the pooled summary table alone.
REPORT_FIGURES_FROM_SUMMARY = [name for _, name, table, _ in FIGURES if table == "summary"]
ELLIPSIS = "…"

pytestmark = requires_chromium

RUNS_QUERY = """
{ runsOrError { __typename ... on Runs { results { runId status assetSelection { path } } } } }
"""
LATEST_MATERIALISATION_QUERY = """
query ($key: AssetKeyInput!) {
  assetOrError(assetKey: $key) { ... on Asset { assetMaterializations(limit: 1) {
    runId metadataEntries { label ... on TextMetadataEntry { text } ... on IntMetadataEntry { intValue } }
  } } }
}
"""


def write_upstream_artifacts(root: Path, dagster_home: Path) -> None:
    """Tiny synthetic reforecast shards for every init of the default source's training window
    (upstream of normalization_stats) and a pooled verification summary (upstream of
    verification_report), each recorded as a materialisation in the instance at dagster_home, so
    the UI knows they are there, as after a real run."""
    store = ArtifactStore(str(root))
    with DagsterInstance.from_config(str(dagster_home)) as instance:
        for seed, init in enumerate(SourceResource().reforecast_dates()):
            url = store.write_dataset(shard(init, seed), "reforecast_shards", init)
            instance.report_runless_asset_event(
                AssetMaterialization("reforecast_shards", partition=init, metadata={"location": url}))
        url = store.write_table(report_tables.summary(), SUMMARY)
        instance.report_runless_asset_event(AssetMaterialization(SUMMARY, metadata={"location": url}))


@pytest.fixture(scope="module")
def webserver(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """URL of a dagster-webserver over the repository's workspace.yaml (dagster_ui.served), shared
    by the module's tests."""
    folder = tmp_path_factory.mktemp("webserver")
    home, storage = folder / "dagster_home", folder / "storage"
    home.mkdir()
    # Runs start at once: the default queued coordinator needs a daemon, which the webserver lacks.
    write_instance_config(home, "DefaultRunCoordinator")
    write_upstream_artifacts(storage, home)
    with served(["dagster-webserver"], home, storage, folder / "webserver.log") as url:
        yield url


def test_asset_graph_and_materialise_from_the_ui(webserver: str, tmp_path: Path):
    expected = {a.key.to_user_string() for a in ALL_ASSETS}
    expected_edges = {(dep.to_user_string(), a.key.to_user_string())
                      for a in ALL_ASSETS for dep in a.dependency_keys}
    nodes = graphql(webserver, ASSET_NODES_QUERY)["assetNodes"]
    served_edges = {("/".join(dep["path"]), "/".join(n["assetKey"]["path"]))
                    for n in nodes for dep in n["dependencyKeys"]}
    assert {"/".join(n["assetKey"]["path"]) for n in nodes} == expected
    assert served_edges == expected_edges
    assert ("reforecast_shards", ASSET) in served_edges

    with browser_page(tmp_path) as (page, screens):
        # The lineage of the graph's sink, every upstream level: the whole asset graph. Node
        # labels are middle-truncated ("normalizati…_stats") to fit the node.
        page.goto(f"{webserver}/assets/{SINK}?view=lineage&lineageScope=upstream&lineageDepth=99",
                  wait_until="domcontentloaded")
        page.get_by_text(SINK, exact=False).first.wait_for(state="visible")
        labels = wait_for(lambda: _node_labels(page, expected), PAGE_S, "every asset node drawn")
        for name in sorted(expected):
            shown = [label for label in labels if _shows(label, name)]
            assert len(shown) == 1, f"asset {name}: graph node labels {shown} of {labels}"
        # Every dependency is drawn as an edge from its node to the dependent's node, and no
        # other edge is drawn (the edges are drawn after the nodes: wait until there are as many).
        wait_for(lambda: page.locator(EDGE_PATHS).count() >= len(expected_edges), PAGE_S,
                 "as many lineage edges drawn as dependencies")
        drawn_edges = _edges_drawn(page, expected)
        assert drawn_edges == expected_edges, (
            f"missing {expected_edges - drawn_edges}, extra {drawn_edges - expected_edges}")
        page.screenshot(path=str(screens / "asset_graph.png"), full_page=True)

        run_id = materialise_from_its_page(page, webserver, ASSET)
        page.goto(f"{webserver}/runs/{run_id}", wait_until="domcontentloaded")
        page.get_by_text("Success", exact=True).first.wait_for(state="visible")
        page.get_by_text("RUN_SUCCESS").first.wait_for(state="visible")
        page.screenshot(path=str(screens / "run_success.png"), full_page=True)

        # The asset's page shows that run's materialisation with its metadata: the location it
        # wrote (versioned, so new with every materialisation) and the training window's size.
        event = _latest_materialisation(webserver, ASSET)
        assert event["runId"] == run_id, f"latest materialisation of {ASSET}: {event}"
        entries = {e["label"]: e.get("text", e.get("intValue")) for e in event["metadataEntries"]}
        assert entries["training_inits"] == len(SourceResource().reforecast_dates())
        page.goto(f"{webserver}/assets/{ASSET}?view=events", wait_until="domcontentloaded")
        page.get_by_text(run_id[:8]).first.wait_for(state="visible")
        page.get_by_text(entries["location"]).first.wait_for(state="visible")
        row = page.locator("tr", has_text="training_inits").first
        row.wait_for(state="visible")
        assert str(entries["training_inits"]) in row.inner_text()
        page.screenshot(path=str(screens / "materialisation_metadata.png"), full_page=True)


def test_report_figures_show_on_the_materialisation(webserver: str, tmp_path: Path):
    """verification_report materialised from the UI over the pooled summary table: its figures
    are attached as Markdown images, and "[Show Markdown]" on the materialisation event shows
    the picture itself (decoded by the browser, at full size)."""
    with browser_page(tmp_path) as (page, screens):
        materialise_from_its_page(page, webserver, REPORT)
        page.goto(f"{webserver}/assets/{REPORT}?view=events", wait_until="domcontentloaded")
        # Only the summary table is in the store: the two by-lead figures are drawn, the rest are
        # skipped with a reason (see tests/assets/test_report_asset.py).
        for figure in REPORT_FIGURES_FROM_SUMMARY:
            page.get_by_text(figure, exact=True).first.wait_for(state="visible")
        buttons = page.get_by_text("[Show Markdown]", exact=True)
        assert buttons.count() == len(REPORT_FIGURES_FROM_SUMMARY)
        buttons.first.click()
        image = page.get_by_role("dialog").locator("img[src^='data:image/png;base64,']")
        image.wait_for(state="visible")
        width, height, alt = image.evaluate("e => [e.naturalWidth, e.naturalHeight, e.alt]")
        assert alt == REPORT_FIGURES_FROM_SUMMARY[0]
        # A broken or refused data URI decodes to 0 × 0; the figure is ~1000 px wide.
        assert width > 500 and height > 300, f"figure {alt} shown at {width} × {height} px"
        page.screenshot(path=str(screens / "report_figure.png"))


def materialise_from_its_page(page: Page, webserver: str, asset: str) -> str:
    """Open an unpartitioned asset's page, click "Materialize" (its upstream is materialised, so
    the run starts at once) and wait until that run succeeds; its run id."""
    page.goto(f"{webserver}/assets/{asset}", wait_until="domcontentloaded")
    page.locator("button", has_text=re.compile(r"^Materialize$")).click()
    run_id = wait_for(lambda: _latest_run_of(webserver, asset), PAGE_S,
                      f"a run of {asset} launched from the UI")
    wait_for_success(webserver, run_id, asset)
    return run_id


def _node_labels(page, expected: set[str]) -> list[str] | None:
    """Labels of the asset nodes drawn in the graph's SVG (group boxes left out), once there are
    as many as assets."""
    texts = [t.strip() for t in page.locator("svg foreignObject").all_text_contents()]
    labels = [t for t in texts if t and (t in expected or ELLIPSIS in t)]
    return labels if len(labels) >= len(expected) else None


# An edge of the lineage graph: an SVG path stroked in the lineage-edge colour (the arrow-head
# markers are filled, not stroked, and icons are neither).
EDGE_PATHS = "svg path[stroke*='lineage-edge']"
# An edge starts at its source node's right side and ends this close to its target's left side
# (the arrow head's room), in the graph's SVG units.
EDGE_END_SLACK = 12


def _edges_drawn(page: Page, expected: set[str]) -> set[tuple[str, str]]:
    """The (source, target) asset names of every edge drawn in the lineage graph, read from the
    geometry: the node whose box an edge leaves at its right side and the node whose box it enters
    at its left side. A path that touches no node's side, or more than one, fails the test."""
    nodes = page.evaluate("""() => [...document.querySelectorAll('svg foreignObject')].map(f => ({
        label: f.textContent.trim(), x: +f.getAttribute('x'), y: +f.getAttribute('y'),
        w: +f.getAttribute('width'), h: +f.getAttribute('height')}))""")
    boxes = {}
    for node in nodes:
        names = [name for name in expected if _shows(node["label"], name)]
        if names:
            boxes[names[0]] = node
    assert set(boxes) == expected, f"node boxes found for {sorted(boxes)}"
    ends = page.evaluate(f"""() => [...document.querySelectorAll("{EDGE_PATHS}")].map(p => {{
        const a = p.getPointAtLength(0), b = p.getPointAtLength(p.getTotalLength());
        return [a.x, a.y, b.x, b.y];}})""")
    assert ends, f"no lineage edge ({EDGE_PATHS}) on the page"

    def node_at(x: float, y: float, side: str) -> str:
        touching = [name for name, box in boxes.items()
                    if box["y"] <= y <= box["y"] + box["h"]
                    and (0 <= x - (box["x"] + box["w"]) <= EDGE_END_SLACK if side == "right"
                         else 0 <= box["x"] - x <= EDGE_END_SLACK)]
        assert len(touching) == 1, f"edge end ({x}, {y}) on the {side} side of {touching}"
        return touching[0]
    return {(node_at(x0, y0, "right"), node_at(x1, y1, "left")) for x0, y0, x1, y1 in ends}


def _shows(label: str, name: str) -> bool:
    """Whether a node label is `name`, whole or middle-truncated."""
    if ELLIPSIS not in label:
        return label == name
    head, tail = label.split(ELLIPSIS, 1)
    return name.startswith(head) and name.endswith(tail) and len(head) + len(tail) < len(name)


def _latest_materialisation(url: str, asset: str) -> dict:
    """The run id and metadata entries of `asset`'s latest materialisation, from GraphQL."""
    result = graphql(url, LATEST_MATERIALISATION_QUERY, {"key": {"path": [asset]}})
    events = result["assetOrError"]["assetMaterializations"]
    assert events, f"no materialisation of {asset}"
    return events[0]


def _latest_run_of(url: str, asset: str) -> str | None:
    runs = graphql(url, RUNS_QUERY)["runsOrError"]["results"]
    ids = [r["runId"] for r in runs if [asset] in [s["path"] for s in r["assetSelection"] or []]]
    return ids[0] if ids else None
