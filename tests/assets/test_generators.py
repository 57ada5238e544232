"""Every generator end to end through the real assets: the emulator and the post-processor (its
method "generator") trained as `crps` and as `consistency` (the tiny graph trains the emulator's
default, `crps`, and fits the post-processor's default frame), members sampled from them, and an
unknown generator refused by name before any training."""

import re

import pytest

from assets.ensembles import EmulationConfig
from assets.training import EmulatorTrainingConfig, PostProcessorTrainingConfig
from seeds_dag.generators.kinds import GENERATORS
from tiny_experiment import (
    OPERATIONAL_INIT,
    TINY_NETWORK,
    copy_artifacts,
    materialise,
    metadata,
)

UPSTREAM = ["physics_spinup", "truth", "reforecast_shards", "normalization_stats", "operational_ensemble"]
TINY = {**TINY_NETWORK, "steps": 20}
EXPECTED_NFE = {"crps": 1, "consistency": 2}


@pytest.mark.parametrize("generator", ["crps", "consistency"])
def test_generator_trains_and_samples_through_the_assets(tiny_graph, tmp_path, generator):
    copy_artifacts(tiny_graph.root, tmp_path, UPSTREAM)
    settings = {**TINY, "generator": generator, "consistency_evaluations": 2, "crps_finetune_steps": 5}
    for asset, config in (("trained_emulator", EmulatorTrainingConfig(**settings)),
                          ("post_processor", PostProcessorTrainingConfig(**settings, method="generator"))):
        trained = metadata(materialise(tmp_path, asset, config=config), asset)
        assert trained["generator"] == generator and trained["steps"] == TINY["steps"]
    emulation = EmulationConfig(n_members=4, num_steps=4)
    result = materialise(tmp_path, "daily_emulated_ensembles", OPERATIONAL_INIT, config=emulation)
    recorded = metadata(result, "daily_emulated_ensembles")
    models = recorded["provenance"]["models"]
    assert {name: (m["generator"], m["nfe"]) for name, m in models.items()} == {
        name: (generator, EXPECTED_NFE[generator]) for name in ("gee", "gpp")}
    assert all(check.passed for check in result.get_asset_check_evaluations())


def test_unknown_generator_is_refused_by_name(tiny_graph, tmp_path):
    copy_artifacts(tiny_graph.root, tmp_path, UPSTREAM)
    with pytest.raises(ValueError, match=re.escape(f"unknown generator 'gan': choose one of {list(GENERATORS)}")):
        materialise(tmp_path, "trained_emulator", config=EmulatorTrainingConfig(**TINY, generator="gan"))
    assert not (tmp_path / "trained_emulator").exists()  # refused before anything was written
