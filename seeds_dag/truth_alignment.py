"""The truth at a set of forecasts' valid times, valid_time = init_time + lead_time: how a truth
with dims (time, lat, lon) meets forecasts with dims (init_time, lead_time, ...).

Beside the conventions rather than in `seeds_dag.verification`: the normalisation statistics and
the post-processor's training targets need the truth at the valid times as the scores do.
"""

import numpy as np
import xarray as xr

from seeds_dag.conventions import INIT, LEAD, TIME, VALID_TIME


def align_truth(truth: xr.Dataset, init_time, lead_time) -> xr.Dataset:
    """Truth at the valid times  valid_time = init_time + lead_time  of a set of forecasts.

    Args:
        truth: fields with dims (time, lat, lon).
        init_time: initialisation times, shape (init_time,), datetime64.
        lead_time: lead times, shape (lead_time,), timedelta64.

    Returns:
        fields with dims (init_time, lead_time, lat, lon) and a ``valid_time`` coordinate
        (init_time, lead_time).

    Raises:
        ValueError: naming the valid times that ``truth`` lacks.
    """
    init = np.asarray(init_time)
    lead = np.asarray(lead_time)
    valid = xr.DataArray(init, dims=INIT, coords={INIT: init}) + xr.DataArray(
        lead, dims=LEAD, coords={LEAD: lead}
    )
    missing = np.setdiff1d(valid.values.ravel(), truth[TIME].values)
    if missing.size:
        shown = ", ".join(str(np.datetime_as_string(t, unit="s")) for t in missing[:10])
        more = f" and {missing.size - 10} more" if missing.size > 10 else ""
        raise ValueError(
            f"align_truth: truth has no fields at {missing.size} valid time(s): {shown}{more} "
            f"(truth covers {truth.sizes[TIME]} times from {truth[TIME].values.min()} "
            f"to {truth[TIME].values.max()})"
        )
    aligned = truth.sel({TIME: valid}).rename({TIME: VALID_TIME})
    return aligned.transpose(INIT, LEAD, ...)
