"""Objects of one asset/partition (tables, text, figures, checkpoints): a set committed as one
version, or objects written one at a time.

A set is what a reader takes together: the score tables of one init, or the summary's text, the
inits it pooled and its tables. `ArtifactStore.objects_writer` writes a set into a fresh version
and commits it by replacing CURRENT, as a dataset is committed, so a write that fails part-way
leaves the previous set current and whole, and a reader holding `StoredObjects` takes every object
from one commit, never a mix of two.

An object that stands alone (the model file, a training checkpoint rewritten every few hundred
steps, a figure) is written in place in one atomic step: no version to make or prune. Where no set
is committed, a partition's objects are these; so a partition written before its asset wrote sets
(every object was written alone then) reads as it did.
"""

from __future__ import annotations

import dataclasses
import io

import fsspec
import pandas as pd

from seeds_dag.store.errors import ArtifactNotFoundError, noting
from seeds_dag.store.layout import check_object_name, is_object_name

TABLE = "table.parquet"
"""The object name of an asset's table when it has one (or its main one)."""


def table_bytes(df: pd.DataFrame) -> bytes:
    """`df`, index included, as the bytes of a parquet file."""
    buffer = io.BytesIO()
    df.to_parquet(buffer)
    return buffer.getvalue()


@dataclasses.dataclass(frozen=True)
class StoredObjects:
    """The objects of one asset/partition as `ArtifactStore.objects` found them: those of the set
    committed then (`committed`; read from its version, whatever is committed after, until a
    second newer commit prunes it) or, where no set is committed, those written one at a time
    (each read as it is at that moment).

    `path`: the directory holding them on the store's filesystem, `url` the same as a URL,
    `where`: how errors name the asset and partition."""

    fs: fsspec.AbstractFileSystem = dataclasses.field(repr=False)
    path: str
    url: str
    where: str
    committed: bool

    def read_bytes(self, name: str) -> bytes:
        with noting(f"reading object {name!r} of {self.where}"):
            try:
                return self.fs.cat_file(f"{self.path}/{check_object_name(name)}")
            except FileNotFoundError:
                raise ArtifactNotFoundError(
                    f"no object {name!r} for {self.where} in {self.url}"
                ) from None

    def read_table(self, name: str = TABLE) -> pd.DataFrame:
        return pd.read_parquet(io.BytesIO(self.read_bytes(name)))

    def exists(self, name: str) -> bool:
        return self.fs.isfile(f"{self.path}/{check_object_name(name)}")

    def names(self) -> list[str]:
        """The objects' names, sorted."""
        try:
            paths = self.fs.ls(self.path, detail=False)
        except FileNotFoundError:  # nothing written yet, or (on S3) a set of no objects
            return []
        return sorted(name for name in (path.rsplit("/", 1)[-1] for path in paths)
                      if is_object_name(name))


@dataclasses.dataclass(frozen=True)
class ObjectsWriter:
    """Writes the objects of one set opened by `ArtifactStore.objects_writer`. No reader sees
    the set before it is committed, so each object is written plainly (no temporary file)."""

    fs: fsspec.AbstractFileSystem = dataclasses.field(repr=False)
    path: str
    url: str
    where: str

    def write_bytes(self, name: str, data: bytes) -> str:
        """Add object `name`; returns the URL it has once the set is committed."""
        with noting(f"writing object {name!r} of {self.where}"):
            self.fs.pipe_file(f"{self.path}/{check_object_name(name)}", bytes(data))
        return f"{self.url}/{name}"

    def write_table(self, df: pd.DataFrame, name: str = TABLE) -> str:
        """Add `df` (index included) as parquet object `name`; returns its URL once committed."""
        return self.write_bytes(name, table_bytes(df))
