"""Weight decay (`TrainingConfig.weight_decay`): AdamW decays the weight matrices and kernels only,
0 is the plain Adam of earlier runs (their fingerprint and optimiser state unchanged), a decayed
run resumes exactly, a negative decay is refused by name, and runs at other learning rates can keep
the default's decay a step."""

import dataclasses

import numpy as np
import pytest
import torch

from seeds_dag.checkpoints import LocalCheckpointIO
from seeds_dag.training import TrainingConfig, build_optimizer, weight_decay_at
from tests.test_training import TINY, train, training_fingerprint

DECAYED = dataclasses.replace(TINY, steps=30, batch_size=4, checkpoint_every=10, weight_decay=5.0)


def test_decay_shrinks_matrices_and_kernels_by_lr_times_decay_and_leaves_vectors_alone():
    model = torch.nn.Sequential(torch.nn.Conv2d(2, 3, 3), torch.nn.GroupNorm(1, 3), torch.nn.Flatten(),
                                torch.nn.LazyLinear(4))
    model(torch.zeros(1, 2, 5, 5))  # materialises the lazy layer
    config = TrainingConfig(learning_rate=0.01, weight_decay=0.5)
    optimizer = build_optimizer(model, config)
    before = {name: p.detach().clone() for name, p in model.named_parameters()}
    for p in model.parameters():
        p.grad = torch.zeros_like(p)  # no gradient: Adam's own step is 0, only the decay moves a weight
    optimizer.step()
    for name, p in model.named_parameters():
        factor = 1 - 0.01 * 0.5 if p.dim() >= 2 else 1.0
        torch.testing.assert_close(p.detach(), before[name] * factor, msg=name)
    assert sum(p.dim() >= 2 for p in model.parameters()) == 2  # the kernel and the matrix were decayed


def test_without_decay_the_optimiser_and_fingerprint_are_those_of_earlier_runs():
    model = torch.nn.Linear(2, 2)
    assert type(build_optimizer(model, TrainingConfig(weight_decay=0.0))) is torch.optim.Adam
    assert "weight_decay" not in training_fingerprint(dataclasses.replace(TINY, weight_decay=0.0))
    assert training_fingerprint(DECAYED)["weight_decay"] == 5.0


def test_a_decayed_run_resumes_exactly_and_differs_from_an_undecayed_one(tmp_path):
    checkpoint = LocalCheckpointIO(tmp_path / "decayed.pt")
    train(checkpoint, dataclasses.replace(DECAYED, steps=15))
    resumed = train(checkpoint, DECAYED)
    straight = train(LocalCheckpointIO(tmp_path / "straight.pt"), DECAYED)
    plain = train(LocalCheckpointIO(tmp_path / "plain.pt"), dataclasses.replace(DECAYED, weight_decay=0.0))
    np.testing.assert_allclose([l for _, l in resumed.losses], [l for _, l in straight.losses], rtol=1e-5)
    for name, value in straight.model.state_dict().items():
        torch.testing.assert_close(resumed.model.state_dict()[name], value, rtol=1e-5, atol=1e-6)
    # 30 steps of lr·decay (0.025 after a 10-step ramp) would shrink an untrained kernel to about 0.5.
    def kernel_norm(model):
        return sum(p.detach().square().sum() for p in model.parameters() if p.dim() >= 2).sqrt().item()

    assert kernel_norm(straight.model) < 0.8 * kernel_norm(plain.model)


@pytest.mark.parametrize("decay", [-0.1, float("nan")])
def test_a_negative_or_undefined_decay_is_refused_by_name(tmp_path, decay):
    with pytest.raises(ValueError, match="weight_decay must be a finite value ≥ 0"):
        train(LocalCheckpointIO(tmp_path / "x.pt"), dataclasses.replace(TINY, steps=2, weight_decay=decay))


def test_weight_decay_at_another_rate_keeps_the_decay_a_step():
    default = TrainingConfig()
    assert weight_decay_at(default.learning_rate) == default.weight_decay
    for rate in (5e-3, 3e-3, 1e-5):
        assert weight_decay_at(rate) * rate == pytest.approx(default.learning_rate * default.weight_decay)
    assert weight_decay_at(5e-3) == 0.6  # written as 0.6, not 0.5999999999999999
    assert weight_decay_at(1e-3, TrainingConfig(learning_rate=2e-3, weight_decay=1.0)) == 2.0
    for rate in (0.0, -1e-3, float("nan")):
        with pytest.raises(ValueError, match="learning_rate must be a finite value > 0"):
            weight_decay_at(rate)
