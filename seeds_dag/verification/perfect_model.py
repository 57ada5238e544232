"""Perfect-model scores: does an emulated ensemble draw from the physics ensemble's distribution
given the seeds, the distribution SEEDS-GEE learns (Li et al. 2024)?

Against the real truth every score also holds the physics model's error, which no emulator of
the seeds can remove. Here each of the M − K non-seed members x_j of the physics ensemble plays
the truth in turn: it is a draw from the very distribution the emulator was asked to sample, as
the seeds are. So

- every ensemble made from the seeds alone (the seeds themselves, each emulated ensemble) is
  scored against x_j with the scores of :mod:`~seeds_dag.verification.scores`;
- ideal-K (:func:`~seeds_dag.verification.seed_sets.ideal_emulation`) is rebuilt without x_j
  (:func:`leave_one_out_ideal`): its members are the other non-seed members, about their own
  mean. Left in, x_j would be one of ideal-K's members and pull its mean
  towards the truth, a score no emulator that sees only the seeds could reach;
- ideal-K is then what a perfect emulator of p(member | K seeds) scores, a bound at every lead for
  an emulator that knows nothing but the seeds (one that also knows the climate can shrink their
  mean towards it where they say little, and beat ideal-K by up to 5 % at day 15:
  `seeds_dag.seed_mean_shrinkage`):
  an emulated ensemble's fair CRPS over ideal-K's is the figure of merit (its target, and how
  far below a reachable score the bound lies at M = 31, in
  :mod:`~seeds_dag.verification.perfect_model_summary`).

The seeds' own fair CRPS estimates the CRPS of the physics distribution they were drawn from (as
x_j was), which is below ideal-K's: K members are compared by the standard CRPS, what a user of
those K members pays.

Per init, the scores of each model are averaged over the members playing truth as the summary
averages over inits: CRPS as means, RMSE and spread as root-mean-squares, spread/skill from
those; rank counts are summed over them.
"""

from collections.abc import Mapping, Sequence
from typing import NamedTuple

import numpy as np
import pandas as pd
import pandera.pandas as pa
import xarray as xr
from pandera.typing import Series

from seeds_dag.conventions import MEMBER
from seeds_dag.verification.scores import (
    ensemble_mean_rmse,
    ensemble_spread,
    fair_crps,
    pool_over_inits,
    rank_histogram,
    spread_skill_ratio,
    standard_crps,
)
from seeds_dag.verification.seed_sets import ideal_scale, non_seed_members
from seeds_dag.verification.scores_table import ScoreTableSchema, rank_rows, score_rows

TRUTH_MEMBER = "truth_member"
N_TRUTH_MEMBERS = "n_truth_members"


def _others(n_members: int, seeds: Sequence[int]) -> list[int]:
    """The non-seed members of an `n_members` ensemble: those that play truth; each needs another
    beside it to build ideal-K from."""
    others = non_seed_members(n_members, tuple(seeds))
    if len(others) < 2:
        raise ValueError(f"seeds {list(seeds)} leave {len(others)} member of the {n_members}-member "
                         f"ensemble: a member playing truth needs another to build ideal-K from")
    return others


def members_playing_truth(physics: xr.Dataset, seeds: Sequence[int]) -> xr.Dataset:
    """The non-seed members of `physics` as truths: dims (init_time, lead_time, truth_member, lat,
    lon), ``truth_member`` holding their member indices."""
    others = _others(physics.sizes[MEMBER], seeds)
    truths = physics.drop_vars(MEMBER, errors="ignore").isel({MEMBER: others})
    return truths.rename({MEMBER: TRUTH_MEMBER}).assign_coords({TRUTH_MEMBER: others})


def leave_one_out_ideal(physics: xr.Dataset, seeds: Sequence[int]) -> xr.Dataset:
    """ideal-K for every member playing truth, built without it: for non-seed member j, the ideal
    emulation of the seeds (`ideal_emulation`) from the n − 1 non-seed members other than j,

        x̂_i^(−j) = m_K + √(1 + 1/K)·(x_i − x̄_(−j)),   i neither a seed nor j,

    x̄_(−j) their mean. With d_i = x_i − x̄ the deviations from the mean
    of all n non-seed members, leaving x_j out of the mean moves it by −d_j/(n − 1), so

        x̂_i^(−j) = m_K + √(1 + 1/K)·(d_i + d_j/(n − 1)):

    the deviations other than d_j, all shifted by one amount per j (tests compare it with
    `ideal_emulation` of the ensemble without x_j). Building each of the n ensembles from the
    members anew took five times as long.

    Args:
        physics: (init_time, lead_time, member, lat, lon), M members, M − K ≥ 3.
        seeds: the K seed members' indices.

    Returns:
        (init_time, lead_time, lat, lon, truth_member, member) with M − K − 1 members,
        truth_member as in :func:`members_playing_truth`.
    """
    others = _others(physics.sizes[MEMBER], seeds)
    n = len(others)
    if n < 3:
        raise ValueError(f"seeds {list(seeds)} leave {n} members of the {physics.sizes[MEMBER]}-member ensemble: "
                         "ideal-K without the member playing truth needs two others")
    physics = physics.drop_vars(MEMBER, errors="ignore")
    members = physics.isel({MEMBER: others})
    deviations = members - members.mean(MEMBER)
    seed_mean = physics.isel({MEMBER: list(seeds)}).mean(MEMBER)
    shift = (deviations / (n - 1)).rename({MEMBER: TRUTH_MEMBER})
    # Row j: the positions in `others` of every member but the j-th. np.take lays the result out
    # in C order, members innermost, where indexing with `kept` (or xarray's isel) puts the
    # (truth_member, member) strides outermost: sorting members through those took 4 x as long.
    kept = np.array([[i for i in range(n) if i != j] for j in range(n)])
    without = xr.apply_ufunc(np.take, deviations, kwargs={"indices": kept, "axis": -1},
                             input_core_dims=[[MEMBER]],
                             output_core_dims=[[TRUTH_MEMBER, MEMBER]], exclude_dims={MEMBER})
    ideal = seed_mean + ideal_scale(len(seeds)) * (without + shift)
    return ideal.assign_coords({TRUTH_MEMBER: others})


def scores_over_truths(forecast: xr.Dataset, truths: xr.Dataset) -> dict[str, xr.Dataset]:
    """The scores of ``SCORES`` (table.py) of one ensemble against every member playing truth,
    averaged over them: fair and standard CRPS as means, RMSE and spread as root-mean-squares
    (:func:`~seeds_dag.verification.scores.pool_over_inits` over truth_member), spread/skill
    recomputed from those with the √((N+1)/N) correction.

    Args:
        forecast: (init_time, lead_time, member, lat, lon), with a truth_member dim too when the
            ensemble depends on the member playing truth (ideal-K).
        truths: (init_time, lead_time, lat, lon, truth_member).

    Returns:
        name -> (init_time, lead_time) per variable.
    """
    rmse = pool_over_inits(ensemble_mean_rmse(forecast, truths), TRUTH_MEMBER)
    spread = ensemble_spread(forecast)
    if TRUTH_MEMBER in spread.dims:
        spread = pool_over_inits(spread, TRUTH_MEMBER)
    return {
        "crps": fair_crps(forecast, truths).mean(TRUTH_MEMBER),
        "crps_standard": standard_crps(forecast, truths).mean(TRUTH_MEMBER),
        "rmse": rmse,
        "spread": spread,
        "spread_skill": spread_skill_ratio(spread, rmse, forecast.sizes[MEMBER]),
    }


def ideal_over_truths(physics: xr.Dataset, seeds: Sequence[int], truths: xr.Dataset,
                      seed: int = 0) -> tuple[dict[str, xr.Dataset], xr.Dataset]:
    """ideal-K's :func:`scores_over_truths` and rank counts (summed over the members playing
    truth, tie draws from `seed`), ideal-K rebuilt without each member playing truth
    (:func:`leave_one_out_ideal`). It depends on the physics ensemble alone, so a caller scoring
    several emulations of one init (the skill benchmark's sampler study) computes it once.

    Args:
        physics: (init_time, lead_time, member, lat, lon); seeds: the seed members' indices;
        truths: :func:`members_playing_truth` of the two.
    """
    # ideal-K one variable at a time: for every truth it holds (M − K)(M − K − 1) members per
    # point, 812 for M = 31 (about 40 MB a variable at 6 leads on 32 x 64 in float32).
    scores, ranks = [], []
    for name in physics.data_vars:
        ensemble = leave_one_out_ideal(physics[[name]], seeds)
        scores.append(scores_over_truths(ensemble, truths[[name]]))
        ranks.append(rank_histogram(ensemble, truths[[name]], seed))
    return {score: xr.merge([s[score] for s in scores]) for score in scores[0]}, xr.merge(ranks)


class PerfectModelTableSchema(ScoreTableSchema):
    """Per-init perfect-model scores, long format: one row per (model, variable, init_time,
    lead_time_days), the columns of :class:`~seeds_dag.verification.scores_table.ScoreTableSchema`
    averaged over the members playing truth (:func:`scores_over_truths`), and how many played it.
    n_members of ideal-K is M − K − 1."""

    n_truth_members: Series[int] = pa.Field(ge=1)


class PerfectModelTables(NamedTuple):
    """The per-init perfect-model tables: scores (:class:`PerfectModelTableSchema`) and rank
    counts summed over the members playing truth (model, variable, lead_time_days, rank, count)."""

    scores: pd.DataFrame
    ranks: pd.DataFrame


def perfect_model_tables(physics: xr.Dataset, seeds: Sequence[int],
                         forecasts: Mapping[str, xr.Dataset], ideal: str,
                         seed: int = 0) -> PerfectModelTables:
    """Perfect-model scores of one init: ideal-K (named `ideal`, built without the member playing
    truth) and every ensemble of `forecasts` against each non-seed member of `physics` in turn.

    Args:
        physics: (init_time, lead_time, member, lat, lon), M members.
        seeds: the K seed members' indices in `physics`.
        forecasts: model name -> ensemble (init_time, lead_time, member, lat, lon) made from the
            seeds alone ("seeds-2", "gee-32", "gpp-32"), with the variables of `physics`.
        ideal: the model name of ideal-K, e.g. "ideal-2".
        seed: of the rank histograms' tie-breaking draws.

    Returns:
        the tables, models in the order ideal, then `forecasts`.
    """
    if ideal in forecasts:
        raise ValueError(f"perfect_model_tables: {ideal!r} names ideal-K and one of the forecasts "
                         f"{list(forecasts)}")
    truths = members_playing_truth(physics, seeds)
    ideal_statistics, ideal_ranks = ideal_over_truths(physics, seeds, truths, seed)
    n_members = {ideal: physics.sizes[MEMBER] - len(seeds) - 1,
                 **{model: forecast.sizes[MEMBER] for model, forecast in forecasts.items()}}
    statistics = {ideal: ideal_statistics,
                  **{model: scores_over_truths(forecast, truths)
                     for model, forecast in forecasts.items()}}
    ranks = {ideal: ideal_ranks,
             **{model: rank_histogram(forecast, truths, seed) for model, forecast in forecasts.items()}}
    table = pd.concat([score_rows(model, statistics[model], n_members[model])
                       for model in statistics], ignore_index=True)
    table[N_TRUTH_MEMBERS] = truths.sizes[TRUTH_MEMBER]
    return PerfectModelTables(
        PerfectModelTableSchema.validate(table),
        pd.concat([rank_rows(model, counts) for model, counts in ranks.items()],
                  ignore_index=True))
