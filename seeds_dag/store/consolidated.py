"""Consolidated metadata of a committed zarr version, so that it opens in plain xarray and zarr
(`xr.open_zarr(url)`) with one metadata read and without the "Failed to open Zarr store with
consolidated metadata" warning and its slower fallback.

A version is written once and never changed after its commit (`ArtifactStore`), so the
consolidated copy of its metadata cannot go stale; it is made after the last region is written,
just before the commit. The store's own reads keep `consolidated=False`: versions committed before
this existed have none, and every read checks the arrays themselves anyway.

Zarr v3 keeps consolidated metadata in the root `zarr.json` as an extension that zarr-python and
xarray read and that the v3 specification does not yet name; other readers ignore it and read
each array's own metadata, which stays complete. zarr-python warns of that on every write; the
warning is silenced here, where the choice is made.
"""

from __future__ import annotations

import warnings
from typing import Any

import zarr
from zarr.errors import ZarrUserWarning
from zarr.storage import FsspecStore


def consolidate(url: str, storage_options: dict[str, Any] | None) -> None:
    """Write the consolidated metadata of the zarr group at `url` (a local path or, with
    `storage_options` for s3fs, an s3:// URL)."""
    store = FsspecStore.from_url(url, storage_options=storage_options) if storage_options is not None else url
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", category=ZarrUserWarning, message="Consolidated metadata is currently not")
        zarr.consolidate_metadata(store, zarr_format=3)
