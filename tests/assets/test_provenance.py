"""What the emulated ensemble records is what its consumers use: the seeds' baseline of the
verification is the seed members the ensemble was made from, read from the artifact."""

import re

import numpy as np
import pandas as pd
import pytest
from tiny_experiment import EMULATION, OPERATIONAL_INIT, copy_artifacts, materialise, metadata

from seeds_dag.conventions import VARIABLES, DataValidationError
from seeds_dag.emulated_ensemble import EnsembleProvenance
from seeds_dag.store import ArtifactStore
from seeds_dag.truth_alignment import align_truth
from seeds_dag.verification.scores import fair_crps, standard_crps

INPUTS = ["operational_ensemble", "normalization_stats", "trained_emulator", "post_processor",
          "truth", "climatology"]


def _seed_scores(store: ArtifactStore, members: list[int]) -> pd.DataFrame:
    """Fair and standard CRPS of the given physics members, as the score table holds them."""
    variables = list(VARIABLES)
    physics = store.load_dataset("operational_ensemble", OPERATIONAL_INIT)[variables]
    observed = align_truth(store.open_dataset("truth")[variables], physics["init_time"].values,
                           physics["lead_time"].values)
    seeds = physics.isel(member=members)
    return pd.DataFrame({
        "fair": fair_crps(seeds, observed).to_dataarray("variable").values.ravel(),
        "standard": standard_crps(seeds, observed).to_dataarray("variable").values.ravel()})


def test_the_seeds_baseline_is_the_members_the_ensemble_was_made_from(tiny_graph, tmp_path):
    copy_artifacts(tiny_graph.root, tmp_path, INPUTS)
    config = EMULATION.model_copy(update={"seed_members": [2, 5], "n_members": 4, "num_steps": 2})
    emulated = metadata(materialise(tmp_path, "daily_emulated_ensembles", OPERATIONAL_INIT,
                                    config=config), "daily_emulated_ensembles")
    assert emulated["seed_members"] == "[2, 5]"
    store = ArtifactStore(str(tmp_path))
    stored = store.open_dataset("daily_emulated_ensembles", OPERATIONAL_INIT)
    assert EnsembleProvenance.of(stored, "test").seed_members == (2, 5)

    scored = metadata(materialise(tmp_path, "verification_scores", OPERATIONAL_INIT),
                      "verification_scores")
    assert scored["seeds"] == "seeds-2"
    table = store.read_table("verification_scores", OPERATIONAL_INIT)
    seeds = table[table["model"] == "seeds-2"].set_index(["variable", "lead_time_days"])
    seeds = seeds.loc[list(VARIABLES)]  # the order the expected scores come in
    expected = _seed_scores(store, [2, 5])
    np.testing.assert_allclose(seeds["crps"], expected["fair"], rtol=1e-6)
    np.testing.assert_allclose(seeds["crps_standard"], expected["standard"], rtol=1e-6)
    # Members 0 and 1, the default, score otherwise: the test tells the two apart.
    assert not np.allclose(seeds["crps"], _seed_scores(store, [0, 1])["fair"], rtol=1e-3)


def test_a_damaged_operational_forecast_is_refused_before_emulation(tiny_graph, tmp_path):
    copy_artifacts(tiny_graph.root, tmp_path, INPUTS)
    store = ArtifactStore(str(tmp_path))
    damaged = store.load_dataset("operational_ensemble", OPERATIONAL_INIT)
    damaged["z500"] = damaged["z500"].where(damaged["member"] != 3)
    store.write_dataset(damaged, "operational_ensemble", OPERATIONAL_INIT)
    with pytest.raises(DataValidationError, match=re.escape(
            f"daily_emulated_ensembles[{OPERATIONAL_INIT}]: operational_ensemble[{OPERATIONAL_INIT}]")
            + r".*'z500'.*NaN"):
        materialise(tmp_path, "daily_emulated_ensembles", OPERATIONAL_INIT, config=EMULATION)
    assert not store.has("daily_emulated_ensembles", OPERATIONAL_INIT)
