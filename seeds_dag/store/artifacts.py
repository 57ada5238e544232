"""`ArtifactStore`: versioned zarr datasets, tables and byte objects under one root, committed
atomically through a pointer, local or on S3 with the same mechanism (layout in `layout.py`).

A dataset commit writes the whole new version (zarr v3), then replaces CURRENT in one atomic step
(locally a temp file in the same directory + `os.replace`; on S3 a single PUT). A reader follows
CURRENT, so it never sees half a version, and a failed write deletes its partial version and leaves
CURRENT, and the version it names, untouched. After a commit, older versions other than the
previous one (kept for rollback and for readers still holding it) and those still being written are
deleted; a failure to delete is logged, never raised. Objects that are read together are committed
as one version the same way (a set, see `objects.py`); an object on its own is written whole in
one atomic step.

Chunks are always written, even when all fill value (`write_empty_chunks=True`), so a missing
chunk file means damage or an incomplete write, which `load_dataset` and `dataset_writer` detect.
One writer per (asset, partition) at a time; readers may run concurrently.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import logging
import os
from collections.abc import Iterator, Mapping
from typing import Any

import fsspec
import pandas as pd
import xarray as xr
import zarr

from seeds_dag.store.consolidated import consolidate
from seeds_dag.store.errors import ArtifactNotFoundError, CorruptArtifactError, noting
from seeds_dag.store.layout import (
    DATASET,
    OBJECTS,
    POINTER,
    check_key,
    check_object_name,
    holds_objects,
    is_abandoned,
    is_committed_name,
    is_version_name,
    new_version_name,
    parse_root,
    partition_segment,
    redacted,
    temporary_name,
    temporary_pattern,
    where,
    writing_marker,
)
from seeds_dag.store.objects import TABLE, ObjectsWriter, StoredObjects, table_bytes
from seeds_dag.store.retries import with_retries
from seeds_dag.store.strings import with_fixed_width_strings, with_specified_strings

logger = logging.getLogger(__name__)

# Errors that mean "the stored bytes are bad" when reading a version; access problems
# (permissions, network) are reported as themselves.
_CORRUPTION = (OSError, ValueError, RuntimeError, KeyError)
_ACCESS = (PermissionError, ConnectionError, TimeoutError)
# Fixed arguments of every zarr write: v3, every chunk stored so that a missing chunk is
# detectable; the metadata is consolidated once, when the version is complete (`consolidated`),
# not by each write, whose copy a later region write would leave stale.
_ZARR_WRITE = {"zarr_format": 3, "consolidated": False, "write_empty_chunks": True}


@dataclasses.dataclass(frozen=True, eq=False, repr=False)
class ArtifactStore:
    """Datasets (versioned zarr v3), tables and byte objects under one root, by asset/partition.

    `root`: local directory (made absolute) or `s3://bucket[/prefix]`; `storage_options`: fsspec
    options for s3fs (endpoint_url, key, secret, anon, client_kwargs...), never shown in repr,
    errors or logs. `partition=None` means the asset is unpartitioned.
    """

    root: str
    storage_options: dict[str, Any] | None = None

    def __post_init__(self) -> None:
        protocol, base = parse_root(self.root)
        options = dict(self.storage_options or {})
        if protocol == "file" and options:
            raise ValueError(
                f"storage_options ({', '.join(sorted(options))}) apply to s3:// roots only; "
                f"root is the local directory {base}"
            )
        object.__setattr__(self, "root", base if protocol == "file" else f"s3://{base}")
        object.__setattr__(self, "storage_options", options)
        object.__setattr__(self, "_protocol", protocol)
        object.__setattr__(self, "_base", base)

    def __repr__(self) -> str:
        return f"ArtifactStore(root={self.root!r}, storage_options={redacted(self.storage_options)})"

    # ---- datasets ------------------------------------------------------------------------------

    def write_dataset(self, ds: xr.Dataset, asset: str, partition: str | None = None) -> str:
        """Write `ds` as a new zarr v3 version and commit it; returns the version URL."""
        with self._new_version(asset, partition, DATASET) as path:
            with_specified_strings(ds).to_zarr(
                self._url(path), mode="w", storage_options=self._zarr_options, **_ZARR_WRITE
            )
            consolidate(self._url(path), self._zarr_options)
        return self._url(path)

    @contextlib.contextmanager
    def dataset_writer(
        self, asset: str, partition: str | None, template: xr.Dataset
    ) -> Iterator[DatasetWriter]:
        """Stream a dataset too large for memory into a new version, region by region.

        `template`: the full dataset with dask-backed data variables (e.g. `xr.zeros_like` of a
        dask array); only its metadata and numpy coordinates are written, and its dask chunks become
        the zarr chunks, so regions should align with them. On clean exit every chunk must have been
        written and the version is committed; on an exception the version is deleted and the
        previous one stays current.
        """
        eager = [name for name, var in template.data_vars.items() if var.chunks is None]
        if eager:
            raise ValueError(
                f"template for {where(asset, partition)} has numpy-backed data variables {eager}: "
                "make them dask arrays (their chunks become the zarr chunks)"
            )
        with self._new_version(asset, partition, DATASET) as path:
            url = self._url(path)
            with_specified_strings(template).to_zarr(
                url, mode="w", compute=False, storage_options=self._zarr_options, **_ZARR_WRITE
            )
            yield DatasetWriter(url, self._zarr_options)
            missing = self._missing_chunks(url)
            if missing:
                raise ValueError(
                    f"streamed write of {where(asset, partition)} is incomplete, chunks written "
                    f"of total: {missing}; write_region must cover the whole template"
                )
            consolidate(url, self._zarr_options)

    def open_dataset(
        self, asset: str, partition: str | None = None, chunks: Any = None
    ) -> xr.Dataset:
        """Open the committed version lazily (dask arrays when `chunks` is given)."""
        url = self._version_url(asset, partition)
        with self._reading(asset, partition, url):
            return self._open(url, chunks)

    def load_dataset(self, asset: str, partition: str | None = None) -> xr.Dataset:
        """Open the committed version and load it into memory, checking that no chunk is missing;
        damage raises `CorruptArtifactError` naming asset, partition, the variable (when one is
        at fault) and the underlying error."""
        url = self._version_url(asset, partition)
        with self._reading(asset, partition, url):
            missing = self._missing_chunks(url, naming=(asset, partition))
            if missing:
                raise CorruptArtifactError(
                    f"{where(asset, partition)} is corrupt at {url}: chunk files missing, "
                    f"chunks present of total: {missing}"
                )
            ds = self._open(url, chunks=None)
            for name, variable in ds.variables.items():
                with self._reading_variable(asset, partition, url, name):
                    variable.load()  # in place, one variable at a time to name a damaged one
            return ds

    def has(self, asset: str, partition: str | None = None) -> bool:
        """Whether a dataset is committed under asset/partition."""
        version = self._current(asset, partition)
        return version is not None and not holds_objects(version)

    def location(self, asset: str, partition: str | None = None) -> str:
        """URL of the committed version, or of the partition directory when none is committed."""
        directory = self._dir(asset, partition)
        version = self._current(asset, partition)
        return self._url(directory if version is None else f"{directory}/{version}")

    def partitions(self, asset: str) -> list[str]:
        """Sorted partition keys of `asset` holding a committed dataset or object ('_all' excluded)."""
        base = f"{self._base}/{check_key('asset name', asset)}"
        try:
            # Depth 2 reaches {partition}/CURRENT and {partition}/{name}, not version contents.
            files = self._fs.find(base, maxdepth=2)
        except FileNotFoundError:
            return []
        keys = set()
        for path in files:
            parts = path[len(base) + 1 :].split("/")
            if len(parts) == 2 and is_committed_name(parts[0]) and is_committed_name(parts[1]):
                keys.add(parts[0])
        return sorted(keys)

    # ---- objects and tables --------------------------------------------------------------------

    @contextlib.contextmanager
    def objects_writer(
        self, asset: str, partition: str | None = None
    ) -> Iterator[ObjectsWriter]:
        """Write objects that are read together as one set (`objects.py`). On clean exit the set
        is committed whole, replacing the previous set (nothing of it is carried over) and the
        objects written one at a time before (deleted); on an exception nothing is committed and
        the previous set stays current."""
        with self._new_version(asset, partition, OBJECTS) as path:
            if self._protocol == "file":
                os.makedirs(path)  # S3 has no directories (and s3fs's makedirs makes buckets)
            yield ObjectsWriter(self._fs, path, self._url(path), where(asset, partition))
        self._remove_loose(asset, partition)

    def objects(self, asset: str, partition: str | None = None) -> StoredObjects:
        """The objects of asset/partition: the committed set's, read from that version whatever is
        committed after, or, where no set is committed, those written one at a time. Reading a
        set's objects through one of these takes them all from one commit."""
        version = self._current(asset, partition)
        if version is None or not holds_objects(version):
            return self._loose(asset, partition)
        path = f"{self._dir(asset, partition)}/{version}"
        return StoredObjects(self._fs, path, self._url(path), where(asset, partition), True)

    def write_bytes(
        self, asset: str, name: str, data: bytes, partition: str | None = None
    ) -> str:
        """Write one object atomically (replacing any previous one); returns its URL. Where a set
        is committed, this commits a new set, the object replaced or added and the others copied:
        a reader never sees an object beside a set it does not belong to."""
        stored = self.objects(asset, partition)
        if stored.committed:
            return self._amend(asset, partition, stored, name, data)
        path = f"{stored.path}/{check_object_name(name)}"
        with noting(f"writing object {name!r} of {where(asset, partition)}"):
            self._put_atomic(path, bytes(data))
        return self._url(path)

    def read_bytes(self, asset: str, name: str, partition: str | None = None) -> bytes:
        return self.objects(asset, partition).read_bytes(name)

    def exists_bytes(self, asset: str, name: str, partition: str | None = None) -> bool:
        return self.objects(asset, partition).exists(name)

    def delete_bytes(self, asset: str, name: str, partition: str | None = None) -> None:
        """Remove one object if it exists (a finished run's checkpoint, say). From a committed set
        by committing the set without it; an object written on its own is removed with what
        writes of it killed mid-way left behind (their temporary files): deleting an object means
        no writer of it is still at work."""
        stored = self.objects(asset, partition)
        if stored.committed:
            if stored.exists(name):
                self._amend(asset, partition, stored, name, None)
            return
        path = f"{stored.path}/{check_object_name(name)}"
        if self._fs.isfile(path):
            self._fs.rm(path)
        if self._protocol != "s3":  # an S3 object appears whole or not at all: nothing is left
            for leftover in self._fs.glob(f"{stored.path}/{temporary_pattern(name)}"):
                self._remove(leftover, f"temporary file of {name!r} of {where(asset, partition)}")

    def write_table(
        self,
        df: pd.DataFrame,
        asset: str,
        partition: str | None = None,
        name: str = TABLE,
    ) -> str:
        """Write `df` (index included) as one parquet object, as `write_bytes`; returns its URL."""
        return self.write_bytes(asset, name, table_bytes(df), partition)

    def read_table(
        self, asset: str, partition: str | None = None, name: str = TABLE
    ) -> pd.DataFrame:
        return self.objects(asset, partition).read_table(name)

    # ---- internals -----------------------------------------------------------------------------

    @property
    def _fs_options(self) -> dict[str, Any]:
        # No listing is cached: other processes (a cluster's workers) commit into the same root,
        # and s3fs reports a file written after its listing of the directory as missing, a
        # CURRENT included, even to cat_file.
        options = {**self.storage_options, "use_listings_cache": False}
        return with_retries(options) if self._protocol == "s3" else options

    @functools.cached_property
    def _fs(self) -> fsspec.AbstractFileSystem:
        return fsspec.filesystem(self._protocol, **self._fs_options)

    @property
    def _zarr_options(self) -> dict[str, Any] | None:
        # xarray hands these to zarr's FsspecStore.from_url for s3:// URLs; a local path must
        # get none (zarr rejects storage_options for a LocalStore).
        return self._fs_options if self._protocol == "s3" else None

    def _url(self, path: str) -> str:
        return path if self._protocol == "file" else f"s3://{path}"

    def _dir(self, asset: str, partition: str | None) -> str:
        return f"{self._base}/{check_key('asset name', asset)}/{partition_segment(partition)}"

    def _current(self, asset: str, partition: str | None) -> str | None:
        """Name of the committed version of asset/partition, or None."""
        pointer = f"{self._dir(asset, partition)}/{POINTER}"
        try:
            version = self._fs.cat_file(pointer).decode(errors="replace").strip()
        except FileNotFoundError:
            return None
        if not is_version_name(version):
            raise CorruptArtifactError(
                f"{where(asset, partition)}: {self._url(pointer)} holds {version[:80]!r}, "
                "not a version name"
            )
        return version

    def _version_url(self, asset: str, partition: str | None) -> str:
        version = self._current(asset, partition)
        if version is None:
            raise ArtifactNotFoundError(
                f"no committed dataset for {where(asset, partition)} under {self.root}"
            )
        if holds_objects(version):
            raise ArtifactNotFoundError(
                f"{where(asset, partition)} holds a set of objects ({version}), not a dataset: "
                "read it with objects() or read_table()"
            )
        return self._url(f"{self._dir(asset, partition)}/{version}")

    def _loose(self, asset: str, partition: str | None) -> StoredObjects:
        """The objects of asset/partition written one at a time (in its directory)."""
        path = self._dir(asset, partition)
        return StoredObjects(self._fs, path, self._url(path), where(asset, partition), False)

    def _remove_loose(self, asset: str, partition: str | None) -> None:
        """Delete the objects written one at a time beside a newly committed set: no reader sees
        them now (the asset wrote its objects one at a time before it wrote sets)."""
        loose = self._loose(asset, partition)
        for name in loose.names():
            self._remove(f"{loose.path}/{name}", f"object {name!r} superseded by the set of "
                         f"{loose.where}")

    def _amend(self, asset: str, partition: str | None, stored: StoredObjects, name: str,
               data: bytes | None) -> str:
        """Commit the set `stored` with object `name` holding `data` (removed when None), the
        other objects copied; returns the URL of `name` in the new set."""
        check_object_name(name)
        with self.objects_writer(asset, partition) as amended:
            for other in stored.names():
                if other != name:
                    amended.write_bytes(other, stored.read_bytes(other))
            if data is not None:
                amended.write_bytes(name, data)
        return f"{amended.url}/{name}"

    @contextlib.contextmanager
    def _new_version(self, asset: str, partition: str | None, kind: str) -> Iterator[str]:
        """Yield the path of a fresh version holding `kind` (`DATASET` or `OBJECTS`); commit it on
        clean exit, delete it on an exception.

        While the version is written, a marker `.{version}.writing` beside it tells concurrent
        writers' pruning that it is work in progress: it is made before the version and removed
        only after the commit, so a pruner that sees the version either sees the marker or reads
        a CURRENT written after this commit."""
        directory = self._dir(asset, partition)
        version = new_version_name(kind)
        path, marker = f"{directory}/{version}", f"{directory}/{writing_marker(version)}"
        self._put_atomic(marker, b"")
        try:
            with noting(f"writing {self._url(path)} ({where(asset, partition)})"):
                yield path
                previous = self._current(asset, partition)
                self._put_atomic(f"{directory}/{POINTER}", version.encode())
        except BaseException:
            self._remove(path, f"failed version of {where(asset, partition)}")
            raise
        finally:
            self._remove(marker, f"writing marker of {where(asset, partition)}")
        logger.info("committed %s (%s)", self._url(path), where(asset, partition))
        self._prune(asset, partition, version, previous)

    def _prune(self, asset: str, partition: str | None, new: str, previous: str | None) -> None:
        """Delete versions older than `new` other than `previous`, the one committed now and those
        another writer is still writing (marked, see `_new_version`; a marker older than
        `ABANDONED_AFTER` is a killed writer's). CURRENT is read after the listing: a writer whose
        version is listed without its marker committed before that read."""
        directory, what = self._dir(asset, partition), where(asset, partition)
        try:
            names = [path.rsplit("/", 1)[-1] for path in self._fs.ls(directory, detail=False)]
        except OSError as error:
            logger.warning("could not list %s to prune old versions of %s: %s",
                           self._url(directory), what, error)
            return
        current = self._current(asset, partition)
        for name in names:
            in_progress = writing_marker(name) in names and not is_abandoned(name)
            if (is_version_name(name) and name < new
                    and name not in (previous, current) and not in_progress):
                self._remove(f"{directory}/{name}", f"superseded version of {what}")
                self._remove(f"{directory}/{writing_marker(name)}", f"stale marker of {what}")

    def _remove(self, path: str, what: str) -> None:
        try:
            self._fs.rm(path, recursive=True)
        except FileNotFoundError:
            pass
        except Exception as error:  # housekeeping: a failure must not mask the write's outcome
            logger.warning("could not delete %s %s: %s", what, self._url(path), error)

    def _put_atomic(self, path: str, data: bytes) -> None:
        """Make `data` appear at `path` whole or not at all."""
        if self._protocol == "s3":
            # One PUT (multipart above 100 MiB): S3 shows an object only once it is complete.
            self._fs.pipe_file(path, data)
            return
        directory, name = path.rsplit("/", 1)
        os.makedirs(directory, exist_ok=True)
        temporary = f"{directory}/{temporary_name(name)}"
        try:
            with open(temporary, "wb") as file:
                file.write(data)
                file.flush()
                os.fsync(file.fileno())
            os.replace(temporary, path)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.remove(temporary)
            raise

    def _open(self, url: str, chunks: Any) -> xr.Dataset:
        ds = xr.open_dataset(
            url,
            engine="zarr",
            chunks=chunks,
            consolidated=False,
            zarr_format=3,
            storage_options=self._zarr_options,
        )
        return with_fixed_width_strings(ds)

    def _missing_chunks(
        self, url: str, naming: tuple[str, str | None] | None = None
    ) -> dict[str, str]:
        """Arrays of the zarr group at `url` with chunk files missing: {name: 'present/total'}.
        Each array is opened on its own, so that with `naming` (asset, partition) an array whose
        metadata is damaged raises CorruptArtifactError naming it."""
        path = url.removeprefix("s3://")
        names = sorted(
            entry["name"].rstrip("/").rsplit("/", 1)[-1]
            for entry in self._fs.ls(path, detail=True)
            if entry["type"] == "directory"
        )
        missing = {}
        for name in names:
            with (self._reading_variable(*naming, url, name) if naming else contextlib.nullcontext()):
                array = zarr.open_array(
                    f"{url}/{name}", mode="r", storage_options=self._zarr_options, zarr_format=3
                )
            if array.nchunks_initialized < array.nchunks:
                missing[name] = f"{array.nchunks_initialized}/{array.nchunks}"
        return missing

    @contextlib.contextmanager
    def _reading_variable(
        self, asset: str, partition: str | None, url: str, name: str
    ) -> Iterator[None]:
        """Report bad stored data of one array as CorruptArtifactError naming it."""
        try:
            yield
        except _ACCESS:
            raise
        except _CORRUPTION as error:
            raise CorruptArtifactError(
                f"{where(asset, partition)} is corrupt at {url}: variable {name!r}: "
                f"{type(error).__name__}: {error}"
            ) from error

    @contextlib.contextmanager
    def _reading(self, asset: str, partition: str | None, url: str) -> Iterator[None]:
        """Report bad stored data as CorruptArtifactError naming asset, partition and version."""
        try:
            with noting(f"reading {url} ({where(asset, partition)})"):
                yield
        except _ACCESS:
            raise
        except _CORRUPTION as error:
            raise CorruptArtifactError(
                f"{where(asset, partition)} is corrupt at {url}: {type(error).__name__}: {error}"
            ) from error


@dataclasses.dataclass(frozen=True)
class DatasetWriter:
    """Writes regions into one uncommitted version opened by `ArtifactStore.dataset_writer`."""

    url: str
    storage_options: dict[str, Any] | None = dataclasses.field(default=None, repr=False)

    def write_region(self, ds: xr.Dataset, region: Mapping[str, slice]) -> None:
        """Write `ds` at `region` (e.g. {"member": slice(a, b)}); variables without a region dim
        (lat, lon, ...) were written with the template and are dropped here, as zarr requires."""
        unrelated = [name for name, var in ds.variables.items() if not set(var.dims) & set(region)]
        with_specified_strings(ds.drop_vars(unrelated)).to_zarr(
            self.url,
            mode="r+",
            region=dict(region),
            storage_options=self.storage_options,
            **_ZARR_WRITE,
        )
