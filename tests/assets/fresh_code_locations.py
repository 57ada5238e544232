"""The definitions loaded as a code location loads them, in fresh interpreters: they read their
settings ($SEEDS_DAG_SOURCE, $SEEDS_DAG_GPU_REQUESTS, $SEEDS_DAG_TRAINING_PROCESSES) from the
environment when they load, so each setting a test tries needs a process of its own. One process
takes about 10 s, most of it imports on one core; `FreshCodeLocations` starts all of them at once
(the asset tests' `fresh_code_locations` fixture, the first time a test asks), so that they run
on the second core beside the tests, and each test waits only for its own."""

from __future__ import annotations

import contextlib
import dataclasses
import os
import subprocess
import sys
from pathlib import Path

from assets.gpu import GPU_REQUESTS_ENV_VAR, TRAINING_PROCESSES_ENV_VAR
from resources.source import SETTINGS_ENV_VAR

REPO_ROOT = Path(__file__).resolve().parents[2]
LOAD_S = 300  # seconds a load may take (each takes about 10)


@dataclasses.dataclass(frozen=True)
class Load:
    """A script printing what a test checks, and the environment it loads the definitions in."""

    script: str
    environment: dict[str, str]


SOURCE_SETTINGS_YAML = ("reforecast_start: '2000-01-03'\nreforecast_end: '2000-01-05'\n"
                        "truth_days: 12\nlead_days: [1, 2]\n")
"""The source settings of the `source_settings` load, written to a file $SEEDS_DAG_SOURCE names."""

# The asset's key and partition keys of every partitioned asset, after the source's truth_days.
PARTITIONS_SCRIPT = """
from assets.definitions import defs
graph = defs.resolve_asset_graph()
print(defs.resources['source'].truth_days)
for key in sorted(graph.get_all_asset_keys()):
    partitions = graph.get(key).partitions_def
    if partitions: print(key.to_user_string(), *partitions.get_partition_keys())
"""
# Every step of the definitions as dagster-k8s and Celery would run it: whether its pod has GPU
# limits, requests, tolerations, whether it goes to a Celery queue and to a pool (JSON).
GPU_ASKS_SCRIPT = """
import json
from dagster_celery.tags import DAGSTER_CELERY_QUEUE_TAG
from tests.assets.test_gpu_steps import k8s_pod_of, plan_steps
asks = {}
for name, step in plan_steps().items():
    pod = k8s_pod_of(step.tags)
    resources = pod.containers[0].resources
    asks[name] = [bool(resources.limits), bool(resources.requests), bool(pod.tolerations),
                  DAGSTER_CELERY_QUEUE_TAG in step.tags, step.pool is not None]
print(json.dumps(asks))
"""
# The GPUs each step's pod asks for, and the compute resource's default training processes (JSON).
GPU_COUNTS_SCRIPT = """
import json
from assets.definitions import defs
from tests.assets.test_gpu_steps import k8s_pod_of, plan_steps
gpus = {k: (k8s_pod_of(s.tags).containers[0].resources.limits or {}).get("nvidia.com/gpu")
        for k, s in plan_steps().items()}
compute = defs.resources["compute"]
print(json.dumps({"gpus": gpus, "training_processes": compute.training_processes}))
"""


def loads(settings_file: Path) -> dict[str, Load]:
    """Every load the asset tests make, by name; `settings_file` holds SOURCE_SETTINGS_YAML."""
    return {"source_settings": Load(PARTITIONS_SCRIPT, {SETTINGS_ENV_VAR: str(settings_file)}),
            "gpu_requests_off": Load(GPU_ASKS_SCRIPT, {GPU_REQUESTS_ENV_VAR: "off"}),
            "two_training_processes": Load(GPU_COUNTS_SCRIPT, {TRAINING_PROCESSES_ENV_VAR: "2"})}


class FreshCodeLocations:
    """The processes of `loads`, all started at once; `output(name)` waits for one."""

    def __init__(self, loads: dict[str, Load]):
        base = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
        self._processes = {
            name: subprocess.Popen([sys.executable, "-c", load.script], cwd=REPO_ROOT, text=True,
                                   env={**base, **load.environment},
                                   stdout=subprocess.PIPE, stderr=subprocess.PIPE)
            for name, load in loads.items()}
        self._outputs: dict[str, str] = {}

    def output(self, name: str) -> str:
        """The standard output of load `name`; the test fails with its standard error if it failed."""
        if name not in self._outputs:
            process = self._processes[name]
            out, err = process.communicate(timeout=LOAD_S)
            assert process.returncode == 0, f"load {name} exited with {process.returncode}: {err[-3000:]}"
            self._outputs[name] = out
        return self._outputs[name]

    def stop(self) -> None:
        """Kill the loads no test waited for (a run of some of the tests only)."""
        for process in self._processes.values():
            with contextlib.suppress(ProcessLookupError):
                process.kill()
            process.communicate()
