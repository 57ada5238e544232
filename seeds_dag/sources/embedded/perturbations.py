"""Initial-condition perturbations for ensemble members (random-field method).

Magnusson, Nycander & Källén (2009, Tellus A 61, 194): a perturbation is the scaled difference of
two states drawn at random from the model's climate, α(x_a − x_b). It is balanced (both are model
states), has the climate's spatial correlations at every scale, and its size is one number.
"""

from __future__ import annotations

import torch


def random_field_differences(
    pool: torch.Tensor, count: int, generator: torch.Generator
) -> torch.Tensor:
    """`count` differences x_a − x_b of two distinct states from a pool (n_pool, *state)."""
    if pool.shape[0] < 2:
        raise ValueError(f"perturbation pool holds {pool.shape[0]} states; at least 2 are needed")
    first = torch.randint(pool.shape[0], (count,), generator=generator)
    offset = torch.randint(1, pool.shape[0], (count,), generator=generator)
    return pool[first] - pool[(first + offset) % pool.shape[0]]


def analysis_error(pool: torch.Tensor, amplitude: float, generator: torch.Generator) -> torch.Tensor:
    """One perturbation (*state) that turns the true state into an imperfect analysis.

    Real ensembles start from an analysis, not from the truth; without this error the truth would
    sit at the centre of every initial ensemble and the forecast would be overdispersive early on.
    """
    return amplitude * random_field_differences(pool, 1, generator)[0]


def member_perturbations(
    pool: torch.Tensor, n_members: int, amplitude: float, generator: torch.Generator
) -> torch.Tensor:
    """Centred perturbations (n_members, *state): the ensemble mean starts at the analysis."""
    perturbations = amplitude * random_field_differences(pool, n_members, generator)
    return perturbations - perturbations.mean(dim=0, keepdim=True)
