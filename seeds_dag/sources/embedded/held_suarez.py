"""Held–Suarez (1994) forcing as an explicit tendency for dinosaur-torch's primitive equations.

Newtonian relaxation of temperature to a zonally symmetric radiative-equilibrium profile and
Rayleigh friction of the low-level winds. Temperature relaxation depends on latitude and pressure,
so it is evaluated on the Gaussian grid; friction depends on σ only, so it acts exactly in spectral
space as −k_v·ζ and −k_v·δ.
"""

from __future__ import annotations

import numpy as np
import torch
from dinosaur_torch import coordinate_systems, primitive_equations, scales, units
from torch import nn

from seeds_dag.sources.embedded.config import HeldSuarezParams


def _per_day(physics: units.SimUnits, rate_per_day: float) -> float:
    """A rate in 1/day in the model's nondimensional time unit."""
    return physics.nondimensionalize(rate_per_day / scales.units.day)


class HeldSuarezForcing(nn.Module):
    """Explicit tendencies of the Held–Suarez forcing (a dinosaur-torch ExplicitODE)."""

    def __init__(
        self,
        coords: coordinate_systems.CoordinateSystem,
        physics: units.SimUnits,
        reference_temperature_k: float,
        params: HeldSuarezParams,
    ):
        super().__init__()
        self.coords = coords
        self.params = params
        self.kappa = physics.kappa
        self.p0 = physics.nondimensionalize(params.p0_pa * scales.units.pascal)
        self.reference_temperature_k = reference_temperature_k

        sigma = coords.vertical.coordinates.centers.astype(np.float64)
        _, sin_lat = coords.horizontal.spec.nodal_axes
        cos2_lat = 1.0 - sin_lat**2
        # Fraction of the way through the boundary layer, 0 above σ_b, 1 at the surface.
        boundary_layer = np.maximum(0.0, (sigma - params.sigma_b) / (1.0 - params.sigma_b))

        k_a = _per_day(physics, params.k_a_per_day)
        k_s = _per_day(physics, params.k_s_per_day)
        k_f = _per_day(physics, params.k_f_per_day)
        # Layouts follow dinosaur's nodal (level, lon, lat) and modal (level, m, l) arrays.
        k_t = k_a + (k_s - k_a) * boundary_layer[:, None, None] * cos2_lat[None, None, :] ** 2
        self.register_buffer("k_t", torch.tensor(k_t, dtype=torch.float32), persistent=False)
        self.register_buffer(
            "k_v", torch.tensor(k_f * boundary_layer[:, None, None], dtype=torch.float32),
            persistent=False,
        )
        self.register_buffer("sigma", torch.tensor(sigma[:, None, None], dtype=torch.float32),
                             persistent=False)
        self.register_buffer("sin2_lat", torch.tensor(sin_lat**2, dtype=torch.float32),
                             persistent=False)
        self.register_buffer("cos2_lat", torch.tensor(cos2_lat, dtype=torch.float32),
                             persistent=False)

    def equilibrium_temperature(self, surface_pressure: torch.Tensor) -> torch.Tensor:
        """T_eq in K on (…, level, lon, lat) from nodal surface pressure (…, 1, lon, lat)."""
        p = self.params
        p_over_p0 = self.sigma * surface_pressure / self.p0
        t_eq = (p.t_surface_k - p.delta_t_y_k * self.sin2_lat
                - p.delta_theta_z_k * torch.log(p_over_p0) * self.cos2_lat) * p_over_p0**self.kappa
        return torch.clamp(t_eq, min=p.t_min_k)

    def explicit_terms(self, state: primitive_equations.State) -> primitive_equations.State:
        grid = self.coords.horizontal
        temperature = grid.to_nodal(state.temperature_variation) + self.reference_temperature_k
        surface_pressure = torch.exp(grid.to_nodal(state.log_surface_pressure))
        heating = -self.k_t * (temperature - self.equilibrium_temperature(surface_pressure))
        return primitive_equations.State(
            vorticity=-self.k_v * state.vorticity,
            divergence=-self.k_v * state.divergence,
            temperature_variation=grid.to_modal(heating),
            log_surface_pressure=torch.zeros_like(state.log_surface_pressure),
            tracers={},
            sim_time=0.0,
        )
