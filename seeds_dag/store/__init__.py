"""Every artifact of the pipeline under one storage root, with atomic commits and safe keys.

The root is a local directory (default) or `s3://bucket/prefix` through s3fs. Datasets are
versioned zarr v3 directories committed by a `CURRENT` pointer; objects read together (score
tables, a summary) are committed as one version the same way, and an object on its own (a
checkpoint, a figure) is written whole; see `layout` for where each lives, `artifacts` and
`objects` for the guarantees, and `retries` for how S3 requests ride out transient faults.
"""

from seeds_dag.store.artifacts import ArtifactStore, DatasetWriter
from seeds_dag.store.errors import ArtifactNotFoundError, CorruptArtifactError
from seeds_dag.store.layout import KEY_RULE, POINTER, UNPARTITIONED, check_key
from seeds_dag.store.objects import ObjectsWriter, StoredObjects

__all__ = [
    "KEY_RULE",
    "POINTER",
    "UNPARTITIONED",
    "ArtifactNotFoundError",
    "ArtifactStore",
    "CorruptArtifactError",
    "DatasetWriter",
    "ObjectsWriter",
    "StoredObjects",
    "check_key",
]
