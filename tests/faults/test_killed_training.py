"""Fault: a training run killed with SIGKILL (no cleanup, no exception handler runs) between and
during its checkpoint writes. Nothing is lost: the last checkpoint reads whole and the rerun
resumes from it and completes."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import training_run

from seeds_dag.checkpoints import checkpoint_from_bytes
from seeds_dag.training import model_from_checkpoint

KILL_AT_STEP = 10
"""Kill once the stored checkpoint has reached this step (one is written every step)."""
DEADLINE_SECONDS = 120


def test_a_killed_training_run_resumes_from_its_last_checkpoint(tmp_path):
    root = tmp_path / "store"
    checkpoint = training_run.checkpoint(str(root))
    with open(tmp_path / "stderr.txt", "wb") as stderr:
        process = subprocess.Popen([sys.executable, training_run.__file__, str(root)],
                                   stdout=subprocess.DEVNULL, stderr=stderr)
    try:
        deadline, step = time.monotonic() + DEADLINE_SECONDS, 0
        while step < KILL_AT_STEP:
            assert process.poll() is None, (tmp_path / "stderr.txt").read_text()
            assert time.monotonic() < deadline, "no checkpoint in time"
            stored = checkpoint.load()
            # Read while the run replaces it: always a whole checkpoint, never a torn one.
            step = checkpoint_from_bytes(stored, "cpu")["step"] if stored is not None else 0
            time.sleep(0.01)
        os.kill(process.pid, signal.SIGKILL)
    finally:
        process.kill()
        process.wait(timeout=30)
    assert process.returncode == -signal.SIGKILL

    state = checkpoint_from_bytes(checkpoint.load(), "cpu")
    killed_at = state["step"]
    assert KILL_AT_STEP <= killed_at < training_run.CONFIG.steps
    model_from_checkpoint(checkpoint.load(), training_run.LAT, training_run.LON, "cpu")

    result = training_run.run(str(root))
    assert result.resumed_from_step == killed_at > 0
    assert result.steps_done == len(result.losses) == training_run.CONFIG.steps
    assert result.losses[:killed_at] == [(int(s), float(loss)) for s, loss in state["losses"]]
    assert checkpoint_from_bytes(checkpoint.load(), "cpu")["step"] == training_run.CONFIG.steps
    # A write cut short leaves at most a hidden temporary file, which no reader takes for data.
    directory = Path(root, training_run.ASSET, "_all")
    assert {p.name for p in directory.iterdir() if not p.name.startswith(".")} == {training_run.CHECKPOINT}
