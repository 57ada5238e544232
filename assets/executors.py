"""The Dagster executor of every job, chosen by the environment of the code location rather than in
code: SEEDS_DAG_EXECUTOR names it, run config configures it (`execution: config: …`).

  multiprocess (default)  Dagster's default: each step in its own process on the run's machine
                          (`execution: config: multiprocess: max_concurrent: N`), or in_process
  in_process              every step in the run's process
  k8s                     dagster_k8s.k8s_job_executor: each step in its own Kubernetes Job
  celery                  dagster_celery.celery_executor: steps queued to Celery workers
  celery_k8s              dagster_celery_k8s.celery_k8s_job_executor (with CeleryK8sRunLauncher)
  docker                  dagster_docker.docker_executor: each step in its own container
  dask                    assets.dask_executor (dagster-dask's, made to work with today's dask):
                          steps as tasks of a dask.distributed cluster
                          (`execution: config: cluster: existing: address: tcp://…`)

The integrations are not dependencies of seeds-dag: install the one you name (pip install
dagster-k8s, …) in the image or environment that loads the code location; the `cluster` extra
brings dagster-dask.
"""

import importlib
import os

from dagster import ExecutorDefinition

EXECUTOR_ENV_VAR = "SEEDS_DAG_EXECUTOR"
DEFAULT_EXECUTOR = "multiprocess"
# name: (module, attribute, the pip package that provides the module)
EXECUTORS = {
    "multiprocess": ("dagster", "multi_or_in_process_executor", "dagster"),
    "in_process": ("dagster", "in_process_executor", "dagster"),
    "k8s": ("dagster_k8s", "k8s_job_executor", "dagster-k8s"),
    "celery": ("dagster_celery", "celery_executor", "dagster-celery"),
    "celery_k8s": ("dagster_celery_k8s", "celery_k8s_job_executor", "dagster-celery-k8s"),
    "docker": ("dagster_docker", "docker_executor", "dagster-docker"),
    "dask": ("assets.dask_executor", "dask_executor", "dagster-dask"),
}


def executor_from_environment() -> ExecutorDefinition:
    """The executor that $SEEDS_DAG_EXECUTOR names (default: multiprocess)."""
    name = os.environ.get(EXECUTOR_ENV_VAR, "").strip() or DEFAULT_EXECUTOR
    if name not in EXECUTORS:
        raise ValueError(f"{EXECUTOR_ENV_VAR}={name!r}: expected one of {', '.join(EXECUTORS)}")
    module, attribute, package = EXECUTORS[name]
    try:
        return getattr(importlib.import_module(module), attribute)
    except ImportError as err:
        raise ImportError(f"{EXECUTOR_ENV_VAR}={name!r} needs the package {package}: "
                          f"pip install {package}") from err
