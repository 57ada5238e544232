"""Data-parallel training on one machine: N processes joined in a torch.distributed process group,
gradients averaged across them by DistributedDataParallel (DDP).

`launch` starts the processes with torch.multiprocessing's "spawn" (CUDA cannot be initialised in
a forked child), joins them in a process group on a free 127.0.0.1 port (gloo on the CPU; NCCL on
CUDA, one GPU per process: rank r uses cuda:r) and runs `fn(rank=r, world_size=N, device=…,
on_log=…, **kwargs)` in each. Rank 0's `on_log` calls reach the caller's `on_log` while the run
goes on, and rank 0's return value is returned. An exception raised by any rank is raised in the
caller as itself (a `StaleCheckpointError` stays one), with the rank named in a note; a rank that
dies without one (killed, out of memory) raises torch's `ProcessExitedException` naming it. Either
way it is the cause that is raised, not the errors the other ranks then meet in their collectives
(reported as notes). The other ranks are stopped, and so are all of them if the caller is
interrupted.
"""

from __future__ import annotations

import pickle
import signal
import socket
from collections.abc import Callable
from typing import Any

import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from torch.multiprocessing.spawn import ProcessContext, ProcessException, ProcessExitedException
from torch.nn.parallel import DistributedDataParallel

POLL_SECONDS = 0.2
"""How often the caller forwards rank 0's log calls while waiting for the processes."""


def free_port() -> int:
    """A TCP port on 127.0.0.1 that is free now (the OS picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


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
    """Run `fn` in `world_size` spawned processes joined in a process group; return rank 0's result.

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
    processes = mp.start_processes(
        _run_rank, args=(fn, world_size, free_port(), device_type, threads, kwargs, messages),
        nprocs=world_size, join=False, start_method="spawn",
    )
    outcome: dict[str, Any] = {"errors": {}}

    def forward_messages() -> None:
        while not messages.empty():
            kind, *payload = messages.get()
            if kind == "log" and on_log is not None:
                on_log(*payload)
            elif kind == "error":
                rank, error = payload
                outcome["errors"][rank] = error  # in the order they were raised
            elif kind == "result":
                outcome["result"] = payload[0]

    try:
        while not processes.join(timeout=POLL_SECONDS):
            forward_messages()
    except ProcessException as crash:
        forward_messages()
        raise _cause(crash, processes, outcome["errors"]) from crash
    finally:
        for process in processes.processes:
            if process.is_alive():
                process.terminate()
                process.join()
    forward_messages()
    return outcome["result"]


def _cause(crash: ProcessException, processes: ProcessContext,
           errors: dict[int, Exception]) -> Exception:
    """What made the run fail, once torch has stopped every process: a rank that died without
    reporting an exception (killed, out of memory: the others' errors follow from it), else the
    exception raised first. The other ranks' exceptions become notes."""
    world_size = len(processes.processes)
    died = [
        rank for rank, process in enumerate(processes.processes)
        if process.exitcode != 0 and rank not in errors
        # torch's join sends SIGTERM to the ranks still running after the first failure
        and (rank == crash.error_index or process.exitcode != -signal.SIGTERM)
    ]
    if died:
        rank, process = died[0], processes.processes[died[0]]
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
        return crash
    for other, error in errors.items():
        if error is not cause:
            cause.add_note(f"then training process {other} raised {type(error).__name__}: {error}")
    return cause


def _run_rank(rank: int, fn: Callable[..., Any], world_size: int, port: int, device_type: str,
              threads: int, kwargs: dict[str, Any], messages: Any) -> None:
    """One process: join the group, run fn, report its result (rank 0) or its exception."""
    torch.set_num_threads(threads)
    device = rank_device(device_type, rank)
    if device.type == "cuda":
        torch.cuda.set_device(device)
    dist.init_process_group(backend(device_type), init_method=f"tcp://127.0.0.1:{port}",
                            rank=rank, world_size=world_size)
    try:
        def on_log(*args: Any) -> None:
            messages.put(("log", *args))

        result = fn(rank=rank, world_size=world_size, device=device,
                    on_log=on_log if rank == 0 else None, **kwargs)
        if rank == 0:
            messages.put(("result", result))
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
