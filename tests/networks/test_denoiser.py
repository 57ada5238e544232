"""Sphere padding and the trajectory networks (the denoiser F(x, c_noise, cond) and the one-pass
generator G(z, cond)): shapes, seed-order invariance, longitude equivariance."""

import numpy as np
import pytest
import torch

from seeds_dag.diffusion.edm import EDMPrecond
from seeds_dag.networks.blocks import SpherePad2d
from seeds_dag.networks.denoiser import ConditionalDenoiser, DenoiserConfig, build_denoiser
from seeds_dag.networks.generator import NoiseGenerator
from seeds_dag.seed_anomalies import seed_conditioning

NUM_LAT, NUM_LON, NUM_LEADS = 8, 16, 2
NUM_VARS = 3 * NUM_LEADS  # a trajectory's channels: 3 variables at each of 2 leads
# The global noise vector alone: the spatial noise fields (test_spatial_noise.py) and the output
# structure (test_output_*.py) have tests of their own.
SMALL = DenoiserConfig(channels=(8, 16, 16), embed_dim=16, num_variables=3, num_leads=NUM_LEADS, noise_dim=4,
                       noise_channels=0, output_cross_spectrum=False, output_noise=False)


def grid(num_lat=NUM_LAT, num_lon=NUM_LON):
    lat = (np.arange(num_lat) + 0.5) * 180 / num_lat - 90
    lon = np.arange(num_lon) * 360 / num_lon
    return lat, lon


def inputs(num_seeds, batch=2, seed=0):
    """(x, c_noise, seeds, z): the seeds still to be summarised with `condition`; z the generator's noise."""
    gen = torch.Generator().manual_seed(seed)
    x = torch.randn(batch, NUM_VARS, NUM_LAT, NUM_LON, generator=gen)
    seeds = torch.randn(batch, num_seeds, NUM_VARS, NUM_LAT, NUM_LON, generator=gen)
    return x, torch.randn(batch, generator=gen), seeds, torch.randn(batch, SMALL.noise_dim, generator=gen)


def condition(seeds):
    """The seeds' summary with a spread that varies by latitude, as the network takes it."""
    spread = torch.linspace(0.2, 1.0, NUM_LAT).expand(seeds.shape[0], NUM_VARS, NUM_LAT)
    return seed_conditioning(seeds, spread)


def network(config=SMALL):
    torch.manual_seed(0)
    return ConditionalDenoiser(config, *grid()).eval()


def generator(config=SMALL):
    torch.manual_seed(0)
    return NoiseGenerator(config, *grid()).eval()


def test_sphere_pad_wraps_longitude_and_crosses_the_poles_with_a_half_turn():
    field = torch.arange(4 * 6, dtype=torch.float32).view(1, 1, 4, 6)  # value = 6·lat_index + lon_index
    padded = SpherePad2d(1)(field)[0, 0]
    assert padded.shape == (6, 8)
    torch.testing.assert_close(padded[1:-1, 0], field[0, 0, :, -1])
    torch.testing.assert_close(padded[1:-1, -1], field[0, 0, :, 0])
    torch.testing.assert_close(padded[0, 1:-1], torch.tensor([3.0, 4, 5, 0, 1, 2]))
    torch.testing.assert_close(padded[-1, 1:-1], torch.tensor([21.0, 22, 23, 18, 19, 20]))
    # Corners: beyond the pole and across the date line at once.
    assert padded[0, 0].item() == 2.0 and padded[-1, -1].item() == 21.0


def test_sphere_pad_two_cells_mirrors_rows_across_the_pole():
    field = torch.arange(4 * 6, dtype=torch.float32).view(1, 1, 4, 6)
    padded = SpherePad2d(2)(field)[0, 0]
    torch.testing.assert_close(padded[:2, 2:-2], field[0, 0, [1, 0]].roll(3, dims=-1))
    torch.testing.assert_close(padded[-2:, 2:-2], field[0, 0, [3, 2]].roll(3, dims=-1))


def test_output_shape_and_default_config_builds():
    x, c_noise, seeds, z = inputs(num_seeds=2)
    assert network()(x, c_noise, condition(seeds)).shape == x.shape
    assert generator()(z, condition(seeds)).shape == x.shape
    precond = build_denoiser(DenoiserConfig(num_variables=3, num_leads=NUM_LEADS), *grid(32, 64))
    assert isinstance(precond, EDMPrecond)


@torch.no_grad()
def test_output_is_exactly_invariant_to_seed_order():
    net, gen = network(), generator()
    x, c_noise, seeds, z = inputs(num_seeds=4)
    reordered = seeds[:, [2, 0, 3, 1]]
    assert torch.equal(net(x, c_noise, condition(seeds)), net(x, c_noise, condition(reordered)))
    assert torch.equal(gen(z, condition(seeds)), gen(z, condition(reordered)))


@torch.no_grad()
def test_one_pass_generator_members_differ_by_their_noise_and_each_is_deterministic():
    gen = generator()
    _, _, seeds, z = inputs(num_seeds=2)
    cond = condition(seeds[:1]).expand(2, -1, -1, -1)
    members = gen(z, cond)
    # The same seeds, two noise vectors: two different trajectories, every channel (lead, variable) moved.
    assert (members[0] - members[1]).abs().flatten(1).amax(dim=1).min() > 0
    assert (members[0] - members[1]).abs().mean(dim=(1, 2)).min() > 1e-4
    torch.testing.assert_close(gen(z, cond), members, rtol=0, atol=0)


@torch.no_grad()
def test_single_seed_works_and_its_spread_channel_is_zero():
    net = network()
    x, c_noise, seeds, _ = inputs(num_seeds=1)
    out = net(x, c_noise, condition(seeds))
    assert torch.isfinite(out).all()
    # A duplicated seed has the same summary: mean = the seed, std = 0.
    torch.testing.assert_close(out, net(x, c_noise, condition(seeds.expand(-1, 2, -1, -1, -1))))


@torch.no_grad()
def roll_both_ways(net, shift):
    """(network output for lon-rolled inputs, lon-rolled network output)."""
    x, c_noise, seeds, _ = inputs(num_seeds=2)
    cond = condition(seeds)
    out_of_rolled = net(x.roll(shift, dims=-1), c_noise, cond.roll(shift, dims=-1))
    return out_of_rolled, net(x, c_noise, cond).roll(shift, dims=-1)


def test_longitude_roll_equivariance_without_lon_channels():
    """Rolling by a multiple of the total pooling factor commutes with the whole network."""
    config = DenoiserConfig(channels=(8, 16, 16), embed_dim=16, num_variables=3, num_leads=NUM_LEADS,
                            use_lon_channels=False)
    out_of_rolled, rolled_out = roll_both_ways(network(config), shift=4)
    torch.testing.assert_close(out_of_rolled, rolled_out, atol=1e-5, rtol=1e-5)


def test_lon_channels_break_roll_equivariance():
    """The check above can fail: with sin/cos(lon) inputs the network knows absolute longitude."""
    out_of_rolled, rolled_out = roll_both_ways(network(), shift=4)
    assert not torch.allclose(out_of_rolled, rolled_out, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize(("num_lat", "num_lon"), [(6, 16), (8, 12), (8, 4)])
def test_grid_not_divisible_by_the_pooling_raises(num_lat, num_lon):
    with pytest.raises(ValueError, match=rf"lat={num_lat}, lon={num_lon}"):
        ConditionalDenoiser(SMALL, *grid(num_lat, num_lon))


def test_input_on_another_grid_raises():
    x, c_noise, seeds, z = inputs(num_seeds=2)
    cond = condition(seeds)
    with pytest.raises(ValueError, match="x_in"):
        network()(x[..., :8], c_noise, cond)
    with pytest.raises(ValueError, match="cond"):
        network()(x, c_noise, cond[..., :8])
    with pytest.raises(ValueError, match=r"cond.*seed_conditioning"):
        network()(x, c_noise, seeds)
    with pytest.raises(ValueError, match=r"cond.*seed_conditioning"):
        generator()(z, cond[:, :NUM_VARS])
    with pytest.raises(ValueError, match="z: expected shape"):
        generator()(z[:, :2], cond)
