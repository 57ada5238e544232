"""The model-file contract: a model file's version, and files written by earlier code (its
rebuilding is tested with training, in tests/test_training.py, and with old files of the crps
generator in tests/generators/test_noise_draws.py).

An edm model file written before `EDMConfig.sigma_min`/`sigma_max` were retired holds them in its
objective and its fingerprint (`checkpoints.RETIRED_OBJECTIVE_SETTINGS`). Such a file is made here
as that code wrote it: this code's file with the two settings put back at their old defaults, the
fingerprint dumped with sorted keys as the training loop dumps it."""

import io
import json

import numpy as np
import pytest
import torch

from seeds_dag.checkpoints import (
    LocalCheckpointIO,
    StaleCheckpointError,
    checkpoint_from_bytes,
    checkpoint_to_bytes,
)
from seeds_dag.conventions import regular_latitudes, regular_longitudes
from seeds_dag.diffusion.consistency import ConsistencyConfig
from seeds_dag.diffusion.edm import EDMConfig
from seeds_dag.emulation import SamplerConfig, generate_members
from seeds_dag.generators.kinds import objective_for
from seeds_dag.model_file import checkpoint_generator, model_from_checkpoint, model_version, plain_config
from seeds_dag.networks.unet import DenoiserConfig
from seeds_dag.seed_anomalies import member_spread
from seeds_dag.training import TrainingConfig, train_generator

LAT, LON = regular_latitudes(8), regular_longitudes(16)
LEAD_DAYS = np.array([1.0, 2.0])
NETWORK = DenoiserConfig(channels=(8, 16), embed_dim=16, num_variables=2, num_leads=len(LEAD_DAYS),
                         attention_at_bottom=False)
RUN = TrainingConfig(steps=3, batch_size=4, warmup_steps=1, checkpoint_every=3)
OLD_EDM_SETTINGS = {"sigma_min": 0.002, "sigma_max": 80.0}
"""EDMConfig's sampling range as earlier code stored it (its defaults, never read)."""
CPU = torch.device("cpu")


def test_model_version_is_a_content_hash():
    assert model_version(b"weights") == model_version(b"weights") != model_version(b"weights2")
    assert len(model_version(b"weights")) == 16


def reforecast() -> np.ndarray:
    """(init, lead, member, V, H, W) normalised noise: enough for a few steps of training."""
    return np.random.default_rng(0).standard_normal((3, len(LEAD_DAYS), 4, 2, len(LAT), len(LON))).astype(np.float32)


def train(checkpoint: LocalCheckpointIO, objective=EDMConfig()):
    data = reforecast()
    return train_generator(data, LEAD_DAYS, member_spread(data), LAT, LON, NETWORK, objective, RUN, checkpoint, CPU)


def with_settings(model_file: bytes, generator: str, settings: dict) -> bytes:
    """`model_file` with `settings` added to its objective and to its fingerprint's objective, and its
    generator named `generator`, written as the training loop writes a file."""
    checkpoint = torch.load(io.BytesIO(model_file), weights_only=True)
    fingerprint = json.loads(checkpoint["fingerprint"])
    fingerprint["generator"] = checkpoint["generator"] = generator
    fingerprint["objective"].update(settings)
    checkpoint["objective"].update(settings)
    checkpoint["fingerprint"] = json.dumps(fingerprint, sort_keys=True)
    return checkpoint_to_bytes(checkpoint)


@pytest.fixture(scope="module")
def edm_run(tmp_path_factory):
    """(the trained EMA model, its model file, the same file as earlier code wrote it)."""
    checkpoint = LocalCheckpointIO(tmp_path_factory.mktemp("edm") / "model.pt")
    result = train(checkpoint)
    model_file = checkpoint.load()
    return result.model, model_file, with_settings(model_file, "edm", OLD_EDM_SETTINGS)


def samples(model: torch.nn.Module) -> np.ndarray:
    seeds = reforecast()[0, :, :2]
    chunks = generate_members(model, seeds, member_spread(reforecast()), LEAD_DAYS, n_members=3, batch_size=3,
                              sampler=SamplerConfig(num_steps=2), seed=5, device=CPU)
    return np.concatenate([members for _, members in chunks], axis=1)


def test_an_edm_model_file_with_the_retired_sampling_range_loads_and_samples_as_the_trained_model(edm_run):
    trained, model_file, old_file = edm_run
    # The file really is of the old form, as torch reads it with weights_only=True.
    assert torch.load(io.BytesIO(old_file), weights_only=True)["objective"] == {
        **plain_config(EDMConfig()), **OLD_EDM_SETTINGS}
    assert set(OLD_EDM_SETTINGS).isdisjoint(plain_config(EDMConfig()))
    checkpoint = checkpoint_from_bytes(old_file, CPU)
    assert checkpoint_generator(checkpoint) == ("edm", EDMConfig())
    assert checkpoint["fingerprint"] == checkpoint_from_bytes(model_file, CPU)["fingerprint"]
    expected = samples(trained)
    np.testing.assert_array_equal(samples(model_from_checkpoint(old_file, LAT, LON, CPU, LEAD_DAYS)), expected)
    np.testing.assert_array_equal(samples(model_from_checkpoint(model_file, LAT, LON, CPU, LEAD_DAYS)), expected)


def test_a_finished_edm_run_of_earlier_code_is_resumed_not_called_stale(edm_run, tmp_path):
    _, _, old_file = edm_run
    checkpoint = LocalCheckpointIO(tmp_path / "model.pt")
    checkpoint.save(old_file)
    result = train(checkpoint)
    assert result.resumed_from_step == result.steps_done == RUN.steps


def test_a_kept_setting_that_differs_still_makes_the_checkpoint_stale(edm_run, tmp_path):
    _, model_file, _ = edm_run
    checkpoint = LocalCheckpointIO(tmp_path / "model.pt")
    checkpoint.save(with_settings(model_file, "edm", {**OLD_EDM_SETTINGS, "P_mean": -1.0}))
    with pytest.raises(StaleCheckpointError, match=r"objective\.P_mean \(checkpoint -1\.0, now -1\.2\)"):
        train(checkpoint)


def test_only_the_edm_generators_sampling_range_is_retired(edm_run):
    """The consistency model reads its own sigma_min and sigma_max: they stay."""
    _, model_file, _ = edm_run
    consistency = plain_config(objective_for("consistency"))
    checkpoint = checkpoint_from_bytes(with_settings(model_file, "consistency", consistency), CPU)
    assert checkpoint["objective"]["sigma_min"] == ConsistencyConfig.sigma_min
    assert json.loads(checkpoint["fingerprint"])["objective"]["sigma_max"] == ConsistencyConfig.sigma_max
