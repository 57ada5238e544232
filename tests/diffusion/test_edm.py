"""EDM preconditioning identities and the area-weighted loss."""

import math

import numpy as np
import pytest
import torch

from seeds_dag.diffusion.edm import EDMConfig, EDMPrecond, edm_coefficients, edm_loss
from seeds_dag.networks.denoiser import DenoiserConfig, build_denoiser
from seeds_dag.seed_anomalies import seed_conditioning

NUM_LAT, NUM_LON, NUM_VARS = 8, 16, 2


class RandomNet(torch.nn.Module):
    """Returns a large arbitrary output and records what it was called with."""

    def forward(self, x_in, c_noise, cond):
        self.seen = (x_in, c_noise)
        return 100 * torch.randn(x_in.shape, generator=torch.Generator().manual_seed(1))


def grid():
    lat = (np.arange(NUM_LAT) + 0.5) * 180 / NUM_LAT - 90
    lon = np.arange(NUM_LON) * 360 / NUM_LON
    return lat, lon


def cos_lat_weights(lat_deg):
    w = torch.cos(torch.deg2rad(torch.as_tensor(lat_deg, dtype=torch.float32)))
    return w / w.mean()


def test_denoiser_is_identity_as_sigma_goes_to_zero():
    x = torch.randn(3, NUM_VARS, NUM_LAT, NUM_LON)
    precond = EDMPrecond(RandomNet(), sigma_data=0.7)
    out = precond(x, torch.full((3,), 1e-6), torch.zeros(3, 2 * NUM_VARS, NUM_LAT, NUM_LON))
    torch.testing.assert_close(out, x, atol=1e-3, rtol=0)


def test_coefficients_at_sigma_equal_sigma_data():
    sd = 0.5
    c_skip, c_out, c_in, c_noise = edm_coefficients(torch.tensor([sd], dtype=torch.float64), sd)
    assert c_skip.item() == pytest.approx(0.5)
    assert c_out.item() == pytest.approx(sd / math.sqrt(2))
    assert c_in.item() == pytest.approx(1 / (sd * math.sqrt(2)))
    assert c_noise.item() == pytest.approx(math.log(sd) / 4)


def test_precond_feeds_scaled_input_and_noise_level_to_net():
    net = RandomNet()
    x, sigma = torch.randn(2, NUM_VARS, NUM_LAT, NUM_LON), torch.tensor([0.3, 5.0])
    EDMPrecond(net, sigma_data=1.0)(x, sigma, torch.zeros(2, 2 * NUM_VARS, NUM_LAT, NUM_LON))
    x_in, c_noise = net.seen
    torch.testing.assert_close(x_in, x / (sigma**2 + 1).sqrt().view(-1, 1, 1, 1))
    torch.testing.assert_close(c_noise, sigma.log() / 4)


def test_loss_uses_area_weights():
    """An error confined to one latitude row counts in proportion to that row's weight."""
    target = torch.randn(4, NUM_VARS, NUM_LAT, NUM_LON)
    error = torch.zeros_like(target)
    error[:, :, 2] = 1.0

    def precond(noisy, sigma, cond):
        return target + error

    def loss(weights):
        gen = torch.Generator().manual_seed(0)
        return edm_loss(precond, target, None, weights, EDMConfig(), generator=gen)

    weights = torch.ones(NUM_LAT)
    base = loss(weights)
    weights[2] = 3.0
    torch.testing.assert_close(loss(weights), 3 * base)
    weights[2] = 0.0
    assert loss(weights).item() == 0.0


def toy_batch(gen, batch):
    """Targets are smooth fields; seeds are the target plus small noise, so they are informative."""
    lat, lon = np.meshgrid(*map(np.deg2rad, grid()), indexing="ij")
    pattern = torch.as_tensor(np.stack([np.cos(lat) * np.sin(lon), np.sin(2 * lat)]), dtype=torch.float32)
    amplitude = torch.randn(batch, NUM_VARS, 1, 1, generator=gen)
    target = amplitude * pattern
    seeds = target[:, None] + 0.1 * torch.randn(batch, 2, NUM_VARS, NUM_LAT, NUM_LON, generator=gen)
    cond = seed_conditioning(seeds, torch.full((batch, NUM_VARS, NUM_LAT), 0.1))
    return target, cond


def test_loss_is_finite_positive_and_decreases_with_training():
    torch.manual_seed(0)
    config = DenoiserConfig(channels=(8, 16), embed_dim=16, attention_at_bottom=False, num_variables=NUM_VARS,
                            num_leads=1)
    lat, lon = grid()
    precond = build_denoiser(config, lat, lon)
    weights, edm = cos_lat_weights(lat), EDMConfig()

    def eval_loss():
        gen = torch.Generator().manual_seed(123)
        target, cond = toy_batch(gen, 64)
        with torch.no_grad():
            return edm_loss(precond, target, cond, weights, edm, generator=gen).item()

    before = eval_loss()
    assert math.isfinite(before) and before > 0
    optimiser = torch.optim.Adam(precond.parameters(), lr=3e-3)
    gen = torch.Generator().manual_seed(7)
    for _ in range(100):
        target, cond = toy_batch(gen, 16)
        optimiser.zero_grad()
        edm_loss(precond, target, cond, weights, edm, generator=gen).backward()
        optimiser.step()
    after = eval_loss()
    assert math.isfinite(after) and after < 0.5 * before
