"""Normalisation statistics over the training reforecasts (dask, bounded memory).

The reduction runs on dask's local threads, or on a dask.distributed cluster when dask's
configuration names one: `scheduler-address` (environment DASK_SCHEDULER_ADDRESS, or a dask YAML
file), e.g. tcp://scheduler:8786. No code changes: the cluster is chosen where the run happens.
"""


import contextlib
from collections.abc import Iterator

import dask
from dagster import AssetExecutionContext, MaterializeResult, MetadataValue, asset

from assets.inputs import open_partitions
from assets.sources import reforecast_shards
from assets.versions import CODE_VERSIONS
from resources import SourceResource, StorageResource
from seeds_dag.conventions import VARIABLES
from seeds_dag.normalization import compute_normalization

LOCAL_SCHEDULER = "local threads"


@contextlib.contextmanager
def dask_scheduler() -> Iterator[str]:
    """Make the cluster at dask config `scheduler-address` dask's scheduler for the block (its
    address is yielded), or leave dask's local threaded scheduler (LOCAL_SCHEDULER)."""
    address = dask.config.get("scheduler-address", None)
    if not address:
        yield LOCAL_SCHEDULER
        return
    try:
        from distributed import Client
    except ImportError as err:
        raise RuntimeError(f"dask config scheduler-address is {address!r}, but the 'distributed' "
                           "package is not installed (pip install -e '.[cluster]')") from err
    # A Client made here is the default scheduler of every dask compute until it closes.
    with Client(address) as client:
        yield client.scheduler.address


@asset(group_name="training", deps=[reforecast_shards], code_version=CODE_VERSIONS["normalization_stats"],
       description="Per variable and lead time, mean and std over the training reforecast window.")
def normalization_stats(context: AssetExecutionContext, source: SourceResource,
                        storage: StorageResource) -> MaterializeResult:
    store = storage.store()
    dates = source.reforecast_dates()
    reforecasts = open_partitions(store, "reforecast_shards", dates)
    with dask_scheduler() as scheduler:
        stats = compute_normalization(reforecasts[list(VARIABLES)])
    url = store.write_dataset(stats, "normalization_stats")
    table = stats.sel(statistic="std").mean("lat").to_dataframe().drop(columns="statistic", errors="ignore")
    return MaterializeResult(metadata={
        "location": url,
        "training_inits": len(dates),
        "window": f"{dates[0]}..{dates[-1]}",
        "dask_scheduler": scheduler,
        "zonal_mean_std_by_lead": MetadataValue.md(table.to_markdown()),
    })
