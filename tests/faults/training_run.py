"""A small training run with its checkpoint in the artifact store, as the trained_emulator asset
keeps it. test_killed_training starts it as its own process to kill it with SIGKILL, then runs it
again in the test's process to resume it:

    python training_run.py ROOT                        train
    python training_run.py ROOT STEP MARKER            train, and stop inside the write of the
                                                       checkpoint of step STEP: its bytes are in
                                                       the temporary file, not yet renamed into
                                                       place; MARKER is created to say so
"""

import itertools
import os
import sys
import time
from pathlib import Path

import numpy as np
import torch

from seeds_dag.checkpoints import StoreCheckpointIO
from seeds_dag.conventions import regular_latitudes, regular_longitudes
from seeds_dag.generators.kinds import CRPSConfig
from seeds_dag.networks.unet import DenoiserConfig
from seeds_dag.seed_anomalies import member_spread
from seeds_dag.store import ArtifactStore
from seeds_dag.training import TrainingConfig, TrainingResult, train_generator

LAT, LON = regular_latitudes(8), regular_longitudes(16)
LEAD_DAYS = np.array([1.0, 2.0])
DENOISER = DenoiserConfig(channels=(8, 16), embed_dim=16, num_variables=2, num_leads=len(LEAD_DAYS),
                          attention_at_bottom=False, noise_dim=8)
# A checkpoint every step: a kill at any moment is likely to land in the middle of a write.
CONFIG = TrainingConfig(steps=100, batch_size=4, learning_rate=5e-3, warmup_steps=10, checkpoint_every=1)
ASSET, CHECKPOINT = "trained_emulator", "checkpoint.pt"


def checkpoint(root: str) -> StoreCheckpointIO:
    return StoreCheckpointIO(ArtifactStore(root), ASSET, CHECKPOINT)


def data() -> np.ndarray:
    """(init, lead, member, V, H, W) normalised: members of one forecast share most of a field."""
    rng = np.random.default_rng(0)
    shape = (3, len(LEAD_DAYS), 4, DENOISER.num_variables, len(LAT), len(LON))
    forecast = rng.standard_normal((*shape[:2], 1, *shape[3:]))
    return (forecast + 0.3 * rng.standard_normal(shape)).astype(np.float32)


def run(root: str) -> TrainingResult:
    torch.set_num_threads(1)
    members = data()
    return train_generator(members, LEAD_DAYS, member_spread(members), LAT, LON, DENOISER, CRPSConfig(), CONFIG,
                           checkpoint(root), torch.device("cpu"))


def stop_inside_checkpoint_write(step: int, marker: str) -> None:
    """Make the local store's write of the `step`-th checkpoint (one is written every step) hang
    after its data is flushed and before the rename that would put it in place."""
    import seeds_dag.store.artifacts as artifacts

    writes, fsync = itertools.count(1), os.fsync

    def hanging_fsync(descriptor: int) -> None:
        fsync(descriptor)
        if next(writes) == step:
            Path(marker).touch()
            time.sleep(3600)

    artifacts.os.fsync = hanging_fsync


if __name__ == "__main__":
    if len(sys.argv) == 4:
        stop_inside_checkpoint_write(int(sys.argv[2]), sys.argv[3])
    run(sys.argv[1])
