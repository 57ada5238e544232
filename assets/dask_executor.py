"""The `dask` executor (SEEDS_DAG_EXECUTOR=dask): every step of a run as one task of a
dask.distributed cluster, run by `dagster_dask.executor.query_on_dask_worker` in a worker process.

dagster-dask's own `dask_executor` (0.29, the release of Dagster 1.13) fails on the dask these
machines run (2026.8) and is unsafe on a shared cluster; this one keeps its worker function, and
of its `cluster` config the kinds `existing` and `local`, and changes two things:
  * the run (and the known state of a re-execution) is handed to the task serialised, and so
    are the events it returns: dask ≥ 2024.12 walks every tuple among a task's arguments (and
    its results, to size them), and Dagster's records, tuples that forbid iteration, end a
    partitioned run before its first step ("Iteration is not allowed on `@record`
    TimeWindowPartitionsDefinition");
  * a task is keyed by step *and run*: dagster-dask keys it `{job}.{step}`, and dask computes a
    key once for all clients, so two runs of one job on one cluster at the same time (two
    partitions of a backfill) would be handed each other's results (measured: a second client
    submitting a key the first still held got the first's result; its own function never ran).
Steps need a persistent Dagster instance (the workers write their events to it) and a storage
root every worker reaches. `cluster: existing: address: tcp://scheduler:8786` sends steps to a
running cluster, `cluster: local: {n_workers: …}` starts one on the run's machine for the run;
other kinds of cluster (Kubernetes, SLURM, …) are started on their own and given by address.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence

from dagster import DagsterEvent, DagsterRun, Executor, Field, Permissive, Selector, StringSource, executor
from dagster import _check as check
from dagster import multiple_process_executor_requirements
from dagster._core.definitions.reconstruct import ReconstructableJob
from dagster._core.errors import raise_execution_interrupts
from dagster._core.execution.context.system import PlanOrchestrationContext
from dagster._core.execution.plan.plan import ExecutionPlan
from dagster._core.execution.plan.state import KnownExecutionState
from dagster._core.execution.retries import RetryMode
from dagster._core.instance.ref import InstanceRef
from dagster._serdes import deserialize_value, serialize_value
from dagster._utils import iterate_with_context
from dagster_dask.executor import get_dask_resource_requirements, query_on_dask_worker
from distributed import Client, LocalCluster, as_completed


@executor(
    name="dask",
    requirements=multiple_process_executor_requirements(),
    config_schema={"cluster": Field(Selector({
        "existing": Field({"address": StringSource}, description="The scheduler of a running cluster."),
        "local": Field(Permissive(), description="A distributed.LocalCluster for the run (its arguments); "
                       "one thread per worker unless threads_per_worker says otherwise."),
    }))},
)
def dask_executor(init_context) -> DaskStepExecutor:
    ((kind, settings),) = init_context.executor_config["cluster"].items()
    return DaskStepExecutor(kind, settings)


def execute_step(dependencies: Sequence, job: ReconstructableJob, run: str, run_config: dict,
                 step_keys: list[str], instance_ref: InstanceRef, known_state: str) -> str:
    """The task of one step, on a worker: its events, serialised. `dependencies` (the upstream
    steps' results) only order the tasks; `run` and `known_state` arrive serialised."""
    state = deserialize_value(known_state, KnownExecutionState) if known_state else None
    return serialize_value(list(query_on_dask_worker(
        dependencies, job, deserialize_value(run, DagsterRun), run_config, step_keys, instance_ref, state)))


class DaskStepExecutor(Executor):
    def __init__(self, kind: str, settings: dict):
        self.kind, self.settings = kind, dict(settings or {})

    @property
    def retries(self) -> RetryMode:
        return RetryMode.DISABLED

    @contextlib.contextmanager
    def _cluster(self) -> Iterator[str | LocalCluster]:
        if self.kind == "existing":
            yield self.settings["address"]
            return
        # Dagster's step execution is not thread-safe: one step at a time per worker.
        with LocalCluster(**{"threads_per_worker": 1, **self.settings}) as cluster:
            yield cluster

    def execute(self, plan_context: PlanOrchestrationContext,
                execution_plan: ExecutionPlan) -> Iterator[DagsterEvent]:
        check.invariant(plan_context.instance.is_persistent,
                        "the dask executor needs a persistent Dagster instance (DAGSTER_HOME): "
                        "its workers record the steps' events there")
        run = plan_context.dagster_run
        arguments = (plan_context.reconstructable_job, serialize_value(run), plan_context.run_config)
        known_state = serialize_value(execution_plan.known_state) if execution_plan.known_state else ""
        instance_ref = plan_context.instance.get_ref()
        with self._cluster() as cluster, Client(cluster) as client:
            futures = {}
            for level in execution_plan.get_steps_to_execute_by_level():
                for step in level:
                    upstream = [futures[key] for step_input in step.step_inputs
                                for key in step_input.dependency_keys]
                    futures[step.key] = client.submit(
                        execute_step, upstream, *arguments, [step.key], instance_ref, known_state,
                        key=f"{plan_context.job_name}.{step.key}-{run.run_id}",
                        resources=get_dask_resource_requirements(step.tags))
            done = as_completed(list(futures.values()), with_results=True)
            for _, events in iterate_with_context(raise_execution_interrupts, done):
                yield from (check.inst(event, DagsterEvent)
                            for event in deserialize_value(events, list))
