"""Multivariate realism of ensemble members: do they keep the relations between variables?

Two views, both per init and lead so that they pool over inits:

- the energy score (Gneiting & Raftery 2007), the multivariate CRPS, over the variables at each
  grid point, each variable divided by its climatological scale so that no unit dominates:

      ES = 1/m sum_i ||x_i - y||  -  1/(2 m (m-1)) sum_i sum_j ||x_i - x_j||   (fair)

  computed by ``scoringrules.es_ensemble`` ("fair", or "nrg" for the standard 1/(2 m^2)), then
  area-averaged. An ensemble whose members get each variable right but not their joint
  deviations scores worse than one that also keeps their correlations.
- the correlation between variables of member deviations d = x - xbar at the same point, pooled
  over members, grid points (cos-lat weighted) and inits as moments, like
  :mod:`seeds_dag.verification.coherence` pools lead-to-lead correlations:

      corr(a, b) = sum w d_a d_b / sqrt( sum w d_a^2 * sum w d_b^2 )
"""

import itertools
from collections.abc import Mapping

import numpy as np
import pandas as pd
import xarray as xr

from seeds_dag.conventions import INIT, LEAD, MEMBER, TIME
from seeds_dag.verification.coherence import pair_correlation
from seeds_dag.verification.scores import CRPS_BACKEND, _check_pair, _n_members
from seeds_dag.verification.scores_table import LEAD_DAYS, MODEL, frame_of
from seeds_dag.verification.scoringrules_loader import load_scoringrules
from seeds_dag.weighting import spatial_mean

VARIABLE_AXIS = "variable"
FIRST_VARIABLE, SECOND_VARIABLE = "first_variable", "second_variable"
MOMENTS = ("covariance", "first_variance", "second_variance")
CORRELATION = "correlation"


def climatological_scale(truth: xr.Dataset) -> dict[str, float]:
    """Per variable, sqrt of the area mean of the point-wise variance over ``time`` (cos-lat
    weighted): the size of a typical departure from climate, in the variable's units."""
    variance = spatial_mean(truth.var(TIME, ddof=1))
    return {name: float(np.sqrt(variance[name])) for name in truth.data_vars}


def _scaled_stack(fields: xr.Dataset, scale: Mapping[str, float]) -> xr.DataArray:
    missing = [name for name in fields.data_vars if name not in scale]
    if missing:
        raise ValueError(f"no scale for variable(s) {missing}; scale has {list(scale)}")
    bad = {name: scale[name] for name in fields.data_vars if not np.isfinite(scale[name]) or scale[name] <= 0}
    if bad:
        raise ValueError(f"scales must be positive and finite, got {bad}")
    return xr.Dataset({name: fields[name] / scale[name] for name in fields.data_vars}).to_dataarray(VARIABLE_AXIS)


def energy_score(forecast: xr.Dataset, truth: xr.Dataset, scale: Mapping[str, float],
                 estimator: str = "fair") -> xr.DataArray:
    """Area-mean energy score over all variables of ``forecast`` jointly, each divided by
    ``scale[variable]`` (e.g. :func:`climatological_scale`).

    Args:
        forecast: (init_time, lead_time, member, lat, lon) per variable; "fair" needs >= 2 members.
        truth: (init_time, lead_time, lat, lon), aligned to the forecast valid times.
        scale: variable -> positive scale in its units.
        estimator: "fair" (unbiased, compares ensembles of any size) or "nrg" (standard).

    Returns:
        (init_time, lead_time), dimensionless (in units of the scales).
    """
    if estimator not in ("fair", "nrg"):
        raise ValueError(f"energy_score: estimator must be 'fair' or 'nrg', got {estimator!r}")
    truth = _check_pair(forecast, truth, min_members=2 if estimator == "fair" else 1)
    sr = load_scoringrules()  # here, not at the top: as in `scores._area_mean_crps`

    score = xr.apply_ufunc(
        sr.es_ensemble,
        _scaled_stack(truth.reset_coords(drop=True), scale),
        _scaled_stack(forecast.reset_coords(drop=True), scale),
        input_core_dims=[[VARIABLE_AXIS], [MEMBER, VARIABLE_AXIS]],
        kwargs={"m_axis": -2, "v_axis": -1, "estimator": estimator, "backend": CRPS_BACKEND},
    )
    return spatial_mean(score).transpose(INIT, LEAD)


def variable_moments(forecast: xr.Dataset) -> pd.DataFrame:
    """Per init, lead and pair of variables (a, b), the area-mean unbiased member covariance of
    the deviations d = x - xbar and their variances:

        covariance = sum_ij w_i 1/(N-1) sum_n d_a d_b / sum_ij w_i,  first/second_variance likewise

    Long format: init_time, lead_time_days, first_variable, second_variable and MOMENTS; pairs
    in the order of ``forecast``'s variables. Average over inits, then
    :func:`~seeds_dag.verification.coherence.pair_correlation`.

    Args:
        forecast: (init_time, lead_time, member, lat, lon), N >= 2, at least two variables.
    """
    n_members = _n_members(forecast)
    names = list(forecast.data_vars)
    if len(names) < 2:
        raise ValueError(f"cross-variable correlation needs at least 2 variables, got {names}")
    fields = forecast.reset_coords(drop=True)
    deviation = fields - fields.mean(MEMBER)
    variance = {name: spatial_mean((deviation[name] ** 2).sum(MEMBER) / (n_members - 1)) for name in names}
    frames = []
    for a, b in itertools.combinations(names, 2):
        covariance = spatial_mean((deviation[a] * deviation[b]).sum(MEMBER) / (n_members - 1))
        moments = xr.Dataset({"covariance": covariance, "first_variance": variance[a],
                              "second_variance": variance[b]}).transpose(INIT, LEAD)
        frame = frame_of(moments).reset_index()
        frame[LEAD_DAYS] = frame.pop(LEAD) / pd.Timedelta(days=1)
        frames.append(frame.assign(**{FIRST_VARIABLE: a, SECOND_VARIABLE: b}))
    table = pd.concat(frames, ignore_index=True)
    return table[[INIT, LEAD_DAYS, FIRST_VARIABLE, SECOND_VARIABLE, *MOMENTS]]


def variable_correlation_table(ensembles: Mapping[str, xr.Dataset]) -> pd.DataFrame:
    """:func:`variable_moments` of several ensembles (those with >= 2 members), with a model
    column: what verification stores per init."""
    frames = [variable_moments(forecast).assign(**{MODEL: model})
              for model, forecast in ensembles.items() if forecast.sizes[MEMBER] >= 2]
    return pd.concat(frames, ignore_index=True)


def variable_correlation_summary(moments: pd.DataFrame, reference: str) -> pd.DataFrame:
    """Pooled correlation per (first_variable, second_variable, lead) with one column per model,
    moments averaged over whatever inits ``moments`` holds, then a column per emulated model of
    its difference to ``reference`` (e.g. "physics-31"), named "<model> - <reference>"."""
    keys = [FIRST_VARIABLE, SECOND_VARIABLE, LEAD_DAYS]
    pooled = moments.groupby([MODEL, *keys], sort=False)[list(MOMENTS)].mean()
    pooled[CORRELATION] = pair_correlation(*(pooled[m] for m in MOMENTS))
    wide = pooled[CORRELATION].unstack(MODEL)
    wide = wide.reindex(columns=list(dict.fromkeys(moments[MODEL])))
    if reference not in wide:
        raise ValueError(f"reference {reference!r} not among the models {list(wide.columns)}")
    for model in wide.columns[:]:
        if model != reference and not str(model).startswith(("seeds", "ideal")):
            wide[f"{model} - {reference}"] = wide[model] - wide[reference]
    return wide.sort_index()
