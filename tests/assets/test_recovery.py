"""What the assets do on a second run, a refused partition, a failure and an interruption: the
spin-up cache, the training-window guard, keeping the last good artifact, resuming training."""

import numpy as np
import pytest
import torch
import xarray as xr
from dagster import DagsterUnknownPartitionError

import seeds_dag.emulated_ensemble
import assets.training
import assets.sources
from seeds_dag.checkpoints import checkpoint_from_bytes
from seeds_dag.conventions import DataValidationError
from seeds_dag.sources.embedded.source import spinup_settings
from seeds_dag.store import ArtifactStore
from tiny_experiment import (
    EMULATION,
    OPERATIONAL_INIT,
    SOURCE,
    TRAINING,
    copy_artifacts,
    current_version,
    directory_listing,
    materialise,
    metadata,
    partition_dir,
    tiny_source,
)


def _data_version(result) -> str:
    return result.get_asset_materialization_events()[0].materialization.tags["dagster/data_version"]


def test_spinup_is_cached_for_the_same_settings(tiny_graph):
    """Dagster recorded this artifact with these settings: it is reused, with the same data
    version, so nothing downstream turns stale."""
    before = current_version(tiny_graph.root, "physics_spinup", None)
    listing = directory_listing(tiny_graph.root, "physics_spinup", None)
    result = materialise(tiny_graph.root, "physics_spinup")
    assert metadata(result, "physics_spinup")["cached"] is True
    assert _data_version(result) == _data_version(tiny_graph.results[("physics_spinup", None)])
    assert current_version(tiny_graph.root, "physics_spinup", None) == before
    assert directory_listing(tiny_graph.root, "physics_spinup", None) == listing


def test_spinup_is_recomputed_when_its_settings_change(tiny_graph, tmp_path, monkeypatch):
    # A real spin-up costs at least 17 model days; the cache logic under test is the asset's, so a
    # stand-in that records its config and returns the stored spin-up under the new settings does.
    copy_artifacts(tiny_graph.root, tmp_path, ["physics_spinup"])
    stored = ArtifactStore(str(tmp_path)).load_dataset("physics_spinup")
    calls = []

    def spin_up(config, on_day=None):
        calls.append(config)
        return stored.assign_attrs(settings=spinup_settings(config))

    monkeypatch.setattr(assets.sources, "run_spinup", spin_up)
    before = current_version(tmp_path, "physics_spinup", None)
    changed = tiny_source(seed=SOURCE.seed + 1)
    # A copied store that Dagster has no record of is not trusted, whatever its settings attribute.
    first_result = materialise(tmp_path, "physics_spinup", source=changed)
    first = metadata(first_result, "physics_spinup")
    assert first["cached"] is False
    assert _data_version(first_result) != _data_version(tiny_graph.results[("physics_spinup", None)])
    assert [c.seed for c in calls] == [SOURCE.seed + 1]
    assert current_version(tmp_path, "physics_spinup", None) != before
    assert ArtifactStore(str(tmp_path)).open_dataset("physics_spinup").attrs["settings"] == \
        spinup_settings(changed.embedded_config())

    second = metadata(materialise(tmp_path, "physics_spinup", source=changed), "physics_spinup")
    assert second["cached"] is True and len(calls) == 1


@pytest.mark.parametrize("asset", ["operational_ensemble", "daily_emulated_ensembles"])
@pytest.mark.parametrize("init", [
    SOURCE.reforecast_end,  # a training init
    "2000-01-04",  # reforecast_end + the longest lead: the last valid time of a training forecast
])
def test_inits_inside_the_training_window_are_refused(tiny_graph, asset, init):
    """No operational partition: Dagster refuses the launch. Under a calendar that has the init
    (the definitions loaded with other settings than the run's config), the asset refuses it."""
    with pytest.raises(DagsterUnknownPartitionError, match=f"Could not find a partition with key `{init}`"):
        materialise(tiny_graph.root, asset, init)
    looser = tiny_source(reforecast_start="1999-12-30", reforecast_end="1999-12-30", lead_days=[1])
    with pytest.raises(ValueError, match=f"operational init {init} overlaps"):
        materialise(tiny_graph.root, asset, init, calendar=looser)
    assert not partition_dir(tiny_graph.root, asset, init).exists()
    assert init not in tiny_graph.store.partitions(asset)


def _nan_from_second_batch(monkeypatch):
    """generate_members whose second batch is NaN (the first is real): a failure mid-stream."""
    real = seeds_dag.emulated_ensemble.generate_members

    def generate(*args, **kwargs):
        for index, (members, normalized) in enumerate(real(*args, **kwargs)):
            yield members, (np.full_like(normalized, np.nan) if index == 1 else normalized)

    monkeypatch.setattr(seeds_dag.emulated_ensemble, "generate_members", generate)


@pytest.mark.parametrize("break_it, config, error", [
    (_nan_from_second_batch, EMULATION, DataValidationError),
    *[(None, EMULATION.model_copy(update={"seed_members": members}), ValueError)
      for members in ([0, SOURCE.operational_members], [1, 1], [])],
], ids=["nan-batch", "seed-member-out-of-range", "seed-members-repeated", "no-seed-members"])
def test_failed_emulation_keeps_the_previous_version(tiny_graph, monkeypatch, break_it, config,
                                                      error):
    root, key = tiny_graph.root, OPERATIONAL_INIT
    before = current_version(root, "daily_emulated_ensembles", key)
    listing = directory_listing(root, "daily_emulated_ensembles", key)
    values = tiny_graph.store.load_dataset("daily_emulated_ensembles", key)
    if break_it is not None:
        break_it(monkeypatch)
    with pytest.raises(error) as raised:
        materialise(root, "daily_emulated_ensembles", key, config=config)
    if config is not EMULATION:  # refused by the asset's own check, before any work
        assert f"daily_emulated_ensembles[{key}]: seed_members {config.seed_members} must be " \
            f"distinct members of the {SOURCE.operational_members}-member forecast" in str(raised.value)
    if error is DataValidationError:
        # The first batch (members 0..3) passed; the failure is the NaN batch, named.
        assert f"daily_emulated_ensembles[{key}] model gee members 4..7" in str(raised.value)
        assert "NaN" in str(raised.value)
    assert current_version(root, "daily_emulated_ensembles", key) == before
    assert directory_listing(root, "daily_emulated_ensembles", key) == listing
    xr.testing.assert_identical(
        tiny_graph.store.load_dataset("daily_emulated_ensembles", key), values)


class SimulatedKill(Exception):
    """Stands for the process dying between two checkpoints."""


def test_training_resumes_from_its_checkpoint(tiny_graph, tmp_path, monkeypatch):
    copy_artifacts(tiny_graph.root, tmp_path, ["reforecast_shards", "normalization_stats"])
    real = assets.training.train_generator
    kill_at = TRAINING.checkpoint_every + 20  # after the first checkpoint, before the next

    def interrupted(*args, on_log, **kwargs):
        def log(step, loss):
            on_log(step, loss)
            if step >= kill_at:
                raise SimulatedKill(f"killed at step {step}")
        return real(*args, on_log=log, **kwargs)

    monkeypatch.setattr(assets.training, "train_generator", interrupted)
    with pytest.raises(SimulatedKill):
        materialise(tmp_path, "trained_emulator")
    store = ArtifactStore(str(tmp_path))
    assert not store.exists_bytes("trained_emulator", "model.pt")
    assert checkpoint_from_bytes(store.read_bytes("trained_emulator", "checkpoint.pt"),
                                 "cpu")["step"] == TRAINING.checkpoint_every

    monkeypatch.undo()
    resumed = metadata(materialise(tmp_path, "trained_emulator"), "trained_emulator")
    assert (resumed["resumed_from_step"], resumed["steps"]) == (TRAINING.checkpoint_every,
                                                                TRAINING.steps)
    assert not store.exists_bytes("trained_emulator", "checkpoint.pt")
    # Batches and noise are keyed by step, so the resumed run is the uninterrupted one.
    uninterrupted = checkpoint_from_bytes(
        tiny_graph.store.read_bytes("trained_emulator", "model.pt"), "cpu")["ema"]
    model = checkpoint_from_bytes(store.read_bytes("trained_emulator", "model.pt"), "cpu")["ema"]
    assert model.keys() == uninterrupted.keys()
    assert all(torch.equal(model[name], uninterrupted[name]) for name in model)


def test_finished_training_is_not_mistaken_for_a_checkpoint(tiny_graph, tmp_path):
    """After a successful run, a new materialisation trains from step 0 on the data it sees,
    rather than returning the previous model because a complete checkpoint is lying around."""
    copy_artifacts(tiny_graph.root, tmp_path, ["reforecast_shards", "normalization_stats",
                                               "trained_emulator"])
    # Fewer steps than the finished run: a leftover checkpoint (whose fingerprint leaves out the
    # run length) would be returned as it is, with resumed_from_step == TRAINING.steps.
    short = TRAINING.model_copy(update={"steps": 4, "checkpoint_every": 2})
    again = metadata(materialise(tmp_path, "trained_emulator", config=short), "trained_emulator")
    assert (again["resumed_from_step"], again["steps"]) == (0, short.steps)
