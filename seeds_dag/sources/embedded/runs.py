"""The three kinds of integration the embedded source makes: spin-up, nature run, ensemble forecast.

Arrays in and out: packed model states (see `dycore.state_to_tensor`) and output fields as
numpy arrays in the units of `conventions.VARIABLES`.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

import numpy as np
import torch

from seeds_dag.sources.embedded.config import PerturbationConfig, check_lead_days
from seeds_dag.sources.embedded.dycore import Dycore, state_to_tensor, tensor_to_state
from seeds_dag.sources.embedded.output_fields import OutputFields
from seeds_dag.sources.embedded.perturbations import analysis_error, member_perturbations, split_pool


@dataclasses.dataclass(frozen=True)
class SpinUp:
    """A statistically steady state and a pool of daily climate states for perturbations."""

    state: torch.Tensor  # packed (channels, m, l)
    pool: torch.Tensor  # packed (n_pool, channels, m, l), one state a day at the end of spin-up


def spin_up(model: Dycore, days: int, pool_days: int, gap_days: int, seed: int,
            on_day: Callable[[int], None] | None = None) -> SpinUp:
    """Integrate from the perturbed equilibrium state for `days` in all. The pool is the `pool_days`
    daily states that end `gap_days` before the final state, so no pool state is correlated with
    the weather the nature run then starts from. `on_day(d)` is called after model day d."""
    if pool_days < 2 or pool_days + gap_days > days:
        raise ValueError(f"need 2 <= pool_days ({pool_days}) and pool_days + gap_days "
                         f"({pool_days + gap_days}) <= days ({days})")
    generator = torch.Generator().manual_seed(seed)
    state = model.initial_state(1, generator)
    first_pool_day = days - gap_days - pool_days + 1
    pool = []
    # Day by day, the same time steps as one long `advance`: only the callbacks are added.
    for day in range(1, days + 1):
        state = model.advance(state, 1)
        if first_pool_day <= day < first_pool_day + pool_days:
            pool.append(state_to_tensor(state)[0])
        if on_day is not None:
            on_day(day)
    return SpinUp(state=state_to_tensor(state)[0], pool=torch.stack(pool))


def nature_run(
    model: Dycore, output: OutputFields, initial: torch.Tensor, days: int,
    on_day: Callable[[int], None] | None = None,
) -> tuple[dict[str, np.ndarray], torch.Tensor]:
    """Integrate one member for `days`, returning daily output fields (days+1, lat, lon) and the
    daily packed states (days+1, channels, m, l), both starting with the initial state.
    `on_day(d)` is called after model day d."""
    state = tensor_to_state(initial[None], model.config.layers)
    fields, states = [output(state)], [initial]
    for day in range(1, days + 1):
        state = model.advance(state, 1)
        fields.append(output(state))
        states.append(state_to_tensor(state)[0])
        if on_day is not None:
            on_day(day)
    stacked = {name: np.concatenate([f[name] for f in fields]) for name in fields[0]}
    return stacked, torch.stack(states)


def ensemble_forecast(
    model: Dycore,
    output: OutputFields,
    initial: torch.Tensor,
    pool: torch.Tensor,
    n_members: int,
    lead_days: tuple[int, ...],
    perturbation: PerturbationConfig,
    analysis_seed: int,
    member_seed: int,
) -> dict[str, np.ndarray]:
    """Integrate `n_members` perturbed copies of the analysis of `initial` (channels, m, l) as one
    batch, the analysis error and the member perturbations drawn from disjoint parts of the pool
    (`split_pool`). The analysis error depends on `analysis_seed` only, so ensembles of different
    sizes from the same date start from the same analysis.

    Returns fields (lead, member, lat, lon) at the whole-day `lead_days` (ascending, > 0).
    """
    fields = ensemble_forecasts(model, output, initial[None], pool, n_members, lead_days, perturbation,
                                [analysis_seed], [member_seed])
    return {name: values[0] for name, values in fields.items()}


def ensemble_forecasts(
    model: Dycore,
    output: OutputFields,
    initials: torch.Tensor,
    pool: torch.Tensor,
    n_members: int,
    lead_days: tuple[int, ...],
    perturbation: PerturbationConfig,
    analysis_seeds: list[int],
    member_seeds: list[int],
) -> dict[str, np.ndarray]:
    """`ensemble_forecast` for several initial states (n_init, channels, m, l) integrated as one
    batch of n_init·n_members, which is cheaper per member when ensembles are small. Each
    forecast's perturbations come from its own seeds, so it is the one `ensemble_forecast` makes.

    Returns fields (init, lead, member, lat, lon).
    """
    check_lead_days(lead_days, "lead_days")
    if not len(initials) == len(analysis_seeds) == len(member_seeds):
        raise ValueError(f"{len(initials)} initial states need as many analysis and member seeds, got "
                         f"{len(analysis_seeds)} and {len(member_seeds)}")
    amplitude, separation = perturbation.amplitude, perturbation.min_separation_days
    analysis_pool, member_pool = split_pool(pool, perturbation.analysis_pool_days, separation)
    members = []
    for initial, analysis_seed, member_seed in zip(initials, analysis_seeds, member_seeds):
        analysis = initial + analysis_error(
            analysis_pool, amplitude, torch.Generator().manual_seed(analysis_seed), separation
        )
        members.append(analysis[None] + member_perturbations(
            member_pool, n_members, amplitude, torch.Generator().manual_seed(member_seed), separation
        ))
    state = tensor_to_state(torch.cat(members), model.config.layers)
    fields, elapsed = [], 0
    for lead in lead_days:
        state = model.advance(state, lead - elapsed)
        elapsed = lead
        fields.append(output(state))
    n_init = len(initials)
    # output() gives (n_init·n_members, lat, lon) per lead; regroup to (init, lead, member, lat, lon).
    return {
        name: np.stack([f[name] for f in fields]).reshape(len(lead_days), n_init, n_members, *fields[0][name].shape[1:])
        .swapaxes(0, 1)
        for name in fields[0]
    }
