"""The datasets a command reads: a zarr a user made, or an artifact's folder in a storage root.

An artifact's folder (`<root>/<asset>/<partition or _all>/`, holding the `CURRENT` pointer) is read
through the store, which follows the pointer to the committed version and refuses a damaged one by
name; any other path is opened as a zarr (v2 or v3). Either way the data are loaded, so a command
checks what it read before it writes anything.
"""

from __future__ import annotations

from pathlib import Path

import xarray as xr

from seeds_dag.store import POINTER, UNPARTITIONED, ArtifactStore
from seeds_dag.store.strings import with_fixed_width_strings


def read_dataset(path: str, what: str) -> xr.Dataset:
    """The dataset at `path` (a zarr or an artifact's folder), loaded; `what` names it in errors
    ("the forecast", "the truth")."""
    folder = Path(path)
    if (folder / POINTER).is_file():
        partition = None if folder.name == UNPARTITIONED else folder.name
        return ArtifactStore(str(folder.parent.parent)).load_dataset(folder.parent.name, partition)
    if not folder.exists():
        raise FileNotFoundError(f"{what} {path}: no such zarr or artifact folder")
    try:
        ds = xr.open_zarr(path, consolidated=False)
    except (OSError, ValueError, KeyError) as unreadable:
        raise FileNotFoundError(f"{what} {path}: not a readable zarr ({type(unreadable).__name__}: "
                                f"{unreadable})") from unreadable
    return with_fixed_width_strings(ds).load()
