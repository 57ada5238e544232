"""The run process of a backfill: one run of a job of the code location per partition, as the
instance's run coordinator and launcher would start them. test_dask_backfill and
tests/ui/test_postgres_instance start it as its own process, in the environment a deployment gives
the code location (SEEDS_DAG_EXECUTOR, DAGSTER_HOME, the storage credentials, the instance's
database), so that the definitions load with that executor and the runs go to that instance:

    python backfill_runs.py JOB RUN_CONFIG.json AT_ONCE PARTITION...

The runs are recorded in the instance at $DAGSTER_HOME, at most AT_ONCE at a time (as
`max_concurrent_runs: AT_ONCE` would have them), started in the order given, by AT_ONCE processes
that each run one after the other the runs handed to them (each loads the definitions once). Not
threads of one process: Dagster configures logging anew for every run, and two runs doing so at
once in one process wait on each other for ever (measured: two `execute_job` calls in threads).
"""

import json
import multiprocessing
import os
import sys
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

from dagster import DagsterInstance, execute_job
from dagster._core.definitions.reconstruct import ReconstructableRepository

# The code location as workspace.yaml and pyproject.toml name it.
CODE_LOCATION_MODULE, DEFINITIONS = "assets.definitions", "defs"
PARTITION_TAG = "dagster/partition"


def succeeds(job: str, run_config: dict, partition: str) -> bool:
    """Whether the run of `job` for `partition` succeeded."""
    # The workers import the code location from this process's working directory too.
    repository = ReconstructableRepository.for_module(CODE_LOCATION_MODULE, DEFINITIONS,
                                                      working_directory=os.getcwd())
    with DagsterInstance.get() as instance, execute_job(
            repository.get_reconstructable_job(job), instance, run_config=run_config,
            tags={PARTITION_TAG: partition}) as result:
        return result.success


def main(job: str, run_config_path: str, at_once: int, partitions: list[str]) -> int:
    run_config = json.loads(Path(run_config_path).read_text())
    # The instance's databases are made here, once: two processes opening a new instance at the
    # same time both make them (measured: an OperationalError or "alembic_version has more than
    # one head" in 1 of 6 tries, and a broken instance for every later run).
    DagsterInstance.get().dispose()
    # Started afresh ("spawn"), not forked from this process with whatever it holds.
    with ProcessPoolExecutor(at_once, mp_context=multiprocessing.get_context("spawn")) as runs:
        outcomes = runs.map(succeeds, [job] * len(partitions), [run_config] * len(partitions), partitions)
        failed = [partition for partition, success in zip(partitions, outcomes) if not success]
    if failed:
        print(f"{job}: runs of partitions {failed} failed", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4:]))
