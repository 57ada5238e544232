"""The declarative automation, evaluated tick by tick against a Dagster instance with the
materialisations recorded as runs would record them (Dagster's `evaluate_automation_conditions`):
what follows new scores, a retrained model and a scheduled day, and what waits."""

import dagster as dg
import pytest

from assets.definitions import defs
from assets.partitions import OPERATIONAL_INITS

# Two operational inits with everything materialised, and the next one.
*INITS, NEW = OPERATIONAL_INITS.get_partition_keys()[:3]
UPSTREAM = ["physics_spinup", "truth", "normalization_stats", "climatology", "trained_emulator",
            "post_processor"]
DAILY = ["operational_ensemble", "daily_emulated_ensembles", "verification_scores"]


def materialised(instance: dg.DagsterInstance, asset: str, partitions=(None,)) -> None:
    for partition in partitions:
        instance.report_runless_asset_event(dg.AssetMaterialization(asset, partition=partition))


def requested(result) -> set[tuple[str, str | None]]:
    """(asset, partition) pairs the tick requested."""
    return {(key.to_user_string(), partition)
            for key in {r.key for r in result.results if isinstance(r.key, dg.AssetKey)}
            for partition in result.get_requested_partitions(key)}


@pytest.fixture
def evaluated():
    """(instance, tick): tick() evaluates every condition once, continuing from the last cursor,
    and returns the (asset, partition) pairs requested."""
    instance = dg.DagsterInstance.ephemeral()
    cursor = [None]

    def tick() -> set[tuple[str, str | None]]:
        result = dg.evaluate_automation_conditions(defs=defs, instance=instance, cursor=cursor[0])
        cursor[0] = result.cursor
        return requested(result)

    for asset in UPSTREAM:
        materialised(instance, asset)
    for asset in DAILY:
        materialised(instance, asset, INITS)
    materialised(instance, "verification_summary")
    materialised(instance, "verification_report")
    tick()  # the first evaluation sees the state as it is
    return instance, tick


def test_a_scheduled_day_is_followed_by_the_summary_and_the_report_only(evaluated):
    """After the daily job's run materialised the day's operational ensemble, emulated ensembles
    and scores, the summary and the report follow, and the job's own steps are not requested
    again."""
    instance, tick = evaluated
    assert tick() == set()
    for asset in DAILY:  # a scheduled day: the daily job materialises all three
        materialised(instance, asset, [NEW])
    assert tick() == {("verification_summary", None), ("verification_report", None)}
    assert tick() == set()  # requested once, not on every tick


def test_a_retrained_emulator_re_emulates_and_rescores_every_init(evaluated):
    """The post-processor's frame is refitted to the new emulator first, alone; then one tick
    requests the emulated ensembles and their scores of every init (Dagster puts an init's two
    steps in one run, the scores after the ensembles); the summary follows them."""
    instance, tick = evaluated
    materialised(instance, "trained_emulator")
    assert tick() == {("post_processor", None)}
    assert tick() == set()  # nothing drawn while the frame is being refitted
    materialised(instance, "post_processor")
    assert tick() == {(asset, key) for key in INITS
                      for asset in ("daily_emulated_ensembles", "verification_scores")}
    for asset in ("daily_emulated_ensembles", "verification_scores"):
        materialised(instance, asset, INITS)
    assert tick() == {("verification_summary", None), ("verification_report", None)}


def test_only_inits_with_an_operational_forecast_follow_a_retrained_post_processor(evaluated):
    """Not every operational partition: those whose dependencies all exist."""
    instance, tick = evaluated
    materialised(instance, "post_processor")
    assert {key for asset, key in tick() if asset == "daily_emulated_ensembles"} == set(INITS)
