"""The climatology verification judges against, from a window of the truth: the per-point
1%/5%/95%/99% quantiles (the extremes' event thresholds, `extremes.climatological_thresholds`) and
each variable's climatological std (the energy score's scale, `multivariate.climatological_scale`),
as one dataset. The `climatology` asset makes it from the truth over the training reforecasts'
valid times; `seeds-dag score` from the truth a user gives, where no climatology is given."""

import pandas as pd
import xarray as xr

from seeds_dag.conventions import TIME
from seeds_dag.verification.extremes import climatological_thresholds
from seeds_dag.verification.multivariate import climatological_scale

SCALE_ATTR = "climatological_scale"
MIN_CLIMATOLOGY_DAYS = 30
"""Below about 30 days per point the 1%/99% quantiles are little more than the sample extremes."""


def climatology_of(window: xr.Dataset) -> xr.Dataset:
    """The quantiles of `window` (dims (time, lat, lon), loaded), dims (quantile, lat, lon), with
    attrs `climatological_scale` (variable -> std), `days` and `window` (its first .. last date)."""
    return climatological_thresholds(window).assign_attrs({
        SCALE_ATTR: climatological_scale(window), "days": window.sizes[TIME],
        "window": f"{pd.Timestamp(window[TIME].values[0]):%Y-%m-%d} .. "
                  f"{pd.Timestamp(window[TIME].values[-1]):%Y-%m-%d}"})


def climatological_scale_of(climatology: xr.Dataset) -> dict[str, float]:
    """The per-variable climatological std stored with the thresholds."""
    return {name: float(value) for name, value in climatology.attrs[SCALE_ATTR].items()}
