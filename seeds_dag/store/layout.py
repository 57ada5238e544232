"""Where artifacts live under the storage root, which names are safe, and how roots are read.

    {root}/{asset}/{partition or "_all"}/CURRENT       text: name of the committed version
    {root}/{asset}/{partition or "_all"}/v-{UTC %Y%m%dT%H%M%S.%fZ}-{8 hex}.zarr   dataset versions
    {root}/{asset}/{partition or "_all"}/v-{UTC %Y%m%dT%H%M%S.%fZ}-{8 hex}.objects/{name}
                                                       versions of a set of objects (parquet, text)
    {root}/{asset}/{partition or "_all"}/.{version}.writing   marks a version still being written
    {root}/{asset}/{partition or "_all"}/{name}        objects written one at a time: checkpoints,
                                                       model files, PNG, HTML

Asset names, partition keys and object names are single path segments matching `KEY_RULE`, so no
key can climb out of the root (`..`, `/abs`, `a/b`) or collide with the layout's own names:
`_all` and temporary files (`.name.tmp-*`) cannot match the rule, and `CURRENT` and version names
are refused as object names.
"""

from __future__ import annotations

import datetime
import re
import uuid
from collections.abc import Mapping
from pathlib import Path
from typing import Any

KEY_RULE = r"^[A-Za-z0-9][A-Za-z0-9_.-]*$"
POINTER = "CURRENT"
UNPARTITIONED = "_all"
_KEY = re.compile(KEY_RULE)
# What a version holds, told by its name's suffix: a zarr v3 dataset, or a set of objects.
DATASET, OBJECTS = ".zarr", ".objects"
# The timestamp leads so that names sort by creation time; the uuid part tells apart versions
# created in the same microsecond.
_VERSION = re.compile(
    rf"^v-\d{{8}}T\d{{6}}\.\d{{6}}Z-[0-9a-f]{{8}}({re.escape(DATASET)}|{re.escape(OBJECTS)})$"
)
_VERSION_TIME = "v-%Y%m%dT%H%M%S.%fZ"
# A version still marked as being written this long after its name's time belongs to a writer that
# was killed: no materialisation of one partition runs for a day.
ABANDONED_AFTER = datetime.timedelta(days=1)
# Option names whose values are credentials; matched as substrings of the lower-cased name.
_SECRET_WORDS = ("key", "secret", "token", "password", "credential", "session")


def check_key(kind: str, value: Any) -> str:
    """Return `value` if it is a safe path segment (`KEY_RULE`, no '..'), else raise ValueError."""
    if not isinstance(value, str) or not _KEY.match(value) or ".." in value:
        raise ValueError(f"unsafe {kind} {value!r}: must match {KEY_RULE} and not contain '..'")
    return value


def partition_segment(partition: str | None) -> str:
    return UNPARTITIONED if partition is None else check_key("partition key", partition)


def check_object_name(name: Any) -> str:
    """A safe object name that is neither the pointer nor a version name."""
    if not is_object_name(check_key("object name", name)):
        raise ValueError(
            f"object name {name!r} is reserved for versions ({POINTER}, v-<time>-<id>.zarr or "
            ".objects)"
        )
    return name


def new_version_name(kind: str) -> str:
    """A fresh version name; `kind` is what it holds, `DATASET` or `OBJECTS`."""
    stamp = datetime.datetime.now(datetime.UTC).strftime("%Y%m%dT%H%M%S.%fZ")
    return f"v-{stamp}-{uuid.uuid4().hex[:8]}{kind}"


def is_version_name(name: str) -> bool:
    return bool(_VERSION.match(name))


def holds_objects(version: str) -> bool:
    """Whether a version name is that of a set of objects (not a dataset)."""
    return version.endswith(OBJECTS)


def writing_marker(version: str) -> str:
    """Name of the marker that flags `version` as still being written (a dot name: never a key)."""
    return f".{version}.writing"


def temporary_name(name: str) -> str:
    """Where an object is written before it is renamed into place (local roots): hidden, and
    unique per write."""
    return f".{name}.tmp-{uuid.uuid4().hex[:8]}"


def temporary_pattern(name: str) -> str:
    """A glob matching every `temporary_name(name)`."""
    return f".{name}.tmp-*"


def is_abandoned(version: str) -> bool:
    """Whether a version name's creation time is more than `ABANDONED_AFTER` ago."""
    created = datetime.datetime.strptime(version[:25], _VERSION_TIME).replace(tzinfo=datetime.UTC)
    return datetime.datetime.now(datetime.UTC) - created > ABANDONED_AFTER


def is_committed_name(name: str) -> bool:
    """CURRENT or an object: a name in a partition directory that is no version or temp file."""
    return bool(_KEY.match(name)) and not is_version_name(name)


def is_object_name(name: str) -> bool:
    """An object's name: neither CURRENT nor a version, marker or temporary file."""
    return is_committed_name(name) and name != POINTER


def where(asset: str, partition: str | None) -> str:
    """How errors and logs name an artifact."""
    return f"asset {asset!r}, partition {partition!r}"


def parse_root(root: Any) -> tuple[str, str]:
    """(protocol, filesystem path of the root): ('file', absolute path) or ('s3', 'bucket/prefix')."""
    if not isinstance(root, str) or not root.strip():
        raise ValueError(f"storage root must be a non-empty path or s3:// URL, got {root!r}")
    if "://" not in root:
        return "file", str(Path(root).expanduser().resolve())
    protocol, rest = root.split("://", 1)
    if protocol == "file":
        return "file", str(Path(rest).expanduser().resolve())
    if protocol != "s3":
        raise ValueError(f"storage root protocol {protocol!r} unsupported: use a path or s3://")
    bucket = rest.split("/", 1)[0]
    if "@" in bucket:
        # Do not echo the root: it holds credentials.
        raise ValueError("s3 storage root contains credentials; pass them in storage_options")
    if not bucket:
        raise ValueError(f"s3 storage root {root!r} has no bucket: expected s3://bucket[/prefix]")
    base = rest.strip("/")
    # S3 keys are literal, but HTTP clients and other tools may resolve '..' and '.' segments (and
    # collapse '//'), which would move the root, even to another bucket.
    odd = [segment for segment in base.split("/") if segment in ("", ".", "..")]
    if odd:
        raise ValueError(f"s3 storage root {root!r} has {odd} path segments: give a plain "
                         "s3://bucket/prefix")
    return "s3", base


def redacted(options: Mapping[str, Any]) -> dict[str, Any]:
    """`options` with every credential-like value (at any depth) replaced by '***'."""
    return {
        name: "***"
        if any(word in name.lower() for word in _SECRET_WORDS)
        else redacted(value)
        if isinstance(value, Mapping)
        else value
        for name, value in options.items()
    }
