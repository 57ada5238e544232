"""Jobs and the daily schedule: emulate and verify each new operational init."""

import datetime

from dagster import (
    AssetSelection,
    RunRequest,
    ScheduleEvaluationContext,
    SkipReason,
    define_asset_job,
    schedule,
)

from assets.partitions import DATE_FORMAT, OPERATIONAL_INITS

daily_emulation_job = define_asset_job(
    "daily_emulation",
    selection=AssetSelection.assets("operational_ensemble", "daily_emulated_ensembles",
                                     "verification_scores"),
    description="For one init date: the operational ensemble, its emulated ensemble, the scores.",
)


@schedule(job=daily_emulation_job, cron_schedule="30 0 * * *", execution_timezone="UTC",
          description="Shortly after midnight UTC, the init of the day that just ended; skipped "
          "when that day is no operational init (the embedded experiment's lie in the past).")
def daily_emulation_schedule(context: ScheduleEvaluationContext) -> RunRequest | SkipReason:
    # Not Dagster's schedule from the partitioned job: once a bounded calendar has ended, that one
    # requests its last init again every day.
    day = (context.scheduled_execution_time - datetime.timedelta(days=1)).strftime(DATE_FORMAT)
    if not OPERATIONAL_INITS.has_partition_key(day):
        return SkipReason(f"{day} is no operational init (the source settings make "
                          f"{OPERATIONAL_INITS.get_first_partition_key()}.."
                          f"{OPERATIONAL_INITS.get_last_partition_key()})")
    return RunRequest(partition_key=day)
