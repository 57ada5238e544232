"""Lead-to-lead coherence of ensemble members: does a member's day 3 follow from its own day 1 as
a physics member's does?

Members emulated as trajectories (one sample holds every lead of a member) should carry their
departure from the ensemble mean from one lead to the next like physics members, whose errors
grow from the same initial perturbation; members sampled lead by lead are independent across
leads and score about 0. For consecutive leads (l, l') and a member's deviation from its ensemble
mean d = x - xbar:

    corr(l, l') = sum w d_l d_l' / sqrt( sum w d_l^2  *  sum w d_l'^2 )

summed over members, grid points (w = cos(lat) area weights) and inits. The sums are kept per
init as member- and area-mean moments (:func:`lead_moments`), so a set of inits pools by
averaging the moments and taking the ratio once (:func:`pair_correlation`), as
:func:`seeds_dag.verification.scores.pool_over_inits` pools MSE before the square root;
averaging per-init correlations would weight each init by its own spread.

The same moments between two places of a member serve the coherence from one latitude to the next
(:mod:`seeds_dag.verification.meridional`): :class:`PairMoments` and :func:`pair_moments`.
"""

from typing import NamedTuple

import numpy as np
import pandas as pd
import xarray as xr

from seeds_dag.conventions import INIT, LEAD, MEMBER
from seeds_dag.verification.scores import _n_members
from seeds_dag.weighting import spatial_mean

LEAD_PAIR = "lead_pair"
FIRST_LEAD = "first_lead"
SECOND_LEAD = "second_lead"


class PairMoments(NamedTuple):
    """Second moments of member deviations at the two places of each pair (consecutive leads,
    adjacent latitudes), each a Dataset per variable in the variable's units squared."""

    covariance: xr.Dataset
    first_variance: xr.Dataset
    second_variance: xr.Dataset


def lead_pairs(lead_time) -> xr.Coordinates:
    """Consecutive lead pairs (l_1, l_2), (l_2, l_3), ... as a ``lead_pair`` dim indexed by
    (first_lead, second_lead), in the order the leads are given.

    Args:
        lead_time: lead times, shape (lead_time,), timedelta64, at least 2.
    """
    lead = pd.to_timedelta(np.asarray(lead_time))
    pairs = pd.MultiIndex.from_arrays([lead[:-1], lead[1:]], names=[FIRST_LEAD, SECOND_LEAD])
    return xr.Coordinates.from_pandas_multiindex(pairs, LEAD_PAIR)


def pair_moments(first: xr.Dataset, second: xr.Dataset, n_members: int, dims: tuple[str, ...]) -> PairMoments:
    """The area-weighted grid mean of the unbiased member covariance of the deviations at the two
    places of each pair, and their variances:

        covariance      = sum_ij w_i 1/(N-1) sum_n d_1 d_2 / sum_ij w_i
        first_variance  = the same with d_1 d_1,   second_variance  with d_2 d_2

    Args:
        first, second: deviations from the ensemble mean at the pairs' first and second places,
            (..., member, lat, lon) with the same coordinates; w = cos of ``lat``.
        n_members: N, the ensemble size the deviations are about.
        dims: the dims kept, in order (e.g. init_time, lead_pair).
    """
    def moment(a: xr.Dataset, b: xr.Dataset) -> xr.Dataset:
        return spatial_mean((a * b).sum(MEMBER) / (n_members - 1)).transpose(*dims)

    return PairMoments(moment(first, second), moment(first, first), moment(second, second))


def lead_moments(forecast: xr.Dataset) -> PairMoments:
    """Per init, the area-weighted mean over the grid of the unbiased member covariance of the
    deviations d = x - xbar between consecutive leads l, l', and their variances:

        covariance      = sum_ij w_i 1/(N-1) sum_n d_l d_l' / sum_ij w_i
        first_variance  = the same with d_l d_l,   second_variance  with d_l' d_l'

    so first_variance at (l, l') is ``ensemble_spread(forecast)**2`` at l. Averaged over inits
    and put into :func:`pair_correlation` they give the correlation of the pooled sums
    (every init of one ensemble has the same grid and N, so mean of means = pooled mean).

    Args:
        forecast: (init_time, lead_time, member, lat, lon), N = member >= 2, lead_time >= 2
            leads in increasing order.

    Returns:
        PairMoments of (init_time, lead_pair) Datasets, lead_pair indexed by (first_lead,
        second_lead).
    """
    n_members = _n_members(forecast)
    if LEAD not in forecast.dims or forecast.sizes[LEAD] < 2:
        raise ValueError(f"lead coherence needs a '{LEAD}' dim with at least 2 leads, got dims "
                         f"{dict(forecast.sizes)}")
    lead = forecast[LEAD].values
    if not np.all(np.diff(lead) > np.timedelta64(0)):
        raise ValueError(f"lead coherence needs strictly increasing lead times, got {lead}")
    pairs = lead_pairs(lead)
    fields = forecast.reset_coords(drop=True)
    deviation = fields - fields.mean(MEMBER)

    def at(leads: slice) -> xr.Dataset:
        """Deviations at the first (or second) lead of each pair, along lead_pair."""
        return deviation.isel({LEAD: leads}).drop_vars(LEAD).rename_dims({LEAD: LEAD_PAIR})

    first = at(slice(None, -1)).assign_coords(pairs)
    second = at(slice(1, None)).assign_coords(pairs)
    return pair_moments(first, second, n_members, (INIT, LEAD_PAIR))


def pair_correlation(covariance, first_variance, second_variance):
    """Correlation of the deviations between the two places of a pair:  C / sqrt(V_1 V_2)  in
    [-1, 1]; NaN where a variance is 0 (members identical there).

    Plain arithmetic, so it works on xarray, pandas, numpy or floats alike: pass moments of the
    same sample, per init or averaged over inits (see :class:`PairMoments`).
    """
    return covariance / np.sqrt(first_variance * second_variance)


def lead_coherence(forecast: xr.Dataset) -> xr.Dataset:
    """Correlation of a member's deviation from its ensemble mean between consecutive leads,
    pooled over members, grid points (cos-lat weighted) and every init of ``forecast``.

    Args:
        forecast: (init_time, lead_time, member, lat, lon), at least 2 members and 2 leads.

    Returns:
        (lead_pair,) per variable, dimensionless, lead_pair indexed by (first_lead,
        second_lead): 1 when every member keeps its deviation, 0 for members drawn
        independently at each lead.
    """
    moments = lead_moments(forecast)
    return pair_correlation(*(moment.mean(INIT) for moment in moments))
