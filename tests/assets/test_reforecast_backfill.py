"""A ranged run of the reforecast, as a backfill under its BackfillPolicy launches one: the tiny
experiment's two reforecast inits in one run, their physics integrated as one batch.

The physics is deterministic per init (the same run gives the same bits), but batching changes
the bits, not the forecasts: a batch of another size sums in float32 in another order, so each
value differs from the init's own run by rounding (measured here: at most 3.7e-4 of the field's
standard deviation for sp, 8e-5 for z500, 1e-5 for t850; `tests/sources/test_embedded_source.py`
holds the batched physics to 1e-3). What must hold, and is tested:
each partition is its own artifact with exactly the coordinates, dims, dtypes and attributes of
the per-partition run's, values equal to within that rounding, and Dagster records one
materialisation per partition, with that partition's own location and sizes.
"""

import numpy as np
import xarray as xr
from dagster import AssetKey, DagsterEventType, materialize
from tiny_experiment import (
    COMPUTE,
    REFORECAST_INITS,
    SOURCE,
    TinyGraph,
    copy_artifacts,
    instance_for,
)

from assets.definitions import assets_for
from resources import StorageResource
from seeds_dag.conventions import VARIABLES

ASSET = "reforecast_shards"
# Dagster's tags of a run over a range of partitions (what a backfill under a multi-run policy sets).
RANGE_START, RANGE_END = "dagster/asset_partition_range_start", "dagster/asset_partition_range_end"


def test_a_ranged_run_commits_and_records_each_init_as_its_own_run_would(tiny_graph: TinyGraph, tmp_path):
    assert len(REFORECAST_INITS) >= 2
    root = tmp_path / "ranged"
    copy_artifacts(tiny_graph.root, root, ["physics_spinup", "truth"])
    result = materialize(
        assets_for(SOURCE), selection=[ASSET], instance=instance_for(root),
        resources={"storage": StorageResource(root=str(root)), "compute": COMPUTE, "source": SOURCE},
        tags={RANGE_START: REFORECAST_INITS[0], RANGE_END: REFORECAST_INITS[-1]})
    assert result.success

    # One step, one materialisation per partition, each with its own artifact's metadata.
    steps = [e for e in result.all_events if e.event_type == DagsterEventType.STEP_START]
    recorded = {e.materialization.partition: e.materialization.metadata
                for e in result.get_asset_materialization_events()}
    assert len(steps) == 1 and sorted(recorded) == REFORECAST_INITS
    assert len(result.get_asset_materialization_events()) == len(REFORECAST_INITS)
    assert instance_for(root).get_materialized_partitions(AssetKey(ASSET)) == set(REFORECAST_INITS)
    [check] = result.get_asset_check_evaluations()
    assert check.passed and check.metadata["checked"].value == ", ".join(
        f"{ASSET}[{key}]" for key in REFORECAST_INITS)

    ranged, alone = StorageResource(root=str(root)).store(), tiny_graph.store
    for key in REFORECAST_INITS:
        metadata = {name: value.value for name, value in recorded[key].items()}
        assert metadata["location"] == ranged.location(ASSET, key)
        assert metadata["batch_inits"] == len(REFORECAST_INITS)
        assert metadata["dims"] == tiny_graph.metadata(ASSET, key)["dims"]
        ours, theirs = ranged.load_dataset(ASSET, key), alone.load_dataset(ASSET, key)
        # Everything but the values identical: dims, coordinates, dtypes, attributes.
        xr.testing.assert_identical(ours.copy(data={n: theirs[n].values for n in theirs.data_vars}),
                                    theirs)
        for name in VARIABLES:
            assert ours[name].dtype == theirs[name].dtype == np.float32
            difference = np.abs(ours[name].values - theirs[name].values).max()
            assert difference <= 1e-3 * theirs[name].std().item(), (key, name, difference)

