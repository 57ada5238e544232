"""The one-pass generator's spatial noise ε (`noise_channels` fields on the coarsest U-Net grid, and
on finer levels with `noise_levels`): it moves members locally and every lead and variable with
them; without it the network is the one before it existed; a wrong or missing ε is refused by
name."""

import dataclasses
import hashlib

import pytest
import torch

from seeds_dag.conventions import regular_latitudes, regular_longitudes
from seeds_dag.networks.denoiser import ConditionalDenoiser
from seeds_dag.networks.generator import NoiseGenerator, noise_shapes
from seeds_dag.networks.unet import DenoiserConfig
from seeds_dag.seed_anomalies import seed_conditioning

NUM_LEADS, NUM_VARS = 2, 3
# The output structure off: it has tests of its own (test_output_*.py), and the network before these
# fields is what the digests below were measured on.
CONFIG = DenoiserConfig(channels=(8, 16, 16), embed_dim=16, num_variables=NUM_VARS, num_leads=NUM_LEADS,
                        noise_dim=4, noise_channels=4, output_cross_spectrum=False, output_noise=False,
                        seed_mean_shrinkage=False)
WITHOUT = dataclasses.replace(CONFIG, noise_channels=0)
EVERY_LEVEL = dataclasses.replace(CONFIG, noise_levels=3)


def generator(config=CONFIG, num_lat=8, num_lon=16):
    torch.manual_seed(0)
    return NoiseGenerator(config, regular_latitudes(num_lat), regular_longitudes(num_lon)).eval()


def draw(net, batch=2, seed=1):
    """(z, cond, ε) for `batch` members of one example: one seeds' summary, independent noise (ε the
    list of noise fields, coarsest first; empty without noise_channels)."""
    gen = torch.Generator().manual_seed(seed)
    num_lat, num_lon = net.unet.grid
    seeds = torch.randn(1, 2, NUM_LEADS * NUM_VARS, num_lat, num_lon, generator=gen)
    spread = torch.full((1, NUM_LEADS * NUM_VARS, num_lat), 0.5)
    cond = seed_conditioning(seeds, spread).expand(batch, -1, -1, -1)
    z, *eps = (torch.randn(batch, *shape, generator=gen) for shape in noise_shapes(net.config, net.unet.grid))
    return z, cond, eps


def test_noise_shapes_are_z_then_the_coarsest_grid():
    # 3 levels halve 32 × 64 twice: 8 × 16, as on the default network's grid.
    assert noise_shapes(CONFIG, (32, 64)) == [(4,), (4, 8, 16)]
    assert noise_shapes(WITHOUT, (32, 64)) == [(4,)]
    assert noise_shapes(EVERY_LEVEL, (32, 64)) == [(4,), (4, 8, 16), (4, 16, 32), (4, 32, 64)]
    assert noise_shapes(dataclasses.replace(CONFIG, noise_levels=2), (32, 64)) == [(4,), (4, 8, 16), (4, 16, 32)]
    with pytest.raises(ValueError, match=r"noise_levels must lie in 1..3.*got 4"):
        noise_shapes(dataclasses.replace(CONFIG, noise_levels=4), (32, 64))


@torch.no_grad()
def test_members_with_the_same_z_differ_by_their_spatial_noise_at_every_lead_and_variable():
    net = generator()
    z, cond, eps = draw(net)
    same_z = z[:1].expand(2, -1)
    members = net(same_z, cond, *eps)
    # Every channel (lead, variable) moves, and by a field that varies in space.
    difference = (members[0] - members[1]).flatten(1)
    assert difference.abs().mean(dim=1).min() > 1e-3
    assert (difference.std(dim=1) > 0.3 * difference.abs().mean(dim=1)).all()
    torch.testing.assert_close(net(same_z, cond, *eps), members, rtol=0, atol=0)


@torch.no_grad()
def test_spatial_noise_in_one_coarse_cell_moves_the_member_near_that_cell_only():
    """What z cannot do: a change of ε in one coarse cell (22.5° wide on 32 × 64) moves the output
    in that cell hundreds of times more (mean square, measured 480×) than 90° of longitude or more
    away; a change of z moves both alike (measured 2×), so the contrast tells local from global."""
    net = generator(num_lat=32, num_lon=64)
    z, cond, eps = draw(net, batch=1)
    coarse_lat, coarse_lon = net.unet.coarse_grid
    factor = 32 // coarse_lat
    row, col = coarse_lat // 2, coarse_lon // 4
    (eps,) = eps
    moved = eps.clone()
    moved[..., row, col] = -eps[..., row, col]
    base = net(z, cond, eps)
    cells = torch.arange(64) // factor
    lon_distance = torch.minimum((cells - col).abs(), coarse_lon - (cells - col).abs())

    def near_over_far(changed):
        energy = ((changed - base)[0] ** 2).mean(dim=0)
        near = energy[row * factor:(row + 1) * factor, col * factor:(col + 1) * factor].mean()
        return (near / energy[:, lon_distance >= coarse_lon // 4].mean()).item()

    assert near_over_far(net(z, cond, moved)) > 30
    assert near_over_far(net(torch.randn(1, CONFIG.noise_dim, generator=torch.Generator().manual_seed(5)),
                             cond, eps)) < 10


@torch.no_grad()
def test_without_spatial_noise_the_network_is_the_one_before_it():
    """noise_channels = 0 builds the network that existed before the field (checkpoints that
    predate it are read with 0: test_noise_draws.py). The counts, the digest of the state dict's
    names and shapes and the outputs were measured on the code before the field existed
    (torch.manual_seed(0), this config on 8 × 16, the inputs of `draw`)."""
    net = generator(WITHOUT)
    state = net.state_dict()
    names_and_shapes = ";".join(f"{name}:{tuple(value.shape)}" for name, value in state.items())
    assert (len(state), sum(p.numel() for p in net.parameters())) == (98, 41182)
    assert hashlib.sha256(names_and_shapes.encode()).hexdigest()[:16] == "e08e8f04f3e19409"
    z, cond, _ = draw(net)
    out = net(z, cond)
    before = {(0, 0, 0): [-0.27283341, 0.12658790, -0.25794822, -0.87719870],
              (1, -1, -1): [0.56492662, 0.18289512, -0.04412609, 0.23841548]}
    torch.testing.assert_close(out[0, 0, 0, :4], torch.tensor(before[0, 0, 0]), rtol=0, atol=1e-5)
    torch.testing.assert_close(out[1, -1, -1, -4:], torch.tensor(before[1, -1, -1]), rtol=0, atol=1e-5)


@torch.no_grad()
def test_spatial_noise_enters_only_through_its_projection():
    """With the projection zeroed, the generator with ε is the one without (same seed, same
    weights: the projection is built last), whatever ε is; its state loads into it."""
    with_noise, without = generator(), generator(WITHOUT)
    z, cond, eps = draw(with_noise)
    torch.nn.init.zeros_(with_noise.unet.coarse_noise_in.weight)
    torch.nn.init.zeros_(with_noise.unet.coarse_noise_in.bias)
    torch.testing.assert_close(with_noise(z, cond, *eps), without(z, cond), rtol=0, atol=0)
    state = {k: v for k, v in with_noise.state_dict().items() if "coarse_noise" not in k}
    without.load_state_dict(state)  # strict: the same names and shapes
    projection = {"unet.coarse_noise_in.weight", "unet.coarse_noise_in.bias"}
    assert set(with_noise.state_dict()) - set(state) == projection


def test_diffusion_networks_have_no_spatial_noise_parameters():
    lat, lon = regular_latitudes(8), regular_longitudes(16)
    torch.manual_seed(0)
    with_field = ConditionalDenoiser(CONFIG, lat, lon).state_dict()
    torch.manual_seed(0)
    without_field = ConditionalDenoiser(WITHOUT, lat, lon).state_dict()
    assert list(with_field) == list(without_field)
    assert all(torch.equal(with_field[k], without_field[k]) for k in with_field)


def test_a_wrong_or_missing_spatial_noise_is_refused_naming_the_expected_shape():
    net = generator()
    z, cond, eps = draw(net)
    with pytest.raises(ValueError, match=r"noise: expected shapes \[\(2, 4, 2, 4\)\].*got \[\(2, 4, 4, 8\)\]"):
        net(z, cond, torch.randn(2, 4, 4, 8))
    with pytest.raises(ValueError, match=r"noise: expected shapes \[\(2, 4, 2, 4\)\].*got none"):
        net(z, cond)
    with pytest.raises(ValueError, match=r"noise: expected none.*got \[\(2, 4, 2, 4\)\]"):
        generator(WITHOUT)(z, cond, *eps)
    # With every level noised, all three fields, coarsest first.
    every = generator(EVERY_LEVEL)
    z, cond, eps = draw(every)
    assert [tuple(field.shape[-2:]) for field in eps] == [(2, 4), (4, 8), (8, 16)]
    expected = r"noise: expected shapes \[\(2, 4, 2, 4\), \(2, 4, 4, 8\), \(2, 4, 8, 16\)\]"
    with pytest.raises(ValueError, match=expected):
        every(z, cond, *eps[::-1])


@torch.no_grad()
def test_noise_on_the_finest_level_moves_single_grid_points():
    """What the coarsest level's noise cannot do: with every level noised, a change of the finest
    field at one grid point moves the output there far more than three points away (a 3×3
    convolution after it and the head's: a reach of two points), while a change of the coarsest
    field in one cell moves a whole block of points alike."""
    net = generator(EVERY_LEVEL, num_lat=16, num_lon=32)
    z, cond, eps = draw(net, batch=1)
    base = net(z, cond, *eps)
    finest = eps[-1].clone()
    finest[..., 8, 16] = -finest[..., 8, 16] + 3.0
    energy = ((net(z, cond, *eps[:-1], finest) - base)[0] ** 2).mean(dim=0)
    assert energy[8, 16] > 0
    assert energy[8, 16] > 100 * energy[8, 20:].max()
    assert energy[8, 16] > 100 * energy[12:, :].max()


@torch.no_grad()
def test_finer_noise_enters_only_through_its_projections():
    """Zeroing the finer levels' projections leaves the generator with noise on the coarsest level
    only (same seed, same weights of everything else: they are built last)."""
    every, coarsest = generator(EVERY_LEVEL), generator()
    state = every.state_dict()
    finer = {name for name in state if name.startswith("unet.finer_noise_in.")}
    assert len(finer) == 4  # weight and bias of two levels
    for name in finer:
        state[name].zero_()
    every.load_state_dict(state)
    z, cond, eps = draw(every)
    torch.testing.assert_close(every(z, cond, *eps), coarsest(z, cond, eps[0]), rtol=0, atol=0)


@torch.no_grad()
def test_without_z_members_differ_by_their_spatial_noise_alone():
    """noise_dim = 0: no global noise vector, one learned FiLM embedding; the members of one example
    are the same function of their ε, and a generator with no noise at all is refused."""
    net = generator(dataclasses.replace(CONFIG, noise_dim=0))
    assert net.noise_mlp is None and net.constant_embedding.shape == (CONFIG.embed_dim,)
    z, cond, eps = draw(net)
    assert z.shape == (2, 0)
    members = net(z, cond, *eps)
    assert (members[0] - members[1]).abs().mean() > 1e-3
    torch.testing.assert_close(net(z, cond, eps[0][[1, 0]]), members[[1, 0]], rtol=0, atol=0)
    with pytest.raises(ValueError, match="needs noise: noise_dim.*or noise_channels"):
        generator(dataclasses.replace(CONFIG, noise_dim=0, noise_channels=0))
