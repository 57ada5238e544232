"""Dagster resources: where artifacts live, what computes, and which source feeds the graph."""

from resources.compute import ComputeResource
from resources.source import SourceResource
from resources.storage import StorageResource

__all__ = ["ComputeResource", "SourceResource", "StorageResource"]
