"""A small training run with its checkpoint in the artifact store, as the trained_emulator asset
keeps it. test_killed_training starts it as its own process to kill it with SIGKILL, then runs it
again in the test's process to resume it:

    python training_run.py ROOT                        train
    python training_run.py ROOT STEP MARKER            train, and stop inside the write of the
                                                       checkpoint of step STEP: its bytes are in
                                                       the temporary file, not yet renamed into
                                                       place; MARKER is created to say so

With $TRAINING_RUN_PROCESSES=2 it trains data-parallel (DDP, gloo) in 2 processes started by torch's
elastic agent. The hook then acts in rank 0, which writes the checkpoints: the ranks import this
file as their main module, so the hook is armed by $TRAINING_RUN_STOP (STEP:MARKER) there, and
every process that imports it records its pid in MARKER.pids/.
"""

import itertools
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

from seeds_dag.checkpoints import StoreCheckpointIO
from seeds_dag.conventions import regular_latitudes, regular_longitudes
from seeds_dag.generators.kinds import CRPSConfig
from seeds_dag.networks.unet import DenoiserConfig
from seeds_dag.seed_anomalies import member_spread
from seeds_dag.store import ArtifactStore
from seeds_dag.training import (TrainingConfig, TrainingResult, train_data_parallel, train_generator,
                                weight_decay_at)

LAT, LON = regular_latitudes(8), regular_longitudes(16)
LEAD_DAYS = np.array([1.0, 2.0])
DENOISER = DenoiserConfig(channels=(8, 16), embed_dim=16, num_variables=2, num_leads=len(LEAD_DAYS),
                          attention_at_bottom=False, noise_dim=8)
# A checkpoint every step: a kill at any moment is likely to land in the middle of a write. The
# default's weight decay a step at this 17× rate, AdamW's state resumed.
CONFIG = TrainingConfig(steps=100, batch_size=4, learning_rate=5e-3, warmup_steps=10, checkpoint_every=1,
                        weight_decay=weight_decay_at(5e-3))
ASSET, CHECKPOINT = "trained_emulator", "checkpoint.pt"
PROCESSES_ENV_VAR, STOP_ENV_VAR = "TRAINING_RUN_PROCESSES", "TRAINING_RUN_STOP"


def checkpoint(root: str) -> StoreCheckpointIO:
    return StoreCheckpointIO(ArtifactStore(root), ASSET, CHECKPOINT)


def data() -> np.ndarray:
    """(init, lead, member, V, H, W) normalised: members of one forecast share most of a field."""
    rng = np.random.default_rng(0)
    shape = (3, len(LEAD_DAYS), 4, DENOISER.num_variables, len(LAT), len(LON))
    forecast = rng.standard_normal((*shape[:2], 1, *shape[3:]))
    return (forecast + 0.3 * rng.standard_normal(shape)).astype(np.float32)


def run(root: str, processes: int = 1, config: TrainingConfig = CONFIG,
        on_log: Callable[[int, float], None] | None = None) -> TrainingResult:
    torch.set_num_threads(1)
    members = data()
    if processes == 1:
        return train_generator(members, LEAD_DAYS, member_spread(members), LAT, LON, DENOISER,
                               CRPSConfig(), config, checkpoint(root), torch.device("cpu"),
                               on_log=on_log)
    return train_data_parallel(processes, data=members, lead_days=LEAD_DAYS, spread=member_spread(members),
                               lat_deg=LAT, lon_deg=LON, denoiser_config=DENOISER, objective=CRPSConfig(),
                               config=config, checkpoint=checkpoint(root), device=torch.device("cpu"),
                               threads=1, on_log=on_log)


def stop_inside_checkpoint_write(step: int, marker: str) -> None:
    """Make the local store's write of the `step`-th checkpoint (one is written every step) hang
    after its data is flushed and before the rename that would put it in place."""
    import seeds_dag.store.artifacts as artifacts

    writes, fsync = itertools.count(1), os.fsync

    def hanging_fsync(descriptor: int) -> None:
        fsync(descriptor)
        # The latest checkpoint's writes only, not those that keep the one it replaces.
        written = Path(os.readlink(f"/proc/self/fd/{descriptor}")).name
        if written.startswith(f".{CHECKPOINT}.tmp-") and next(writes) == step:
            Path(marker).touch()
            time.sleep(3600)

    artifacts.os.fsync = hanging_fsync


def arm_in_this_process(stop: str) -> None:
    """Record this process's pid beside the marker and, in the process that writes checkpoints
    (the only one, or rank 0), arm the hook."""
    step, marker = stop.split(":", 1)
    Path(f"{marker}.pids").mkdir(exist_ok=True)
    Path(f"{marker}.pids", str(os.getpid())).touch()
    if os.environ.get("RANK", "0") == "0":
        stop_inside_checkpoint_write(int(step), marker)


# A rank of a data-parallel run (spawned, it imports this file as __mp_main__).
if __name__ == "__mp_main__" and os.environ.get(STOP_ENV_VAR):
    arm_in_this_process(os.environ[STOP_ENV_VAR])

if __name__ == "__main__":
    processes = int(os.environ.get(PROCESSES_ENV_VAR, "1"))
    if len(sys.argv) == 4:
        os.environ[STOP_ENV_VAR] = f"{sys.argv[2]}:{sys.argv[3]}"  # inherited by the ranks
        if processes == 1:
            arm_in_this_process(os.environ[STOP_ENV_VAR])
    run(sys.argv[1], processes)