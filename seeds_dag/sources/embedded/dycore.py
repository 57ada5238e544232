"""A dry primitive-equation atmosphere: dinosaur-torch's dynamical core with Held–Suarez forcing.

States are dinosaur `State`s of modal (spectral) tensors with an optional leading batch axis, so a
whole ensemble integrates as one batch: vorticity/divergence/temperature_variation
(batch, level, m, l) and log_surface_pressure (batch, 1, m, l).
"""

from __future__ import annotations

import numpy as np
import torch
from dinosaur_torch import (
    coordinate_systems,
    primitive_equations,
    scales,
    sigma_coordinates,
    spherical_harmonic,
    time_integration,
    units,
)

from seeds_dag.sources.embedded.config import ModelConfig
from seeds_dag.sources.embedded.held_suarez import HeldSuarezForcing

# Amplitude of the white noise that breaks the zonal symmetry of the initial state, in K.
INITIAL_NOISE_K = 0.1
STATE_FIELDS = ("vorticity", "divergence", "temperature_variation", "log_surface_pressure")


def _grid_spec(truncation: int) -> spherical_harmonic.GridSpec:
    """The standard quadratic Gaussian grid of a triangular truncation (T21, T31, T42, …)."""
    constructor = getattr(spherical_harmonic.GridSpec, f"T{truncation}", None)
    if constructor is None:
        raise ValueError(f"unsupported truncation T{truncation}; dinosaur-torch offers "
                         "T21, T31, T42, T85, …")
    return constructor()


class Dycore:
    """One configured model: coordinates, equations and a filtered time step."""

    def __init__(self, config: ModelConfig):
        self.config = config
        self.physics = units.SimUnits.from_si()
        spec = _grid_spec(config.truncation)
        self.coords = coordinate_systems.CoordinateSystem(
            horizontal=spherical_harmonic.Grid(spec),
            vertical=sigma_coordinates.SigmaLevels(
                sigma_coordinates.SigmaCoordinates.equidistant(config.layers)
            ),
        )
        layers = config.layers
        self.dt = self.physics.nondimensionalize(config.time_step_minutes * scales.units.minute)
        self.steps_per_day = round(24 * 60 / config.time_step_minutes)
        if not np.isclose(self.steps_per_day * config.time_step_minutes, 24 * 60):
            raise ValueError(
                f"time_step_minutes={config.time_step_minutes} must divide one day evenly"
            )
        orography = torch.zeros(self.coords.horizontal.modal_shape)
        self.reference_temperature = np.full((layers,), config.reference_temperature_k)
        self.primitive = primitive_equations.PrimitiveEquations(
            self.reference_temperature, orography, self.coords, self.physics
        )
        self.forcing = HeldSuarezForcing(
            self.coords, self.physics, config.reference_temperature_k, config.forcing
        )
        equations = time_integration.compose_equations([self.primitive, self.forcing])
        tau = self.physics.nondimensionalize(config.diffusion_tau_hours * scales.units.hour)
        diffusion = time_integration.horizontal_diffusion_step_filter(
            self.coords.horizontal, self.dt, tau, order=config.diffusion_order
        )
        self.step = time_integration.step_with_filters(
            time_integration.imex_rk_sil3(equations, self.dt), [diffusion]
        )

    def surface_pressure_nondim(self, pressure_pa: float) -> float:
        return self.physics.nondimensionalize(pressure_pa * scales.units.pascal)

    def initial_state(self, batch: int, generator: torch.Generator) -> primitive_equations.State:
        """A state at rest with the Held–Suarez equilibrium temperature plus small noise.

        Starting from T_eq (rather than isothermal) makes the flow baroclinically unstable at
        once, which shortens spin-up: eddies appear within ~20 days instead of ~60.
        """
        grid = self.coords.horizontal
        nodal_shape = (batch,) + self.coords.surface_nodal_shape
        p0 = self.surface_pressure_nondim(self.config.forcing.p0_pa)
        surface_pressure = torch.full(nodal_shape, p0)
        t_eq = self.forcing.equilibrium_temperature(surface_pressure)
        noise = INITIAL_NOISE_K * torch.randn(t_eq.shape, generator=generator)
        zeros = torch.zeros((batch,) + self.coords.modal_shape)
        return primitive_equations.State(
            vorticity=zeros,
            divergence=zeros.clone(),
            temperature_variation=grid.to_modal(t_eq + noise - self.config.reference_temperature_k),
            log_surface_pressure=grid.to_modal(torch.log(surface_pressure)),
            tracers={},
            sim_time=0.0,
        )

    @torch.no_grad()
    def advance(self, state: primitive_equations.State, days: int) -> primitive_equations.State:
        """Integrate `days` whole days."""
        for _ in range(days * self.steps_per_day):
            state = self.step(state)
        return state


def state_to_tensor(state: primitive_equations.State) -> torch.Tensor:
    """Pack a state into one real tensor (batch, 3·level + 1, m, l) for storage."""
    return torch.cat([getattr(state, name) for name in STATE_FIELDS], dim=-3)


def tensor_to_state(packed: torch.Tensor, layers: int) -> primitive_equations.State:
    """Inverse of `state_to_tensor`."""
    parts = torch.split(packed, [layers, layers, layers, 1], dim=-3)
    return primitive_equations.State(
        **{name: part.contiguous() for name, part in zip(STATE_FIELDS, parts)},
        tracers={},
        sim_time=0.0,
    )
