"""The model-file contract: what a trained generator's file (a final checkpoint, `model.pt`) says
about the model in it, how the model is rebuilt from its bytes alone, and the file's version.

The training loop (`seeds_dag.training`) writes the file; sampling, the post-processing frame, the
assets and the benchmarks read it. It lives beside the checkpoint format (`seeds_dag.checkpoints`)
rather than in the training loop, so that a reader of a model does not import training. The
configs are stored as plain JSON types (`plain_config`) and rebuilt by `config_from_dict`; the
network is built by `build_seeded_model`, the one builder of training's initial weights and of a
reloaded model.
"""

import dataclasses
import hashlib
import json
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

from seeds_dag.checkpoints import CheckpointError, checkpoint_from_bytes
from seeds_dag.generators.kinds import GENERATORS, OBJECTIVES, Objective, build_model
from seeds_dag.networks.unet import DenoiserConfig

OUTPUT_STRUCTURE_FIELDS = ("output_correlation", "output_spectrum", "output_cross_spectrum", "output_noise",
                           "output_noise_map", "seed_mean_shrinkage")
"""DenoiserConfig's fields that add to the one-pass generator's output layer, each read as off from a
model file written before it existed."""
MODEL_VERSION_CHARS = 16


def model_version(model_file: bytes) -> str:
    """The version of a committed model file: the first hex digits of its SHA-256, so two
    artifacts made by the same weights say so, whatever their path or time."""
    return hashlib.sha256(model_file).hexdigest()[:MODEL_VERSION_CHARS]


def config_from_dict(cls: type, fields: dict[str, Any]) -> Any:
    """Rebuild a frozen config dataclass from its checkpointed dict (lists back to tuples)."""
    try:
        return cls(**{k: tuple(v) if isinstance(v, list) else v for k, v in fields.items()})
    except TypeError as err:
        raise CheckpointError(f"checkpointed {cls.__name__} {fields} does not fit this code: {err}") from err


def plain_config(config: Any) -> dict[str, Any]:
    """A config dataclass as a dict of JSON types (tuples become lists), as stored in checkpoints."""
    return json.loads(json.dumps(dataclasses.asdict(config)))


def build_seeded_model(
    denoiser_config: DenoiserConfig, objective: Objective, lat_deg: np.ndarray, lon_deg: np.ndarray, seed: int
) -> torch.nn.Module:
    """The generator's network with initial weights drawn from `seed`, leaving the global RNG untouched."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return build_model(objective, denoiser_config, lat_deg, lon_deg)


def checkpoint_generator(checkpoint: dict[str, Any]) -> tuple[str, Objective]:
    """The generator name and objective settings a checkpoint was trained with."""
    kind = checkpoint["generator"]
    if kind not in OBJECTIVES:
        raise CheckpointError(f"checkpoint of unknown generator {kind!r} (this code knows {list(GENERATORS)})")
    return kind, config_from_dict(OBJECTIVES[kind], checkpoint["objective"])


def trained_lead_days(checkpoint: dict[str, Any]) -> list[float]:
    """The lead times (days) of the trajectories a checkpoint's model generates."""
    return json.loads(checkpoint["fingerprint"])["data"]["lead_days"]


def model_from_checkpoint(
    data: bytes, lat_deg: np.ndarray, lon_deg: np.ndarray, device: torch.device | str,
    lead_days: Sequence[float] | None = None, seed_count: int | None = None,
) -> torch.nn.Module:
    """The EMA generator of a checkpoint, rebuilt from its bytes alone (configs are stored in it),
    on `device`, in eval mode without gradients. lat_deg, lon_deg: the training grid, degrees;
    lead_days: the leads to be generated, refused unless they are the trained ones (a trajectory
    model is tied to its leads); seed_count: the K seeds it will be given, refused unless it was
    trained with K seeds (the seeds' spread it conditions on depends on K)."""
    checkpoint = checkpoint_from_bytes(data, device)
    fingerprint = json.loads(checkpoint["fingerprint"])
    # The weights fit any grid the U-Net can pool, so only the stored field shape catches a wrong one.
    trained_grid = tuple(fingerprint["data"]["field_shape"][1:])
    grid = (len(lat_deg), len(lon_deg))
    if trained_grid != grid:
        raise ValueError(f"checkpoint was trained on a (lat, lon) grid of {trained_grid}, got {grid}")
    trained_leads = trained_lead_days(checkpoint)
    if lead_days is not None and (len(lead_days) != len(trained_leads)
                                  or not np.allclose(np.asarray(lead_days, dtype=float), trained_leads)):
        raise ValueError(f"checkpoint generates trajectories at lead days {trained_leads}, asked for "
                         f"{[float(d) for d in lead_days]}")
    trained_seed_counts = fingerprint["training"]["seed_counts"]
    if seed_count is not None and seed_count not in trained_seed_counts:
        raise ValueError(f"checkpoint was trained with K = {trained_seed_counts} seed members, asked to "
                         f"sample from K = {seed_count}")
    # A model file written before `noise_channels` existed has no spatial noise, one written before
    # `noise_levels` existed has it on the coarsest level only, and one written before an output
    # structure field existed was built without it, whatever today's defaults.
    denoiser_config = config_from_dict(DenoiserConfig, {"noise_channels": 0, "noise_levels": 1,
                                                        **dict.fromkeys(OUTPUT_STRUCTURE_FIELDS, False),
                                                        **checkpoint["denoiser_config"]})
    _, objective = checkpoint_generator(checkpoint)
    model = build_seeded_model(denoiser_config, objective, lat_deg, lon_deg, seed=0).to(device)
    # A run with validation publishes the EMA weights of its best validation score (`seeds_dag.validation`).
    model.load_state_dict(checkpoint.get("best_ema", checkpoint["ema"]))
    return model.eval().requires_grad_(False)
