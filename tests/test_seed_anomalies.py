"""Seed-anomaly space: the round trip, unit variance for exchangeable members, order invariance of
the conditioning, the spread from the statistics, and members = seed mean + scaled samples."""

import numpy as np
import pandas as pd
import pytest
import torch
import xarray as xr

from seeds_dag.conventions import FORECAST_DIMS, regular_latitudes, regular_longitudes
from seeds_dag.emulation import SamplerConfig, generate_members
from seeds_dag.networks.generator import NoiseGenerator
from seeds_dag.networks.unet import DenoiserConfig
from seeds_dag.normalization import compute_normalization, to_normalized_array
from seeds_dag.seed_anomalies import (
    from_anomaly,
    member_spread,
    seed_conditioning,
    seed_spread,
    to_anomaly,
)

B, V, H, W = 3, 2, 4, 8


def test_anomaly_round_trip_and_the_seed_mean_maps_to_zero():
    gen = torch.Generator().manual_seed(0)
    seeds = torch.randn(B, 2, V, H, W, generator=gen)
    spread = 0.1 + torch.rand(B, V, H, generator=gen)
    x = torch.randn(B, V, H, W, generator=gen)
    torch.testing.assert_close(from_anomaly(to_anomaly(x, seeds, spread), seeds, spread), x)
    assert torch.equal(to_anomaly(seeds.mean(dim=1), seeds, spread), torch.zeros(B, V, H, W))


@pytest.mark.parametrize("k", [1, 2, 4])
def test_anomalies_of_exchangeable_members_have_unit_variance(k):
    """Members = a shared field + noise of std s that varies by latitude: (x − m_K) / a has
    variance 1 whatever K and s, and the conditioning's std channel has mean square 1 for K ≥ 2."""
    gen = torch.Generator().manual_seed(k)
    n = 4000
    s = torch.linspace(0.1, 2.0, H).expand(n, V, H)
    shared = 5 * torch.randn(n, 1, V, H, W, generator=gen)
    members = shared + s[:, None, ..., None] * torch.randn(n, k + 1, V, H, W, generator=gen)
    anomaly = to_anomaly(members[:, 0], members[:, 1:], s)
    assert anomaly.var().item() == pytest.approx(1.0, rel=0.03)
    per_row = anomaly.transpose(0, 2).reshape(H, -1).var(dim=1)
    torch.testing.assert_close(per_row, torch.ones(H), atol=0.08, rtol=0)
    std_channel = seed_conditioning(members[:, 1:], s)[:, V:]
    if k == 1:
        assert torch.equal(std_channel, torch.zeros_like(std_channel))
    else:
        assert std_channel.square().mean().item() == pytest.approx(1.0, rel=0.05)


def test_conditioning_is_bitwise_invariant_to_seed_order():
    gen = torch.Generator().manual_seed(1)
    seeds, spread = torch.randn(B, 4, V, H, W, generator=gen), torch.rand(B, V, H, generator=gen) + 0.1
    shuffled = seeds[:, [3, 1, 0, 2]]
    assert torch.equal(seed_conditioning(seeds, spread), seed_conditioning(shuffled, spread))
    x = torch.randn(B, V, H, W, generator=gen)
    assert torch.equal(to_anomaly(x, seeds, spread), to_anomaly(x, shuffled, spread))


def ensemble(n_member=6, seed=0):
    rng = np.random.default_rng(seed)
    shape = (3, 2, n_member, H, W)
    spread = np.array([1.0, 3.0])[None, :, None, None, None] * np.linspace(1, 2, H)[:, None]
    values = 280 + 10 * rng.standard_normal((*shape[:2], 1, H, W)) + spread * rng.standard_normal(shape)
    coords = {"init_time": pd.date_range("2000-01-01", periods=3), "lead_time": pd.to_timedelta([1, 3], "D"),
              "member": np.arange(n_member), "lat": np.linspace(-60, 60, H), "lon": np.arange(W) * 45.0}
    return xr.Dataset({"t850": (FORECAST_DIMS, values, {"units": "K"}),
                       "u850": (FORECAST_DIMS, values / 10 - 28, {"units": "m s-1"})}, coords=coords)


def test_spread_from_the_statistics_equals_the_spread_of_the_normalised_members():
    ds = ensemble()
    stats = compute_normalization(ds)
    normalised = to_normalized_array(ds, stats, ["t850", "u850"])
    np.testing.assert_allclose(seed_spread(stats, ["t850", "u850"], ds["lead_time"].values),
                               member_spread(normalised), rtol=1e-5)
    # It grows with the spread put in: 3× at the second lead.
    ratio = seed_spread(stats, ["t850"], ds["lead_time"].values[1:]) / seed_spread(stats, ["t850"],
                                                                                      ds["lead_time"].values[:1])
    assert 1.5 < ratio.mean() < 3.5


def test_statistics_refuse_a_single_member():
    with pytest.raises(ValueError, match="at least 2 members"):
        compute_normalization(ensemble(n_member=1))


class ConstantGenerator(NoiseGenerator):
    """A generator whose every anomaly is the constant c."""

    def __init__(self, c: float) -> None:
        config = DenoiserConfig(channels=(4, 4), embed_dim=4, num_variables=V, num_leads=2, noise_dim=2,
                                noise_channels=0, output_cross_spectrum=False, output_noise=False)
        super().__init__(config, regular_latitudes(H), regular_longitudes(W))
        self.c = c

    def forward(self, z, cond):
        return torch.full((z.shape[0], cond.shape[1] // 2, *cond.shape[2:]), self.c)


def test_members_are_the_seed_mean_plus_the_scaled_samples():
    """With a generator whose anomaly is 0 every member is the seed mean; with one whose anomaly is
    a constant c, members are seed mean + c·a, at every lead with that lead's spread."""
    rng = np.random.default_rng(2)
    seeds = rng.standard_normal((2, 2, V, H, W)).astype(np.float32)
    spread = rng.uniform(0.2, 1.0, (2, V, H)).astype(np.float32)
    for c in (0.0, 1.5):
        members = np.concatenate([m for _, m in generate_members(
            ConstantGenerator(c), seeds, spread, np.array([1.0, 3.0]), 3, 4, SamplerConfig(), 0, "cpu")], axis=1)
        expected = seeds.mean(axis=1) + c * spread[..., None] * np.sqrt(1.5)
        np.testing.assert_allclose(members, np.broadcast_to(expected[:, None], members.shape), atol=1e-5)
