"""Normalisation statistics over the training reforecasts (dask, bounded memory)."""


from dagster import AssetExecutionContext, MaterializeResult, MetadataValue, asset

from assets.inputs import open_partitions
from assets.sources import reforecast_shards
from resources import SourceResource, StorageResource
from seeds_dag.conventions import VARIABLES
from seeds_dag.normalization import compute_normalization


@asset(group_name="training", deps=[reforecast_shards],
       description="Per variable and lead time, mean and std over the training reforecast window.")
def normalization_stats(context: AssetExecutionContext, source: SourceResource,
                        storage: StorageResource) -> MaterializeResult:
    store = storage.store()
    dates = source.reforecast_dates()
    reforecasts = open_partitions(store, "reforecast_shards", dates)
    stats = compute_normalization(reforecasts[list(VARIABLES)])
    url = store.write_dataset(stats, "normalization_stats")
    table = stats.sel(statistic="std").mean("lat").to_dataframe().drop(columns="statistic", errors="ignore")
    return MaterializeResult(metadata={
        "location": url,
        "training_inits": len(dates),
        "window": f"{dates[0]}..{dates[-1]}",
        "zonal_mean_std_by_lead": MetadataValue.md(table.to_markdown()),
    })
