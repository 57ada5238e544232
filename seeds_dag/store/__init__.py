"""Every artifact of the pipeline under one storage root, with atomic commits and safe keys.

The root is a local directory (default) or `s3://bucket/prefix` through s3fs. Datasets are
versioned zarr v3 directories committed by a `CURRENT` pointer, objects (checkpoints, plots,
tables) are written whole; see `layout` for where each lives and `artifacts` for the guarantees.
"""

from seeds_dag.store.artifacts import (
    ArtifactNotFoundError,
    ArtifactStore,
    CorruptArtifactError,
    DatasetWriter,
)
from seeds_dag.store.layout import KEY_RULE, POINTER, UNPARTITIONED, check_key

__all__ = [
    "KEY_RULE",
    "POINTER",
    "UNPARTITIONED",
    "ArtifactNotFoundError",
    "ArtifactStore",
    "CorruptArtifactError",
    "DatasetWriter",
    "check_key",
]
