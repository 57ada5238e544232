"""Output fields: SI units and sane magnitudes, the regular grid of the conventions, exact
spectral regridding of analytic spherical harmonics and the hypsometric equation in the vertical."""

import numpy as np
import pytest
import torch
from dinosaur_torch import primitive_equations

from seeds_dag.conventions import VARIABLES, OutputGrid, regular_latitudes, regular_longitudes
from seeds_dag.sources.embedded.output_fields import OutputFields

R_DRY = 1004.0 * 2.0 / 7.0  # J/kg/K: the model's Cp·κ
P0_PA = 1.0e5
Y10 = (0, 1)  # modal (row, total wavenumber) of Y₁⁰ in dinosaur's real layout m = [0, 1, -1, 2, -2, …]
Y32_COS = (3, 3)  # cos(2λ) P₃²


def y10(lat):
    """Unit-L²-norm real spherical harmonic Y₁⁰ = √(3/4π) sin φ."""
    return np.sqrt(3 / (4 * np.pi)) * np.sin(lat)


def y32_cos(lat, lon):
    """Unit-L²-norm real harmonic √(7/(240π)) P₃²(sin φ) cos 2λ, P₃²(x) = 15x(1 − x²)."""
    return np.sqrt(7 / (240 * np.pi)) * 15 * np.sin(lat) * np.cos(lat) ** 2 * np.cos(2 * lon)


@pytest.fixture(scope="module")
def output(truth_model):
    return OutputFields(truth_model, OutputGrid())


@pytest.fixture(scope="module")
def mesh(output):
    """Output-grid latitudes and longitudes in radians, broadcast as (lat, lon)."""
    return np.deg2rad(output.latitudes_deg)[:, None], np.deg2rad(output.longitudes_deg)[None, :]


def state(model, temperature_k, log_ps_anomaly=0.0, vorticity_y10=0.0):
    """A state built from modal coefficients: a uniform temperature plus `temperature_k[1]`·Y₃²
    at every level, ln ps = ln p0 + `log_ps_anomaly`·Y₃², vorticity `vorticity_y10`·Y₁⁰."""
    layers = model.config.layers
    shape = (1, layers) + model.coords.horizontal.modal_shape
    mean_k, pattern_k = temperature_k
    temperature = torch.zeros(shape)
    temperature[:, :, 0, 0] = (mean_k - model.config.reference_temperature_k) * np.sqrt(4 * np.pi)
    temperature[:, :, Y32_COS[0], Y32_COS[1]] = pattern_k
    log_ps = torch.zeros((1, 1) + shape[2:])
    log_ps[:, :, 0, 0] = np.log(model.surface_pressure_nondim(P0_PA)) * np.sqrt(4 * np.pi)
    log_ps[:, :, Y32_COS[0], Y32_COS[1]] = log_ps_anomaly
    vorticity = torch.zeros(shape)
    vorticity[:, :, Y10[0], Y10[1]] = vorticity_y10
    return primitive_equations.State(
        vorticity=vorticity, divergence=torch.zeros(shape), temperature_variation=temperature,
        log_surface_pressure=log_ps, tracers={}, sim_time=0.0,
    )


def test_fields_of_the_initial_state_have_si_units_and_sane_magnitudes(truth_model, output):
    fields = output(truth_model.initial_state(2, torch.Generator().manual_seed(0)))
    assert set(fields) == set(VARIABLES)
    for name, values in fields.items():
        assert values.shape == (2, 32, 64) and values.dtype == np.float32, name
        assert VARIABLES[name].valid_min <= values.min() and values.max() <= VARIABLES[name].valid_max
    np.testing.assert_allclose(fields["sp"], P0_PA, rtol=1e-4)  # Pa, not hPa
    assert 200.0 < fields["t850"].min() and fields["t850"].max() < 320.0  # K, not °C
    weights = np.cos(np.deg2rad(output.latitudes_deg))[:, None]
    z500_mean = (fields["z500"] * weights).sum(axis=(1, 2)) / (weights.sum() * 64)
    assert np.all((5.0e4 < z500_mean) & (z500_mean < 5.9e4))  # m²/s², not gpm
    assert np.all(fields["u850"] == 0) and np.all(fields["v850"] == 0)  # starts at rest


def test_output_grid_is_the_conventions_regular_grid(output):
    np.testing.assert_allclose(output.latitudes_deg, regular_latitudes(32), atol=1e-9)
    np.testing.assert_allclose(output.longitudes_deg, regular_longitudes(64), atol=1e-9)
    assert np.all(np.diff(output.latitudes_deg) > 0)


def test_a_spherical_harmonic_is_evaluated_exactly_on_the_output_grid(truth_model, output, mesh):
    lat, lon = mesh
    fields = output(state(truth_model, (260.0, 10.0), log_ps_anomaly=0.02))
    # Temperature is the same at every level, so t850 is the horizontal pattern itself.
    np.testing.assert_allclose(fields["t850"][0], 260.0 + 10.0 * y32_cos(lat, lon), atol=1e-3)
    np.testing.assert_allclose(fields["sp"][0], P0_PA * np.exp(0.02 * y32_cos(lat, lon)), rtol=1e-5)
    assert fields["t850"][0].std() > 1.0  # the pattern is there, not just the mean


def test_solid_body_rotation_gives_u_equal_u0_cos_latitude(truth_model, output, mesh):
    lat, _ = mesh
    u0 = 10.0  # m/s
    # u = U cos φ has vorticity ζ = 2U sin φ / a (a = 1 in model units).
    u0_model = u0 / output.velocity_unit
    fields = output(state(truth_model, (280.0, 0.0), vorticity_y10=2 * u0_model / y10(np.pi / 2)))
    np.testing.assert_allclose(fields["u850"][0], np.broadcast_to(u0 * np.cos(lat), (32, 64)), atol=1e-4)
    np.testing.assert_allclose(fields["v850"][0], 0.0, atol=1e-4)


@pytest.mark.parametrize("temperature_k", [230.0, 280.0])
def test_isothermal_atmosphere_obeys_the_hypsometric_equation(truth_model, output, mesh, temperature_k):
    lat, lon = mesh
    fields = output(state(truth_model, (temperature_k, 0.0), log_ps_anomaly=0.05))
    ps = P0_PA * np.exp(0.05 * y32_cos(lat, lon))
    np.testing.assert_allclose(fields["t850"][0], temperature_k, atol=1e-3)
    np.testing.assert_allclose(fields["z500"][0], R_DRY * temperature_k * np.log(ps / 50_000.0), rtol=2e-5)
