"""Fault: the stored checkpoint's bytes are damaged (cut short, garbage, empty, a flipped byte).
The run names it damaged, moves it aside (kept, never loaded again) and resumes from the previous
checkpoint where a whole one is kept, or from scratch, saying which; either way it ends exactly
where an undisturbed run ends. Bytes that are whole but not tensors are still refused, not
recovered from."""

import dataclasses
import io
import logging
import os
import pickle
from pathlib import Path

import pytest
import torch
import training_run

from seeds_dag.checkpoints import (
    CheckpointDamagedError,
    CheckpointError,
    checkpoint_from_bytes,
    checkpoint_to_bytes,
)

STEPS = 5
CONFIG = dataclasses.replace(training_run.CONFIG, steps=STEPS, log_every=1)
DAMAGE = {
    "truncated": lambda data: data[: len(data) // 2],
    "garbage": lambda data: os.urandom(len(data)),
    "zero-length": lambda data: b"",
}


class Interrupted(Exception):
    """Stands for the process dying between two checkpoints."""


def warnings_of_recovery(caplog) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == "seeds_dag.checkpoints"]


def stop_after(step: int):
    """An `on_log` that interrupts the run as it logs `step` (before that step's checkpoint)."""
    def on_log(at: int, loss: float) -> None:
        if at == step:
            raise Interrupted(f"stopped at step {at}")
    return on_log


def damaged_objects(root: Path) -> dict[str, bytes]:
    directory = root / training_run.ASSET / "_all"
    return {p.name: p.read_bytes() for p in directory.iterdir() if ".damaged-" in p.name}


def assert_ends_as_undisturbed(result, tmp_path: Path) -> None:
    undisturbed = training_run.run(str(tmp_path / "undisturbed"), config=CONFIG)
    assert result.losses == undisturbed.losses and result.steps_done == STEPS
    for (name, ours), (_, theirs) in zip(result.model.state_dict().items(),
                                         undisturbed.model.state_dict().items()):
        assert torch.equal(ours, theirs), name


@pytest.mark.parametrize("damage", DAMAGE)
def test_a_damaged_checkpoint_is_moved_aside_and_the_previous_one_resumed(tmp_path, caplog,
                                                                         damage):
    root = tmp_path / "store"
    with pytest.raises(Interrupted):  # checkpoints of steps 1-3 written, 3 the latest
        training_run.run(str(root), config=CONFIG, on_log=stop_after(4))
    checkpoint = training_run.checkpoint(str(root))
    assert checkpoint_from_bytes(checkpoint.load("previous"), "cpu")["step"] == 2
    bad = DAMAGE[damage](checkpoint.load())
    checkpoint.save(bad, previous=checkpoint.load("previous"))

    with caplog.at_level(logging.WARNING, logger="seeds_dag.checkpoints"):
        result = training_run.run(str(root), config=CONFIG)
    assert result.resumed_from_step == 2
    assert_ends_as_undisturbed(result, tmp_path)
    [(aside, kept)] = damaged_objects(root).items()
    assert aside.startswith(f"{training_run.CHECKPOINT}.damaged-") and kept == bad
    [warning] = warnings_of_recovery(caplog)
    assert (f"'{training_run.CHECKPOINT}' of asset '{training_run.ASSET}'" in warning
            and "is damaged" in warning and aside in warning
            and "resuming from the previous checkpoint, of step 2" in warning)


@pytest.mark.parametrize("damage", DAMAGE)
def test_without_a_whole_previous_checkpoint_training_starts_from_scratch(tmp_path, caplog,
                                                                         damage):
    """No previous checkpoint (the damaged one was the run's first), then a damaged one too."""
    root = tmp_path / "store"
    training_run.run(str(tmp_path / "one-step"), config=dataclasses.replace(CONFIG, steps=1))
    whole = training_run.checkpoint(str(tmp_path / "one-step")).load()
    checkpoint = training_run.checkpoint(str(root))
    for previous, damaged in [(None, 1), (DAMAGE[damage](whole), 2)]:
        checkpoint.save(DAMAGE[damage](whole), previous=previous)
        caplog.clear()
        with caplog.at_level(logging.WARNING, logger="seeds_dag.checkpoints"):
            result = training_run.run(str(root), config=CONFIG)
        assert result.resumed_from_step == 0
        [warning] = warnings_of_recovery(caplog)
        assert warning.count("is damaged") == damaged
        assert warning.endswith("no whole previous checkpoint: training starts from scratch")
        assert_ends_as_undisturbed(result, tmp_path)
    assert len(damaged_objects(root)) == 1 + 2


def test_a_flipped_byte_in_the_weights_is_damage_not_another_weight():
    """torch.load does not check the CRC-32s of torch.save's zip archive: without our check, the
    flipped byte would load as another weight."""
    weights = torch.arange(1000, dtype=torch.float32)
    data = bytearray(checkpoint_to_bytes({"format": "any", "weights": weights}))
    data[bytes(data).index(weights.numpy().tobytes()[2000:2016])] ^= 0xFF
    assert not torch.equal(torch.load(io.BytesIO(data), weights_only=True)["weights"], weights)
    with pytest.raises(CheckpointDamagedError, match=r"run\.pt is damaged: .*fails its CRC-32"):
        checkpoint_from_bytes(bytes(data), "cpu", "run.pt")


@pytest.mark.filterwarnings("ignore:Detected pickle protocol")
def test_whole_bytes_that_are_not_tensors_are_refused_not_recovered_from():
    """A pickle of something else is no damage: torch refuses it and a person should look."""
    with pytest.raises(CheckpointError, match="weights_only=True") as raised:
        checkpoint_from_bytes(pickle.dumps(Path("elsewhere")), "cpu")
    assert not isinstance(raised.value, CheckpointDamagedError)
