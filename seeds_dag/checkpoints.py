"""Training checkpoints: where they live (a local file or the artifact store, replaced
atomically), their bytes (torch.save, read back only with torch.load(weights_only=True)), and how
two runs' fingerprints differ. The training loop (`seeds_dag.training`) writes and resumes them.
"""

import contextlib
import io
import json
import os
import pickle
import tempfile
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import torch

from seeds_dag.store import ArtifactStore

CHECKPOINT_FORMAT = "seeds_dag.training/3"
"""/3: a sample is a member's trajectory, leads as channels, by one of several generators (/2
sampled each lead alone with EDM; /1 generated whole normalised fields)."""
CHECKPOINT_KEYS = (
    "format", "fingerprint", "denoiser_config", "generator", "objective", "step", "losses", "model", "ema",
    "optimizer",
)
@runtime_checkable
class CheckpointIO(Protocol):
    """Where a run's checkpoint lives: the bytes of the latest one, or None before the first."""

    def load(self) -> bytes | None: ...

    def save(self, data: bytes) -> None: ...


class LocalCheckpointIO:
    """A checkpoint in one local file, replaced atomically (temporary file, fsync, os.replace)."""

    def __init__(self, path: str | os.PathLike) -> None:
        self.path = Path(path)

    def load(self) -> bytes | None:
        return self.path.read_bytes() if self.path.exists() else None

    def save(self, data: bytes) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=self.path.parent, prefix=f".{self.path.name}.", suffix=".tmp")
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(data)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, self.path)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)
            raise


class StoreCheckpointIO:
    """A checkpoint stored as object `name` of an unpartitioned asset in the artifact store
    (atomic object writes, local or S3). Light to pickle: data-parallel processes each get one."""

    def __init__(self, store: ArtifactStore, asset: str, name: str) -> None:
        self.store, self.asset, self.name = store, asset, name

    def load(self) -> bytes | None:
        if not self.store.exists_bytes(self.asset, self.name):
            return None
        return self.store.read_bytes(self.asset, self.name)

    def save(self, data: bytes) -> None:
        self.store.write_bytes(self.asset, self.name, data)


class CheckpointError(ValueError):
    """A checkpoint cannot be used: refused by torch.load(weights_only=True), or not ours."""


class StaleCheckpointError(CheckpointError):
    """The stored checkpoint is of another configuration or other training data."""


def _flatten(tree: dict, prefix: str = "") -> dict[str, Any]:
    flat = {}
    for key, value in tree.items():
        if isinstance(value, dict):
            flat.update(_flatten(value, f"{prefix}{key}."))
        else:
            flat[f"{prefix}{key}"] = value
    return flat


def fingerprint_differences(stored: str, current: str) -> list[str]:
    """'key (checkpoint X, now Y)' for every leaf that differs between two fingerprints."""
    old, new = _flatten(json.loads(stored)), _flatten(json.loads(current))
    return [
        f"{key} (checkpoint {old.get(key, '<absent>')}, now {new.get(key, '<absent>')})"
        for key in sorted(old.keys() | new.keys())
        if old.get(key) != new.get(key)
    ]


def checkpoint_to_bytes(checkpoint: dict[str, Any]) -> bytes:
    """Serialise a checkpoint dict (tensors, numbers, strings, lists/dicts of them) with torch.save."""
    buffer = io.BytesIO()
    torch.save(checkpoint, buffer)
    return buffer.getvalue()


def checkpoint_from_bytes(data: bytes, device: torch.device | str) -> dict[str, Any]:
    """Read a checkpoint with torch.load(weights_only=True): nothing but tensors and plain
    containers is unpickled, so a checkpoint from an untrusted store cannot run code.

    Raises CheckpointError if torch refuses the payload or it is not a checkpoint of this module.
    """
    try:
        checkpoint = torch.load(io.BytesIO(data), weights_only=True, map_location=device)
    except (pickle.UnpicklingError, RuntimeError, EOFError) as err:
        reason = str(err).split("WeightsUnpickler error:")[-1].split("Check the documentation")[0].strip()
        raise CheckpointError(
            f"checkpoint refused by torch.load(weights_only=True): it holds something other than tensors, "
            f"numbers, strings and lists/dicts of them ({reason}); it is never loaded with weights_only=False"
        ) from err
    if not isinstance(checkpoint, dict) or checkpoint.get("format") != CHECKPOINT_FORMAT:
        found = checkpoint.get("format") if isinstance(checkpoint, dict) else type(checkpoint).__name__
        raise CheckpointError(f"not a {CHECKPOINT_FORMAT} checkpoint (found {found!r})")
    missing = [key for key in CHECKPOINT_KEYS if key not in checkpoint]
    if missing:
        raise CheckpointError(f"{CHECKPOINT_FORMAT} checkpoint lacks {missing}")
    return checkpoint
