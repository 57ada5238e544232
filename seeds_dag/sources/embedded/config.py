"""Settings of the embedded physics source: the model configurations and the ensemble design.

Two configurations of one dynamical core play two roles. The *truth* model is the standard
Held–Suarez (1994) benchmark and stands in for the real atmosphere (its run is our "reanalysis").
The *ensemble* model is deliberately a little wrong — a weaker equator-to-pole heating contrast,
faster surface drag, stronger hyperdiffusion and a longer time step — so that its forecasts carry a
real, flow-dependent model error that post-processing can learn to correct, just as GEFS differs
from the atmosphere.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence


@dataclasses.dataclass(frozen=True)
class HeldSuarezParams:
    """Forcing constants of Held & Suarez (1994, BAMS 75, 1825), SI units.

    T_eq(φ, p) = max(T_min, [T_surface − ΔT_y sin²φ − Δθ_z ln(p/p0) cos²φ] (p/p0)^κ)
    k_T(φ, σ) = k_a + (k_s − k_a) max(0, (σ − σ_b)/(1 − σ_b)) cos⁴φ
    k_v(σ)    = k_f max(0, (σ − σ_b)/(1 − σ_b))
    """

    t_min_k: float = 200.0
    t_surface_k: float = 315.0
    delta_t_y_k: float = 60.0
    delta_theta_z_k: float = 10.0
    p0_pa: float = 1.0e5
    sigma_b: float = 0.7
    k_f_per_day: float = 1.0
    k_a_per_day: float = 1.0 / 40.0
    k_s_per_day: float = 1.0 / 4.0


@dataclasses.dataclass(frozen=True)
class ModelConfig:
    """One configuration of the dry dynamical core (dinosaur-torch primitive equations)."""

    forcing: HeldSuarezParams = HeldSuarezParams()
    truncation: int = 21  # triangular truncation T21: 64×32 Gaussian grid
    layers: int = 8  # equidistant sigma levels
    time_step_minutes: float = 30.0
    # ∇⁸ hyperdiffusion: e-folding time at the highest total wavenumber.
    diffusion_tau_hours: float = 2.4
    diffusion_order: int = 4
    reference_temperature_k: float = 288.0


TRUTH_MODEL = ModelConfig()

ENSEMBLE_MODEL = ModelConfig(
    forcing=HeldSuarezParams(delta_t_y_k=55.0, delta_theta_z_k=12.0, k_f_per_day=1.25),
    time_step_minutes=60.0,
    diffusion_tau_hours=1.8,
)


@dataclasses.dataclass(frozen=True)
class PerturbationConfig:
    """Initial-condition perturbations of ensemble members.

    Each member starts from the analysis plus amplitude·(x_a − x_b), where x_a, x_b are two states
    drawn at random from a pool of climate states kept at the end of spin-up (the "random-field"
    method of Magnusson et al. 2009), and the analysis is the truth plus one more such difference,
    drawn from a disjoint part of the pool (`perturbations.split_pool`): the first
    `analysis_pool_days` states, then `min_separation_days` unused, then the members' states.
    The member perturbations are centred so the ensemble mean starts at the analysis. Measured with
    benchmarks/physics_ensemble.py (docs/benchmarks.md), amplitude 0.15 gives an ensemble spread of ≈ 0.23 of
    the climatological standard deviation at day 1 growing to ≈ 0.4 at day 7 and ≈ 0.65 at day 15:
    a forecast that is neither nearly deterministic nor already saturated.
    """

    amplitude: float = 0.15
    # Days between the last pool state and the start of the nature run, so that x_a − x_b carries
    # no information about the flow the forecasts start from (eddies decorrelate in ~5 days).
    gap_days: int = 15
    # The two states of a random-field difference are at least this many days apart (eddies
    # decorrelate in ~5 days), so every perturbation has the climate's full amplitude.
    min_separation_days: int = 7
    # States at the start of the pool that only analysis errors are drawn from.
    analysis_pool_days: int = 20


def check_lead_days(lead_days: Sequence[int], where: str) -> tuple[int, ...]:
    """`lead_days` as a tuple, refused unless they are whole days ascending from day 1 or later, at
    least one: a forecast is written at each, in order, and a trajectory model is tied to them."""
    leads = tuple(lead_days)
    if not leads or list(leads) != sorted(set(leads)) or leads[0] < 1:
        raise ValueError(f"{where}={list(leads)}: expected at least one lead, in whole days ascending "
                         "from 1")
    return leads
