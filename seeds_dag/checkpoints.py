"""Training checkpoints: where they live (a local file or the artifact store, replaced
atomically), their bytes (torch.save, read back only with torch.load(weights_only=True)), how a
damaged one is told apart and recovered from, and how two runs' fingerprints differ. The training
loop (`seeds_dag.training`) writes and resumes them.

**Damage.** torch.save writes a zip archive whose members each carry a CRC-32, which torch.load
does not check (measured: a byte flipped in a tensor's data loads, as another weight). So a
checkpoint's archive is checked before torch reads it: empty, cut short (no zip central
directory), garbage (neither a zip archive nor a pickle) or a member that fails its CRC-32 is a
`CheckpointDamagedError`. What reads back whole but is refused by torch (something other than
tensors) or is not a checkpoint of this module stays a plain `CheckpointError`: no fault of the
storage, and a person should look at it. The check reads every byte once more (zlib's CRC-32;
measured on this 2-core machine: 46 ms for a 105 MB checkpoint, an eighth of torch.load's time).

**Recovery** (`resumable_checkpoint`). While a run goes on, the checkpoint each save replaces is
kept as `<name>.previous`, so a damaged latest checkpoint costs `checkpoint_every` steps rather
than the run; a finished run keeps only its last. A damaged checkpoint is moved aside to
`<name>.damaged-<UTC time>` (kept for inspection, never loaded again) and the run resumes from the
previous one, which takes its place, or from scratch where there is no whole previous one; a
warning names what was moved where and which it is.

**Compatibility.** A change that older files cannot be read under bumps `CHECKPOINT_FORMAT`, and
files of another format are refused by name. A setting that was stored but never read may instead
retire within a format (`RETIRED_OBJECTIVE_SETTINGS`): it is dropped as a file is read.
"""

import abc
import contextlib
import datetime
import io
import json
import logging
import os
import pickle
import pickletools
import tempfile
import zipfile
from pathlib import Path
from typing import Any, Literal

import torch

from seeds_dag.store import ArtifactStore
from seeds_dag.store import layout

logger = logging.getLogger(__name__)

CHECKPOINT_FORMAT = "seeds_dag.training/3"
"""/3: a sample is a member's trajectory, leads as channels, by one of several generators (/2
sampled each lead alone with EDM; /1 generated whole normalised fields)."""
CHECKPOINT_KEYS = (
    "format", "fingerprint", "denoiser_config", "generator", "objective", "step", "losses", "model", "ema",
    "optimizer",
)
RETIRED_OBJECTIVE_SETTINGS = {"edm": ("sigma_min", "sigma_max")}
"""Settings that checkpoints of this format written by earlier code hold and this code no longer
has, by generator. `EDMConfig.sigma_min` and `sigma_max` were stored but never read (the edm
generator's sampling schedule is `emulation.SamplerConfig`'s). They are dropped as a checkpoint is
read, from its objective and from its fingerprint alike, so such a model file loads and samples as
before and such a run resumes rather than being called stale. Only a setting that changed nothing
a model does may retire this way; one that did needs a new CHECKPOINT_FORMAT."""
Slot = Literal["latest", "previous"]
_ZIP_MAGIC = b"PK\x03\x04"  # a local file header: how torch.save's archives begin


class CheckpointIO(abc.ABC):
    """Where a run's checkpoints live, by slot: the latest (`name`), and the one it replaced
    (`<name>.previous`, kept while the run goes on). Subclasses read, write (atomically) and
    remove objects by name, and say where an object is."""

    def __init__(self, name: str) -> None:
        self.name = name

    @abc.abstractmethod
    def _read(self, name: str) -> bytes | None: ...

    @abc.abstractmethod
    def _write(self, name: str, data: bytes) -> None: ...

    @abc.abstractmethod
    def _remove(self, name: str) -> None: ...

    @abc.abstractmethod
    def _where(self, name: str) -> str: ...

    def _name(self, slot: Slot) -> str:
        return self.name if slot == "latest" else f"{self.name}.previous"

    def where(self, slot: Slot = "latest") -> str:
        """The checkpoint in `slot`, as errors and logs name it."""
        return self._where(self._name(slot))

    def load(self, slot: Slot = "latest") -> bytes | None:
        """The bytes of the checkpoint in `slot`, or None where there is none."""
        return self._read(self._name(slot))

    def save(self, data: bytes, previous: bytes | None = None) -> None:
        """Make `data` the latest checkpoint and `previous` (the bytes of the one it replaces)
        the previous one; None keeps no previous one (a run's first and last saves). The previous
        is written first, so that a kill between the two writes leaves two whole checkpoints."""
        if previous is None:
            self._remove(self._name("previous"))
        else:
            self._write(self._name("previous"), previous)
        self._write(self.name, data)

    def set_aside(self, slot: Slot, data: bytes) -> str:
        """Move the checkpoint in `slot`, whose bytes are `data`, to `<its name>.damaged-<UTC
        time>`; where it now is."""
        name = self._name(slot)
        stamp = datetime.datetime.now(datetime.UTC).strftime("%Y%m%dT%H%M%S.%fZ")
        aside = f"{name}.damaged-{stamp}"
        self._write(aside, data)
        self._remove(name)
        return self._where(aside)


class LocalCheckpointIO(CheckpointIO):
    """Checkpoints in local files beside `path` (the latest), each replaced atomically (temporary
    file, fsync, os.replace)."""

    def __init__(self, path: str | os.PathLike) -> None:
        self.path = Path(path)
        super().__init__(self.path.name)

    def _read(self, name: str) -> bytes | None:
        path = self.path.parent / name
        return path.read_bytes() if path.exists() else None

    def _write(self, name: str, data: bytes) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=self.path.parent, prefix=f".{name}.", suffix=".tmp")
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(data)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, self.path.parent / name)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)
            raise

    def _remove(self, name: str) -> None:
        (self.path.parent / name).unlink(missing_ok=True)

    def _where(self, name: str) -> str:
        return str(self.path.parent / name)


class StoreCheckpointIO(CheckpointIO):
    """Checkpoints stored as objects (`name`, ...) of an unpartitioned asset in the artifact store
    (atomic object writes, local or S3). Light to pickle: data-parallel processes each get one."""

    def __init__(self, store: ArtifactStore, asset: str, name: str) -> None:
        self.store, self.asset = store, asset
        super().__init__(name)

    def _read(self, name: str) -> bytes | None:
        if not self.store.exists_bytes(self.asset, name):
            return None
        return self.store.read_bytes(self.asset, name)

    def _write(self, name: str, data: bytes) -> None:
        self.store.write_bytes(self.asset, name, data)

    def _remove(self, name: str) -> None:
        self.store.delete_bytes(self.asset, name)

    def _where(self, name: str) -> str:
        return f"object {name!r} of {layout.where(self.asset, None)} under {self.store.root}"


class CheckpointError(ValueError):
    """A checkpoint cannot be used: refused by torch.load(weights_only=True), or not ours."""


class StaleCheckpointError(CheckpointError):
    """The stored checkpoint is of another configuration or other training data."""


class CheckpointDamagedError(CheckpointError):
    """A checkpoint's bytes are not whole: empty, cut short, garbage, or failing a CRC-32."""


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


def _damage(data: bytes) -> str | None:
    """What shows that `data` is not a whole checkpoint, or None: a zip archive (torch.save's
    format) whose members all match their CRC-32, or bytes that begin with a whole pickle (a
    legacy torch.save, or something foreign that torch.load then refuses)."""
    if not data:
        return "it is empty (0 bytes)"
    if data.startswith(_ZIP_MAGIC):
        try:
            with zipfile.ZipFile(io.BytesIO(data)) as archive:
                failing = archive.testzip()
        except Exception as err:  # whatever zipfile meets in these bytes is damage
            return f"its zip archive of {len(data)} bytes is cut short or broken ({err})"
        return None if failing is None else f"{failing} in its zip archive fails its CRC-32"
    try:
        # Parses opcodes and checks the stack without building anything.
        pickletools.dis(io.BytesIO(data), out=io.StringIO())
    except Exception as err:
        return f"it is neither a zip archive (torch.save's format) nor a pickle ({err})"
    return None


def checkpoint_from_bytes(data: bytes, device: torch.device | str,
                          source: str = "checkpoint") -> dict[str, Any]:
    """Read a checkpoint with torch.load(weights_only=True): nothing but tensors and plain
    containers is unpickled, so a checkpoint from an untrusted store cannot run code. `source`
    names it in errors.

    Raises CheckpointDamagedError if the bytes are not whole (module docstring), CheckpointError
    if torch refuses the payload or it is not a checkpoint of this module.
    """
    damage = _damage(data)
    if damage is not None:
        raise CheckpointDamagedError(f"{source} is damaged: {damage}")
    try:
        checkpoint = torch.load(io.BytesIO(data), weights_only=True, map_location=device)
    except (pickle.UnpicklingError, RuntimeError, EOFError) as err:
        reason = str(err).split("WeightsUnpickler error:")[-1].split("Check the documentation")[0].strip()
        raise CheckpointError(
            f"{source} refused by torch.load(weights_only=True): it holds something other than tensors, "
            f"numbers, strings and lists/dicts of them ({reason}); it is never loaded with weights_only=False"
        ) from err
    if not isinstance(checkpoint, dict) or checkpoint.get("format") != CHECKPOINT_FORMAT:
        found = checkpoint.get("format") if isinstance(checkpoint, dict) else type(checkpoint).__name__
        raise CheckpointError(f"{source} is not a {CHECKPOINT_FORMAT} checkpoint (found {found!r})")
    missing = [key for key in CHECKPOINT_KEYS if key not in checkpoint]
    if missing:
        raise CheckpointError(f"{source}: {CHECKPOINT_FORMAT} checkpoint lacks {missing}")
    return _without_retired_settings(checkpoint)


def _without_retired_settings(checkpoint: dict[str, Any]) -> dict[str, Any]:
    """`checkpoint` with the RETIRED_OBJECTIVE_SETTINGS of its generator dropped from its objective
    and its fingerprint; the fingerprint is written again as the training loop writes it (JSON,
    keys sorted) only where something was dropped, so it then equals the fingerprint this code
    gives the same run."""
    retired = [key for key in RETIRED_OBJECTIVE_SETTINGS.get(checkpoint["generator"], ())
               if key in checkpoint["objective"]]
    if not retired:
        return checkpoint
    fingerprint = json.loads(checkpoint["fingerprint"])
    for key in retired:
        del checkpoint["objective"][key]
        fingerprint["objective"].pop(key, None)
    checkpoint["fingerprint"] = json.dumps(fingerprint, sort_keys=True)
    return checkpoint


def resumable_checkpoint(checkpoint: CheckpointIO, device: torch.device | str, recover: bool = True
                         ) -> tuple[dict[str, Any], bytes] | None:
    """The checkpoint a run resumes from, read, and its bytes; None to start from scratch.

    With `recover`, a damaged latest checkpoint is moved aside (`CheckpointIO.set_aside`) and the
    previous one, if whole, becomes the latest (so that every process of a data-parallel run
    reads the same one); a damaged previous one is moved aside too; a warning says what was moved
    where and where the run resumes. Without it (processes that must not write), damage raises
    CheckpointDamagedError.
    """
    data = checkpoint.load()
    if data is None:
        return None
    try:
        return checkpoint_from_bytes(data, device, checkpoint.where()), data
    except CheckpointDamagedError as damage:
        if not recover:
            raise
        moved = [f"{damage}; moved to {checkpoint.set_aside('latest', data)}"]
    previous = checkpoint.load("previous")
    if previous is not None:
        try:
            state = checkpoint_from_bytes(previous, device, checkpoint.where("previous"))
        except CheckpointDamagedError as damage:
            moved.append(f"{damage}; moved to {checkpoint.set_aside('previous', previous)}")
        else:
            checkpoint.save(previous)
            logger.warning("%s; resuming from the previous checkpoint, of step %d",
                           "; ".join(moved), state["step"])
            return state, previous
    logger.warning("%s; no whole previous checkpoint: training starts from scratch",
                   "; ".join(moved))
    return None
