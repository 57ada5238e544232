"""`DenoiserConfig.output_correlation`: the physics members' correlation between leads and variables,
measured on the reforecast, and the one-pass generator's output mixed by its square root, set by
training and kept by the model file."""

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
from seeds_dag.output_correlation import correlation_square_root, member_deviation_correlation
from seeds_dag.seed_anomalies import member_spread
from seeds_dag.training import TrainingConfig, train_generator

LAT, LON = regular_latitudes(8), regular_longitudes(16)
LEAD_DAYS = np.array([1.0, 2.0])
N_VAR = 2
CONFIG = DenoiserConfig(channels=(8, 16), embed_dim=16, num_variables=N_VAR, num_leads=len(LEAD_DAYS),
                        attention_at_bottom=False, noise_dim=4, noise_channels=2, output_correlation=True,
                        output_cross_spectrum=False, output_noise=False)


def correlated_reforecast(rho=-0.6, coherence=0.5, n_init=6, n_member=5, seed=0):
    """(init, lead, member, V, H, W): member deviations whose second variable is correlated `rho`
    with the first at every lead and whose second lead is correlated `coherence` with the first."""
    rng = np.random.default_rng(seed)
    shape = (n_init, len(LEAD_DAYS), n_member, N_VAR, len(LAT), len(LON))
    white = rng.standard_normal(shape)
    x = white.copy()
    x[:, 1] = coherence * x[:, 0] + np.sqrt(1 - coherence**2) * white[:, 1]
    x[:, :, :, 1] = rho * x[:, :, :, 0] + np.sqrt(1 - rho**2) * x[:, :, :, 1]
    return x.astype(np.float32)


def test_the_correlation_of_member_deviations_is_recovered_per_latitude_and_shrunk():
    data = correlated_reforecast(n_init=40)  # 40·4·16 deviations a latitude: ±0.015 on a correlation
    correlation = member_deviation_correlation(data, shrinkage=0)
    assert correlation.shape == (len(LAT), 4, 4)  # channels lead-major: (lead 0: v0, v1), (lead 1: v0, v1)
    np.testing.assert_allclose(np.einsum("hii->hi", correlation), 1, atol=1e-12)
    np.testing.assert_allclose(correlation[:, 0, 1], -0.6, atol=0.06)  # between variables, lead 0
    np.testing.assert_allclose(correlation[:, 2, 3], -0.6, atol=0.06)  # … and lead 1
    np.testing.assert_allclose(correlation[:, 0, 2], 0.5, atol=0.06)  # lead to lead, variable 0
    shrunk = member_deviation_correlation(data, shrinkage=0.2)
    np.testing.assert_allclose(shrunk, 0.8 * correlation + 0.2 * np.eye(4), atol=1e-12)


def test_identical_members_and_a_single_member_are_refused():
    data = correlated_reforecast()
    with pytest.raises(ValueError, match="identical members"):
        member_deviation_correlation(np.repeat(data[:, :, :1], 3, axis=2))
    with pytest.raises(ValueError, match="at least 2 members"):
        member_deviation_correlation(data[:, :, :1])


def test_the_square_root_turns_white_channels_into_the_correlation():
    correlation = member_deviation_correlation(correlated_reforecast())
    root = correlation_square_root(correlation)
    torch.testing.assert_close(root @ root, torch.from_numpy(correlation).float(), atol=1e-5, rtol=0)
    torch.testing.assert_close(root, root.transpose(-1, -2))  # symmetric
    white = torch.randn(200_000, 4, generator=torch.Generator().manual_seed(0))
    mixed = white @ root[3].T
    np.testing.assert_allclose(np.corrcoef(mixed.T.numpy()), correlation[3], atol=0.01)


def test_the_generator_mixes_its_output_by_the_matrix_it_is_given():
    torch.manual_seed(0)
    mixed = NoiseGenerator(CONFIG, LAT, LON).eval()
    torch.manual_seed(0)
    plain = NoiseGenerator(dataclasses.replace(CONFIG, output_correlation=False), LAT, LON).eval()
    root = correlation_square_root(member_deviation_correlation(correlated_reforecast()))
    mixed.set_output_correlation(root)
    gen = torch.Generator().manual_seed(1)
    z = torch.randn(3, CONFIG.noise_dim, generator=gen)
    cond = torch.randn(3, 2 * CONFIG.trajectory_channels, len(LAT), len(LON), generator=gen)
    eps = torch.randn(3, CONFIG.noise_channels, 4, 8, generator=gen)
    expected = torch.einsum("hij,bjhw->bihw", root, plain(z, cond, eps))
    torch.testing.assert_close(mixed(z, cond, eps), expected)
    with pytest.raises(ValueError, match="expected shape"):
        mixed.set_output_correlation(root[:, :2, :2])
    with pytest.raises(ValueError, match="without output_correlation"):
        plain.set_output_correlation(root)


def test_training_sets_the_mixing_from_the_reforecast_and_the_model_file_keeps_it(tmp_path):
    data = correlated_reforecast()
    config = TrainingConfig(steps=4, batch_size=2, learning_rate=1e-3, warmup_steps=1, checkpoint_every=4)
    checkpoint = LocalCheckpointIO(tmp_path / "model.pt")
    result = train_generator(data, LEAD_DAYS, member_spread(data), LAT, LON, CONFIG, objective_for("crps"), config,
                             checkpoint, torch.device("cpu"))
    expected = correlation_square_root(member_deviation_correlation(data))
    torch.testing.assert_close(result.model.output_mixing, expected)
    reloaded = model_from_checkpoint(checkpoint.load(), LAT, LON, "cpu", LEAD_DAYS)
    torch.testing.assert_close(reloaded.output_mixing, expected)
