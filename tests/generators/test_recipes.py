"""generator_objective: what each generator's run is trained on, for the assets and the benchmark."""

import pytest

from seeds_dag.diffusion.consistency import ConsistencyConfig
from seeds_dag.diffusion.edm import EDMConfig
from seeds_dag.generators.kinds import CRPSConfig, ConsistencyCRPSConfig
from seeds_dag.generators.recipes import CONSISTENCY_SIGMA_MID, generator_objective


def test_consistency_training_takes_the_steps_before_fine_tuning_and_samples_as_at_inference():
    one = generator_objective("consistency", 800, crps_finetune_steps=200, crps_members=3, crps_alpha=0.9)
    assert one == ConsistencyCRPSConfig(consistency_steps=600, crps_members=3, crps_alpha=0.9,
                                        sample_sigmas=(ConsistencyConfig.sigma_max,))
    two = generator_objective("consistency", 800, consistency_evaluations=2)
    assert two.sample_sigmas == (ConsistencyConfig.sigma_max, CONSISTENCY_SIGMA_MID)


def test_fine_tuning_longer_than_the_run_leaves_no_consistency_training():
    assert generator_objective("consistency", 100, crps_finetune_steps=200).consistency_steps == 0


def test_crps_takes_members_alpha_and_the_weights_of_its_terms_and_edm_its_defaults():
    assert generator_objective("crps", 800, crps_members=2, crps_alpha=1.0) == CRPSConfig(members=2, alpha=1.0)
    weighted = generator_objective("crps", 800, crps_variable_pair_weight=0.5, crps_spectral_weight=2.0)
    assert weighted == CRPSConfig(variable_pair_weight=0.5, spectral_weight=2.0)
    assert generator_objective("edm", 800, crps_members=2) == EDMConfig()


@pytest.mark.parametrize(("generator", "settings", "message"), [
    ("gan", {}, "unknown generator 'gan'"),
    ("consistency", {"consistency_evaluations": 3}, "consistency_evaluations must be 1 or 2, got 3"),
])
def test_unknown_generator_or_evaluation_count_is_refused_by_name(generator, settings, message):
    with pytest.raises(ValueError, match=message):
        generator_objective(generator, 800, **settings)
