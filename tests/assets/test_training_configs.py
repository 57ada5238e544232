"""The training assets' Dagster configs hold no defaults of their own: what they train by default is
what `TrainingConfig` and `generator_objective` (which the skill benchmark also calls) say."""

import dataclasses
import re

import pytest
from pydantic import ValidationError

from assets.models import EmulatorTrainingConfig, PostProcessorTrainingConfig
from seeds_dag.conventions import VARIABLES
from seeds_dag.generators.kinds import GENERATORS
from seeds_dag.generators.recipes import generator_objective
from seeds_dag.networks.unet import DenoiserConfig
from seeds_dag.training import TrainingConfig


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
])
def test_a_generator_no_objective_exists_for_is_refused_when_the_config_is_built(settings, refusal):
    with pytest.raises(ValidationError, match=re.escape(refusal)):
        EmulatorTrainingConfig(**settings)
