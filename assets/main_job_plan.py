"""The main job's steps, read from the asset graph of the definitions rather than written out by
hand, so that an asset added to `ALL_ASSETS` is materialised by the main job in its place.

Each asset comes after every asset it depends on; among assets free to go, the one listed first in
`ALL_ASSETS` goes first. A partitioned asset is one step per init date of the job that its
partitions hold: `reforecast_shards` (the reforecast calendar) over the reforecast window, the
others (the operational calendar) over the operational inits the job verifies. The physics
(the assets of the sources group) are marked, so that the job can run them in its one-thread
worker processes.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

from dagster import AssetsDefinition

from assets.sources import GROUP as SOURCES_GROUP

@dataclasses.dataclass(frozen=True)
class Step:
    asset: str
    partition: str | None
    physics: bool  # an asset of the sources group: a forecast or run of the physics model


def name(asset: AssetsDefinition) -> str:
    return asset.key.to_user_string()


def graph_order(assets: Sequence[AssetsDefinition]) -> list[AssetsDefinition]:
    """`assets` in an order in which each comes after its dependencies among them; ties go to the
    one listed first. Refuses a cycle, naming the assets in it."""
    keys = {asset.key for asset in assets}
    waiting = {asset.key: {d for d in asset.dependency_keys if d in keys and d != asset.key} for asset in assets}
    ordered: list[AssetsDefinition] = []
    while waiting:
        ready = next((a for a in assets if a.key in waiting and not waiting[a.key]), None)
        if ready is None:
            raise ValueError(f"the asset graph has a cycle among {sorted(k.to_user_string() for k in waiting)}")
        ordered.append(ready)
        del waiting[ready.key]
        for upstream in waiting.values():
            upstream.discard(ready.key)
    return ordered


def main_job_steps(assets: Sequence[AssetsDefinition], operational: Sequence[str],
                   reforecast: Sequence[str]) -> list[Step]:
    """Every (asset, partition) the main job materialises, in `graph_order`: the `reforecast` and
    `operational` inits that each partitioned asset's partitions hold (the calendars of
    `assets/partitions.py` are disjoint)."""
    steps = []
    for asset in graph_order(assets):
        physics = asset.group_names_by_key[asset.key] == SOURCES_GROUP
        if asset.partitions_def is None:
            steps.append(Step(name(asset), None, physics))
        else:
            steps += [Step(name(asset), date, physics) for date in (*reforecast, *operational)
                      if asset.partitions_def.has_partition_key(date)]
    return steps
