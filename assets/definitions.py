"""The code location: every asset, check, job, schedule and resource of seeds-dag.

The `source` settings come from $SEEDS_DAG_SOURCE (a YAML file; the defaults where unset): the
resource is built from them, and so are the partitions of the per-init assets
(`assets/partitions.py`), so the UI offers exactly the inits those settings make."""

from collections.abc import Sequence

from dagster import AssetsDefinition, Definitions

from assets.automation import automation_sensor
from assets.climatology import climatology
from assets.ensembles import daily_emulated_ensembles
from assets.executors import executor_from_environment
from assets.gpu import training_processes_from_environment
from assets.training import post_processor, trained_emulator
from assets.partitions import DEFINITIONS_SOURCE, with_calendars
from assets.report import verification_report
from assets.schedules import daily_emulation_job, daily_emulation_schedule
from assets.sources import operational_ensemble, physics_spinup, reforecast_shards, truth
from assets.normalization import normalization_stats
from assets.summary import verification_summary
from assets.verification import verification_scores
from resources import ComputeResource, SourceResource, StorageResource

ALL_ASSETS = [
    physics_spinup,
    truth,
    reforecast_shards,
    operational_ensemble,
    normalization_stats,
    climatology,
    trained_emulator,
    post_processor,
    daily_emulated_ensembles,
    verification_scores,
    verification_summary,
    verification_report,
]

defs = Definitions(
    assets=ALL_ASSETS,
    jobs=[daily_emulation_job],
    schedules=[daily_emulation_schedule],
    sensors=[automation_sensor],
    executor=executor_from_environment(),
    resources={
        "storage": StorageResource(),
        # The training steps request this many GPUs (assets/gpu.py): the same number by default.
        "compute": ComputeResource(training_processes=training_processes_from_environment()),
        "source": DEFINITIONS_SOURCE,
    },
)


def assets_for(source: SourceResource) -> Sequence[AssetsDefinition]:
    """ALL_ASSETS with the partitions that `source`'s calendar makes, for materialising with
    other settings than the definitions' (the main job's --quick, the tests)."""
    return with_calendars(ALL_ASSETS, source)
