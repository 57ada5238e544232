"""Validation during training (`seeds_dag.validation`): the last inits are held out, the examples
and their noise are fixed, and the run publishes the EMA weights of its best validation score,
in its result, its model file and across a resume."""

import dataclasses

import numpy as np
import pytest
import torch
import xarray as xr

import seeds_dag.training as training_module
from seeds_dag.checkpoints import LocalCheckpointIO, checkpoint_from_bytes
from seeds_dag.generators.kinds import CRPSConfig
from seeds_dag.model_file import model_from_checkpoint
from seeds_dag.seed_anomalies import member_spread
from seeds_dag.training import TrainingConfig, train_generator
from seeds_dag.validation import split_validation, validation_examples, validation_loss
from seeds_dag.weighting import area_weights
from tests.test_training import CPU, DENOISER, LAT, LEAD_DAYS, LON, TINY, reforecast, training_fingerprint

CRPS = CRPSConfig(members=2)
VALIDATED = TrainingConfig(steps=30, batch_size=4, learning_rate=5e-3, warmup_steps=5, checkpoint_every=10,
                           validation_inits=1, validate_every=10, weight_decay=TINY.weight_decay)


def train(checkpoint, config=VALIDATED):
    data = reforecast()
    return train_generator(data, LEAD_DAYS, member_spread(data), LAT, LON, DENOISER, CRPS, config, checkpoint,
                           CPU)


def test_the_last_inits_are_held_out_with_the_truth_of_the_rest():
    data, truth = np.arange(5)[:, None] * np.ones((5, 3)), np.arange(5)[:, None] * np.ones((5, 2))
    kept, held_out, kept_truth, held_out_truth = split_validation(data, 2, truth)
    assert kept[:, 0].tolist() == [0, 1, 2] and held_out[:, 0].tolist() == [3, 4]
    assert kept_truth[:, 0].tolist() == [0, 1, 2] and held_out_truth[:, 0].tolist() == [3, 4]
    assert split_validation(data, 0, truth) == (data, None, truth, None)
    assert split_validation(data, 2)[2:] == (None, None)
    with pytest.raises(ValueError, match="validation_inits=5 must leave at least one of the 5"):
        split_validation(data, 5)


def test_each_member_is_the_target_once_with_the_next_k_members_as_seeds():
    # (init, lead, member, V, H, W) holding 10·init + member.
    value = 10 * np.arange(2)[:, None, None, None, None, None] + np.arange(4)[:, None, None, None]
    data = value * np.ones((2, 3, 4, 1, 2, 2))
    truth = 100 + 10 * np.arange(2)[:, None, None, None, None] * np.ones((2, 3, 1, 2, 2))
    target, seeds, truths = validation_examples(data.astype(np.float32), seed_count=2, truth=truth)
    assert target.shape == (8, 3, 1, 2, 2) and seeds.shape == (8, 2, 3, 1, 2, 2)
    assert target[:, 0, 0, 0, 0].tolist() == [0, 1, 2, 3, 10, 11, 12, 13]
    assert seeds[:, :, 0, 0, 0, 0].tolist() == [[1, 2], [2, 3], [3, 0], [0, 1],
                                                [11, 12], [12, 13], [13, 10], [10, 11]]
    assert truths[:, 0, 0, 0, 0].tolist() == [100] * 4 + [110] * 4  # the truth of each example's init
    assert validation_examples(data, seed_count=2)[2] is None
    with pytest.raises(ValueError, match="seed_count 4"):
        validation_examples(data, seed_count=4)


def test_the_score_depends_on_the_weights_alone(tmp_path):
    data = reforecast()
    result = train(LocalCheckpointIO(tmp_path / "run.pt"), dataclasses.replace(VALIDATED, validation_inits=0))
    spread = torch.from_numpy(member_spread(data)).flatten(0, 1)[None]
    weights = torch.ones(len(LAT))
    truth = reforecast(seed=1)[-1:, :, 0]
    examples = validation_examples(data[-1:], seed_count=2, truth=truth)

    def score(model, batch_size=4, truth_probability=0.0, examples=examples):
        return validation_loss(model, CRPS, examples, spread, weights, 0, 30, batch_size, CPU,
                               truth_probability)

    assert score(result.model) == score(result.model)
    assert score(result.model, batch_size=5) == pytest.approx(score(result.model), rel=1e-5)
    untrained = training_module.build_seeded_model(DENOISER, CRPS, LAT, LON, seed=0).eval()
    assert score(untrained) != pytest.approx(score(result.model), rel=1e-3)
    # The post-processor's expectation: the truth as the target with its probability.
    _, seeds, truths = examples
    on_truth = score(result.model, examples=(truths, seeds, None))
    assert score(result.model, truth_probability=1.0) == pytest.approx(on_truth, rel=1e-6)
    assert score(result.model, truth_probability=0.25) == pytest.approx(
        0.75 * score(result.model) + 0.25 * on_truth, rel=1e-6)
    with pytest.raises(ValueError, match="truth_probability 0.5 needs the held-out inits' truth"):
        score(result.model, truth_probability=0.5, examples=(truths, seeds, None))


def test_the_run_publishes_the_ema_weights_of_its_best_validation(tmp_path, monkeypatch):
    # The scores are scripted so that the best is not the last; the EMA the run keeps at step 20
    # is that of a run stopped there (validation draws nothing from the training streams).
    scripted = {10: 3.0, 20: 1.0, 30: 2.0}
    monkeypatch.setattr(training_module, "validation_loss", lambda *args: scripted[args[6]])
    checkpoint = LocalCheckpointIO(tmp_path / "run.pt")
    result = train(checkpoint)
    assert (result.validation, result.best_step) == ([(10, 3.0), (20, 1.0), (30, 2.0)], 20)
    stopped = train(LocalCheckpointIO(tmp_path / "stopped.pt"), dataclasses.replace(VALIDATED, steps=20))
    at_20 = stopped.model.state_dict()
    stored = checkpoint_from_bytes(checkpoint.load(), CPU)
    published = model_from_checkpoint(checkpoint.load(), LAT, LON, CPU).state_dict()
    for name, value in at_20.items():
        torch.testing.assert_close(result.model.state_dict()[name], value)
        torch.testing.assert_close(published[name], value)
    # The checkpoint keeps the last EMA too, which an extended run resumes from.
    assert any(not torch.equal(stored["ema"][name], value) for name, value in at_20.items())
    assert (stored["best_step"], stored["best_loss"]) == (20, 1.0)
    assert stored["validation"] == [[10, 3.0], [20, 1.0], [30, 2.0]]


def test_a_resumed_run_keeps_its_validation_and_best_weights(tmp_path):
    checkpoint = LocalCheckpointIO(tmp_path / "resumed.pt")
    train(checkpoint, dataclasses.replace(VALIDATED, steps=20))
    resumed = train(checkpoint)
    straight = train(LocalCheckpointIO(tmp_path / "straight.pt"))
    assert resumed.resumed_from_step == 20 and [s for s, _ in resumed.validation] == [10, 20, 30]
    np.testing.assert_allclose([v for _, v in resumed.validation], [v for _, v in straight.validation],
                               rtol=1e-5)
    assert resumed.best_step == straight.best_step == min(straight.validation, key=lambda sv: sv[1])[0]
    for name, value in straight.model.state_dict().items():
        torch.testing.assert_close(resumed.model.state_dict()[name], value, rtol=1e-5, atol=1e-6)


def test_runs_without_validation_keep_their_fingerprint():
    """validation_inits at 0 stays out of the fingerprint, so checkpoints of runs from before the
    field existed still resume; held-out inits are another run."""
    unvalidated = dataclasses.replace(VALIDATED, validation_inits=0)
    assert "validation_inits" not in training_fingerprint(unvalidated, CRPS)
    assert training_fingerprint(VALIDATED, CRPS)["validation_inits"] == 1
    # How often it validates is not the run's trajectory.
    assert "validate_every" not in training_fingerprint(VALIDATED, CRPS)


def test_a_run_on_the_truth_validates_on_the_held_out_truth(tmp_path):
    """With truth_probability > 0 the held-out inits' truth is split off with them and scored."""
    data = reforecast()
    truth = reforecast(seed=1)[:, :, 0]
    config = dataclasses.replace(VALIDATED, steps=10, truth_probability=1.0)
    result = train_generator(data, LEAD_DAYS, member_spread(data), LAT, LON, DENOISER, CRPS, config,
                             LocalCheckpointIO(tmp_path / "gpp.pt"), CPU, truth=truth)
    spread = torch.from_numpy(member_spread(data)).flatten(0, 1)[None]
    weights = torch.from_numpy(area_weights(xr.DataArray(LAT, dims="lat")).values).float()
    held_out = validation_examples(data[-1:], 2, truth[-1:])

    def score(truth_probability):
        return validation_loss(result.model, CRPS, held_out, spread, weights, 0, 10, 4, CPU,
                               truth_probability)

    assert [step for step, _ in result.validation] == [10]
    assert result.validation[0][1] == pytest.approx(score(1.0), rel=1e-5)
    assert score(0.0) != pytest.approx(score(1.0), rel=1e-3)


@pytest.mark.parametrize(("validation_inits", "validate_every"), [(-1, 100), (1, 0)])
def test_a_negative_count_or_no_interval_is_refused_before_training(tmp_path, validation_inits,
                                                                      validate_every):
    config = dataclasses.replace(VALIDATED, validation_inits=validation_inits, validate_every=validate_every)
    with pytest.raises(ValueError, match=f"got {validation_inits} and {validate_every}"):
        train(LocalCheckpointIO(tmp_path / "run.pt"), config)
    assert not (tmp_path / "run.pt").exists()
