"""The code location: every asset, check, job, schedule and resource of seeds-dag."""

from dagster import Definitions

from assets.automation import automation_sensor
from assets.climatology import climatology
from assets.ensembles import daily_emulated_ensembles
from assets.executors import executor_from_environment
from assets.gpu import training_processes_from_environment
from assets.models import post_processor, trained_emulator
from assets.report import verification_report
from assets.schedules import daily_emulation_job, daily_emulation_schedule
from assets.sources import operational_ensemble, physics_spinup, reforecast_shards, truth
from assets.statistics import normalization_stats
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
        "source": SourceResource(),
    },
)
