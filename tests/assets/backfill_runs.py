"""The run process of a backfill: one run of a job of the code location per partition, one after
the other, as the instance's run launcher would start them. test_dask_backfill starts it as its
own process, in the environment a deployment gives the code location (SEEDS_DAG_EXECUTOR,
DAGSTER_HOME, the storage credentials), so that the definitions load with that executor:

    python backfill_runs.py JOB RUN_CONFIG.json PARTITION...

The runs are recorded in the instance at $DAGSTER_HOME, one at a time (as `max_concurrent_runs: 1`
would have them): a partition's run is over before the next one starts.
"""

import json
import os
import sys
from pathlib import Path

from dagster import DagsterInstance, execute_job
from dagster._core.definitions.reconstruct import ReconstructableRepository

# The code location as workspace.yaml and pyproject.toml name it.
CODE_LOCATION_MODULE, DEFINITIONS = "assets.definitions", "defs"
PARTITION_TAG = "dagster/partition"


def main(job: str, run_config_path: str, partitions: list[str]) -> int:
    run_config = json.loads(Path(run_config_path).read_text())
    # The workers import the code location from this process's working directory too.
    repository = ReconstructableRepository.for_module(CODE_LOCATION_MODULE, DEFINITIONS,
                                                      working_directory=os.getcwd())
    failed = []
    with DagsterInstance.get() as instance:
        for partition in partitions:
            with execute_job(repository.get_reconstructable_job(job), instance, run_config=run_config,
                             tags={PARTITION_TAG: partition}) as result:
                if not result.success:
                    failed.append(partition)
    if failed:
        print(f"{job}: runs of partitions {failed} failed", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], sys.argv[2], sys.argv[3:]))
