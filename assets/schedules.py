"""Jobs and the daily schedule: emulate and verify each new operational init."""

from dagster import AssetSelection, build_schedule_from_partitioned_job, define_asset_job


daily_emulation_job = define_asset_job(
    "daily_emulation",
    selection=AssetSelection.assets("operational_ensemble", "daily_emulated_ensembles",
                                     "verification_scores"),
    description="For one init date: the operational ensemble, its emulated ensemble, the scores.",
)

# Runs shortly after midnight UTC for the partition of the day that just ended.
daily_emulation_schedule = build_schedule_from_partitioned_job(
    daily_emulation_job, hour_of_day=0, minute_of_hour=30
)
