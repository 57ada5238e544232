"""The trained models sampling uses, rebuilt from the bytes of their files and refused by name when
they do not fit the forecast or the emulation settings: a generator's `model.pt` (the emulator's,
or the post-processor's own) and the post-processor's frame `frame.npz` (the frame around the
emulator, `seeds_dag.post_processing`). The ensembles asset reads the files from the store
(`assets/model_files.py`), `seeds-dag emulate` from the paths a user gives; both load them here,
so both refuse the same files with the same words.
"""

from collections.abc import Sequence

import numpy as np
import torch

from seeds_dag.model_file import model_from_checkpoint, model_version
from seeds_dag.post_processing import FrameError, PostProcessingFrame


def load_generator(model_file: bytes, where: str, lat: np.ndarray, lon: np.ndarray,
                   lead_days: Sequence[float], seed_count: int,
                   device: torch.device | str) -> tuple[torch.nn.Module, str]:
    """The generator (EMA weights) in `model_file` (read with torch.load(weights_only=True)),
    refused unless it generates trajectories on the (lat, lon) grid at `lead_days` from
    `seed_count` (K) seed members, and the version of the file (`model_version`). `where` names
    the file in the refusal."""
    try:
        model = model_from_checkpoint(model_file, lat, lon, device, lead_days, seed_count)
    except ValueError as refused:
        refused.add_note(f"the model file: {where}")
        raise
    return model, model_version(model_file)


def load_frame(frame_file: bytes, where: str, emulator: torch.nn.Module, emulator_version: str,
               emulator_where: str, seed_count: int,
               refit: str) -> tuple[torch.nn.Module, str, PostProcessingFrame]:
    """The post-processor made of the emulator and the frame in `frame_file`, as (network,
    version of the frame file, frame): refused unless the frame was fitted to the members of this
    emulator (`emulator_version`, its file named by `emulator_where`) and for `seed_count` seeds.
    `refit` says what makes a frame that fits (the refusal ends with it)."""
    frame = PostProcessingFrame.from_bytes(frame_file, where)
    if frame.emulator_version != emulator_version:
        raise FrameError(f"{where} was fitted to the members of emulator version {frame.emulator_version}, "
                         f"{emulator_where} is now {emulator_version}: {refit}")
    if frame.seed_count != seed_count:
        raise FrameError(f"{where} was fitted for K = {frame.seed_count} seeds, the emulation asks for "
                         f"{seed_count}: {refit} with seed_counts [{seed_count}]")
    return emulator, model_version(frame_file), frame
