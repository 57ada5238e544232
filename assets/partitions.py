"""Partitions of the graph: one partition per initialisation date, in two calendars that the
`source` settings bound, so that Dagster (the UI, a backfill, a launch) offers only inits that exist.

* `reforecast_inits`: the training window, reforecast_start..reforecast_end, daily (for the archive
  source the window must lie inside the GEFSv12 reforecast's 2000–2019, which the resource checks).
* `operational_inits`: daily from the first init whose forecasts overlap no training valid time
  (`SourceResource.first_operational_date`). The embedded source's end is the last init the nature
  run can verify (`last_verified_date`); the real operational archive is published day by day, so
  for it the partitions run to the last complete day, as the daily schedule needs.

Dagster builds the graph when the code location loads, so the calendars follow the definitions'
settings ($SEEDS_DAG_SOURCE, `resources.source.source_from_environment`). A run that materialises
with other settings (the main job's --quick, the tests' tiny experiment) takes the assets with its
own calendars from `with_calendars`.
"""

from collections.abc import Sequence

import pandas as pd
from dagster import AssetsDefinition, BackfillPolicy, DailyPartitionsDefinition, PartitionsDefinition

from resources.source import SourceResource, source_from_environment
from seeds_dag.sources.embedded.source import REFORECAST_BATCH_INITS

DAY = pd.Timedelta(days=1)
DATE_FORMAT = "%Y-%m-%d"


def reforecast_inits(source: SourceResource) -> DailyPartitionsDefinition:
    """One partition a day over the training window (both ends included)."""
    return DailyPartitionsDefinition(start_date=_date(pd.Timestamp(source.reforecast_start)),
                                     end_date=_date(pd.Timestamp(source.reforecast_end) + DAY))


def operational_inits(source: SourceResource) -> DailyPartitionsDefinition:
    """One partition a day from `first_operational_date`: to `last_verified_date` for the embedded
    source, refused where that leaves none; open-ended (to the last complete day) for the archive."""
    first = source.first_operational_date()
    if source.kind == "gefs":
        return DailyPartitionsDefinition(start_date=_date(first))
    last = source.last_verified_date()
    if last < first:
        raise ValueError(
            f"source: no operational init to verify: the first after the training window is "
            f"{first:%Y-%m-%d} (reforecast_end={source.reforecast_end} + the longest lead "
            f"{max(source.lead_days)} days + 1), the last the nature run verifies {last:%Y-%m-%d} "
            f"(start_date={source.start_date} + truth_days={source.truth_days} - the longest lead); "
            f"raise truth_days to at least {source.truth_days + (first - last).days}")
    return DailyPartitionsDefinition(start_date=_date(first), end_date=_date(last + DAY))


def reforecast_backfill(source: SourceResource) -> BackfillPolicy:
    """How a backfill of the reforecast splits into runs. The embedded physics integrates the inits
    of one run as one batch, cheaper per member (REFORECAST_BATCH_INITS); the archive reads each
    init on its own, so one per run, and a failed init is retried alone."""
    return BackfillPolicy.multi_run(REFORECAST_BATCH_INITS if source.kind == "embedded" else 1)


def _date(day: pd.Timestamp) -> str:
    return day.strftime(DATE_FORMAT)


DEFINITIONS_SOURCE = source_from_environment()
"""The `source` settings of the definitions, which their calendars follow."""
REFORECAST_INITS = reforecast_inits(DEFINITIONS_SOURCE)
OPERATIONAL_INITS = operational_inits(DEFINITIONS_SOURCE)
REFORECAST_BACKFILL = reforecast_backfill(DEFINITIONS_SOURCE)


def with_calendars(assets: Sequence[AssetsDefinition],
                   source: SourceResource) -> list[AssetsDefinition]:
    """`assets` (declared with REFORECAST_INITS or OPERATIONAL_INITS) with the calendars of
    `source` instead; the same objects where they agree. The backfill policy stays the
    definitions' (it matters to backfills, which run the definitions)."""
    return _with_partitions(assets, {REFORECAST_INITS: reforecast_inits(source),
                                     OPERATIONAL_INITS: operational_inits(source)})


def with_operational_init(assets: Sequence[AssetsDefinition], init: str) -> list[AssetsDefinition]:
    """`assets` whose operational partitions are the one init date `init`: for scoring a forecast
    of any date outside the experiment's calendar (`seeds-dag score`)."""
    day = pd.Timestamp(init)
    return _with_partitions(assets, {OPERATIONAL_INITS: DailyPartitionsDefinition(
        start_date=_date(day), end_date=_date(day + DAY))})


def _with_partitions(assets: Sequence[AssetsDefinition],
                     replacements: dict[PartitionsDefinition, PartitionsDefinition]) -> list[AssetsDefinition]:
    """`assets` with each declared partitions definition of `replacements` replaced by its value."""
    def calendar(declared: PartitionsDefinition | None) -> PartitionsDefinition | None:
        return next((wanted for old, wanted in replacements.items() if declared == old), declared)

    return [asset if calendar(asset.partitions_def) == asset.partitions_def else
            asset.map_asset_specs(lambda spec: spec.replace_attributes(
                partitions_def=calendar(spec.partitions_def)))
            for asset in assets]
