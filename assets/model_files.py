"""The committed model files of the training assets, as the assets that sample read them: the
emulator's and the post-processor's `model.pt` (or the post-processor's frame, `frame.npz`),
refused by name when they do not fit the forecast or the emulation settings. The training assets
(`assets/training.py`) write them and the ensembles asset (`assets/ensembles.py`) reads them; a
module of its own so that a reader of a model does not import the training assets.
"""

import numpy as np
import torch

from seeds_dag.post_processing import PostProcessingFrame
from seeds_dag.store import ArtifactStore
from seeds_dag.trained_models import load_frame, load_generator

EMULATOR = "trained_emulator"
POST_PROCESSOR = "post_processor"
CHECKPOINT = "checkpoint.pt"
"""A training run's checkpoint, in the asset's storage only while it trains."""
MODEL = "model.pt"
"""A trained generator: the run's final checkpoint (`seeds_dag.model_file`)."""
FRAME = "frame.npz"
"""The post-processor's frame (`seeds_dag.post_processing`), when its method is "frame"."""


def load_model(store: ArtifactStore, asset: str, lat: np.ndarray, lon: np.ndarray, lead_days: np.ndarray,
               seed_count: int, device: torch.device) -> tuple[torch.nn.Module, str]:
    """A committed generator (EMA weights) of `asset` (EMULATOR or POST_PROCESSOR), refused unless
    it generates trajectories at `lead_days` from `seed_count` (K) seed members, and the version of
    its file (`model_version`, the asset's data version); `trained_models.load_generator`. The
    sampling step calls it before it samples: the first point at which the model meets the
    forecast and the emulation config."""
    return load_generator(store.read_bytes(asset, MODEL), f"{store.location(asset)}/{MODEL}", lat, lon,
                          lead_days, seed_count, device)


def load_post_processor(store: ArtifactStore, emulator: torch.nn.Module, emulator_version: str,
                        lat: np.ndarray, lon: np.ndarray, lead_days: np.ndarray, seed_count: int,
                        device: torch.device) -> tuple[torch.nn.Module, str, PostProcessingFrame | None]:
    """The committed post-processor as (network, version, frame): with method "frame" the emulator's
    network and the frame (refused unless it was fitted to this emulator and `seed_count` seeds,
    `trained_models.load_frame`), its version that of the frame file; with method "generator" its
    own network (`load_model`) and no frame."""
    if not store.exists_bytes(POST_PROCESSOR, FRAME):
        model, version = load_model(store, POST_PROCESSOR, lat, lon, lead_days, seed_count, device)
        return model, version, None
    return load_frame(store.read_bytes(POST_PROCESSOR, FRAME), f"{store.location(POST_PROCESSOR)}/{FRAME}",
                      emulator, emulator_version, EMULATOR, seed_count, f"rematerialise {POST_PROCESSOR}")
