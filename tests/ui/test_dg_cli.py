"""Dagster's `dg` CLI on the project, as its docs use it: `dg check defs` and `dg list defs` load the
one Definitions object ([tool.dg] in pyproject.toml points at assets.definitions), and `dg dev`
serves the same asset graph as `dagster dev` over workspace.yaml."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

from dagster_ui import ASSET_NODES_QUERY, BIN, REPO_ROOT, graphql, served, write_instance_config

from assets.definitions import ALL_ASSETS, defs

ASSET_KEYS = {"/".join(a.key.path) for a in ALL_ASSETS}


def dg(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([str(BIN / "dg"), *args], cwd=REPO_ROOT, capture_output=True, text=True,
                          timeout=300, env={**os.environ, "OMP_NUM_THREADS": "1"})


def test_dg_check_defs_loads_the_definitions():
    checked = dg("check", "defs")
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "All definitions loaded successfully" in checked.stdout + checked.stderr


def test_dg_list_defs_lists_every_asset_and_job():
    listed = dg("list", "defs", "--json")
    assert listed.returncode == 0, listed.stderr
    found = json.loads(listed.stdout)
    assert {a["asset_key"] for a in found["assets"]} == ASSET_KEYS
    jobs = {j["name"] for j in found["jobs"]}
    assert {job.name for job in defs.jobs} <= jobs and "daily_emulation" in jobs


def test_dg_dev_serves_the_asset_graph(tmp_path: Path):
    home, storage = tmp_path / "dagster_home", tmp_path / "storage"
    home.mkdir()
    write_instance_config(home, "DefaultRunCoordinator")
    with served(["dg", "dev"], home, storage, tmp_path / "dg_dev.log", workspace=False) as url:
        nodes = graphql(url, ASSET_NODES_QUERY)["assetNodes"]
    assert {"/".join(node["assetKey"]["path"]) for node in nodes} == ASSET_KEYS
