"""Extreme events: exceedance of climatological quantiles of the truth (ARCHITECTURE.md,
Verification).

An event is defined per grid point by a threshold from the truth climatology at quantile q:
"value < threshold" for q < 0.5 (a low extreme), "value > threshold" for q > 0.5 (a high one).
An N-member ensemble forecasts it with probability p = k/N, k the number of members with the
event. Shapes: ``forecast`` (init_time, lead_time, member, lat, lon) and ``truth``
(init_time, lead_time, lat, lon) as in :mod:`seeds_dag.verification.scores`; thresholds
(quantile, lat, lon); one data variable per field throughout.

Weighting: the Brier scores are area-weighted means over the grid (cos(latitude), like every
score in :mod:`~seeds_dag.verification.scores`); the reliability and ROC counts are *unweighted*
grid-point counts, so that they are integers that pool over inits by summation and match the
usual contingency-table definitions (and xskillscore's).

Probabilities are compared with bin edges and thresholds b/n_bins in integer arithmetic
(k * n_bins against b * N), so p = 3/10 lands in the bin [0.3, 0.4) however 0.3 rounds.
"""

from typing import NamedTuple

import numpy as np
import xarray as xr

from seeds_dag.conventions import INIT, LAT, LON, MEMBER, TIME
from seeds_dag.verification.scores import _check_pair
from seeds_dag.weighting import spatial_mean

QUANTILE = "quantile"
BIN = "bin"
PROBABILITY_THRESHOLD = "probability_threshold"
# The tails the verification judges (ARCHITECTURE.md, Verification): 1% / 99% are the extremes,
# 5% / 95% have more samples.
QUANTILES = (0.01, 0.05, 0.95, 0.99)
# Ten bins of width 0.1 are the usual reliability diagram; ROC thresholds use the same edges.
PROBABILITY_BINS = 10


def climatological_thresholds(truth: xr.Dataset, quantiles=QUANTILES) -> xr.Dataset:
    """Per-point quantiles of the truth over time: the event thresholds.

    Computed with ``xarray.Dataset.quantile`` (numpy's "linear" method: the q-quantile sits at
    order statistic q (T - 1) of the T times). For q < 1/(T - 1) it lies between the two smallest
    values, so the 1% and 99% thresholds need T of order 100 to mean what they say.

    Args:
        truth: fields with dims (time, lat, lon) over the climatological period (the caller
            selects it, e.g. the training period); T = time >= 1.
        quantiles: quantile levels in (0, 1), none equal to 0.5 (its event is undefined).

    Returns:
        thresholds, dims (quantile, lat, lon), in each variable's units.
    """
    levels = np.asarray(quantiles, dtype=float)
    outside = (levels <= 0) | (levels >= 1) | (levels == 0.5)
    if levels.ndim != 1 or levels.size == 0 or np.any(outside):
        raise ValueError(
            f"climatological_thresholds: quantiles must be a non-empty list in (0, 1) without "
            f"0.5, got {list(quantiles)}"
        )
    if TIME not in truth.dims or truth.sizes[TIME] == 0:
        raise ValueError(
            f"climatological_thresholds: truth needs a non-empty '{TIME}' dim, got dims "
            f"{dict(truth.sizes)}"
        )
    return truth.quantile(levels, dim=TIME).transpose(QUANTILE, LAT, LON)


def base_rate(quantile: xr.DataArray) -> xr.DataArray:
    """Climatological probability of the event: q for q < 0.5, 1 - q for q > 0.5."""
    return xr.where(quantile < 0.5, quantile, 1.0 - quantile)


def _event(values: xr.Dataset, thresholds: xr.Dataset) -> xr.Dataset:
    """Whether ``values`` is beyond the threshold on the event's side; dims of both, broadcast."""
    low = thresholds[QUANTILE] < 0.5
    return xr.where(low, values < thresholds, values > thresholds)


class EnsembleEvents(NamedTuple):
    """Events of one ensemble against truth; Datasets with dims
    (init_time, lead_time, quantile, lat, lon), one variable per field."""

    member_count: xr.Dataset  # int: members with the event, 0..n_members
    observed: xr.Dataset  # bool: the truth has the event
    n_members: int


def ensemble_events(
    forecast: xr.Dataset, truth: xr.Dataset, thresholds: xr.Dataset
) -> EnsembleEvents:
    """Count the members with each event and whether the truth has it.

    Args:
        forecast: (init_time, lead_time, member, lat, lon), N = member >= 2.
        truth: (init_time, lead_time, lat, lon), aligned to the forecast valid times.
        thresholds: (quantile, lat, lon) from :func:`climatological_thresholds`, same grid.

    Returns:
        EnsembleEvents; p = member_count / n_members is the forecast probability.
    """
    truth = _check_pair(forecast, truth).reset_coords(drop=True)
    missing = [name for name in forecast.data_vars if name not in thresholds.data_vars]
    if missing:
        raise ValueError(
            f"thresholds lack forecast variable(s) {missing}; thresholds have "
            f"{list(thresholds.data_vars)}"
        )
    thresholds = thresholds[list(forecast.data_vars)]
    for dim in (LAT, LON):
        if not np.array_equal(forecast[dim].values, thresholds[dim].values):
            raise ValueError(
                f"thresholds and forecast differ along '{dim}': thresholds have "
                f"{thresholds.sizes[dim]} values, forecast {forecast.sizes[dim]} "
                f"(compute the thresholds from truth on the forecast grid)"
            )
    order = (INIT, "lead_time", QUANTILE, LAT, LON)
    member_count = _event(forecast, thresholds).sum(MEMBER).transpose(*order)
    observed = _event(truth, thresholds).transpose(*order)
    return EnsembleEvents(member_count, observed, forecast.sizes[MEMBER])


def brier_score(events: EnsembleEvents) -> xr.Dataset:
    """Area-weighted Brier score  sum_ij w_i (p_ij - o_ij)^2 / sum_ij w_i,  p = k/N, o in {0, 1}.

    The plain (not ensemble-size-adjusted) score of the member fraction, so a small ensemble is
    penalised for its coarse probabilities, as it would be in use.

    Returns:
        (init_time, lead_time, quantile) per variable, in [0, 1].
    """
    probability = events.member_count / events.n_members
    return spatial_mean((probability - events.observed) ** 2)


def climatological_brier_score(events: EnsembleEvents) -> xr.Dataset:
    """Area-weighted Brier score of the constant forecast p = base rate (:func:`base_rate`).

    Returns:
        (init_time, lead_time, quantile) per variable, in [0, 1].
    """
    return spatial_mean((events.observed - base_rate(events.observed[QUANTILE])) ** 2)


def _probability_bin(events: EnsembleEvents, n_bins: int) -> xr.Dataset:
    """Bin b of p = k/N with b/n_bins <= p < (b+1)/n_bins; p = 1 goes to the last bin."""
    return np.minimum((events.member_count * n_bins) // events.n_members, n_bins - 1)


class ReliabilityCounts(NamedTuple):
    """Per probability bin, unweighted grid-point counts; Datasets with dims
    (init_time, lead_time, quantile, bin), one variable per field."""

    n_forecasts: xr.Dataset  # points whose p falls in the bin
    n_observed: xr.Dataset  # of those, points where the truth has the event
    sum_probability: xr.Dataset  # sum of p over those points


def reliability_counts(
    events: EnsembleEvents, n_bins: int = PROBABILITY_BINS
) -> ReliabilityCounts:
    """Counts behind a reliability diagram; bin b holds b/n_bins <= p < (b+1)/n_bins, the last
    bin also p = 1. Sum them over inits, then divide (see
    :func:`seeds_dag.verification.extremes_table.reliability_diagram`)."""
    bins = xr.DataArray(np.arange(n_bins), dims=BIN, coords={BIN: np.arange(n_bins)})
    in_bin = _probability_bin(events, n_bins) == bins
    probability = events.member_count / events.n_members
    spatial = [LAT, LON]
    return ReliabilityCounts(
        n_forecasts=in_bin.sum(spatial),
        n_observed=(in_bin & events.observed).sum(spatial),
        sum_probability=(in_bin * probability).sum(spatial),
    )


def probability_thresholds(n_bins: int = PROBABILITY_BINS) -> np.ndarray:
    """ROC probability thresholds t_j = j/n_bins, j = 1..n_bins (t = 0 would be the trivial
    all-yes point (1, 1), which the curve includes anyway)."""
    return np.arange(1, n_bins + 1) / n_bins


class RocCounts(NamedTuple):
    """2x2 contingency tables per probability threshold t, "yes" meaning p >= t; unweighted
    grid-point counts, Datasets with dims (init_time, lead_time, quantile,
    probability_threshold), one variable per field."""

    hits: xr.Dataset  # yes, observed
    misses: xr.Dataset  # no, observed
    false_alarms: xr.Dataset  # yes, not observed
    correct_negatives: xr.Dataset  # no, not observed


def roc_counts(events: EnsembleEvents, n_bins: int = PROBABILITY_BINS) -> RocCounts:
    """Contingency counts at the thresholds of :func:`probability_thresholds`."""
    steps = np.arange(1, n_bins + 1)
    step = xr.DataArray(steps, dims=PROBABILITY_THRESHOLD,
                        coords={PROBABILITY_THRESHOLD: probability_thresholds(n_bins)})
    # p >= j/n_bins  <=>  k * n_bins >= j * N, exactly.
    yes = events.member_count * n_bins >= step * events.n_members
    observed = events.observed
    spatial = [LAT, LON]
    return RocCounts(
        hits=(yes & observed).sum(spatial),
        misses=(~yes & observed).sum(spatial),
        false_alarms=(yes & ~observed).sum(spatial),
        correct_negatives=(~yes & ~observed).sum(spatial),
    )


def roc_auc(hits, misses, false_alarms, correct_negatives) -> np.ndarray:
    """Area under the ROC curve from (pooled) contingency counts.

    POD = hits / (hits + misses) and POFD = false_alarms / (false_alarms + correct_negatives)
    per threshold; the curve runs (0, 0) -> the thresholds from the highest to the lowest ->
    (1, 1), and the area is the trapezoid rule over it (0.5: no discrimination, 1: perfect).

    Args:
        hits, misses, false_alarms, correct_negatives: counts, shape (..., threshold), the
            thresholds ascending along the last axis.

    Returns:
        AUC, shape (...); NaN where no event or no non-event was observed (POD or POFD
        undefined).
    """
    hits, misses, false_alarms, correct_negatives = (
        np.asarray(a, dtype=float) for a in (hits, misses, false_alarms, correct_negatives)
    )
    with np.errstate(invalid="ignore", divide="ignore"):
        pod = hits / (hits + misses)
        pofd = false_alarms / (false_alarms + correct_negatives)
    # Ascending thresholds give descending rates; reverse and close the curve at both ends.
    zeros = np.zeros((*pod.shape[:-1], 1))
    ones = np.ones_like(zeros)
    x = np.concatenate([zeros, pofd[..., ::-1], ones], axis=-1)
    y = np.concatenate([zeros, pod[..., ::-1], ones], axis=-1)
    return np.trapezoid(y, x, axis=-1)
