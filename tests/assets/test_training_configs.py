"""The training assets' Dagster configs hold no defaults of their own: what they train by default is
what `TrainingConfig` and `generator_objective` (which the skill benchmark also calls) say."""

import dataclasses

import pytest

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
