"""Consistency models: the boundary condition, the training curriculum, the loss, and sampling."""

import math

import pytest
import torch

from seeds_dag.diffusion.consistency import (
    ConsistencyConfig,
    ConsistencyModel,
    consistency_sample,
    consistency_training_loss,
    discretization,
    noise_levels,
)

CONFIG = ConsistencyConfig()


class RecordingNet(torch.nn.Module):
    """A large arbitrary output; records the noise levels it was called at."""

    def __init__(self):
        super().__init__()
        self.calls = []

    def forward(self, x_in, c_noise, cond):
        self.calls.append(c_noise)
        return 100 * torch.randn(x_in.shape, generator=torch.Generator().manual_seed(len(self.calls)))


def test_model_is_exactly_the_identity_at_sigma_min():
    x = torch.randn(3, 4, 8, 16, dtype=torch.float64)
    out = ConsistencyModel(RecordingNet(), CONFIG)(x, torch.full((3,), CONFIG.sigma_min, dtype=torch.float64), None)
    torch.testing.assert_close(out, x, rtol=0, atol=1e-12)


def test_curriculum_doubles_from_s0_to_s1_over_training():
    total = 1000
    ns = [discretization(k, total, CONFIG) for k in range(total)]
    assert ns[0] == CONFIG.initial_discretization + 1 and ns[-1] == CONFIG.final_discretization + 1
    assert sorted(set(ns)) == [11, 21, 41, 81, 161] and ns == sorted(ns)


def test_noise_levels_span_the_schedule_ascending():
    levels = noise_levels(11, CONFIG)
    assert levels[0].item() == pytest.approx(CONFIG.sigma_min) and levels[-1].item() == pytest.approx(CONFIG.sigma_max)
    assert bool((levels[1:] > levels[:-1]).all())


def test_loss_is_zero_for_a_model_that_returns_the_clean_target_and_positive_otherwise():
    target = torch.randn(4, 2, 8, 16)
    weights = torch.ones(8)

    def perfect(x, sigma, cond):
        return target

    def noisy_identity(x, sigma, cond):
        return x

    gen = torch.Generator().manual_seed(0)
    assert consistency_training_loss(perfect, target, None, weights, CONFIG, 0, 100, gen).item() == 0.0
    assert consistency_training_loss(noisy_identity, target, None, weights, CONFIG, 0, 100, gen).item() > 0


@pytest.mark.parametrize("sigmas", [(80.0,), (80.0, 0.8)])
def test_sampling_evaluates_once_per_level_and_renoises_between(sigmas):
    net = RecordingNet()
    model = ConsistencyModel(net, CONFIG)
    gen = torch.Generator().manual_seed(0)
    noise_draws = []

    def noise():
        noise_draws.append(torch.randn(2, 3, 8, 16, generator=gen))
        return noise_draws[-1]

    out = consistency_sample(model, None, noise, sigmas, CONFIG.sigma_min)
    assert out.shape == (2, 3, 8, 16) and len(net.calls) == len(sigmas) == len(noise_draws)
    torch.testing.assert_close(torch.stack([c[0] for c in net.calls]), torch.tensor([math.log(s) / 4 for s in sigmas]))
