"""Latitude-to-latitude coherence of ensemble members: does a member's departure at one latitude
go on at the next, as a physics member's does?

Every other realism statistic is zonal (power by zonal wavenumber), at a point (variance,
correlation between variables) or in time (lead-to-lead coherence). Members built by filters that
act on each latitude circle alone can pass them all and still be striped from one latitude to the
next: white noise filtered along the latitude circles keeps the physics members' zonal spectra and
cross-spectra exactly and stays white in latitude. This is the statistic that sees it. For each
pair of adjacent latitudes (φ_j, φ_j+1) and a member's deviation from its ensemble mean
d = x - xbar:

    corr = sum w d_j d_j+1 / sqrt( sum w d_j^2  *  sum w d_j+1^2 )

summed over members, longitudes, latitude pairs (w = cos of the pair's mid-latitude) and inits,
per variable and lead; pooled over inits by their moments, as the lead-to-lead coherence is
(:mod:`seeds_dag.verification.coherence`). It depends on the grid spacing: compare ensembles on
the same grid only (every ensemble the verification reads is on the working grid).
"""

import xarray as xr

from seeds_dag.conventions import INIT, LAT, LEAD, MEMBER
from seeds_dag.verification.coherence import PairMoments, pair_correlation, pair_moments
from seeds_dag.verification.scores import _n_members


def latitude_moments(forecast: xr.Dataset) -> PairMoments:
    """Per init and lead, the moments of member deviations at adjacent latitudes
    (:func:`~seeds_dag.verification.coherence.pair_moments`), each pair weighted by the cosine of
    its mid-latitude.

    Args:
        forecast: (init_time, lead_time, member, lat, lon), N = member >= 2, lat >= 2.

    Returns:
        PairMoments of (init_time, lead_time) Datasets: first_variance over the southern (first
        in the grid's order) latitude of each pair, second_variance over the other.
    """
    n_members = _n_members(forecast)
    if forecast.sizes.get(LAT, 0) < 2:
        raise ValueError(f"latitude-to-latitude coherence needs at least 2 latitudes, got dims "
                         f"{dict(forecast.sizes)}")
    fields = forecast.reset_coords(drop=True)
    deviation = fields - fields.mean(MEMBER)
    lat = deviation[LAT].values
    midpoints = {LAT: (lat[:-1] + lat[1:]) / 2}
    first = deviation.isel({LAT: slice(None, -1)}).assign_coords(midpoints)
    second = deviation.isel({LAT: slice(1, None)}).assign_coords(midpoints)
    return pair_moments(first, second, n_members, (INIT, LEAD))


def latitude_coherence(forecast: xr.Dataset) -> xr.Dataset:
    """Correlation of a member's deviation from its ensemble mean between adjacent latitudes,
    pooled over members, longitudes, latitude pairs (cos-lat weighted) and every init of
    ``forecast``.

    Args:
        forecast: (init_time, lead_time, member, lat, lon), at least 2 members and 2 latitudes.

    Returns:
        (lead_time,) per variable, dimensionless: near 1 for deviations broad in latitude, 0 for
        deviations independent from one latitude to the next (stripes along the circles).
    """
    moments = latitude_moments(forecast)
    return pair_correlation(*(moment.mean(INIT) for moment in moments))
