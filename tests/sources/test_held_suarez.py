"""Held–Suarez (1994) forcing against the paper's formulas, evaluated independently in numpy.

References use the paper's constants written out here (not read from `HeldSuarezParams`), so a
wrong default fails too. Rates are compared in the model's nondimensional time unit.
"""

import numpy as np
import pytest
import torch
from dinosaur_torch import (
    coordinate_systems,
    primitive_equations,
    scales,
    sigma_coordinates,
    spherical_harmonic,
    units,
)

from seeds_dag.sources.embedded.config import ENSEMBLE_MODEL, TRUTH_MODEL
from seeds_dag.sources.embedded.held_suarez import HeldSuarezForcing

KAPPA = 2.0 / 7.0
P0_PA = 1.0e5


def paper_t_eq(lat_rad, p_pa, delta_t_y=60.0, delta_theta_z=10.0):
    """Held & Suarez (1994) eq. for T_eq in K, float64."""
    sin2, cos2 = np.sin(lat_rad) ** 2, np.cos(lat_rad) ** 2
    t = (315.0 - delta_t_y * sin2 - delta_theta_z * np.log(p_pa / P0_PA) * cos2) * (p_pa / P0_PA) ** KAPPA
    return np.maximum(200.0, t)


def paper_k_t_per_day(lat_rad, sigma):
    boundary_layer = np.maximum(0.0, (sigma - 0.7) / 0.3)
    return 1 / 40 + (1 / 4 - 1 / 40) * boundary_layer * np.cos(lat_rad) ** 4


def per_day(physics, rate_per_day):
    return physics.nondimensionalize(rate_per_day / scales.units.day)


@pytest.fixture(scope="module")
def physics():
    return units.SimUnits.from_si()


@pytest.fixture(scope="module")
def poles_grid_forcing(physics):
    """Forcing on a grid with points at the equator and both poles and 10 levels (σ = 0.05…0.95),
    so limits of the formulas can be read off exactly."""
    with np.errstate(divide="ignore"):  # sec²φ is infinite at the poles; the forcing never uses it
        horizontal = spherical_harmonic.Grid(
            spherical_harmonic.GridSpec(22, 23, 64, 33, latitude_spacing="equiangular_with_poles")
        )
    coords = coordinate_systems.CoordinateSystem(
        horizontal=horizontal,
        vertical=sigma_coordinates.SigmaLevels(sigma_coordinates.SigmaCoordinates.equidistant(10)),
    )
    return HeldSuarezForcing(coords, physics, 288.0, TRUTH_MODEL.forcing)


def grid_axes(forcing):
    """Latitudes (radians) and σ of the forcing's nodal grid, float64."""
    lat = np.arcsin(forcing.coords.horizontal.spec.nodal_axes[1])
    sigma = forcing.coords.vertical.coordinates.centers
    return lat, sigma


def surface_pressure(physics, forcing, ps_pa):
    """Nodal nondimensional surface pressure (1, lon, lat) from a Pa value per longitude."""
    n_lon, n_lat = forcing.coords.horizontal.nodal_shape
    ps_pa = np.broadcast_to(np.asarray(ps_pa, dtype=np.float64)[:, None], (n_lon, n_lat))
    ps = physics.nondimensionalize(ps_pa * scales.units.pascal)
    return torch.tensor(ps[None], dtype=torch.float32)


def test_surface_t_eq_is_315_k_at_the_equator_and_255_k_at_the_poles(physics, poles_grid_forcing):
    lat, sigma = grid_axes(poles_grid_forcing)
    # Choose ps so that the lowest level sits exactly at p = p0.
    ps = surface_pressure(physics, poles_grid_forcing, np.full(64, P0_PA / sigma[-1]))
    t_surface = poles_grid_forcing.equilibrium_temperature(ps)[-1].numpy()  # (lon, lat)
    equator, south, north = np.argmin(np.abs(lat)), np.argmin(lat), np.argmax(lat)
    np.testing.assert_allclose(t_surface[:, equator], 315.0, atol=1e-3)
    np.testing.assert_allclose(t_surface[:, south], 255.0, atol=1e-3)
    np.testing.assert_allclose(t_surface[:, north], 255.0, atol=1e-3)


def test_t_eq_has_the_200_k_stratospheric_floor(physics, poles_grid_forcing):
    ps = surface_pressure(physics, poles_grid_forcing, np.full(64, P0_PA))
    t_eq = poles_grid_forcing.equilibrium_temperature(ps).numpy()
    # σ = 0.05 (50 hPa): the unbounded profile is < 150 K at every latitude.
    np.testing.assert_array_equal(t_eq[0], 200.0)
    assert t_eq.min() == 200.0
    assert t_eq[-1].min() > 250.0


def test_t_eq_matches_the_paper_at_every_latitude_and_pressure(physics, truth_model):
    forcing = truth_model.forcing
    lat, sigma = grid_axes(forcing)
    ps_pa = np.linspace(85_000.0, 105_000.0, 64)  # a different surface pressure per longitude
    got = forcing.equilibrium_temperature(surface_pressure(physics, forcing, ps_pa)).numpy()
    p_pa = sigma[:, None, None] * ps_pa[None, :, None]
    expected = paper_t_eq(lat[None, None, :], p_pa)
    assert got.shape == (8, 64, 32)
    assert (expected == 200.0).any() and (expected > 200.0).any()  # both branches are exercised
    np.testing.assert_allclose(got, expected, atol=2e-3)


def test_batched_surface_pressure_gives_one_t_eq_per_member(physics, truth_model):
    forcing = truth_model.forcing
    low = surface_pressure(physics, forcing, np.full(64, 90_000.0))
    high = surface_pressure(physics, forcing, np.full(64, 100_000.0))
    both = forcing.equilibrium_temperature(torch.stack([low, high]))
    assert both.shape == (2, 8, 64, 32)
    torch.testing.assert_close(both[0], forcing.equilibrium_temperature(low))
    torch.testing.assert_close(both[1], forcing.equilibrium_temperature(high))


def test_temperature_relaxation_rate_follows_the_paper(physics, truth_model, poles_grid_forcing):
    lat, sigma = grid_axes(truth_model.forcing)
    expected = per_day(physics, paper_k_t_per_day(lat[None, None, :], sigma[:, None, None]))
    np.testing.assert_allclose(truth_model.forcing.k_t.numpy(), expected, rtol=1e-6)

    lat, sigma = grid_axes(poles_grid_forcing)
    k_t = poles_grid_forcing.k_t.numpy()[:, 0, :]  # (level, lat)
    k_a, k_s = per_day(physics, 1 / 40), per_day(physics, 1 / 4)
    np.testing.assert_allclose(k_t[sigma <= 0.7], k_a, rtol=1e-6)  # free atmosphere
    np.testing.assert_allclose(k_t[:, np.argmax(lat)], k_a, rtol=1e-6)  # cos⁴φ = 0 at the pole
    # k_T is linear in σ in the boundary layer: at the equator it reaches k_s at σ = 1.
    equator = k_t[:, np.argmin(np.abs(lat))]
    slope = (equator[-1] - equator[-2]) / (sigma[-1] - sigma[-2])
    assert equator[-1] + slope * (1.0 - sigma[-1]) == pytest.approx(k_s, rel=1e-5)
    assert equator[-1] + slope * (0.7 - sigma[-1]) == pytest.approx(k_a, rel=1e-4)


def test_friction_is_zero_above_sigma_b_and_k_f_at_the_surface(physics, poles_grid_forcing):
    _, sigma = grid_axes(poles_grid_forcing)
    k_v = poles_grid_forcing.k_v.numpy()[:, 0, 0]
    assert np.all(k_v[sigma <= 0.7] == 0.0)
    assert np.all(k_v[sigma > 0.7] > 0.0)
    slope = (k_v[-1] - k_v[-2]) / (sigma[-1] - sigma[-2])
    assert k_v[-1] + slope * (1.0 - sigma[-1]) == pytest.approx(per_day(physics, 1.0), rel=1e-5)


def uniform_state(model, temperature_k, generator=None):
    """A state of uniform temperature and surface pressure p0, with random winds if asked."""
    grid = model.coords.horizontal
    shape = (1,) + model.coords.modal_shape
    winds = (torch.zeros(shape), torch.zeros(shape)) if generator is None else (
        1e-3 * torch.randn(shape, generator=generator) * torch.tensor(grid.mask),
        1e-3 * torch.randn(shape, generator=generator) * torch.tensor(grid.mask),
    )
    nodal = torch.ones((1,) + model.coords.surface_nodal_shape)
    return primitive_equations.State(
        vorticity=winds[0],
        divergence=winds[1],
        temperature_variation=grid.to_modal(
            torch.full((1,) + model.coords.nodal_shape, temperature_k - 288.0)
        ),
        log_surface_pressure=grid.to_modal(nodal * np.log(model.surface_pressure_nondim(P0_PA))),
        tracers={},
        sim_time=0.0,
    )


@pytest.mark.parametrize("temperature_k, sign", [(330.0, -1.0), (150.0, +1.0)])
def test_a_state_hotter_than_equilibrium_cools_and_a_colder_one_warms(truth_model, physics,
                                                                      temperature_k, sign):
    grid = truth_model.coords.horizontal
    tendency = truth_model.forcing.explicit_terms(uniform_state(truth_model, temperature_k))
    heating = grid.to_nodal(tendency.temperature_variation)
    assert torch.all(sign * heating > 0)
    # Exactly −k_T (T − T_eq) of the paper, projected onto the model's spectral basis.
    lat, sigma = grid_axes(truth_model.forcing)
    k_t = per_day(physics, paper_k_t_per_day(lat[None, None, :], sigma[:, None, None]))
    t_eq = paper_t_eq(lat[None, None, :], sigma[:, None, None] * P0_PA)
    expected = grid.to_modal(torch.tensor(
        np.broadcast_to(-k_t * (temperature_k - t_eq), truth_model.coords.nodal_shape)[None],
        dtype=torch.float32,
    ))
    scale = expected.abs().max()
    torch.testing.assert_close(tendency.temperature_variation / scale, expected / scale,
                               atol=1e-4, rtol=0)
    assert torch.all(tendency.log_surface_pressure == 0)


def test_friction_damps_vorticity_and_divergence_in_the_boundary_layer_only(truth_model, physics):
    state = uniform_state(truth_model, 288.0, torch.Generator().manual_seed(0))
    tendency = truth_model.forcing.explicit_terms(state)
    sigma = truth_model.coords.vertical.coordinates.centers
    k_v = per_day(physics, np.maximum(0.0, (sigma - 0.7) / 0.3))[None, :, None, None]
    for name in ("vorticity", "divergence"):
        expected = -torch.tensor(k_v, dtype=torch.float32) * getattr(state, name)
        torch.testing.assert_close(getattr(tendency, name), expected)
        assert torch.all(getattr(tendency, name)[:, sigma < 0.7] == 0)
        assert torch.any(getattr(tendency, name)[:, -1] != 0)


def test_ensemble_model_has_a_weaker_heating_contrast_and_stronger_drag(physics, truth_model,
                                                                        ensemble_model):
    truth, ensemble = truth_model.forcing, ensemble_model.forcing
    lat, sigma = grid_axes(ensemble)
    ps = surface_pressure(physics, ensemble, np.full(64, P0_PA))
    t_truth = truth.equilibrium_temperature(ps).numpy()
    t_ensemble = ensemble.equilibrium_temperature(ps).numpy()
    assert np.abs(t_ensemble - t_truth).max() > 3.0
    params = ENSEMBLE_MODEL.forcing
    np.testing.assert_allclose(
        t_ensemble,
        np.broadcast_to(paper_t_eq(lat[None, None, :], sigma[:, None, None] * P0_PA,
                                   params.delta_t_y_k, params.delta_theta_z_k), t_ensemble.shape),
        atol=2e-3,
    )
    # Equator-to-pole contrast of the lowest level (Gaussian latitudes nearest the equator/pole).
    def contrast(t):
        return t[-1, :, np.argmin(np.abs(lat))].mean() - t[-1, :, np.argmax(lat)].mean()
    assert contrast(t_ensemble) < contrast(t_truth) - 1.0
    assert ensemble.k_v[-1].item() > truth.k_v[-1].item()
