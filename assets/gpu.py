"""What a GPU step asks of the machine it runs on: the training assets (`trained_emulator`,
`post_processor`) and the sampling asset (`daily_emulated_ensembles`) declare, in the way Dagster's
executors read, that they want GPUs; every other asset (physics, statistics, verification) asks
for none.

* **Kubernetes** (`dagster_k8s.k8s_job_executor`): the step's pod requests and is limited to
  `nvidia.com/gpu` GPUs (the NVIDIA device plugin's resource name) and tolerates the
  `nvidia.com/gpu` taint that GPU node pools usually carry. Under the k8s job executor only these
  steps get GPU pods; the run's own pod and the CPU steps' pods request none.
* **Celery** (`dagster_celery.celery_executor`): the step goes to the `gpu` queue, which the
  workers on GPU machines consume (`dagster-celery worker start -q gpu`); the other steps go to
  the default queue.
* **Concurrency pool `gpu`**: GPU steps of all runs queue for the pool's slots instead of
  oversubscribing the GPUs. Set the pool's limit in the instance to the number of GPUs (the UI's
  Deployment → Concurrency, `dagster instance concurrency set gpu N`, or
  `concurrency: pools: default_limit: N` in dagster.yaml, since `gpu` is the only pool). Without a
  limit the pool does not hold anything back.
* **Kinds** `pytorch` and `gpu`: the asset graph shows which assets use a GPU.

A training step trains with `compute.training_processes` processes, one per GPU on CUDA, so it
requests that many GPUs. The requests are part of the definitions, read when the code location
loads, so the number comes from the code location's environment ($SEEDS_DAG_TRAINING_PROCESSES,
default 1), which is also the compute resource's default `training_processes`.

Whether these steps ask for GPUs at all is the deployment's, from the same environment:
$SEEDS_DAG_GPU_REQUESTS, "on" (the default) or "off". On a cluster without GPUs a pod that
requests `nvidia.com/gpu` is never scheduled and a `gpu` Celery queue that no worker consumes
never runs, so "off" makes them CPU steps like the others (no GPU request or toleration, the
default queue, no pool); they then train and sample on the CPU (`compute.device` "auto"). The
kinds stay, since they say what the asset can use.
"""

from __future__ import annotations

import os

from assets.environment import whole_number_from_environment

GPU_POOL = "gpu"
GPU_KINDS = {"pytorch", "gpu"}
# The resource name the NVIDIA device plugin gives GPUs, and the taint of GPU nodes.
GPU_RESOURCE = "nvidia.com/gpu"
GPU_CELERY_QUEUE = "gpu"
TRAINING_PROCESSES_ENV_VAR = "SEEDS_DAG_TRAINING_PROCESSES"
GPU_REQUESTS_ENV_VAR = "SEEDS_DAG_GPU_REQUESTS"
GPU_REQUESTS = {"on": True, "off": False}
SAMPLING_GPUS = 1


def training_processes_from_environment() -> int:
    """Processes (GPUs on CUDA) per training step: $SEEDS_DAG_TRAINING_PROCESSES, default 1."""
    return whole_number_from_environment(TRAINING_PROCESSES_ENV_VAR, 1,
                                         "processes per training step, one GPU each on CUDA")


def gpu_requests_from_environment() -> bool:
    """Whether GPU steps ask for GPUs: $SEEDS_DAG_GPU_REQUESTS, "on" (default) or "off"."""
    value = os.environ.get(GPU_REQUESTS_ENV_VAR, "").strip() or "on"
    if value not in GPU_REQUESTS:
        raise ValueError(f"{GPU_REQUESTS_ENV_VAR}={value!r}: expected 'on' (the training and sampling "
                         "steps ask for GPUs) or 'off' (a cluster without GPUs: they run as CPU steps)")
    return GPU_REQUESTS[value]


def gpu_step_tags(gpus: int) -> dict[str, object]:
    """Op tags of a step that uses `gpus` GPUs: its Kubernetes pod's GPU request and toleration,
    and its Celery queue."""
    count = str(gpus)
    return {
        "dagster-k8s/config": {
            "container_config": {"resources": {"requests": {GPU_RESOURCE: count},
                                               "limits": {GPU_RESOURCE: count}}},
            "pod_spec_config": {"tolerations": [{"key": GPU_RESOURCE, "operator": "Exists",
                                                 "effect": "NoSchedule"}]},
        },
        "dagster-celery/queue": GPU_CELERY_QUEUE,
    }


def gpu_step(gpus: int) -> dict[str, object]:
    """The `@asset` arguments of an asset whose step uses `gpus` GPUs where the deployment has
    them ($SEEDS_DAG_GPU_REQUESTS): op tags, pool and kinds; the kinds alone where it has none."""
    if not gpu_requests_from_environment():
        return {"kinds": GPU_KINDS}
    return {"op_tags": gpu_step_tags(gpus), "pool": GPU_POOL, "kinds": GPU_KINDS}
