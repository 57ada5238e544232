"""What the store raises, and how an error names the artifact it concerns."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator


class ArtifactNotFoundError(FileNotFoundError):
    """Nothing is committed under the asset/partition (or object name) asked for."""


class CorruptArtifactError(Exception):
    """A committed artifact cannot be read back whole; the message names asset, partition, cause."""


@contextlib.contextmanager
def noting(context: str) -> Iterator[None]:
    """Add `context` (which names asset and partition) to any error raised inside, as a note."""
    try:
        yield
    except Exception as error:
        error.add_note(context)
        raise
