"""Dagster's `dg` CLI on the project, as its docs use it: `dg check defs` and `dg list defs` load the
one Definitions object ([tool.dg] in pyproject.toml points at assets.definitions), and `dg dev`
serves the same asset graph as `dagster dev` over workspace.yaml.

Each command loads the definitions in a process of its own (about 10 s, most of it imports on one
core): `dg check defs` and `dg list defs` start as the module begins and run while `dg dev` (the
first test) starts its server, so the three loads share both cores."""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from dagster_ui import ASSET_NODES_QUERY, BIN, REPO_ROOT, graphql, served, write_instance_config

from assets.definitions import ALL_ASSETS, defs

ASSET_KEYS = {"/".join(a.key.path) for a in ALL_ASSETS}
COMMAND_S = 300  # seconds a dg command may take (each takes about 10)
CHECK, LIST = ("check", "defs"), ("list", "defs", "--json")


@pytest.fixture(scope="module", autouse=True)
def dg_commands() -> Iterator[dict[tuple[str, ...], subprocess.Popen]]:
    """`dg check defs` and `dg list defs --json`, started together before the module's first test;
    any still running at the end (a run of some of the tests only) is killed."""
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    started = {args: subprocess.Popen([str(BIN / "dg"), *args], cwd=REPO_ROOT, env=env, text=True,
                                      stdout=subprocess.PIPE, stderr=subprocess.PIPE)
               for args in (CHECK, LIST)}
    yield started
    for process in started.values():
        process.kill()
        process.communicate()


def finished(process: subprocess.Popen) -> tuple[int, str, str]:
    """(exit status, stdout, stderr) of a started dg command, once it has exited."""
    out, err = process.communicate(timeout=COMMAND_S)
    return process.returncode, out, err


def test_dg_dev_serves_the_asset_graph(tmp_path: Path):
    home, storage = tmp_path / "dagster_home", tmp_path / "storage"
    home.mkdir()
    write_instance_config(home, "DefaultRunCoordinator")
    with served(["dg", "dev"], home, storage, tmp_path / "dg_dev.log", workspace=False) as url:
        nodes = graphql(url, ASSET_NODES_QUERY)["assetNodes"]
    assert {"/".join(node["assetKey"]["path"]) for node in nodes} == ASSET_KEYS


def test_dg_check_defs_loads_the_definitions(dg_commands):
    returncode, out, err = finished(dg_commands[CHECK])
    assert returncode == 0, out + err
    assert "All definitions loaded successfully" in out + err


def test_dg_list_defs_lists_every_asset_and_job(dg_commands):
    returncode, out, err = finished(dg_commands[LIST])
    assert returncode == 0, err
    found = json.loads(out)
    assert {a["asset_key"] for a in found["assets"]} == ASSET_KEYS
    jobs = {j["name"] for j in found["jobs"]}
    assert {job.name for job in defs.jobs} <= jobs and "daily_emulation" in jobs
