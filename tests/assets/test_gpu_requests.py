"""The training and sampling steps ask for GPUs only where the deployment has them
($SEEDS_DAG_GPU_REQUESTS, assets/gpu.py): by default their Kubernetes pods request and tolerate
`nvidia.com/gpu` (tests/assets/test_gpu_steps.py reads every step of the definitions so); with
"off" no step asks for a GPU anywhere, so a cluster without GPUs schedules them all."""

from __future__ import annotations

import json

import pytest
from dagster_celery.tags import DAGSTER_CELERY_QUEUE_TAG

from assets.gpu import GPU_POOL, GPU_REQUESTS_ENV_VAR, GPU_RESOURCE, gpu_step
from tests.assets.test_gpu_steps import k8s_pod_of



def pod_of(step: dict[str, object]):
    """The Kubernetes pod dagster-k8s builds for a step declared with these `@asset` arguments (its
    tags as a step carries them: JSON strings)."""
    tags = {name: value if isinstance(value, str) else json.dumps(value)
            for name, value in step.get("op_tags", {}).items()}
    return k8s_pod_of(tags)


@pytest.mark.parametrize("setting", [None, "on"])
def test_gpu_steps_ask_for_their_gpus_by_default_and_when_on(monkeypatch, setting):
    if setting is None:
        monkeypatch.delenv(GPU_REQUESTS_ENV_VAR, raising=False)
    else:
        monkeypatch.setenv(GPU_REQUESTS_ENV_VAR, setting)
    step = gpu_step(2)
    pod = pod_of(step)
    assert pod.containers[0].resources.limits == pod.containers[0].resources.requests == {GPU_RESOURCE: "2"}
    assert [t.key for t in pod.tolerations] == [GPU_RESOURCE]
    assert step["op_tags"][DAGSTER_CELERY_QUEUE_TAG] == "gpu" and step["pool"] == GPU_POOL


def test_gpu_steps_ask_for_no_gpu_when_off(monkeypatch):
    monkeypatch.setenv(GPU_REQUESTS_ENV_VAR, "off")
    step = gpu_step(2)
    pod = pod_of(step)
    resources = pod.containers[0].resources
    assert not resources.limits and not resources.requests and not pod.tolerations
    assert "op_tags" not in step and "pool" not in step
    assert "gpu" in step["kinds"]  # the asset can still use one where compute finds it


@pytest.mark.parametrize("value", ["yes", "0", "OFF"])
def test_a_setting_other_than_on_or_off_is_refused_by_name(monkeypatch, value):
    monkeypatch.setenv(GPU_REQUESTS_ENV_VAR, value)
    with pytest.raises(ValueError, match=f"{GPU_REQUESTS_ENV_VAR}='{value}': expected 'on' .* or 'off'"):
        gpu_step(1)


def test_a_code_location_loaded_with_gpu_requests_off_asks_no_step_for_a_gpu(fresh_code_locations):
    """Every step of the definitions, as dagster-k8s and Celery would run them (a fresh
    interpreter with $SEEDS_DAG_GPU_REQUESTS=off: the definitions read the setting when they load)."""
    out = fresh_code_locations.output("gpu_requests_off")
    asks = json.loads(out.strip().splitlines()[-1])
    assert {"trained_emulator", "post_processor", "daily_emulated_ensembles"} <= set(asks)
    assert {name: ask for name, ask in asks.items() if any(ask)} == {}
