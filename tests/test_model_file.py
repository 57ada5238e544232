"""The model-file contract: a model file's version (its rebuilding is tested with training, in
tests/test_training.py, and with old files in tests/generators/test_noise_draws.py)."""

from seeds_dag.model_file import model_version


def test_model_version_is_a_content_hash():
    assert model_version(b"weights") == model_version(b"weights") != model_version(b"weights2")
    assert len(model_version(b"weights")) == 16
