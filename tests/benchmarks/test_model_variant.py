"""benchmarks.model_variant: its settings are the chosen model's training config, read as that
config's types, and it refuses to overwrite a variant or to start from a root with no main job."""

import sys

import pytest

from assets.training import PostProcessorTrainingConfig
from benchmarks import model_variant
from benchmarks.model_variant import parse_settings, variant_steps


def test_settings_are_the_emulator_configs_fields_in_their_types():
    config = parse_settings(["crps_spectral_weight=1", "seed=3", "noise_levels=2", "channels=8,16"])
    assert (config.crps_spectral_weight, config.seed, config.noise_levels) == (1.0, 3, 2)
    assert config.channels == [8, 16]
    assert config.crps_variable_pair_weight == 0.0  # every other field at its default


def test_the_post_processors_settings_are_its_own_config():
    config = parse_settings(["generator=crps", "truth_probability=0.5"], "post_processor")
    assert isinstance(config, PostProcessorTrainingConfig)
    assert (config.generator, config.truth_probability) == ("crps", 0.5)
    with pytest.raises(SystemExit, match="truth_probability: not a field of EmulatorTrainingConfig"):
        parse_settings(["truth_probability=0.5"])


@pytest.mark.parametrize(("pair", "message"), [("spectral=1", "spectral: not a field of EmulatorTrainingConfig"),
                                               ("seed", "--set takes field=value, got 'seed'")])
def test_an_unknown_field_or_a_pair_without_value_is_refused_by_name(pair, message):
    with pytest.raises(SystemExit, match=message):
        parse_settings([pair])


def test_a_bad_value_is_refused_naming_the_field():
    with pytest.raises(ValueError, match="seed"):
        parse_settings(["seed=one"])


def run(monkeypatch, *args):
    monkeypatch.setattr(sys, "argv", ["model_variant", *map(str, args)])
    model_variant.main()


def test_it_neither_overwrites_a_variant_nor_starts_without_a_main_job(tmp_path, monkeypatch):
    source, variant = tmp_path / "data", tmp_path / "variant"
    source.mkdir()
    with pytest.raises(SystemExit, match="holds no trained_emulator: run the main job there first"):
        run(monkeypatch, "--from", source, "--to", variant)
    with pytest.raises(SystemExit, match="holds no post_processor: run the main job there first"):
        run(monkeypatch, "--from", source, "--to", variant, "--model", "post_processor")
    assert not variant.exists()
    variant.mkdir()
    (variant / "kept").write_text("an earlier variant")
    with pytest.raises(SystemExit, match="exists; give a new folder"):
        run(monkeypatch, "--from", source, "--to", variant, "--set", "seed=1")
    assert (variant / "kept").read_text() == "an earlier variant"


def test_a_retrained_emulator_has_the_post_processor_refitted_before_anything_emulates():
    """The post-processing frame answers only for the emulator version it was fitted to, so a
    variant that reused the main job's frame failed at emulation (FrameError)."""
    steps = variant_steps("trained_emulator", ["2000-03-01", "2000-03-02"])
    assert steps[:2] == [("trained_emulator", None), ("post_processor", None)]
    assert steps[2:] == [("daily_emulated_ensembles", "2000-03-01"), ("verification_scores", "2000-03-01"),
                         ("daily_emulated_ensembles", "2000-03-02"), ("verification_scores", "2000-03-02"),
                         ("verification_summary", None)]
    assert [name for name, _ in variant_steps("post_processor", ["2000-03-01"])] == [
        "post_processor", "daily_emulated_ensembles", "verification_scores", "verification_summary"]
