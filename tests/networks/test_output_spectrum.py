"""`DenoiserConfig.output_spectrum`: the physics members' zonal spectrum of deviations, measured on
the reforecast, and the one-pass generator's output filtered to it along each latitude circle, set
by training and kept by the model file."""

import dataclasses

import numpy as np
import pytest
import torch

from seeds_dag.checkpoints import LocalCheckpointIO
from seeds_dag.conventions import regular_latitudes, regular_longitudes
from seeds_dag.generators.kinds import objective_for
from seeds_dag.model_file import model_from_checkpoint
from seeds_dag.networks.generator import NoiseGenerator
from seeds_dag.networks.unet import DenoiserConfig
from seeds_dag.output_spectrum import filter_zonally, folded_multiplicity, member_deviation_spectrum
from seeds_dag.seed_anomalies import member_spread
from seeds_dag.training import TrainingConfig, train_generator

LAT, LON = regular_latitudes(8), regular_longitudes(16)
LEAD_DAYS = np.array([1.0, 2.0])
N_VAR = 2
CONFIG = DenoiserConfig(channels=(8, 16), embed_dim=16, num_variables=N_VAR, num_leads=len(LEAD_DAYS),
                        attention_at_bottom=False, noise_dim=4, noise_channels=2, output_spectrum=True,
                        output_cross_spectrum=False, output_noise=False)
AMPLITUDE = np.array([0.0, 1.0, 2.0, 1.0, 0.5, 0.0, 0.0, 0.0, 0.0])
"""Amplitude of the member deviations at zonal wavenumbers 0 … 8 of a 16-point circle: nothing at
0 or beyond 4, as a truncated model's fields."""


def banded_reforecast(n_init=30, n_member=5, seed=0):
    """(init, lead, member, V, H, W) fields whose members differ by random phases at wavenumbers
    1–4 with amplitudes AMPLITUDE (the second variable twice as large: the shape is what counts)
    about a common field with every wavenumber in it."""
    rng = np.random.default_rng(seed)
    shape = (n_init, len(LEAD_DAYS), n_member, N_VAR, len(LAT), len(LON) // 2 + 1)
    coefficients = AMPLITUDE * np.exp(2j * np.pi * rng.uniform(size=shape)) * len(LON)
    deviations = np.fft.irfft(coefficients, n=len(LON), axis=-1)
    deviations[:, :, :, 1] *= 2
    common = rng.standard_normal((n_init, len(LEAD_DAYS), 1, N_VAR, len(LAT), len(LON)))
    return (common + deviations).astype(np.float32)


def test_the_spectrum_of_member_deviations_is_recovered_and_nothing_passes_where_they_have_none():
    gains = member_deviation_spectrum(banded_reforecast())
    assert gains.shape == (len(LEAD_DAYS) * N_VAR, len(LAT), len(LON) // 2 + 1)
    # White noise keeps its variance: Σ over the full circle's wavenumbers of g² is its length.
    np.testing.assert_allclose((folded_multiplicity(len(LON)) * gains**2).sum(-1), len(LON), rtol=1e-12)
    # The shape is the deviations' own (the common field and the variable's size cancel), estimated
    # from 30 inits × 5 members of random phases: within 0.08 of gains of 0.57–2.26 (0.05 at worst here).
    expected = AMPLITUDE / np.sqrt((folded_multiplicity(len(LON)) * AMPLITUDE**2).sum() / len(LON))
    np.testing.assert_allclose(gains, np.broadcast_to(expected, gains.shape), atol=0.08)
    assert np.all(gains[..., [0, 5, 6, 7, 8]] == 0)  # below the floor: removed, not damped


def test_white_noise_filtered_by_the_gains_has_unit_variance_and_the_physics_spectrum():
    gains = torch.from_numpy(member_deviation_spectrum(banded_reforecast())).float()
    white = torch.randn(4000, *gains.shape[:2], len(LON), generator=torch.Generator().manual_seed(0))
    filtered = filter_zonally(white, gains)
    np.testing.assert_allclose(filtered.var(dim=(0, 3)).numpy(), 1, atol=0.03)
    power = (torch.fft.rfft(filtered, dim=-1).abs() ** 2).mean(dim=0) / len(LON)
    torch.testing.assert_close(power, gains**2, atol=0.1, rtol=0.05)


def test_identical_members_and_a_single_member_are_refused():
    data = banded_reforecast(n_init=2)
    with pytest.raises(ValueError, match="identical members"):
        member_deviation_spectrum(np.repeat(data[:, :, :1], 3, axis=2))
    with pytest.raises(ValueError, match="at least 2 members"):
        member_deviation_spectrum(data[:, :, :1])


def test_the_generator_filters_its_output_by_the_gains_it_is_given():
    torch.manual_seed(0)
    filtered = NoiseGenerator(CONFIG, LAT, LON).eval()
    torch.manual_seed(0)
    plain = NoiseGenerator(dataclasses.replace(CONFIG, output_spectrum=False), LAT, LON).eval()
    gains = torch.from_numpy(member_deviation_spectrum(banded_reforecast())).float()
    filtered.set_output_spectrum(gains)
    gen = torch.Generator().manual_seed(1)
    z = torch.randn(3, CONFIG.noise_dim, generator=gen)
    cond = torch.randn(3, 2 * CONFIG.trajectory_channels, len(LAT), len(LON), generator=gen)
    eps = torch.randn(3, CONFIG.noise_channels, 4, 8, generator=gen)
    out = filtered(z, cond, eps)
    torch.testing.assert_close(out, filter_zonally(plain(z, cond, eps), gains))
    spectrum = torch.fft.rfft(out, dim=-1).abs()
    assert spectrum[..., 5:].max() < 1e-5 * spectrum.max()  # no member varies where physics does not
    with pytest.raises(ValueError, match="expected shape"):
        filtered.set_output_spectrum(gains[:, :, :4])
    with pytest.raises(ValueError, match="without output_spectrum"):
        plain.set_output_spectrum(gains)


def test_training_sets_the_gains_from_the_reforecast_and_the_model_file_keeps_them(tmp_path):
    data = banded_reforecast(n_init=6)
    config = TrainingConfig(steps=4, batch_size=2, learning_rate=1e-3, warmup_steps=1, checkpoint_every=4)
    checkpoint = LocalCheckpointIO(tmp_path / "model.pt")
    both = dataclasses.replace(CONFIG, output_correlation=True)  # filtered, then mixed
    result = train_generator(data, LEAD_DAYS, member_spread(data), LAT, LON, both, objective_for("crps"), config,
                             checkpoint, torch.device("cpu"))
    expected = torch.from_numpy(member_deviation_spectrum(data)).float()
    torch.testing.assert_close(result.model.output_gains, expected)
    reloaded = model_from_checkpoint(checkpoint.load(), LAT, LON, "cpu", LEAD_DAYS)
    torch.testing.assert_close(reloaded.output_gains, expected)
    assert reloaded.output_mixing is not None
