"""Seed sets and the information bound of an emulator of K seeds.

Which K members seed an emulation changes its score by chance (one pair's luck is ±2.5 % of CRPS
over 30 inits): scores of seed-K ensembles are averaged over several disjoint seed sets of one
forecast (:func:`disjoint_seed_sets`). Against each set, :func:`ideal_emulation` is what a perfect
emulator of p(member | K seeds) would produce, and :func:`fit_post_processing_oracle` what a
post-processor of them could at best reach.
"""

import math
from typing import NamedTuple

import numpy as np
import xarray as xr

from seeds_dag.conventions import INIT, MEMBER
from seeds_dag.verification.scores import ensemble_mean_rmse, ensemble_spread, pool_over_inits


def disjoint_seed_sets(n_members: int, k: int, count: int) -> list[tuple[int, ...]]:
    """`count` disjoint sets of `k` member indices of an `n_members` ensemble: (0..k-1),
    (k..2k-1), … — deterministic, so every run and every model sees the same sets.

    Each set leaves n_members - k members to build its ideal emulation from; sets beyond
    n_members // k do not exist and are refused by name.
    """
    if k < 1 or count < 1:
        raise ValueError(f"seed sets need k >= 1 and count >= 1, got k={k}, count={count}")
    if count * k > n_members:
        raise ValueError(f"{count} disjoint sets of {k} seeds need {count * k} members, the ensemble has "
                         f"{n_members}: at most {n_members // k} sets")
    return [tuple(range(i * k, (i + 1) * k)) for i in range(count)]


def non_seed_members(n_members: int, seeds: tuple[int, ...]) -> list[int]:
    """The members of an `n_members` ensemble that are not seeds, in order; seeds that are not
    distinct member indices, or that leave no other member, are refused by name."""
    seeds = tuple(int(s) for s in seeds)
    if not seeds or len(set(seeds)) != len(seeds) or min(seeds) < 0 or max(seeds) >= n_members:
        raise ValueError(f"seeds {seeds} must be distinct member indices of the {n_members}-member ensemble")
    others = [m for m in range(n_members) if m not in seeds]
    if not others:
        raise ValueError(f"seeds {seeds} leave no other member of the {n_members}-member ensemble")
    return others


def ideal_emulation(physics: xr.Dataset, seeds: tuple[int, ...]) -> xr.Dataset:
    """What a perfect emulator of p(member | K seeds) would give, as a reference: the seeds' mean
    plus the other physics members' deviations from their own mean, scaled to the spread a new
    member has about a K-member mean,

        x̂_j = m_K + √(1 + 1/K)·(x_j − x̄_n),   j one of the n non-seed members.

    For exchangeable members x = μ + ε, x_new − m_K has variance (1 + 1/K)·Var(ε): the seeds pin
    the ensemble's centre down only to within Var(ε)/K, and no emulator that sees only them can
    know it better. One that also knows the climate can, where the seeds say little: shrunk towards
    it (`seeds_dag.seed_mean_shrinkage`), this ensemble scored 0.998–1.002 of its perfect-model
    fair CRPS at days 1–10 and 0.95 at day 15 on the main job's 3 inits. x_j − x̄_n scatter as draws of
    ε do, with the forecast's own flow-dependent covariance, so this ensemble's mean is exactly
    m_K and its spread (the unbiased variance over its members) (1 + 1/K)·Var(ε): the ensemble an
    emulator that had learnt everything else perfectly would make. (Centred on the mean of all M
    members, as before, its mean moved towards the non-seed members' by √(1 + 1/K)·K/M, 8 % at
    M = 31: it knew more than the seeds, and an exact sampler of the law scored 4.5 % worse than
    it in a perfect model; now 1.8 %, `perfect_model_summary` says why.) For a Gaussian ensemble
    its CRPS is √(1 + 1/K) times that of the physics distribution (tests).

    Args:
        physics: (…, member, …) with M members; seeds: the K member indices of the seeds, which
            leave at least two other members.

    Returns:
        the M − K ideal members, same dims.
    """
    seeds = tuple(int(s) for s in seeds)
    others = non_seed_members(physics.sizes[MEMBER], seeds)
    n = len(others)
    if n < 2:
        raise ValueError(f"ideal_emulation: seeds {seeds} leave {n} member of the {physics.sizes[MEMBER]}-member "
                         "ensemble; its spread needs two")
    members = physics.isel({MEMBER: others})
    seed_mean = physics.isel({MEMBER: list(seeds)}).mean(MEMBER)
    # A Python float keeps float32 members float32 (a numpy float64 would promote all of them).
    return seed_mean + ideal_scale(len(seeds)) * (members - members.mean(MEMBER))


def ideal_scale(k: int) -> float:
    """√(1 + 1/K): a new member's spread about the mean of K others over the members' own
    (`ideal_emulation`)."""
    return math.sqrt(1 + 1 / k)


class PostProcessingOracle(NamedTuple):
    """What an oracle post-processor of K seeds knows: the physics ensemble's mean error map
    (lead, lat, lon) and the factor (lead,) per variable that makes its spread match its error."""

    bias: xr.Dataset
    inflation: xr.Dataset


def fit_post_processing_oracle(physics: dict[str, xr.Dataset], truth: dict[str, xr.Dataset],
                               seeds: tuple[int, ...]) -> PostProcessingOracle:
    """The reference a post-processor (SEEDS-GPP) of K seeds is held to, fitted *on the inits it
    is then scored on* (an oracle, as ideal-K is): the ideal emulation of the seeds, minus the
    physics ensemble's mean error at each point and lead (the model bias known exactly), with its
    spread scaled per variable and lead so that spread/skill is exactly 1 over these inits.

    It keeps what K seeds cannot know (the ensemble centre to within Var(ε)/K) and removes what a
    post-processor can learn (systematic error, dispersion); where it misses a target such as
    "CRPS below the physics ensemble's", a post-processor that centres its members on the seeds
    cannot be expected to meet it. (A post-processor may still shrink towards climatology at long
    leads, which this reference does not.)

    Args:
        physics: init key -> ensemble (init_time = 1, lead_time, member, lat, lon).
        truth: init key -> truth aligned to the same valid times.
        seeds: the K seed members.
    """
    keys = list(physics)
    if not keys or set(keys) != set(truth):
        raise ValueError(f"physics and truth must cover the same inits, got {sorted(physics)} and {sorted(truth)}")
    errors = [(physics[k].mean(MEMBER) - truth[k]).reset_coords(drop=True) for k in keys]
    bias = xr.concat(errors, dim=INIT).mean(INIT)
    debiased = {k: ideal_emulation(physics[k], seeds) - bias for k in keys}
    rmse = pool_over_inits(xr.concat([ensemble_mean_rmse(debiased[k], truth[k]) for k in keys], dim=INIT))
    spread = pool_over_inits(xr.concat([ensemble_spread(debiased[k]) for k in keys], dim=INIT))
    n_members = debiased[keys[0]].sizes[MEMBER]
    # spread/skill = sqrt((N+1)/N) * spread / rmse = 1 after scaling the members about their mean.
    inflation = rmse / (np.sqrt((n_members + 1) / n_members) * spread)
    return PostProcessingOracle(bias, inflation.reset_coords(drop=True))


def oracle_post_processing(physics: xr.Dataset, seeds: tuple[int, ...], oracle: PostProcessingOracle) -> xr.Dataset:
    """The oracle's members for one forecast: the debiased ideal emulation of `seeds`, scaled
    about its own mean by `oracle.inflation` (see :func:`fit_post_processing_oracle`)."""
    debiased = ideal_emulation(physics, seeds) - oracle.bias
    centre = debiased.mean(MEMBER)
    return centre + oracle.inflation * (debiased - centre)
