"""GPU requests on the training and sampling steps (assets/gpu.py), read back the way Dagster's
executors read them: the steps of the asset job's execution plan, the Kubernetes Job that
dagster-k8s builds from a step's tags, the Celery queue a step is sent to, and the pool it
queues in. Every training and sampling asset asks for GPUs; no other asset does."""

from __future__ import annotations

import json

import pytest
from dagster._core.execution.api import create_execution_plan
from dagster_celery.tags import DAGSTER_CELERY_QUEUE_TAG
from dagster_k8s.job import DagsterK8sJobConfig, construct_dagster_k8s_job, get_user_defined_k8s_config

from assets.definitions import ALL_ASSETS, defs
from assets.gpu import (
    GPU_CELERY_QUEUE,
    GPU_POOL,
    GPU_RESOURCE,
    TRAINING_PROCESSES_ENV_VAR,
    training_processes_from_environment,
)

TRAINING = {"trained_emulator", "post_processor"}
SAMPLING = {"daily_emulated_ensembles"}


def plan_steps() -> dict:
    """The steps of the job of every asset, by key (one per asset)."""
    job = defs.resolve_implicit_global_asset_job_def()
    return {step.key: step for step in create_execution_plan(job).steps}


def k8s_pod_of(step_tags: dict[str, str]):
    """The pod spec of the Kubernetes Job that dagster-k8s builds for a step with these tags."""
    job = construct_dagster_k8s_job(
        DagsterK8sJobConfig(job_image="seeds-dag:test", image_pull_policy="IfNotPresent"),
        args=["dagster", "api", "execute_step"], job_name="step",
        user_defined_k8s_config=get_user_defined_k8s_config(step_tags), component="step_worker")
    return job.spec.template.spec


def test_gpu_steps_request_gpus_and_no_other_step_does():
    steps = plan_steps()
    assert set(steps) == {a.key.to_user_string() for a in ALL_ASSETS}
    for name, step in steps.items():
        pod = k8s_pod_of(step.tags)
        limits = pod.containers[0].resources.limits if pod.containers[0].resources else None
        tolerations = [t.key for t in pod.tolerations or []]
        if name in TRAINING | SAMPLING:
            assert limits == {GPU_RESOURCE: "1"}, f"{name}: pod limits {limits}"
            assert pod.containers[0].resources.requests == {GPU_RESOURCE: "1"}
            assert tolerations == [GPU_RESOURCE], f"{name}: tolerations {tolerations}"
            assert step.tags[DAGSTER_CELERY_QUEUE_TAG] == GPU_CELERY_QUEUE
            assert step.pool == GPU_POOL
        else:
            assert not limits and not tolerations, f"{name} (CPU) asks Kubernetes for {limits}"
            assert DAGSTER_CELERY_QUEUE_TAG not in step.tags and step.pool is None, name
    kinds = {a.key.to_user_string(): set().union(*(s.kinds for s in a.specs)) for a in ALL_ASSETS}
    assert {name for name, k in kinds.items() if "gpu" in k} == TRAINING | SAMPLING
    assert all("pytorch" in kinds[name] for name in TRAINING | SAMPLING)


def test_training_steps_request_one_gpu_per_training_process(fresh_code_locations):
    """With $SEEDS_DAG_TRAINING_PROCESSES=2 in the code location's environment, the training
    steps' pods ask for 2 GPUs and the compute resource trains with 2 processes by default; the
    sampling step still asks for 1 (a fresh interpreter: the definitions read it at load)."""
    out = fresh_code_locations.output("two_training_processes")
    result = json.loads(out.strip().splitlines()[-1])
    assert result["training_processes"] == 2
    assert {k: v for k, v in result["gpus"].items() if v} == {
        "trained_emulator": "2", "post_processor": "2", "daily_emulated_ensembles": "1"}


@pytest.mark.parametrize("value", ["0", "-1", "two", "1.5"])
def test_a_bad_training_process_count_is_refused_by_name(monkeypatch, value):
    monkeypatch.setenv(TRAINING_PROCESSES_ENV_VAR, value)
    with pytest.raises(ValueError, match=f"{TRAINING_PROCESSES_ENV_VAR}='{value}'"):
        training_processes_from_environment()
