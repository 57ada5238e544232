"""`DenoiserConfig.seed_mean_shrinkage`: the Wiener factor of the seeds' mean measured on the
reforecast about its climate per longitude, the members moved to lie about the shrunk mean, the output filter scaled to the
deviations about it, all set by training and kept by the model file."""

import dataclasses

import numpy as np
import pytest
import torch

from seeds_dag.checkpoints import LocalCheckpointIO
from seeds_dag.conventions import regular_latitudes, regular_longitudes
from seeds_dag.generators.kinds import objective_for
from seeds_dag.model_file import model_from_checkpoint
from seeds_dag.networks.generator import NoiseGenerator, noise_shapes
from seeds_dag.networks.unet import DenoiserConfig
from seeds_dag.output_cross_spectrum import hermitian_square_root, member_deviation_cross_spectrum
from seeds_dag.seed_anomalies import from_anomaly, member_spread, seed_conditioning
from seeds_dag.seed_mean_shrinkage import (anomaly_correction, deviation_gain, reforecast_climate, shrunk_centre,
                                           wiener_factor)
from seeds_dag.training import TrainingConfig, train_generator

LAT, LON = regular_latitudes(4), regular_longitudes(16)
LEAD_DAYS = np.array([1.0, 2.0])
N_VAR = 2
CONFIG = DenoiserConfig(channels=(8, 16), embed_dim=16, num_variables=N_VAR, num_leads=len(LEAD_DAYS),
                        attention_at_bottom=False, noise_dim=4, noise_channels=2, seed_mean_shrinkage=True)


def reforecast(tau, sigma, n_init=400, n_member=5, seed=0):
    """(init, lead, member, V, H, W) white fields: an ensemble mean of std tau[lead] about the
    climate (0), members of std sigma about it; every wavenumber then has S = τ²/(τ² + σ²/K)."""
    rng = np.random.default_rng(seed)
    shape = (n_init, len(LEAD_DAYS), 1, N_VAR, len(LAT), len(LON))
    mean = rng.standard_normal(shape) * np.asarray(tau)[None, :, None, None, None, None]
    members = rng.standard_normal((*shape[:2], n_member, *shape[3:]))
    return (mean + members * np.asarray(sigma)[None, :, None, None, None, None]).astype(np.float32)


def factor_of(data, k):
    """S of `data` about its own climate, as training measures it."""
    return wiener_factor(data, reforecast_climate(data), LAT, k)


def test_the_wiener_factor_is_signal_over_signal_and_seed_mean_error():
    # Lead 1: τ² = 1, σ² = 2, K = 2: S = 1/2. Lead 2: no signal left, S = 0 (as far as 400 inits tell).
    factor = factor_of(reforecast(tau=[1.0, 0.0], sigma=[np.sqrt(2), 1.0]), k=2)
    assert factor.shape == (len(LEAD_DAYS) * N_VAR, len(LON) // 2 + 1) and factor.dtype == np.float32
    np.testing.assert_allclose(factor[:N_VAR], 0.5, atol=0.06)  # lead-major: lead 1's two variables first
    assert factor[N_VAR:].max() < 0.06
    # More seeds average more of the error away: S rises with K (τ² = 1, σ² = 2, K = 4: 2/3).
    np.testing.assert_allclose(factor_of(reforecast(tau=[1.0, 1.0], sigma=[np.sqrt(2)] * 2), k=4),
                               2 / 3, atol=0.06)
    with pytest.raises(ValueError, match="1 member"):
        factor_of(reforecast(tau=[1, 1], sigma=[1, 1], n_member=1), k=2)


def test_the_climate_is_per_longitude_and_stationary_waves_are_not_signal():
    """A fixed pattern along the latitude circles (a stationary wave, the same in every init and
    member) is the climate: it neither counts as the ensemble mean's variance nor gets shrunk. The
    noise of a mean over the inits at other wavenumbers is not kept."""
    data = reforecast(tau=[1.0, 0.0], sigma=[np.sqrt(2), 1.0])
    wave = 0.5 * np.cos(2 * np.pi * 2 * np.arange(len(LON)) / len(LON)).astype(np.float32)
    with_wave = data + wave
    np.testing.assert_allclose(factor_of(with_wave, k=2), factor_of(data, k=2), atol=0.02)
    climate = reforecast_climate(with_wave)
    assert climate.shape == (len(LEAD_DAYS) * N_VAR, len(LAT), len(LON))
    spectrum = np.abs(np.fft.rfft(climate, axis=-1)) / len(LON) * 2  # amplitude per wavenumber
    np.testing.assert_allclose(spectrum[..., 2], 0.5, rtol=0.1)  # the wave, kept (its noise: ±0.03)
    # Elsewhere the raw mean's noise (amplitude about 0.09 here) is mostly dropped.
    raw = np.abs(np.fft.rfft(with_wave.mean(axis=(0, 2)), axis=-1)).reshape(spectrum.shape) / len(LON) * 2
    others = [1, 3, 4, 5, 6, 7]
    assert spectrum[..., others].mean() < 0.3 * raw[..., others].mean()
    # Shrunk fully (S = 0), a seed mean goes to the climate, wave and all.
    factor = np.zeros((len(LEAD_DAYS), N_VAR, len(LON) // 2 + 1))
    seed_mean = with_wave[0, :, 0]  # (L, V, H, W)
    np.testing.assert_allclose(shrunk_centre(seed_mean, factor, climate.reshape(seed_mean.shape)),
                               climate.reshape(seed_mean.shape), atol=1e-5)


def test_deviations_about_the_shrunk_mean_have_variance_sigma2_times_one_plus_s_over_k():
    factor = np.array([[0.0, 0.5, 1.0]], dtype=np.float32)
    gain = deviation_gain(factor, k=2)
    np.testing.assert_allclose(gain ** 2 * 1.5, 1 + factor / 2, rtol=1e-6)
    assert gain[0, -1] == pytest.approx(1.0)


def test_the_correction_moves_members_from_the_seed_mean_to_the_shrunk_mean():
    """from_anomaly(r + correction(m_K − c)) = c + S·(m_K − c) + a·r, S applied along each latitude
    circle."""
    rng = np.random.default_rng(1)
    channels, k = len(LEAD_DAYS) * N_VAR, 2
    factor = rng.uniform(0, 1, (channels, len(LON) // 2 + 1)).astype(np.float32)
    spread = rng.uniform(0.5, 1.5, (len(LEAD_DAYS), N_VAR, len(LAT))).astype(np.float32)
    seeds = torch.randn(3, k, channels, len(LAT), len(LON))
    spread_t = torch.from_numpy(spread).flatten(0, 1)[None].expand(3, -1, -1)
    climate = torch.randn(channels, len(LAT), len(LON))
    model = NoiseGenerator(CONFIG, LAT, LON).eval()
    model.set_seed_mean_shrinkage(torch.from_numpy(factor),
                                  torch.from_numpy(anomaly_correction(factor, spread, k)), climate)
    cond = seed_conditioning(seeds, spread_t)
    noise = [torch.randn(3, *shape) for shape in noise_shapes(CONFIG, (len(LAT), len(LON)))]
    with torch.no_grad():
        corrected = model(*noise[:1], cond, *noise[1:])
        model.seed_mean_correction.zero_()
        plain = model(*noise[:1], cond, *noise[1:])
    seed_mean = seeds.mean(dim=1)
    shrunk = climate + torch.fft.irfft(torch.fft.rfft(seed_mean - climate, dim=-1) * torch.from_numpy(factor)[:, None, :],
                                       n=len(LON), dim=-1)
    torch.testing.assert_close(from_anomaly(corrected, seeds, spread_t),
                               shrunk + from_anomaly(plain, seeds, spread_t) - seed_mean,
                               atol=1e-4, rtol=1e-4)


def test_training_sets_the_shrinkage_and_scaled_filter_and_the_model_file_keeps_them(tmp_path):
    data = reforecast(tau=[1.0, 0.3], sigma=[1.0, 1.0], n_init=8)
    spread = member_spread(data)
    config = TrainingConfig(steps=2, batch_size=2, learning_rate=1e-3, warmup_steps=1, checkpoint_every=2)
    checkpoint = LocalCheckpointIO(tmp_path / "model.pt")
    result = train_generator(data, LEAD_DAYS, spread, LAT, LON, CONFIG, objective_for("crps"), config,
                             checkpoint, torch.device("cpu"))
    factor = factor_of(data, k=2)
    expected = torch.from_numpy(anomaly_correction(factor, spread, 2))
    torch.testing.assert_close(result.model.seed_mean_correction, expected)
    torch.testing.assert_close(result.model.seed_mean_factor, torch.from_numpy(factor))
    torch.testing.assert_close(result.model.seed_mean_climate, torch.from_numpy(reforecast_climate(data)))
    gain = deviation_gain(factor, 2).T
    cross = member_deviation_cross_spectrum(data) * gain[None, :, :, None] * gain[None, :, None, :]
    torch.testing.assert_close(result.model.output_cross_spectral_root, hermitian_square_root(cross))
    reloaded = model_from_checkpoint(checkpoint.load(), LAT, LON, "cpu", LEAD_DAYS)  # weights_only=True
    torch.testing.assert_close(reloaded.seed_mean_correction, expected)
    with pytest.raises(ValueError, match="training takes one K"):
        train_generator(data, LEAD_DAYS, spread, LAT, LON, CONFIG, objective_for("crps"),
                        dataclasses.replace(config, seed_counts=(1, 2)), LocalCheckpointIO(tmp_path / "k.pt"),
                        torch.device("cpu"))
