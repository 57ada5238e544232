"""Initial-condition perturbations for ensemble members (random-field method).

Magnusson, Nycander & Källén (2009, Tellus A 61, 194): a perturbation is the scaled difference of
two states drawn at random from the model's climate, α(x_a − x_b). It is balanced (both are model
states), has the climate's spatial correlations at every scale, and its size is one number.

The analysis error and the member perturbations come from disjoint parts of the pool
(`split_pool`). Every difference of pool states lies in the span of the pool, so with one shared
pool of 40 states the truth's deviation from the ensemble mean lay 88–91% (day 1) and 46–72%
(day 7) in the span of the 31 members' deviations (`benchmarks/physics_ensemble.py`): the physics
ensemble contained its own analysis error by construction, which no real ensemble does and which
made it unbeatable by anything that did not share the pool.
"""

from __future__ import annotations

import torch


def random_field_differences(
    pool: torch.Tensor, count: int, generator: torch.Generator, min_separation: int
) -> torch.Tensor:
    """`count` differences x_a − x_b of two states from a pool of consecutive daily states
    (n_pool, *state), at least `min_separation` days apart.

    States a day or two apart are still correlated, so their difference would be a small
    perturbation and the members drawn with it would sit too close to the analysis. Pools shorter
    than twice the separation (tests, smoke runs) use half the pool instead.
    """
    n_pool = pool.shape[0]
    if n_pool < 2:
        raise ValueError(f"perturbation pool holds {n_pool} states; at least 2 are needed")
    separation = max(1, min(min_separation, n_pool // 2))
    first = torch.randint(n_pool, (count,), generator=generator)
    # A circular offset in [separation, n_pool − separation] keeps |a − b| ≥ separation.
    offset = torch.randint(separation, n_pool - separation + 1, (count,), generator=generator)
    return pool[first] - pool[(first + offset) % n_pool]


def split_pool(pool: torch.Tensor, analysis_states: int, separation: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(analysis pool, member pool) of a pool of consecutive daily states: the first
    `analysis_states` states, and the states from `separation` days after them on, so that no
    state of one is correlated with a state of the other. A pool too short for that (smoke runs)
    is split in halves, or, below 4 states, shared."""
    n_pool = pool.shape[0]
    if analysis_states >= 2 and analysis_states + separation + 2 <= n_pool:
        return pool[:analysis_states], pool[analysis_states + separation:]
    if n_pool >= 4:
        return pool[: n_pool // 2], pool[n_pool // 2:]
    return pool, pool


def analysis_error(
    pool: torch.Tensor, amplitude: float, generator: torch.Generator, min_separation: int
) -> torch.Tensor:
    """One perturbation (*state) that turns the true state into an imperfect analysis.

    Real ensembles start from an analysis, not from the truth; without this error the truth would
    sit at the centre of every initial ensemble and the forecast would be overdispersive early on.
    """
    return amplitude * random_field_differences(pool, 1, generator, min_separation)[0]


def member_perturbations(
    pool: torch.Tensor, n_members: int, amplitude: float, generator: torch.Generator,
    min_separation: int,
) -> torch.Tensor:
    """Centred perturbations (n_members, *state): the ensemble mean starts at the analysis."""
    perturbations = amplitude * random_field_differences(pool, n_members, generator, min_separation)
    return perturbations - perturbations.mean(dim=0, keepdim=True)
