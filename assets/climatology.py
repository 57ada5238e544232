"""The climatology the verification judges against, computed once from the truth: the
per-point 1%/5%/95%/99% quantiles (the extremes' event thresholds) and each variable's
climatological std (the energy score's scale), over the valid times of the training
reforecasts, the climate the models learnt."""

import pandas as pd
import xarray as xr
from dagster import AssetExecutionContext, MaterializeResult, MetadataValue, asset

from assets.automation import follows_dependencies
from assets.sources import truth
from assets.versions import CODE_VERSIONS
from resources import SourceResource, StorageResource
from seeds_dag.conventions import TIME, VARIABLES
from seeds_dag.verification.climatology import MIN_CLIMATOLOGY_DAYS, SCALE_ATTR, climatology_of

CLIMATOLOGY = "climatology"


def training_truth(truth_ds: xr.Dataset, source: SourceResource,
                   context: AssetExecutionContext) -> xr.Dataset:
    """Truth at the valid times of the training reforecasts: reforecast_start to
    reforecast_end + the longest lead (the climate the models learnt), loaded."""
    end = pd.Timestamp(source.reforecast_end) + pd.Timedelta(days=max(source.lead_days))
    window = truth_ds.sel({TIME: slice(pd.Timestamp(source.reforecast_start), end)}).load()
    days = window.sizes[TIME]
    if days == 0:
        raise ValueError(f"truth has no fields in the training window {source.reforecast_start}"
                         f" .. {end:%Y-%m-%d} for the climatological thresholds (truth covers "
                         f"{truth_ds[TIME].values.min()} .. {truth_ds[TIME].values.max()})")
    if days < MIN_CLIMATOLOGY_DAYS:
        context.log.warning(f"climatological thresholds from only {days} days of truth "
                            f"({source.reforecast_start} .. {end:%Y-%m-%d}); the tail quantiles "
                            f"are close to the sample extremes")
    return window


@asset(group_name="verification", deps=[truth], code_version=CODE_VERSIONS[CLIMATOLOGY],
       automation_condition=follows_dependencies(),
       description="Climatological 1%/5%/95%/99% quantiles of the truth at every grid point (the "
       "extreme events' thresholds) and each variable's climatological std (the energy score's "
       "scale), over the training reforecasts' valid times; computed once for every scored init.")
def climatology(context: AssetExecutionContext, source: SourceResource,
                storage: StorageResource) -> MaterializeResult:
    store = storage.store()
    variables = list(VARIABLES)
    window = training_truth(store.open_dataset("truth")[variables], source, context)
    thresholds = climatology_of(window)
    scale = thresholds.attrs[SCALE_ATTR]
    url = store.write_dataset(thresholds, CLIMATOLOGY)
    return MaterializeResult(metadata={
        "location": url, "climatology_days": window.sizes[TIME], "window": thresholds.attrs["window"],
        SCALE_ATTR: MetadataValue.json({k: round(v, 4) for k, v in scale.items()}),
    })
