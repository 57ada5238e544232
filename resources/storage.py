"""The storage resource: one root (a local directory or s3://bucket/prefix) for every artifact."""

from __future__ import annotations

import os

from dagster import ConfigurableResource
from pydantic import Field

from seeds_dag.store import ArtifactStore

ROOT_ENV_VAR = "SEEDS_DAG_STORAGE_ROOT"
DEFAULT_ROOT = "./data"


class StorageResource(ConfigurableResource):
    """Where artifacts are written. `root` defaults to $SEEDS_DAG_STORAGE_ROOT, else ./data.

    Credentials for S3 belong in `key`/`secret` set from the environment
    (`dg.EnvVar("AWS_ACCESS_KEY_ID")`), never in code; they are handed to s3fs and never logged.
    """

    root: str = Field(default_factory=lambda: os.environ.get(ROOT_ENV_VAR, DEFAULT_ROOT))
    endpoint_url: str | None = None
    # Left out of repr/str, which exceptions and debuggers show.
    key: str | None = Field(default=None, repr=False)
    secret: str | None = Field(default=None, repr=False)
    anon: bool = False
    read_timeout_s: float | None = Field(
        default=None, gt=0, description="How long an S3 request waits for an answer before it is "
        "retried (the store's retries, seeds_dag/store/retries.py); default botocore's 60 s.")

    def store(self) -> ArtifactStore:
        options: dict = {}
        if self.root.startswith("s3://"):
            options["anon"] = self.anon
            if self.key is not None:
                options.update(key=self.key, secret=self.secret)
            if self.endpoint_url is not None:
                options["client_kwargs"] = {"endpoint_url": self.endpoint_url}
            if self.read_timeout_s is not None:
                options["config_kwargs"] = {"read_timeout": self.read_timeout_s}
        return ArtifactStore(self.root, storage_options=options or None)
