"""Fault: a training run killed with SIGKILL (no cleanup, no exception handler runs) in the middle
of a checkpoint write, made to happen there by a hook rather than by luck. Nothing is lost: the
last whole checkpoint reads back, the rerun resumes from it and ends exactly where an
uninterrupted run ends, and what the killed write left behind is removed with the checkpoint."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import torch
import training_run

from seeds_dag.checkpoints import checkpoint_from_bytes
from seeds_dag.store import ArtifactStore
from seeds_dag.training import model_from_checkpoint

KILL_IN_WRITE_OF_STEP = 10
DEADLINE_SECONDS = 120


def test_a_run_killed_inside_a_checkpoint_write_resumes_as_if_never_interrupted(tmp_path):
    root, marker = tmp_path / "store", tmp_path / "inside-the-write"
    checkpoint = training_run.checkpoint(str(root))
    with open(tmp_path / "stderr.txt", "wb") as stderr:
        process = subprocess.Popen([sys.executable, training_run.__file__, str(root),
                                    str(KILL_IN_WRITE_OF_STEP), str(marker)],
                                   stdout=subprocess.DEVNULL, stderr=stderr)
    try:
        deadline = time.monotonic() + DEADLINE_SECONDS
        while not marker.exists():
            assert process.poll() is None, (tmp_path / "stderr.txt").read_text()
            assert time.monotonic() < deadline, "the run did not reach the write in time"
            time.sleep(0.01)
        os.kill(process.pid, signal.SIGKILL)
    finally:
        process.kill()
        process.wait(timeout=30)
    assert process.returncode == -signal.SIGKILL

    directory = Path(root, training_run.ASSET, "_all")
    leftovers = [p.name for p in directory.iterdir() if p.name != training_run.CHECKPOINT]
    assert len(leftovers) == 1 and leftovers[0].startswith(f".{training_run.CHECKPOINT}.tmp-")
    # The write of step 10 was cut short: the checkpoint in place is step 9's, whole.
    state = checkpoint_from_bytes(checkpoint.load(), "cpu")
    assert state["step"] == KILL_IN_WRITE_OF_STEP - 1
    model_from_checkpoint(checkpoint.load(), training_run.LAT, training_run.LON, "cpu")

    resumed = training_run.run(str(root))
    uninterrupted = training_run.run(str(tmp_path / "uninterrupted"))
    assert resumed.resumed_from_step == KILL_IN_WRITE_OF_STEP - 1
    assert resumed.steps_done == uninterrupted.steps_done == training_run.CONFIG.steps
    assert resumed.losses == uninterrupted.losses
    for (name, ours), (_, theirs) in zip(resumed.model.state_dict().items(),
                                         uninterrupted.model.state_dict().items()):
        assert torch.equal(ours, theirs), name

    # Removing the finished run's checkpoint (as the training assets do) removes what the killed
    # write left behind too: nothing, hidden or not, stays.
    ArtifactStore(str(root)).delete_bytes(training_run.ASSET, training_run.CHECKPOINT)
    assert list(directory.iterdir()) == []
