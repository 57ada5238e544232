"""The training assets' Dagster configs hold no defaults of their own: what they train by default is
what `TrainingConfig`, `DenoiserConfig` and `generator_objective` (which the benchmarks also call)
say, every field reaches its science config by its name, and what the main job trains is pinned."""

import dataclasses
import inspect
import re

import pytest
from pydantic import ValidationError

from assets.ensembles import EmulationConfig
from assets.training import EmulatorTrainingConfig, PostProcessorTrainingConfig
from assets.science_configs import shared_field_names
from assets.verification import VerificationConfig
from resources import ComputeResource
from seeds_dag.conventions import VARIABLES
from seeds_dag.diffusion.edm import EDMConfig
from seeds_dag.emulation import SamplerConfig
from seeds_dag.generators.kinds import GENERATORS, CRPSConfig, examples_per_step
from seeds_dag.generators.recipes import POST_PROCESSOR_TRUTH_PROBABILITY, generator_objective
from seeds_dag.networks.unet import DenoiserConfig
from seeds_dag.training import TrainingConfig
from seeds_dag.verification.monitoring import SkillBounds


@pytest.mark.parametrize("config", [EmulatorTrainingConfig(), PostProcessorTrainingConfig()])
def test_default_training_is_training_configs_defaults(config):
    assert config.training(batch_size=8, truth_probability=0.5) == dataclasses.replace(
        TrainingConfig(), batch_size=8, truth_probability=0.5)


@pytest.mark.parametrize("generator", GENERATORS)
def test_default_objective_of_every_generator_is_generator_objectives(generator):
    config = EmulatorTrainingConfig(generator=generator)
    assert config.objective() == generator_objective(generator, TrainingConfig().steps)


@pytest.mark.parametrize("num_leads", [2, 6])
def test_default_network_is_denoiser_configs_defaults(num_leads):
    assert EmulatorTrainingConfig().denoiser(num_leads) == DenoiserConfig(num_variables=len(VARIABLES),
                                                                          num_leads=num_leads)


def test_the_crps_generators_noise_and_loss_terms_reach_the_network_and_the_objective():
    config = EmulatorTrainingConfig(noise_dim=0, noise_channels=8, noise_levels=2, crps_variable_pair_weight=0.5,
                                    crps_spectral_weight=2.0)
    network = config.denoiser(num_leads=4)
    assert (network.noise_dim, network.noise_channels, network.noise_levels) == (0, 8, 2)
    objective = config.objective()
    assert (objective.variable_pair_weight, objective.spectral_weight) == (0.5, 2.0)


@pytest.mark.parametrize("settings, refusal", [
    ({"generator": "gan"}, "unknown generator 'gan': choose one of ['crps', 'consistency', 'edm']"),
    ({"generator": "consistency", "consistency_evaluations": 3},
     "consistency_evaluations must be 1 or 2, got 3"),
    ({"generator": "crps", "seed_counts": [1, 2]}, "seed_mean_shrinkage depends on K: seed_counts must hold one value"),
])
def test_a_generator_no_objective_exists_for_is_refused_when_the_config_is_built(settings, refusal):
    with pytest.raises(ValidationError, match=re.escape(refusal)):
        EmulatorTrainingConfig(**settings)


# What the main job trains, pinned: a change to any of these defaults must be made here too, on
# purpose. Built through the assets' own builders, as `_train` builds them from the compute
# resource's default batch of network samples.
MAIN_JOB_EMULATOR = {
    "objective": CRPSConfig(members=4, alpha=0.95, lead_pair_weight=1.0, variable_pair_weight=0.0,
                            spectral_weight=0.0),
    "training": TrainingConfig(steps=800, batch_size=4, learning_rate=3e-4, adam_betas=(0.9, 0.99),
                               warmup_steps=100, ema_decay=0.998, seed_counts=(2,), truth_probability=0.0,
                               checkpoint_every=200, grad_clip=1.0, seed=0, log_every=50, weight_decay=10.0),
    "denoiser": DenoiserConfig(channels=(16, 32, 64), blocks_per_level=1, embed_dim=128, attention_at_bottom=True,
                               num_variables=5, num_leads=6, use_lon_channels=True, attention_heads=4,
                               norm_groups=8, embedding_periods=(0.1, 8.0), noise_dim=32, noise_channels=4,
                               noise_levels=1, output_correlation=False, output_spectrum=False,
                               output_cross_spectrum=True, output_noise=True, output_noise_map=True,
                               output_noise_initial_scale=0.5),
}


def main_job_run(config: EmulatorTrainingConfig, truth_probability: float) -> dict:
    objective = config.objective()
    examples = examples_per_step(objective, ComputeResource().train_batch_size)
    return {"objective": objective, "training": config.training(examples, truth_probability),
            "denoiser": config.denoiser(num_leads=6)}


def test_the_main_jobs_emulator_trains_with_the_pinned_settings():
    assert main_job_run(EmulatorTrainingConfig(), 0.0) == MAIN_JOB_EMULATOR


def test_the_main_jobs_post_processor_is_the_pinned_frame_and_its_generator_the_pinned_edm_run():
    config = PostProcessorTrainingConfig()
    assert (config.method, config.frame_members, config.frame_seed_sets, config.frame_pool_longitudes,
            config.seed_counts) == ("frame", 16, 2, True, [2])
    assert main_job_run(PostProcessorTrainingConfig(method="generator"), config.truth_probability) == {
        "objective": EDMConfig(sigma_data=1.0, P_mean=-1.2, P_std=1.2),
        "training": dataclasses.replace(MAIN_JOB_EMULATOR["training"], batch_size=16, truth_probability=1.0),
        "denoiser": MAIN_JOB_EMULATOR["denoiser"],
    }


OBJECTIVE_SETTINGS = {"generator", *inspect.signature(generator_objective).parameters}
"""The fields that `objective()` passes to `generator_objective` (its parameters, and the generator)."""
FRAME_SETTINGS = {"method", "frame_members", "frame_seed_sets", "frame_pool_longitudes"}
DEPLOYMENT_SETTINGS = {("PostProcessorTrainingConfig", "truth_probability"): POST_PROCESSOR_TRUTH_PROBABILITY}
"""Fields whose default differs from their dataclass's on purpose, and the one place that says why."""


@pytest.mark.parametrize("config_class", [EmulatorTrainingConfig, PostProcessorTrainingConfig])
def test_every_training_field_reaches_a_science_config_by_its_name(config_class):
    science = set(shared_field_names(TrainingConfig, config_class)) | set(
        shared_field_names(DenoiserConfig, config_class))
    frame = FRAME_SETTINGS if config_class is PostProcessorTrainingConfig else set()
    assert set(config_class.model_fields) - science - OBJECTIVE_SETTINGS - frame == set()


@pytest.mark.parametrize(("config_class", "science"), [
    (EmulatorTrainingConfig, TrainingConfig), (EmulatorTrainingConfig, DenoiserConfig),
    (PostProcessorTrainingConfig, TrainingConfig), (PostProcessorTrainingConfig, DenoiserConfig),
    (EmulationConfig, SamplerConfig), (VerificationConfig, SkillBounds),
])
def test_a_dagster_default_is_its_dataclasss_unless_named_a_deployment_setting(config_class, science):
    defaults = config_class().model_dump()
    for name in shared_field_names(science, config_class):
        expected = DEPLOYMENT_SETTINGS.get((config_class.__name__, name), getattr(science(), name))
        value = defaults[name]
        assert (tuple(value) if isinstance(value, list) else value) == expected, name


def altered(value):
    """Another valid value of a setting's type."""
    if isinstance(value, bool):
        return not value
    if isinstance(value, list):
        return [*value, value[-1] * 2]
    return value + 1 if isinstance(value, int) else value / 2


@pytest.mark.parametrize(("science", "build"), [
    (TrainingConfig, lambda config: config.training(batch_size=8)),
    (DenoiserConfig, lambda config: config.denoiser(num_leads=6)),
])
def test_a_changed_field_reaches_the_science_config(science, build):
    for name in shared_field_names(science, EmulatorTrainingConfig):
        value = altered(EmulatorTrainingConfig().model_dump()[name])
        # Several Ks need the crps generator's seed-mean shrinkage off (it depends on K).
        others = {"seed_mean_shrinkage": False} if name == "seed_counts" else {}
        built = getattr(build(EmulatorTrainingConfig(**{name: value}, **others)), name)
        assert built == (tuple(value) if isinstance(value, list) else value), name


def test_the_sampler_and_the_skill_bounds_take_every_field_of_their_names():
    assert EmulationConfig(solver="heun", num_steps=8, S_churn=0.5, sigma_max=40.0, n_members=4).sampler() == \
        SamplerConfig(solver="heun", num_steps=8, S_churn=0.5, sigma_max=40.0)
    assert VerificationConfig(max_crps_over_physics=0.9, spread_skill_range=[0.7, 1.4]).bounds() == \
        SkillBounds(max_crps_over_physics=0.9, spread_skill_range=(0.7, 1.4))
