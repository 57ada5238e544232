"""How the one-pass generator's noise is drawn: each member's z, then its spatial noise ε, from
the member's own generator (so a member is the same in any batch); the CRPS loss draws both from
the step's generator and trains the ε projection; checkpoints with ε, and those from before it,
load and sample as the trained model does."""

import dataclasses
import json

import numpy as np
import pytest
import torch

from seeds_dag.checkpoints import LocalCheckpointIO, checkpoint_from_bytes, checkpoint_to_bytes
from seeds_dag.conventions import regular_latitudes, regular_longitudes
from seeds_dag.emulation import SamplerConfig
from seeds_dag.generators.kinds import CRPSConfig
from seeds_dag.generators.objectives import training_loss
from seeds_dag.generators.sampling import sample_anomalies
from seeds_dag.model_file import model_from_checkpoint
from seeds_dag.networks.generator import NoiseGenerator
from seeds_dag.networks.unet import DenoiserConfig
from seeds_dag.seed_anomalies import seed_conditioning
from seeds_dag.training import TrainingConfig, train_generator

LAT, LON = regular_latitudes(8), regular_longitudes(16)
NUM_LEADS, NUM_VARS = 2, 2
CHANNELS = NUM_LEADS * NUM_VARS
# z and ε alone; the output noise ξ has a test of its own below.
SPATIAL = DenoiserConfig(channels=(8, 16), embed_dim=16, num_variables=NUM_VARS, num_leads=NUM_LEADS,
                         attention_at_bottom=False, noise_dim=8, noise_channels=2, output_cross_spectrum=False,
                         output_noise=False)
WITH_OUTPUT_NOISE = dataclasses.replace(SPATIAL, output_cross_spectrum=True, output_noise=True)
GLOBAL_ONLY = dataclasses.replace(SPATIAL, noise_channels=0)
CPU = torch.device("cpu")


def generator(config):
    torch.manual_seed(0)
    return NoiseGenerator(config, LAT, LON).eval().requires_grad_(False)


def summary(batch, seed=0):
    """The seeds' summary (batch, 2·L·V, H, W) of one example, repeated for `batch` members."""
    seeds = torch.randn(1, 2, CHANNELS, len(LAT), len(LON), generator=torch.Generator().manual_seed(seed))
    return seed_conditioning(seeds, torch.full((1, CHANNELS, len(LAT)), 0.5)).expand(batch, -1, -1, -1)


def member_generators(seeds):
    return [torch.Generator().manual_seed(s) for s in seeds]


def test_a_member_draws_z_then_its_spatial_noise_from_its_own_generator():
    model = generator(SPATIAL)
    members = sample_anomalies(model, summary(3), member_generators([3, 4, 5]), SamplerConfig())
    expected = []
    for g in member_generators([3, 4, 5]):
        z = torch.randn(SPATIAL.noise_dim, generator=g)
        eps = torch.randn(SPATIAL.noise_channels, 4, 8, generator=g)  # the 2-level U-Net's 4 × 8 grid
        expected.append(model(z[None], summary(1), eps[None]))
    torch.testing.assert_close(members, torch.cat(expected), rtol=1e-5, atol=1e-5)
    # Member 4 alone is member 4 of the batch of 3.
    alone = sample_anomalies(model, summary(1), member_generators([4]), SamplerConfig())
    torch.testing.assert_close(alone[0], members[1], rtol=1e-5, atol=1e-5)


def test_without_spatial_noise_a_member_is_drawn_as_before_it():
    """z alone, the generator's first draw: members of existing checkpoints are unchanged."""
    model = generator(GLOBAL_ONLY)
    z = torch.stack([torch.randn(GLOBAL_ONLY.noise_dim, generator=g) for g in member_generators([3, 4])])
    members = sample_anomalies(model, summary(2), member_generators([3, 4]), SamplerConfig())
    torch.testing.assert_close(members, model(z, summary(2)), rtol=0, atol=0)


def test_the_crps_loss_draws_spatial_noise_from_the_step_generator_and_trains_its_projection():
    model = generator(SPATIAL).train().requires_grad_(True)
    target = torch.randn(2, CHANNELS, len(LAT), len(LON), generator=torch.Generator().manual_seed(1))
    weights = torch.ones(len(LAT))

    def loss(seed):
        step_generator = torch.Generator().manual_seed(seed)
        return training_loss(model, CRPSConfig(), target, summary(2), weights, step_generator, 1)

    first = loss(7)
    assert torch.equal(first, loss(7)) and not torch.equal(first, loss(8))
    first.backward()
    projection = model.unet.coarse_noise_in.weight.grad
    assert projection is not None and projection.abs().sum() > 0


def tiny_run(config, tmp_path):
    """3 steps of the crps generator on random trajectories: (result, checkpoint bytes)."""
    data = np.random.default_rng(0).standard_normal((3, NUM_LEADS, 4, NUM_VARS, len(LAT), len(LON)))
    checkpoint = LocalCheckpointIO(tmp_path / "run.pt")
    spread = np.full((NUM_LEADS, NUM_VARS, len(LAT)), 0.7, np.float32)
    result = train_generator(data.astype(np.float32), np.array([1.0, 2.0]), spread, LAT, LON, config, CRPSConfig(),
                             TrainingConfig(steps=3, batch_size=2, warmup_steps=1), checkpoint, CPU)
    return result, checkpoint.load()


def same_members(model, other):
    draw = SamplerConfig()
    torch.testing.assert_close(sample_anomalies(model, summary(3), member_generators([0, 1, 2]), draw),
                               sample_anomalies(other, summary(3), member_generators([0, 1, 2]), draw),
                               rtol=0, atol=0)


def test_a_short_crps_run_with_spatial_noise_trains_checkpoints_and_reloads(tmp_path):
    result, stored = tiny_run(SPATIAL, tmp_path)
    assert len(result.losses) == 3 and all(np.isfinite(loss) for _, loss in result.losses)
    reloaded = model_from_checkpoint(stored, LAT, LON, CPU)
    assert reloaded.config.noise_channels == SPATIAL.noise_channels
    same_members(reloaded, result.model)


def written_before(stored: bytes, field: str) -> bytes:
    """The checkpoint `stored` as code from before DenoiserConfig had `field` wrote it: without the
    field in the stored network config and in the fingerprint."""
    old = checkpoint_from_bytes(stored, CPU)
    del old["denoiser_config"][field]
    fingerprint = json.loads(old["fingerprint"])
    del fingerprint["denoiser"][field]
    old["fingerprint"] = json.dumps(fingerprint, sort_keys=True)
    return checkpoint_to_bytes(old)


def test_a_checkpoint_from_before_spatial_noise_loads_without_it(tmp_path):
    """Checkpoints written before `noise_channels` existed lack the field, in the stored config
    and in the fingerprint; they rebuild the network without ε and sample as trained."""
    result, stored = tiny_run(GLOBAL_ONLY, tmp_path)
    reloaded = model_from_checkpoint(written_before(stored, "noise_channels"), LAT, LON, CPU)
    assert reloaded.config == GLOBAL_ONLY
    same_members(reloaded, result.model)
    with pytest.raises(ValueError, match="noise: expected none"):
        reloaded(torch.randn(1, GLOBAL_ONLY.noise_dim), summary(1), torch.randn(1, 2, 4, 8))


def test_with_output_noise_a_member_draws_z_then_eps_then_xi_from_its_own_generator():
    model = generator(WITH_OUTPUT_NOISE)
    members = sample_anomalies(model, summary(3), member_generators([3, 4, 5]), SamplerConfig())
    expected = []
    for g in member_generators([3, 4, 5]):
        z = torch.randn(SPATIAL.noise_dim, generator=g)
        eps = torch.randn(SPATIAL.noise_channels, 4, 8, generator=g)
        xi = torch.randn(CHANNELS, len(LAT), len(LON), generator=g)
        expected.append(model(z[None], summary(1), eps[None], xi[None]))
    torch.testing.assert_close(members, torch.cat(expected), rtol=1e-5, atol=1e-5)
    alone = sample_anomalies(model, summary(1), member_generators([4]), SamplerConfig())
    torch.testing.assert_close(alone[0], members[1], rtol=1e-5, atol=1e-5)


def test_a_checkpoint_from_before_the_output_structure_loads_without_it(tmp_path):
    """Checkpoints written before `output_cross_spectrum` and `output_noise` existed (on by default
    now) lack the fields; they rebuild the network without them and sample as trained."""
    result, stored = tiny_run(SPATIAL, tmp_path)
    for field in ("output_correlation", "output_spectrum", "output_cross_spectrum", "output_noise"):
        stored = written_before(stored, field)
    reloaded = model_from_checkpoint(stored, LAT, LON, CPU)
    assert reloaded.config == SPATIAL
    same_members(reloaded, result.model)


def test_a_checkpoint_from_before_noise_levels_keeps_its_noise_on_the_coarsest_level(tmp_path):
    """Checkpoints written before `noise_levels` existed lack the field; whatever today's default,
    they rebuild with noise on the coarsest level alone and sample as trained."""
    coarsest_only = dataclasses.replace(SPATIAL, noise_levels=1)
    result, stored = tiny_run(coarsest_only, tmp_path)
    reloaded = model_from_checkpoint(written_before(stored, "noise_levels"), LAT, LON, CPU)
    assert reloaded.config == coarsest_only
    same_members(reloaded, result.model)
