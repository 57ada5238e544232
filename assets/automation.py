"""Declarative automation: which assets follow their dependencies without a manual launch.

The daily schedule materialises the day's operational ensemble, its emulated ensembles and their
scores (`assets.schedules`); everything downstream of a change follows on its own, evaluated by
the sensor below in the Dagster daemon (`dagster dev` runs one):
  * the post-processor follows a retrained emulator (its default frame is fitted to the emulator's
    members); the emulated ensembles of every init with an operational forecast follow a
    retrained post-processor (so a retrained emulator, after its frame) and new normalisation
    statistics; the scores of every init follow its re-emulated ensembles (or a new truth /
    climatology);
  * the verification summary follows any new or rematerialised scores partition, and the report
    follows the summary.
Nothing is requested while one of its dependencies, or itself, is being materialised, so a
backfill of 100 scores partitions updates the summary once, after it.
"""

from dagster import AssetSelection, AutomationCondition, AutomationConditionSensorDefinition, DefaultSensorStatus

from assets.environment import whole_number_from_environment

SENSOR = "follow_dependencies"
SENSOR_INTERVAL_S = 15
"""Seconds between evaluations (Dagster's default is 30): the conditions are cheap to evaluate
and a user who materialised scores sees the summary follow within a quarter minute."""
SENSOR_INTERVAL_ENV_VAR = "SEEDS_DAG_SENSOR_INTERVAL_S"


def sensor_interval_from_environment() -> int:
    """Seconds between the sensor's evaluations: $SEEDS_DAG_SENSOR_INTERVAL_S, default
    SENSOR_INTERVAL_S. The daemon looks at its sensors every 5 s, so anything shorter means every
    look (the UI tests use 1: each wait on a tick is then a few seconds, not up to twenty)."""
    return whole_number_from_environment(SENSOR_INTERVAL_ENV_VAR, SENSOR_INTERVAL_S,
                                         "seconds between evaluations of the automation sensor")


def _after_updated_dependencies(ignoring: tuple[str, ...] = ()) -> AutomationCondition:
    updated = AutomationCondition.any_deps_updated()
    if ignoring:
        updated = updated.ignore(AssetSelection.assets(*ignoring))
    return (updated.since_last_handled()
            & ~AutomationCondition.any_deps_in_progress() & ~AutomationCondition.in_progress())


def follows_dependencies(ignoring: tuple[str, ...] = ()) -> AutomationCondition:
    """Materialise an asset (each partition on its own) after one of its dependencies is updated,
    once all its dependencies exist: Dagster's `eager` without its restriction to the latest
    time window (a retrained model concerns every init, not only the newest). Updates of the dependencies named in `ignoring` start nothing: they reach the asset
    through another dependency that follows them (the emulator through the post-processor, whose
    frame is fitted to it: runs of differently partitioned assets are separate, and members drawn
    beside the refit would use the stale frame)."""
    label = "after its dependencies are updated" + (f" (not {', '.join(ignoring)} directly)" if ignoring else "")
    return (_after_updated_dependencies(ignoring) & ~AutomationCondition.any_deps_missing()).with_label(label)


def follows_updated(*assets: str) -> AutomationCondition:
    """Materialise after one of the named dependencies is updated (an asset pooling every
    partition of another dependency, such as the reforecast, would otherwise wait until every
    partition of that dependency's calendar exists: `any_deps_missing` counts them all)."""
    updated = AutomationCondition.any_deps_updated().allow(AssetSelection.assets(*assets))
    return (updated.since_last_handled() & ~AutomationCondition.any_deps_in_progress()
            & ~AutomationCondition.in_progress()).with_label(f"after {', '.join(assets)} is updated")


def follows_any_partition() -> AutomationCondition:
    """For an asset pooling the partitions of a partitioned dependency: materialise it after any of
    them is updated (`eager` would wait until every partition of the calendar exists: every
    operational init scored)."""
    return _after_updated_dependencies().with_label("after any dependency partition is updated")


automation_sensor = AutomationConditionSensorDefinition(
    SENSOR, target=AssetSelection.all(), default_status=DefaultSensorStatus.RUNNING,
    minimum_interval_seconds=sensor_interval_from_environment(),
    description="Materialises the assets whose automation condition holds: the emulated "
    "ensembles and scores after a retrained model, the summary and report after new scores.")
