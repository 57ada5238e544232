"""`DenoiserConfig.output_cross_spectrum`: the physics members' cross-spectral matrices between
leads and variables along each latitude circle, measured on the reforecast, and the one-pass
generator's output filtered by their square roots, set by training and kept by the model file."""

import dataclasses

import numpy as np
import pytest
import torch

from seeds_dag.checkpoints import LocalCheckpointIO
from seeds_dag.conventions import regular_latitudes, regular_longitudes
from seeds_dag.generators.kinds import objective_for
from seeds_dag.model_file import model_from_checkpoint
from seeds_dag.generators.sampling import sample_anomalies
from seeds_dag.networks.generator import NoiseGenerator, noise_shapes
from seeds_dag.networks.unet import DenoiserConfig
from seeds_dag.output_cross_spectrum import (correlate_meridionally, filter_cross_spectrally, hermitian_square_root,
                                             member_deviation_cross_spectrum, meridional_coherence)
from seeds_dag.output_spectrum import folded_multiplicity
from seeds_dag.seed_anomalies import member_spread
from seeds_dag.training import TrainingConfig, train_generator

LAT, LON = regular_latitudes(8), regular_longitudes(16)
LEAD_DAYS = np.array([1.0, 2.0])
N_VAR = 2
CONFIG = DenoiserConfig(channels=(8, 16), embed_dim=16, num_variables=N_VAR, num_leads=len(LEAD_DAYS),
                        attention_at_bottom=False, noise_dim=4, noise_channels=2, output_cross_spectrum=True,
                        output_noise=False, seed_mean_shrinkage=False)  # the filter alone (scaled: own tests)
SHIFT = 2
"""The second variable of `shifted_reforecast` is the first moved east by SHIFT grid points."""


def shifted_reforecast(n_init=30, n_member=5, seed=0):
    """(init, lead, member, V, H, W) fields whose members differ by smooth random waves
    (wavenumbers 1–4) in the first variable, the second variable the same waves SHIFT grid points
    further east (a quarter wavelength at wavenumber 2: related, yet uncorrelated there at a
    point, as v850 and surface pressure in geostrophic balance) plus a little noise of its own."""
    rng = np.random.default_rng(seed)
    shape = (n_init, len(LEAD_DAYS), n_member, len(LAT), len(LON) // 2 + 1)
    amplitude = np.array([0.0, 1.0, 2.0, 1.0, 0.5] + [0.0] * 4)
    phases = (rng.standard_normal(shape) + 1j * rng.standard_normal(shape)) / np.sqrt(2)
    waves = np.fft.irfft(amplitude * phases * len(LON), n=len(LON), axis=-1)
    noise = 0.1 * rng.standard_normal(waves.shape)
    data = np.stack([waves, np.roll(waves, SHIFT, axis=-1) + noise], axis=3)
    return (data + rng.standard_normal((n_init, len(LEAD_DAYS), 1, N_VAR, len(LAT), len(LON)))).astype(np.float32)


def lagged_correlation(x, first, second, lag):
    """Correlation of channel `first` with channel `second` moved `lag` points west, pooled: x (N, C, H, W)."""
    a, b = x[:, first], torch.roll(x[:, second], -lag, dims=-1)
    a, b = a - a.mean(), b - b.mean()
    return float((a * b).mean() / (a.std() * b.std()))


def test_the_cross_spectra_are_hermitian_normalised_and_shrunk():
    cross = member_deviation_cross_spectrum(shifted_reforecast(), shrinkage=0.1)
    channels = len(LEAD_DAYS) * N_VAR
    assert cross.shape == (len(LAT), len(LON) // 2 + 1, channels, channels)
    np.testing.assert_allclose(cross, cross.conj().swapaxes(-1, -2), atol=1e-12)
    assert np.linalg.eigvalsh(cross).min() > -1e-9
    power = np.einsum("hkii->hik", cross).real
    np.testing.assert_allclose((folded_multiplicity(len(LON)) * power).sum(-1), len(LON), rtol=1e-12)
    # Channel 1 (lead 0, variable 1) is channel 0 delayed by SHIFT points: at wavenumber k a phase
    # of 2π·k·SHIFT/16, coherence 0.99 from its own noise, 0.9 of that after the shrinkage.
    k = np.arange(1, 5)
    coherence = cross[:, k, 0, 1] / np.sqrt(cross[:, k, 0, 0].real * cross[:, k, 1, 1].real)
    expected = 0.9 * np.exp(2j * np.pi * k * SHIFT / len(LON))
    assert np.abs(coherence - expected).max() < 0.03
    # The first variable (channels 0 and 2) has no power at wavenumber 0 or beyond 4: nothing of it
    # there, alone or with another channel; the second's own noise is kept.
    quiet = cross[:, [0, 5, 6, 7, 8]]
    assert np.all(quiet[..., [0, 2], :] == 0) and np.all(quiet[..., :, [0, 2]] == 0)
    assert np.all(np.einsum("hkii->hki", quiet)[..., [1, 3]].real > 0)


def test_white_noise_filtered_by_the_root_keeps_relations_at_a_distance_that_a_point_mixing_loses():
    data = shifted_reforecast()
    root = hermitian_square_root(member_deviation_cross_spectrum(data, shrinkage=0))
    white = torch.randn(3000, 2 * N_VAR, len(LAT), len(LON), generator=torch.Generator().manual_seed(0))
    filtered = filter_cross_spectrally(white, root)
    np.testing.assert_allclose(filtered.var(dim=(0, 3)).numpy(), 1, atol=0.05)
    deviations = torch.from_numpy(data - data.mean(axis=2, keepdims=True))[:, 0].flatten(0, 1)  # lead 0
    for lag in (0, SHIFT, 4):
        physics = lagged_correlation(deviations, 0, 1, lag)
        assert abs(lagged_correlation(filtered, 0, 1, lag) - physics) < 0.05, lag
    # The relation is at a distance: all but perfect SHIFT points away, where a mixing at a point
    # (which sees only the correlation at lag 0) would give none.
    assert lagged_correlation(filtered, 0, 1, SHIFT) > 0.95


def test_identical_members_and_a_single_member_are_refused():
    data = shifted_reforecast(n_init=2)
    with pytest.raises(ValueError, match="identical members"):
        member_deviation_cross_spectrum(np.repeat(data[:, :, :1], 3, axis=2))
    with pytest.raises(ValueError, match="at least 2 members"):
        member_deviation_cross_spectrum(data[:, :, :1])


def test_the_generator_filters_its_output_by_the_root_it_is_given_and_refuses_the_point_filters():
    torch.manual_seed(0)
    filtered = NoiseGenerator(CONFIG, LAT, LON).eval()
    torch.manual_seed(0)
    plain = NoiseGenerator(dataclasses.replace(CONFIG, output_cross_spectrum=False), LAT, LON).eval()
    root = hermitian_square_root(member_deviation_cross_spectrum(shifted_reforecast()))
    filtered.set_output_cross_spectrum(root)
    gen = torch.Generator().manual_seed(1)
    z = torch.randn(3, CONFIG.noise_dim, generator=gen)
    cond = torch.randn(3, 2 * CONFIG.trajectory_channels, len(LAT), len(LON), generator=gen)
    eps = torch.randn(3, CONFIG.noise_channels, 4, 8, generator=gen)
    torch.testing.assert_close(filtered(z, cond, eps), filter_cross_spectrally(plain(z, cond, eps), root))
    with pytest.raises(ValueError, match="expected complex of shape"):
        filtered.set_output_cross_spectrum(root[:, :4])
    with pytest.raises(ValueError, match="expected complex of shape"):
        filtered.set_output_cross_spectrum(root.real)
    with pytest.raises(ValueError, match="without output_cross_spectrum"):
        plain.set_output_cross_spectrum(root)
    for field in ("output_correlation", "output_spectrum"):
        with pytest.raises(ValueError, match="replaces output_correlation and output_spectrum"):
            NoiseGenerator(dataclasses.replace(CONFIG, **{field: True}), LAT, LON)


def test_training_sets_the_root_from_the_reforecast_and_the_model_file_keeps_it(tmp_path):
    data = shifted_reforecast(n_init=6)
    data[..., 1:, :] += data[..., :-1, :]  # neighbouring latitudes alike, as a physics model's are
    config = TrainingConfig(steps=4, batch_size=2, learning_rate=1e-3, warmup_steps=1, checkpoint_every=4)
    checkpoint = LocalCheckpointIO(tmp_path / "model.pt")
    with_noise = dataclasses.replace(CONFIG, output_noise=True)
    result = train_generator(data, LEAD_DAYS, member_spread(data), LAT, LON, with_noise, objective_for("crps"), config,
                             checkpoint, torch.device("cpu"))
    expected = hermitian_square_root(member_deviation_cross_spectrum(data))
    rho = torch.from_numpy(meridional_coherence(data).astype(np.complex64))
    assert rho.shape == (CONFIG.trajectory_channels, len(LAT) - 1, len(LON) // 2 + 1)
    assert rho[..., 1:5].abs().mean(dim=1).min() > 0.3  # not white at the waves' wavenumbers
    torch.testing.assert_close(result.model.output_cross_spectral_root, expected)
    torch.testing.assert_close(result.model.output_noise_chain, rho)
    reloaded = model_from_checkpoint(checkpoint.load(), LAT, LON, "cpu", LEAD_DAYS)  # weights_only=True
    torch.testing.assert_close(reloaded.output_cross_spectral_root, expected)
    torch.testing.assert_close(reloaded.output_noise_chain, rho)


def test_output_noise_is_drawn_per_member_and_filtered_to_the_physics_relations():
    """With `output_noise`, ξ is the last noise the sampler draws for a member and reaches the
    members through the filter: with the network's own output silenced, members are filtered ξ
    alone, so they carry the relation at a distance exactly."""
    config = dataclasses.replace(CONFIG, output_noise=True)
    model = NoiseGenerator(config, LAT, LON).eval()
    model.set_output_cross_spectrum(hermitian_square_root(member_deviation_cross_spectrum(shifted_reforecast(),
                                                                                         shrinkage=0)))
    shapes = noise_shapes(config, (len(LAT), len(LON)))
    assert shapes[-1] == (config.trajectory_channels, len(LAT), len(LON))
    assert noise_shapes(CONFIG, (len(LAT), len(LON))) == shapes[:-1]  # nothing drawn without it
    with torch.no_grad():
        for parameter in model.unet.head[-1].parameters():  # the network's last convolution
            parameter.zero_()
        model.output_noise_scale.fill_(1.0)
        cond = torch.randn(1, 2 * config.trajectory_channels, len(LAT), len(LON)).expand(1500, -1, -1, -1)
        generators = [torch.Generator().manual_seed(i) for i in range(1500)]
        members = sample_anomalies(model, cond, generators, sampler=None)
    np.testing.assert_allclose(members.var(dim=(0, 3)).numpy(), 1, atol=0.08)
    assert lagged_correlation(members, 0, 1, SHIFT) > 0.95
    with pytest.raises(ValueError, match="needs an output filter"):
        NoiseGenerator(dataclasses.replace(CONFIG, output_cross_spectrum=False, output_noise=True), LAT, LON)
    with pytest.raises(ValueError, match="last noise input must be ξ"):
        model(torch.randn(2, config.noise_dim), cond[:2], torch.randn(2, config.noise_channels, 4, 8))


def test_output_noise_is_drawn_as_a_chain_from_latitude_to_latitude_with_the_physics_coherence():
    """Members whose deviations are broad in latitude, one variable more than the other, and whose
    waves lean east by a phase φ a latitude further on, give each channel that complex ρ(k); noise
    drawn with it keeps unit variance and has each channel's correlation and phase."""
    rng = np.random.default_rng(0)
    n_lat, tilt = 64, np.deg2rad(15.0)
    white = np.fft.rfft(rng.standard_normal((40, 1, 5, N_VAR, n_lat, len(LON))), axis=-1)
    broad = white.copy()
    wavenumber = np.arange(len(LON) // 2 + 1)
    for h in range(1, n_lat):  # an AR(1) from latitude to latitude with |ρ| = 0.8 and 0.4, phase k·φ
        for v, size in enumerate((0.8, 0.4)):
            rho = size * np.exp(1j * tilt * np.minimum(wavenumber, 1))
            broad[..., v, h, :] = rho * broad[..., v, h - 1, :] + np.sqrt(1 - size**2) * white[..., v, h, :]
    fields = np.fft.irfft(broad, n=len(LON), axis=-1).astype(np.float32)
    rho = meridional_coherence(fields)
    assert rho.shape == (N_VAR, n_lat - 1, len(LON) // 2 + 1)  # one lead: a channel per variable
    inner = rho[:, :, 1:-1]  # the complex wavenumbers
    np.testing.assert_allclose(np.abs(inner).mean(axis=1), [[0.8] * inner.shape[-1], [0.4] * inner.shape[-1]],
                               atol=0.03)
    np.testing.assert_allclose(np.angle(inner.mean(axis=1)), tilt, atol=np.deg2rad(3))
    assert np.all(np.abs(rho[:, :, [0, -1]].imag) == 0)  # the real coefficients' ρ is real
    white_rho = meridional_coherence(rng.standard_normal((40, 1, 5, N_VAR, n_lat, len(LON))))
    assert np.all(np.abs(white_rho.mean(axis=1)) < 0.05)  # white: nothing to keep (200 samples a pair)
    chain = torch.from_numpy(rho[:, :16].astype(np.complex64))
    noise = torch.randn(2000, N_VAR, 17, len(LON), generator=torch.Generator().manual_seed(0))
    chained = correlate_meridionally(noise, chain)
    np.testing.assert_allclose(chained.var(dim=(0, 2, 3)).numpy(), 1, atol=0.05)
    coefficients = torch.fft.rfft(chained, dim=-1)[..., 1:-1]
    # E|ĉ|² = W for white noise of W points
    lagged = (coefficients[:, :, 1:] * coefficients[:, :, :-1].conj()).mean(dim=(0, 2)) / len(LON)
    np.testing.assert_allclose(lagged.abs().mean(dim=-1).numpy(), [0.8, 0.4], atol=0.04)
    np.testing.assert_allclose(np.angle(lagged.mean(dim=-1).numpy()), tilt, atol=np.deg2rad(3))


def test_a_model_file_with_one_real_chain_for_every_channel_loads_it_for_each():
    """Model files written while ρ(k) was real and one for every channel and latitude hold it as
    (W // 2 + 1,): loaded as that ρ for each, so the members are drawn as before."""
    config = dataclasses.replace(CONFIG, output_noise=True)
    state = NoiseGenerator(config, LAT, LON).state_dict()
    pooled = torch.linspace(0.9, 0.1, len(LON) // 2 + 1)
    state["output_noise_meridional"] = pooled
    reloaded = NoiseGenerator(config, LAT, LON)
    reloaded.load_state_dict(state)
    chain = reloaded.output_noise_chain
    assert chain.shape == (config.trajectory_channels, len(LAT) - 1, len(LON) // 2 + 1)
    torch.testing.assert_close(chain.real, pooled.expand_as(chain.real))
    assert chain.imag.abs().max() == 0
    # The real chain as it was drawn then: ρ·ξ̂_{h−1} + √(1 − ρ²)·ŵ_h.
    noise = torch.randn(3, config.trajectory_channels, len(LAT), len(LON),
                        generator=torch.Generator().manual_seed(1))
    coefficients = torch.fft.rfft(noise, dim=-1)
    rows = [coefficients[:, :, 0]]
    for h in range(1, len(LAT)):
        rows.append(pooled * rows[-1] + torch.sqrt(1 - pooled**2) * coefficients[:, :, h])
    before = torch.fft.irfft(torch.stack(rows, dim=2), n=len(LON), dim=-1)
    torch.testing.assert_close(correlate_meridionally(noise, chain), before)
