"""Data-parallel training on one machine: N processes joined in a torch.distributed process group,
gradients averaged across them by DistributedDataParallel (DDP).

`launch` starts the processes with torch's elastic agent (`torch.distributed.launcher`, the
machinery of `torchrun --standalone`): "spawn" processes (CUDA cannot be initialised in a forked
child), a c10d rendezvous whose store binds a port itself (no port is picked free beforehand, so
none can be taken in between), the group joined through that store (gloo on the CPU; NCCL on
CUDA, one GPU per process: rank r uses cuda:r). It runs `fn(rank=r, world_size=N, device=…,
on_log=…, **kwargs)` in each. Rank 0's `on_log` calls reach the caller's `on_log` while the run
goes on, and rank 0's return value is returned. An exception raised by any rank is raised in the
caller as itself (a `StaleCheckpointError` stays one), with the rank named in a note; a rank that
dies without one (killed, out of memory) raises torch's `ProcessExitedException` naming it. Either
way it is the cause that is raised, not the errors the other ranks then meet in their collectives
(reported as notes). The agent does not restart failed ranks (`max_restarts=0`): the training
resumes from its last checkpoint when the step is run again. The other ranks are stopped, all of
them are if the caller is interrupted, and they die with the caller if it is killed.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import logging
import os
import pickle
import signal
import sys
import threading
import uuid
from collections.abc import Callable
from typing import Any

import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from torch.distributed.elastic.multiprocessing.errors import ChildFailedError
from torch.distributed.launcher.api import LaunchConfig, elastic_launch
from torch.multiprocessing.spawn import ProcessExitedException
from torch.nn.parallel import DistributedDataParallel

POLL_SECONDS = 0.2
"""How often the caller forwards rank 0's log calls while waiting for the processes."""
# A rendezvous on a port the agent's store binds itself (port 0): nothing can take it between
# choosing and binding, as it could a port picked free beforehand (torchrun --standalone does
# the same).
RENDEZVOUS_ENDPOINT = "127.0.0.1:0"
STOP_SECONDS = 30
"""How long stopped processes get to exit after SIGTERM before they are killed."""
_PR_SET_PDEATHSIG = 1  # linux/prctl.h


def backend(device_type: str) -> str:
    """NCCL between GPUs, gloo between CPU processes."""
    return "nccl" if device_type == "cuda" else "gloo"


def rank_device(device_type: str, rank: int) -> torch.device:
    """The device of one rank: its own GPU on CUDA, the CPU otherwise."""
    return torch.device("cuda", rank) if device_type == "cuda" else torch.device("cpu")


def is_distributed() -> bool:
    return dist.is_available() and dist.is_initialized()


def data_parallel(model: torch.nn.Module, device: torch.device) -> DistributedDataParallel:
    """`model` (already on `device`) wrapped for gradient averaging over the process group.
    DDP broadcasts rank 0's parameters and buffers at construction, so every rank starts equal."""
    return DistributedDataParallel(model, device_ids=[device.index] if device.type == "cuda" else None)


def mean_over_ranks(value: torch.Tensor) -> torch.Tensor:
    """The mean of a (detached) tensor over the ranks of the process group."""
    total = value.detach().clone()
    dist.all_reduce(total, op=dist.ReduceOp.SUM)
    return total / dist.get_world_size()


def check_rank(rank: int, world_size: int) -> None:
    """Raise ValueError unless this process is `rank` of `world_size` (rank 0 of 1 needs no group)."""
    if (rank, world_size) == (0, 1):
        return
    if not is_distributed():
        raise ValueError(f"rank {rank} of {world_size}: no torch.distributed process group is initialised")
    if (rank, world_size) != (dist.get_rank(), dist.get_world_size()):
        raise ValueError(f"rank {rank} of {world_size} given, but this process is rank "
                         f"{dist.get_rank()} of {dist.get_world_size()} of its process group")


def check_world(world_size: int, device_type: str) -> None:
    """Raise ValueError unless `world_size` processes can run on `device_type` here."""
    if world_size < 2:
        raise ValueError(f"data-parallel training needs at least 2 processes, got {world_size}")
    if device_type == "cuda" and torch.cuda.device_count() < world_size:
        raise ValueError(
            f"{world_size} training processes need {world_size} GPUs (one each); "
            f"torch sees {torch.cuda.device_count()}"
        )
    if not dist.is_available() or not (dist.is_nccl_available() if device_type == "cuda"
                                       else dist.is_gloo_available()):
        raise ValueError(f"this torch build has no {backend(device_type)} backend for torch.distributed")


def launch(
    fn: Callable[..., Any],
    world_size: int,
    device_type: str,
    *,
    threads: int = 0,
    on_log: Callable[..., None] | None = None,
    **kwargs: Any,
) -> Any:
    """Run `fn` in `world_size` processes started by torch's elastic agent; return rank 0's result.

    fn: a module-level function (it is pickled to the children), called as
        fn(rank=r, world_size=world_size, device=rank_device(device_type, r), on_log=…, **kwargs);
        on_log is a forwarder to the caller's `on_log` on rank 0 and None on the other ranks.
    threads: torch CPU threads per process (0: the machine's cores shared out among the processes).
    kwargs: must be picklable; each process gets its own copy (tensors in shared memory stay shared).
    """
    check_world(world_size, device_type)
    if threads <= 0:
        threads = max(1, torch.get_num_threads() // world_size)
    messages = mp.get_context("spawn").SimpleQueue()
    outcome: dict[str, Any] = {"errors": {}, "pids": {}}
    config = LaunchConfig(
        min_nodes=1, max_nodes=1, nproc_per_node=world_size, run_id=f"seeds-dag-{uuid.uuid4().hex}",
        rdzv_backend="c10d", rdzv_endpoint=RENDEZVOUS_ENDPOINT, local_addr="127.0.0.1",
        # A failed rank fails the training: the caller resumes from the last checkpoint.
        max_restarts=0, monitor_interval=POLL_SECONDS, start_method="spawn",
        shutdown_timeout=STOP_SECONDS)
    # The agent runs in a thread of its own so that this one forwards rank 0's log calls as they
    # come (the caller's logger, e.g. Dagster's, is called from the caller's thread only).
    agent = threading.Thread(target=_run_agent, name="seeds-dag-ddp-agent", daemon=True,
                             args=(config, (fn, world_size, device_type, threads, kwargs, messages,
                                            os.getpid()), outcome))

    def forward_messages() -> None:
        while not messages.empty():
            kind, *payload = messages.get()
            if kind == "log" and on_log is not None:
                on_log(*payload)
            elif kind == "error":
                rank, error = payload
                outcome["errors"][rank] = error  # in the order they were raised
            elif kind == "pid":
                rank, pid = payload
                outcome["pids"][rank] = pid

    with _elastic_logs_quiet():
        agent.start()
        try:
            while agent.is_alive():
                agent.join(timeout=POLL_SECONDS)
                forward_messages()
        except BaseException:
            # The caller is interrupted: stop every rank; the agent then ends the launch.
            _stop(outcome["pids"].values())
            agent.join(timeout=2 * STOP_SECONDS)
            raise
    forward_messages()
    if "failure" in outcome:
        raise _cause(outcome["failure"], world_size, outcome["errors"]) from outcome["failure"]
    return outcome["result"]


def _run_agent(config: LaunchConfig, args: tuple, outcome: dict[str, Any]) -> None:
    """The elastic agent's launch of `_run_rank` in every process, its outcome kept in `outcome`."""
    try:
        outcome["result"] = elastic_launch(config, _run_rank)(*args)[0]
    except BaseException as failure:  # ChildFailedError, or a failed rendezvous
        outcome["failure"] = failure


@contextlib.contextmanager
def _elastic_logs_quiet():
    """The agent's INFO lines (rendezvous, worker groups) and its warning that it cannot install
    signal handlers from a thread (the caller stops the ranks itself) are left out."""
    loggers = [logging.getLogger(name) for name in ("torch.distributed.elastic",
                                                    "torch.distributed.launcher")]
    levels = [logger.level for logger in loggers]
    for logger in loggers:
        logger.setLevel(logging.ERROR)
    try:
        yield
    finally:
        for logger, level in zip(loggers, levels):
            logger.setLevel(level)


def _stop(pids) -> None:
    """SIGTERM to each process still there."""
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)


def _cause(failure: BaseException, world_size: int, errors: dict[int, Exception]) -> BaseException:
    """What made the run fail: a rank that died without reporting an exception (killed, out of
    memory: the others' errors follow from it), else the exception raised first. The other ranks'
    exceptions become notes."""
    died = []
    if isinstance(failure, ChildFailedError):
        # The agent stops the ranks still running after the first failure with SIGTERM.
        died = [(rank, process) for rank, process in sorted(failure.failures.items())
                if rank not in errors and process.exitcode != -signal.SIGTERM]
    if died:
        rank, process = died[0]
        how = (f"signal {signal.Signals(-process.exitcode).name}" if process.exitcode < 0
               else f"exit code {process.exitcode}")
        cause = ProcessExitedException(
            f"training process {rank} of {world_size} terminated with {how} without raising an exception",
            error_index=rank, error_pid=process.pid, exit_code=process.exitcode,
            signal_name=signal.Signals(-process.exitcode).name if process.exitcode < 0 else None,
        )
    elif errors:
        rank, cause = next(iter(errors.items()))
        cause.add_note(f"raised in training process {rank} of {world_size}")
    else:
        return failure
    for other, error in errors.items():
        if error is not cause:
            cause.add_note(f"then training process {other} raised {type(error).__name__}: {error}")
    return cause


def _die_with(launcher_pid: int) -> None:
    """Make this process die when its launcher does. Killed with SIGKILL (the OOM killer, a
    Kubernetes eviction), the launcher cannot stop the ranks, and orphaned ranks would train on
    and write checkpoints beside the run that resumes. Linux only (prctl PR_SET_PDEATHSIG; the
    signal comes when the launcher's thread that started this process ends, which is after the
    ranks have ended unless the launcher dies)."""
    if sys.platform != "linux":
        return
    libc = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)
    if libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL) != 0:
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_PDEATHSIG) failed")
    if os.getppid() != launcher_pid:  # it died before the call above
        os._exit(1)


def _run_rank(fn: Callable[..., Any], world_size: int, device_type: str, threads: int,
              kwargs: dict[str, Any], messages: Any, launcher_pid: int) -> Any:
    """One process, started by the elastic agent (which puts RANK and the address of the group's
    store in its environment): join the group, run fn, return its result or report its exception."""
    _die_with(launcher_pid)
    rank = int(os.environ["RANK"])
    messages.put(("pid", rank, os.getpid()))
    torch.set_num_threads(threads)
    device = rank_device(device_type, rank)
    if device.type == "cuda":
        torch.cuda.set_device(device)
    dist.init_process_group(backend(device_type), rank=rank, world_size=world_size)
    try:
        def on_log(*args: Any) -> None:
            messages.put(("log", *args))

        return fn(rank=rank, world_size=world_size, device=device,
                  on_log=on_log if rank == 0 else None, **kwargs)
    except Exception as error:
        messages.put(("error", rank, _picklable(error)))
        raise
    finally:
        dist.destroy_process_group()


def _picklable(error: Exception) -> Exception:
    """`error` itself if it survives pickling, else a RuntimeError with its type and message."""
    try:
        pickle.loads(pickle.dumps(error))
    except (pickle.PickleError, TypeError, AttributeError):  # e.g. an __init__ pickle cannot call
        return RuntimeError(f"{type(error).__name__}: {error}")
    return error
