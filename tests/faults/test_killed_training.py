"""Fault: a training run killed with SIGKILL (no cleanup, no exception handler runs) in the middle
of a checkpoint write, made to happen there by a hook rather than by luck. Nothing is lost: the
last whole checkpoint reads back, the rerun resumes from it and ends exactly where an
uninterrupted run ends, and what the killed write left behind is removed with the checkpoint.
The same for data-parallel training in 2 processes started by torch's elastic agent: killing the
launcher kills its ranks too, so no orphaned rank trains on beside the resumed run."""

import dataclasses
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
from seeds_dag.model_file import model_from_checkpoint

KILL_IN_WRITE_OF_STEP = 10
DEADLINE_SECONDS = 120
# Data-parallel: fewer steps (each writes a checkpoint), the kill again inside step 10's write.
PARALLEL = dataclasses.replace(training_run.CONFIG, steps=12)


def kill_inside_checkpoint_write(tmp_path: Path, root: Path, processes: int) -> list[int]:
    """Start training_run in its own process (training in `processes` processes), wait until the
    checkpoint of step KILL_IN_WRITE_OF_STEP is inside its write, SIGKILL the launcher; the pids
    of every process that ran the training."""
    marker = tmp_path / "inside-the-write"
    env = {**os.environ, training_run.PROCESSES_ENV_VAR: str(processes)}
    with open(tmp_path / "stderr.txt", "wb") as stderr:
        process = subprocess.Popen([sys.executable, training_run.__file__, str(root),
                                    str(KILL_IN_WRITE_OF_STEP), str(marker)],
                                   stdout=subprocess.DEVNULL, stderr=stderr, env=env)
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
    return sorted(int(p.name) for p in Path(f"{marker}.pids").iterdir())


def assert_resumes_as_if_never_interrupted(tmp_path: Path, root: Path, processes: int,
                                           config=training_run.CONFIG) -> None:
    checkpoint = training_run.checkpoint(str(root))
    directory = Path(root, training_run.ASSET, "_all")
    leftovers = sorted(p.name for p in directory.iterdir() if p.name != training_run.CHECKPOINT)
    assert len(leftovers) == 2 and leftovers[0].startswith(f".{training_run.CHECKPOINT}.tmp-")
    # The write of step 10 was cut short: the checkpoint in place is step 9's, whole, and the one
    # kept to fall back on (written before it) already step 9's too.
    state = checkpoint_from_bytes(checkpoint.load(), "cpu")
    assert state["step"] == KILL_IN_WRITE_OF_STEP - 1
    assert leftovers[1] == f"{training_run.CHECKPOINT}.previous"
    assert checkpoint.load("previous") == checkpoint.load()
    model_from_checkpoint(checkpoint.load(), training_run.LAT, training_run.LON, "cpu")

    resumed = training_run.run(str(root), processes, config)
    uninterrupted = training_run.run(str(tmp_path / "uninterrupted"), processes, config)
    assert resumed.resumed_from_step == KILL_IN_WRITE_OF_STEP - 1
    assert resumed.steps_done == uninterrupted.steps_done == config.steps
    assert resumed.losses == uninterrupted.losses
    for (name, ours), (_, theirs) in zip(resumed.model.state_dict().items(),
                                         uninterrupted.model.state_dict().items()):
        assert torch.equal(ours, theirs), name

    # A finished run keeps no previous checkpoint, and removing its checkpoint (as the training
    # assets do) removes what the killed write left behind too: nothing, hidden or not, stays.
    ArtifactStore(str(root)).delete_bytes(training_run.ASSET, training_run.CHECKPOINT)
    assert list(directory.iterdir()) == []


def test_a_run_killed_inside_a_checkpoint_write_resumes_as_if_never_interrupted(tmp_path):
    root = tmp_path / "store"
    assert kill_inside_checkpoint_write(tmp_path, root, processes=1)
    assert_resumes_as_if_never_interrupted(tmp_path, root, processes=1)


def test_a_killed_data_parallel_run_leaves_no_rank_behind_and_resumes_exactly(tmp_path):
    """2 gloo processes under torch's elastic agent; rank 0 (the checkpoint writer) hangs inside
    a write when its launcher is killed. Both ranks die with it, and a 2-process rerun resumes
    from the last whole checkpoint and ends where an uninterrupted 2-process run ends."""
    root = tmp_path / "store"
    ranks = kill_inside_checkpoint_write(tmp_path, root, processes=2)
    assert len(ranks) == 2, f"pids of the ranks: {ranks}"
    deadline = time.monotonic() + 10
    while (alive := [pid for pid in ranks if _running(pid)]) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not alive, f"ranks {alive} outlived their launcher"
    assert_resumes_as_if_never_interrupted(tmp_path, root, processes=2, config=PARALLEL)


def _running(pid: int) -> bool:
    """Whether `pid` is a live process (not gone, not a zombie waiting to be reaped)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return False
    return state != "Z"
