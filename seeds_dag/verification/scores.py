"""Ensemble scores against truth at the valid time, cos(latitude)-weighted (ARCHITECTURE.md,
Verification).

Shapes: ``forecast`` is an ``xarray.Dataset`` with one variable per field and dims
``(init_time, lead_time, member, lat, lon)``; ``truth`` is the same fields aligned to the valid
times of the forecast, dims ``(init_time, lead_time, lat, lon)`` (see :func:`seeds_dag.truth_alignment.align_truth`).
Scores come back per variable as Datasets with dims ``(init_time, lead_time)``: the spatial
reduction is done, the reduction over initialisations is left to the caller, because for
RMSE, spread and spread/skill it must average *squared* quantities (:func:`pool_over_inits`).
A truth may have a further dim that the forecast lacks (the members of the physics ensemble that
play truth in turn in :mod:`~seeds_dag.verification.perfect_model`): the scores then come back
per value of it too, and the rank histogram pools it.
"""

import importlib.util
from typing import Literal, NamedTuple

import numpy as np
import scipy.stats
import xarray as xr

from seeds_dag.conventions import INIT, LAT, LEAD, LON, MEMBER
from seeds_dag.verification.scoringrules_loader import load_scoringrules
from seeds_dag.weighting import spatial_mean

RANK = "rank"
"""The dim of rank-histogram counts, and the column of their long table (`table.rank_table`)."""

# scoringrules only dispatches to its numba gufuncs when backend="numba" is passed explicitly;
# backend=None takes the array path, whose "fair" estimator builds an (..., m, m) array.
CRPS_BACKEND = "numba" if importlib.util.find_spec("numba") is not None else "numpy"
# Both are the fair (unbiased) estimator; "pwm" is O(m log m) per point, "fair" is O(m^2).
FairEstimator = Literal["pwm", "fair"]
# The estimators that read the members in ascending order, O(m) per point once they are sorted:
# "pwm" (fair) and "qd" (the quantile decomposition of the standard CRPS, equal to its energy
# form "nrg", which is O(m^2)).
SORTED_ESTIMATORS = ("pwm", "qd")


def _check_pair(forecast: xr.Dataset, truth: xr.Dataset, min_members: int = 2) -> xr.Dataset:
    """Raise unless ``truth`` verifies ``forecast`` point by point; return truth's matching fields.

    Arithmetic between xarray objects inner-joins coordinates silently, so a grid or time
    mismatch would otherwise shrink the verified sample without a word.
    """
    _n_members(forecast, min_members)
    missing = [name for name in forecast.data_vars if name not in truth.data_vars]
    if missing:
        raise ValueError(
            f"truth lacks forecast variable(s) {missing}; truth has {list(truth.data_vars)}"
        )
    if MEMBER in truth.dims:
        raise ValueError(f"truth must not have a '{MEMBER}' dim, got dims {dict(truth.sizes)}")
    for dim in (INIT, LEAD, LAT, LON):
        if dim not in truth.dims or dim not in forecast.dims:
            raise ValueError(
                f"dim '{dim}' missing: forecast dims {dict(forecast.sizes)}, "
                f"truth dims {dict(truth.sizes)}"
            )
        if not np.array_equal(forecast[dim].values, truth[dim].values):
            raise ValueError(
                f"forecast and truth differ along '{dim}': forecast has {forecast.sizes[dim]} "
                f"values {forecast[dim].values[:3]}..., truth has {truth.sizes[dim]} values "
                f"{truth[dim].values[:3]}... (align truth with align_truth / regrid first)"
            )
    return truth[list(forecast.data_vars)]


def _n_members(forecast: xr.Dataset, minimum: int = 2) -> int:
    """Ensemble size N; the fair CRPS and the unbiased variance need N >= 2."""
    if MEMBER not in forecast.dims or forecast.sizes[MEMBER] < minimum:
        raise ValueError(
            f"forecast needs a '{MEMBER}' dim with at least {minimum} member(s), got dims "
            f"{dict(forecast.sizes)}"
        )
    return forecast.sizes[MEMBER]


def fair_crps(
    forecast: xr.Dataset, truth: xr.Dataset, estimator: FairEstimator = "pwm"
) -> xr.Dataset:
    """Area-weighted mean of the fair ensemble CRPS, per variable, init and lead.

    Per grid point, with members x_1..x_m and truth y (Ferro 2014; Zamo & Naveau 2018):

        CRPS_fair = 1/m sum_i |x_i - y|  -  1/(2 m (m-1)) sum_i sum_j |x_i - x_j|

    an unbiased estimator of the CRPS of the distribution the members are drawn from, so
    ensembles of different sizes compare fairly. It is non-negative (it is the mean over pairs
    i != j of (|x_i - y| + |x_j - y| - |x_i - x_j|) / 2). Computed by
    ``scoringrules.crps_ensemble`` with ``estimator`` "pwm" (the same estimator in
    probability-weighted-moment form, O(m log m)) or "fair" (pairwise form, O(m^2)); then
    :func:`~seeds_dag.weighting.spatial_mean`.

    Args:
        forecast: (init_time, lead_time, member, lat, lon), m = member >= 2.
        truth: (init_time, lead_time, lat, lon), aligned to the forecast valid times.
        estimator: "pwm" (default) or "fair"; they agree to rounding.

    Returns:
        (init_time, lead_time) per variable, in the variable's units.
    """
    if estimator not in ("pwm", "fair"):
        raise ValueError(f"fair_crps: estimator must be 'pwm' or 'fair', got {estimator!r}")
    return _area_mean_crps(forecast, _check_pair(forecast, truth), estimator)


def standard_crps(forecast: xr.Dataset, truth: xr.Dataset) -> xr.Dataset:
    """Area-weighted mean of the standard ensemble CRPS, per variable, init and lead: the CRPS of
    the members' empirical distribution, what a user who has these m members pays,

        CRPS_m = 1/m sum_i |x_i - y|  -  1/(2 m^2) sum_i sum_j |x_i - x_j|

    (``scoringrules.crps_ensemble`` estimator "qd": the quantile decomposition of this energy
    form "nrg", equal to it to rounding and O(m) on sorted members where "nrg" is O(m^2)). For
    members drawn from a distribution F its expectation exceeds CRPS(F) by E|X - X'| / (2m):
    about a factor (1 + 1/m) for a Gaussian, so it penalises small ensembles, which is the
    comparison SEEDS makes (K seeds against many emulated members). One member is allowed (the
    CRPS is then its absolute error).

    Args:
        forecast: (init_time, lead_time, member, lat, lon), m = member >= 1.
        truth: (init_time, lead_time, lat, lon), aligned to the forecast valid times.

    Returns:
        (init_time, lead_time) per variable, in the variable's units.
    """
    return _area_mean_crps(forecast, _check_pair(forecast, truth, min_members=1), "qd")


def _area_mean_crps(forecast: xr.Dataset, truth: xr.Dataset, estimator: str) -> xr.Dataset:
    """scoringrules' ensemble CRPS with `estimator` at every point, then the area mean.

    The members are sorted here, once, for the estimators that read them in order: scoringrules
    would sort its copy of the forecast broadcast to the truth's shape, once per truth where the
    truth has a dim the forecast lacks (29 members playing truth: 29 sorts of the same members).
    """
    # Loaded here, not at the top: scoringrules builds its numba gufuncs as it is imported (2–7 s),
    # and every Dagster process that loads the definitions (code servers, each step of a run)
    # imports this module, most of them to do anything but score.
    sr = load_scoringrules()

    ordered = estimator in SORTED_ESTIMATORS
    if ordered:
        forecast = xr.apply_ufunc(np.sort, forecast, input_core_dims=[[MEMBER]],
                                  output_core_dims=[[MEMBER]], kwargs={"axis": -1})
    # scoringrules wants both shapes equal but the members; broadcasting makes views, not copies.
    truth, forecast = xr.broadcast(truth, forecast, exclude=[MEMBER])
    crps = xr.apply_ufunc(
        sr.crps_ensemble,
        truth,
        forecast,
        input_core_dims=[[], [MEMBER]],
        kwargs={"m_axis": -1, "estimator": estimator, "backend": CRPS_BACKEND,
                "sorted_ensemble": ordered},
    )
    # Every estimator here is non-negative (fair: a mean over pairs of triangle inequalities), but
    # the pwm form's sums cancel to -1e-16 where the members coincide with each other and the
    # truth (no spread, as in a short-lead ensemble of a member playing truth): measured, and a
    # negative score would fail the tables' schemas.
    return spatial_mean(crps.clip(min=0))


def ensemble_mean_rmse(forecast: xr.Dataset, truth: xr.Dataset) -> xr.Dataset:
    """RMSE of the ensemble mean:  sqrt( sum_ij w_i (xbar_ij - y_ij)^2 / sum_ij w_i ).

    xbar is the mean over members, w = cos(lat) area weights.

    Args:
        forecast: (init_time, lead_time, member, lat, lon).
        truth: (init_time, lead_time, lat, lon), aligned to the forecast valid times.

    Returns:
        (init_time, lead_time) per variable, in the variable's units.
    """
    truth = _check_pair(forecast, truth)
    squared_error = (forecast.mean(MEMBER) - truth) ** 2
    return np.sqrt(spatial_mean(squared_error))


def ensemble_spread(forecast: xr.Dataset) -> xr.Dataset:
    """Ensemble spread:  sqrt( sum_ij w_i s^2_ij / sum_ij w_i ).

    s^2 = 1/(N-1) sum_n (x_n - xbar)^2 is the unbiased (ddof=1) member variance per point,
    w = cos(lat) area weights; the variance is averaged before the square root.

    Args:
        forecast: (init_time, lead_time, member, lat, lon), N = member >= 2.

    Returns:
        (init_time, lead_time) per variable, in the variable's units.
    """
    _n_members(forecast)
    return np.sqrt(spatial_mean(forecast.var(MEMBER, ddof=1)))


def spread_skill_ratio(spread, rmse, n_members):
    """Spread/skill ratio with the finite-ensemble correction (Fortin et al. 2014):

        ratio = sqrt((N + 1) / N) * spread / rmse

    For an N-member ensemble whose members and truth are exchangeable, the expected squared
    error of the ensemble mean is (N + 1)/N times the expected unbiased ensemble variance, so
    the corrected ratio is 1 for a calibrated ensemble of any size (< 1: underdispersive).

    Plain arithmetic, so it works on xarray, pandas, numpy or floats alike. Pass ``spread`` and
    ``rmse`` of the same sample: per init (from :func:`ensemble_spread` and
    :func:`ensemble_mean_rmse`) for a per-init ratio, or both pooled with
    :func:`pool_over_inits` for the ratio over a set of inits (what a summary should show).

    Args:
        spread: ensemble spread, any shape.
        rmse: ensemble-mean RMSE, same shape.
        n_members: ensemble size N, scalar or broadcastable.
    """
    return ((n_members + 1) / n_members) ** 0.5 * spread / rmse


def pool_over_inits(score: xr.Dataset, dim: str = INIT) -> xr.Dataset:
    """Root-mean-square over initialisations:  sqrt( 1/I sum_t score_t^2 ).

    For RMSE this is the square root of the mean MSE, for spread that of the mean variance: the
    right way to aggregate both (averaging the per-init square roots biases them low). Other
    samples pool the same way: `dim` names another (the members playing truth).

    Args:
        score: (init_time, ...), e.g. from :func:`ensemble_mean_rmse` or :func:`ensemble_spread`.
        dim: the dim pooled over.

    Returns:
        (...) without `dim`.
    """
    return np.sqrt((score**2).mean(dim))


def spread_skill_over_inits(forecast: xr.Dataset, truth: xr.Dataset) -> xr.Dataset:
    """Spread/skill per lead over all inits: mean MSE and mean variance first, then the ratio.

        ratio(lead) = sqrt((N+1)/N) * sqrt(mean_t spread_t^2) / sqrt(mean_t rmse_t^2)

    Args:
        forecast: (init_time, lead_time, member, lat, lon).
        truth: (init_time, lead_time, lat, lon), aligned to the forecast valid times.

    Returns:
        (lead_time,) per variable, dimensionless.
    """
    rmse = pool_over_inits(ensemble_mean_rmse(forecast, truth))
    spread = pool_over_inits(ensemble_spread(forecast))
    return spread_skill_ratio(spread, rmse, _n_members(forecast))


def rank_histogram(forecast: xr.Dataset, truth: xr.Dataset, seed: int = 0) -> xr.Dataset:
    """Rank histogram (Talagrand diagram) per variable and lead, pooled over every other dim: the
    inits, the grid, and any dim the truth adds (the members playing truth in
    :mod:`~seeds_dag.verification.perfect_model`).

    The rank of the truth is r = #{n : x_n < y} in 0..N; where t members equal y it is drawn
    uniformly from r..r+t (Hamill 2001), from a generator seeded with `seed` afresh for each
    variable (e.g. keyed by the partition), so the same inputs and seed give the same histogram
    whatever the other variables. Counts are not area-weighted (one count per grid point). The
    members are counted, not ranked with the truth by ``scipy.stats.rankdata`` as
    ``xskillscore.rank_histogram`` does (the same counts where nothing ties, tests): the four
    ensembles of a main-job init against the truth took 0.85 s that way, 0.08 s counted.

    Args:
        forecast: (init_time, lead_time, member, lat, lon), N = member.
        truth: (init_time, lead_time, lat, lon), aligned to the forecast valid times; may have
            further dims, which are pooled too.
        seed: of the tie-breaking draws, any non-negative int.

    Returns:
        counts (int64), dims (lead_time, rank) with rank = 0..N; each lead sums to the number of
        truth values at that lead (init_time * lat * lon times the sizes of any further dims).
    """
    truth = _check_pair(forecast, truth).reset_coords(drop=True)
    n_members = _n_members(forecast)
    counts = {}
    for name in forecast.data_vars:
        below = (forecast[name] < truth[name]).sum(MEMBER).transpose(LEAD, ...).values
        ties = (forecast[name] == truth[name]).sum(MEMBER).transpose(LEAD, ...).values
        tied = ties > 0
        draws = np.random.default_rng(seed).random(np.count_nonzero(tied))
        below[tied] += (draws * (ties[tied] + 1)).astype(below.dtype)
        per_lead = below.reshape(below.shape[0], -1)
        counts[name] = ((LEAD, RANK), np.stack([np.bincount(ranks, minlength=n_members + 1)
                                                for ranks in per_lead]))
    return xr.Dataset(counts, coords={LEAD: forecast[LEAD].values,
                                      RANK: np.arange(n_members + 1)})


class RankFlatness(NamedTuple):
    """Flatness of a rank histogram; both fields have the counts' dims without ``rank``."""

    max_bin_ratio: xr.DataArray | xr.Dataset
    p_value: xr.DataArray | xr.Dataset


def rank_histogram_flatness(counts: xr.DataArray | xr.Dataset) -> RankFlatness:
    """How far a rank histogram is from uniform.

    - max_bin_ratio = max_r c_r / (C / (N+1)), with C = sum_r c_r: the fullest bin relative to
      the uniform count; 1 is perfectly flat, >1 measures the worst bin.
    - p_value of Pearson's chi-square goodness-of-fit test against the uniform distribution
      over the N+1 ranks (``scipy.stats.chisquare``, N degrees of freedom).

    The test assumes independent counts, but neighbouring grid points (and nearby inits) are
    strongly correlated, so the effective sample is much smaller than C and the p-value
    overstates significance: read small p-values from large grids with caution.

    Args:
        counts: (..., rank) from :func:`rank_histogram`.

    Returns:
        RankFlatness of (...) arrays.
    """

    def flatness(c: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        uniform = c.sum(axis=-1) / c.shape[-1]
        return c.max(axis=-1) / uniform, scipy.stats.chisquare(c, axis=-1).pvalue

    max_bin_ratio, p_value = xr.apply_ufunc(
        flatness, counts, input_core_dims=[[RANK]], output_core_dims=[[], []]
    )
    return RankFlatness(max_bin_ratio, p_value)
