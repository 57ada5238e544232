"""Model state → the output variables on pressure levels and a regular latitude–longitude grid.

Fields are evaluated from the spectral coefficients directly at the regular grid's points (an
inverse transform on an equiangular grid with the model's wavenumbers), so regridding adds no
interpolation error. Vertical interpolation from σ to pressure is done per column, linearly in
ln p (geopotential is close to linear in ln p; the hypsometric equation).
"""

from __future__ import annotations

import numpy as np
import torch
from dinosaur_torch import primitive_equations, scales, spherical_harmonic, vertical_interpolation

from seeds_dag.conventions import VARIABLES, OutputGrid
from seeds_dag.sources.embedded.dycore import Dycore


class OutputFields:
    """Diagnoses `VARIABLES` from a batch of model states on the output grid."""

    def __init__(self, model: Dycore, grid: OutputGrid):
        spec = model.coords.horizontal.spec
        self.model = model
        self.out_grid = spherical_harmonic.Grid(
            spherical_harmonic.GridSpec(
                longitude_wavenumbers=spec.longitude_wavenumbers,
                total_wavenumbers=spec.total_wavenumbers,
                longitude_nodes=grid.n_lon,
                latitude_nodes=grid.n_lat,
                latitude_spacing="equiangular",
            )
        )
        physics = model.physics
        self.velocity_unit = physics.dimensionalize(1.0, scales.units.m / scales.units.s).m
        self.geopotential_unit = physics.dimensionalize(1.0, scales.units.m**2 / scales.units.s**2).m
        self.pressure_unit = physics.dimensionalize(1.0, scales.units.pascal).m
        sigma = model.coords.vertical.coordinates.centers.astype(np.float64)
        self.log_sigma = torch.tensor(np.log(sigma), dtype=torch.float32)
        self.geopotential = primitive_equations.Geopotential(
            model.coords.vertical.coordinates, physics.g, physics.R
        )
        self.sec_lat = torch.tensor(1.0 / self.out_grid.spec.cos_lat, dtype=torch.float32)
        self.reference_temperature = torch.tensor(
            model.reference_temperature[:, None, None], dtype=torch.float32
        )

    @property
    def latitudes_deg(self) -> np.ndarray:
        return np.rad2deg(self.out_grid.latitudes)

    @property
    def longitudes_deg(self) -> np.ndarray:
        return np.rad2deg(self.out_grid.longitudes)

    def _at_pressure(self, field: torch.Tensor, log_ps_pa: torch.Tensor, p_pa: float) -> torch.Tensor:
        """Interpolate (batch, level, lon, lat) to one pressure level, linear in ln σ = ln p − ln ps.

        Beyond the outermost σ levels the profile is extrapolated linearly (850 hPa lies below
        the lowest model level only where the surface pressure is under ~907 hPa, rare here).
        """
        target = np.log(p_pa) - log_ps_pa  # (batch, 1, lon, lat)
        return vertical_interpolation.interp_linear_extrap(target, self.log_sigma, field)[:, 0]

    @torch.no_grad()
    def __call__(self, state: primitive_equations.State) -> dict[str, np.ndarray]:
        """Output fields, each (batch, lat, lon) float32 in the units of `VARIABLES`."""
        grid = self.model.coords.horizontal
        to_nodal = self.out_grid.to_nodal
        temperature = to_nodal(state.temperature_variation) + self.reference_temperature
        log_ps = to_nodal(state.log_surface_pressure) + np.log(self.pressure_unit)
        u_cos, v_cos = grid.cos_lat_vector(state.vorticity, state.divergence)
        u = to_nodal(u_cos) * self.sec_lat * self.velocity_unit
        v = to_nodal(v_cos) * self.sec_lat * self.velocity_unit
        orography = torch.zeros_like(temperature[..., :1, :, :])
        geopotential = self.geopotential(temperature, orography) * self.geopotential_unit
        fields = {
            "z500": self._at_pressure(geopotential, log_ps, 50_000.0),
            "t850": self._at_pressure(temperature, log_ps, 85_000.0),
            "u850": self._at_pressure(u, log_ps, 85_000.0),
            "v850": self._at_pressure(v, log_ps, 85_000.0),
            "sp": torch.exp(log_ps[:, 0]),
        }
        if set(fields) != set(VARIABLES):
            raise RuntimeError(f"output fields {sorted(fields)} do not match {sorted(VARIABLES)}")
        # dinosaur lays grids out as (lon, lat); our convention is (lat, lon).
        return {name: f.transpose(-1, -2).numpy().astype(np.float32) for name, f in fields.items()}
