"""The data-parallel launcher when a process fails: a rank's exception is raised as itself, a
killed rank is reported as the cause, the world is checked first. (Two processes training, their
logs and result: tests/test_training.py.)"""

import os
import signal

import pytest
import torch
import torch.distributed as dist
from torch.multiprocessing import ProcessExitedException

from seeds_dag import distributed


class ProbeError(ValueError):
    """An error of one rank, to be raised in the caller as itself."""


def fail_on_rank_1(rank, world_size, device, on_log, how):
    """Rank 1 raises or dies while rank 0 waits for it in a collective."""
    if rank == 1:
        if how == "kill":
            os.kill(os.getpid(), signal.SIGKILL)
        raise ProbeError("partition '2000-01-02' is bad")
    dist.barrier()


def test_an_exception_of_a_rank_is_raised_as_itself():
    with pytest.raises(ProbeError, match="partition '2000-01-02' is bad") as raised:
        distributed.launch(fail_on_rank_1, 2, "cpu", threads=1, how="raise")
    assert raised.value.__notes__[0] == "raised in training process 1 of 2"


def test_a_killed_rank_is_reported():
    with pytest.raises(ProcessExitedException,
                       match="training process 1 of 2 terminated with signal SIGKILL") as raised:
        distributed.launch(fail_on_rank_1, 2, "cpu", threads=1, how="kill")
    # Rank 0's error in the barrier (when it got to raise one before being stopped) is a note.
    assert all(note.startswith("then training process 0 raised") for note in
               getattr(raised.value, "__notes__", []))


def test_world_is_checked_before_anything_starts():
    with pytest.raises(ValueError, match="at least 2 processes"):
        distributed.launch(fail_on_rank_1, 1, "cpu", how="raise")
    with pytest.raises(ValueError, match="no torch.distributed process group"):
        distributed.check_rank(1, 2)
    distributed.check_rank(0, 1)
    if torch.cuda.device_count() < 2:
        with pytest.raises(ValueError, match="2 training processes need 2 GPUs"):
            distributed.check_world(2, "cuda")
