"""Reading archive objects, whole or by byte ranges, and surviving a flaky object store.

Three guarantees:
* **Retries with exponential backoff** on transient failures only: HTTP 5xx and throttling
  (429, SlowDown), timeouts, connection resets/refusals, and transfers cut short or damaged.
  Attempt k waits between d/2 and d with d = min(base·multiplier^(k−1), max) ("equal jitter", so
  parallel downloads do not retry in lockstep). A missing object (404) or refused access (403) is
  not retried: it will not heal, and the error says which object. The loop is tenacity's
  (`Retrying`, stop after `attempts`, our wait and our `is_transient`), so the policy is the
  only thing written here.
* **No partial object is ever decoded.** An object is downloaded to a temporary file, and its size
  is compared with the object's ContentLength from a HEAD request; where the ETag is a plain MD5
  (single-part uploads), the file's MD5 is compared too, and botocore checks an S3 checksum where
  the object carries one. A mismatch counts as a transient failure and the whole object is
  fetched again. (A multipart upload with neither is checked for its size only.)
* **No short or altered range is ever decoded.** `read_ranges` compares every range received
  with the length asked for, a mismatch again being transient. An S3 ETag (and an S3 checksum)
  covers the whole object, so a range has no checksum of its own. Over https, TLS authenticates
  every byte received (an altered record fails the connection, which is retried); over plain
  http (a mirror, MinIO, a test server: `S3Access.guards_transfers` is False) `read_ranges`
  fetches each range twice, concurrently, and takes it only when both bodies agree, at the cost
  of twice the range bytes. Two agreeing bodies rule out damage that differs between transfers
  (a bit flipped on the way), not a middlebox that alters every response alike. The caller
  checks the bytes as GRIB2 messages too (`grib2_messages.check_message`), which catches damage
  to their framing and headers but not to their packed values (see `grib2_reads`).

For GRIB objects this is the one retry policy: `S3Access` turns botocore's own request retries
off (`total_max_attempts: 1`), so `RetryPolicy` alone decides how often and how long to wait, and
every retry is logged with the object it is for. (s3fs still re-reads a body that breaks mid-stream
with a Range request, and backs off on SlowDown by itself.) Stores read by many small requests,
like ERA5 zarr chunks, keep the client's request retries and add this policy around each read.
"""

from __future__ import annotations

import dataclasses
import hashlib
import http.client
import logging
import os
import random
import re
import tempfile
import time
import urllib.parse
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TypeVar

import fsspec
import tenacity
from fsspec.utils import merge_offset_ranges

from seeds_dag.sources.archive.errors import (
    ArchiveError,
    ArchiveObjectMissing,
    ArchiveTransferError,
)

logger = logging.getLogger(__name__)

T = TypeVar("T")

# S3 error codes that mean "try again later" whatever the HTTP status they come with.
_RETRYABLE_CODES = {"SlowDown", "Throttling", "ThrottlingException", "RequestTimeout",
                    "InternalError", "ServiceUnavailable", "RequestLimitExceeded"}
_PLAIN_MD5 = re.compile(r"^[0-9a-f]{32}$")
_MD5_BLOCK = 1 << 20


class IncompleteDownload(OSError):
    """The bytes received differ from the object's size or MD5, or two reads of a range differ:
    a transfer cut short or damaged."""


@dataclasses.dataclass(frozen=True)
class RetryPolicy:
    """Exponential backoff: `attempts` tries in all, waits growing from `base_delay_s` by
    `multiplier` per retry up to `max_delay_s` (each wait jittered down to half)."""

    attempts: int = 5
    base_delay_s: float = 1.0
    multiplier: float = 2.0
    max_delay_s: float = 30.0

    def __post_init__(self) -> None:
        if self.attempts < 1:
            raise ValueError(f"RetryPolicy.attempts must be >= 1, got {self.attempts}")

    def delay(self, retry: int) -> float:
        """Seconds to wait before retry number `retry` (1-based)."""
        ceiling = min(self.base_delay_s * self.multiplier ** (retry - 1), self.max_delay_s)
        return ceiling / 2 + random.uniform(0.0, ceiling / 2)


def _causes(err: BaseException) -> list[BaseException]:
    """`err` and the exceptions it was raised from or during, outermost first."""
    chain: list[BaseException] = []
    while err is not None and all(err is not seen for seen in chain):
        chain.append(err)
        err = err.__cause__ or err.__context__
    return chain


def _transient_types() -> tuple[type[BaseException], ...]:
    import aiohttp
    import botocore.exceptions as bce
    from fsspec.exceptions import FSTimeoutError

    return (TimeoutError, ConnectionError, http.client.IncompleteRead, IncompleteDownload,
            FSTimeoutError, aiohttp.ClientError, bce.HTTPClientError, bce.IncompleteReadError,
            bce.ResponseStreamingError, bce.FlexibleChecksumError)


def is_transient(err: BaseException) -> bool:
    """Whether `err` (or what it was raised from) is worth retrying: 5xx and throttling from S3
    (botocore) or GCS (gcsfs), timeouts, resets, truncated transfers. 404/403 and local errors
    are not."""
    from botocore.exceptions import ClientError

    chain = _causes(err)
    if isinstance(chain[0], (FileNotFoundError, PermissionError)):
        return False
    from gcsfs.retry import HttpError

    transient = _transient_types()
    for cause in chain:
        if isinstance(cause, ClientError):
            status = cause.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0)
            code = cause.response.get("Error", {}).get("Code", "")
            return status >= 500 or status == 429 or code in _RETRYABLE_CODES
        if isinstance(cause, HttpError):  # gcsfs (ERA5 on gs://)
            return isinstance(cause.code, int) and (cause.code >= 500 or cause.code == 429)
        if isinstance(cause, transient):
            return True
    return False


def with_retries(operation: Callable[[], T], what: str, policy: RetryPolicy,
                 sleep: Callable[[float], None] = time.sleep,
                 also_retry: tuple[type[ArchiveError], ...] = ()) -> T:
    """Run `operation`, retrying transient failures by `policy`.

    A missing object raises `ArchiveObjectMissing`, a transient failure on the last attempt or
    any other error `ArchiveTransferError`; both messages start with `what` (the object and what
    it was read for). `ArchiveError`s raised by the operation itself propagate unchanged, except
    those of the types `also_retry`: the caller's checks of bytes that a damaged transfer could
    have failed, retried as transient and, on the last attempt, raised saying so.
    """

    def log_retry(state: tenacity.RetryCallState) -> None:
        err = state.outcome.exception()
        logger.warning("%s: %s (%s); retry %d of %d in %.2f s", what, type(err).__name__, err,
                       state.attempt_number, policy.attempts - 1, state.upcoming_sleep)

    retrying = tenacity.Retrying(
        retry=tenacity.retry_if_exception(
            lambda err: isinstance(err, also_retry)
            or not isinstance(err, ArchiveError) and is_transient(err)),
        stop=tenacity.stop_after_attempt(policy.attempts),
        wait=lambda state: policy.delay(state.attempt_number),
        sleep=sleep, before_sleep=log_retry, reraise=True)
    try:
        return retrying(operation)
    except also_retry as err:
        attempt = retrying.statistics["attempt_number"]
        raise type(err)(f"{err} (attempt {attempt} of {policy.attempts})") from err
    except ArchiveError:
        raise
    except FileNotFoundError as err:
        raise ArchiveObjectMissing(f"{what}: no such object ({err})") from err
    except Exception as err:
        if is_transient(err):
            raise ArchiveTransferError(
                f"{what}: still failing after {policy.attempts} attempts; last error "
                f"{type(err).__name__}: {err}"
            ) from err
        raise ArchiveTransferError(f"{what}: {type(err).__name__}: {err}") from err


@dataclasses.dataclass(frozen=True, repr=False)
class S3Access:
    """How to reach an S3 bucket: anonymous by default (the NOAA buckets are public).

    `key`/`secret` come from the environment (Dagster `EnvVar`) and are never shown in repr or
    errors; with `anon=False` and no key, botocore's usual chain (AWS_* variables, profiles,
    instance roles) supplies credentials. `endpoint_url` points at another S3 service (a mirror,
    MinIO, a test server).
    """

    endpoint_url: str | None = None
    anon: bool = True
    key: str | None = None
    secret: str | None = None
    connect_timeout_s: float = 10.0
    read_timeout_s: float = 60.0

    def __repr__(self) -> str:
        return (f"S3Access(endpoint_url={self.endpoint_url!r}, anon={self.anon}, "
                f"key={'***' if self.key else None})")

    @property
    def guards_transfers(self) -> bool:
        """Whether TLS authenticates every byte received: https, and AWS's own endpoints (used
        when `endpoint_url` is None). Where it does not, ranges are read twice (module docstring)."""
        return self.endpoint_url is None or urllib.parse.urlsplit(self.endpoint_url).scheme == "https"

    def storage_options(self) -> dict[str, Any]:
        """Options for `fsspec.filesystem("s3", ...)`."""
        options: dict[str, Any] = {
            "anon": self.anon and self.key is None,
            "config_kwargs": {"connect_timeout": self.connect_timeout_s,
                              "read_timeout": self.read_timeout_s,
                              # RetryPolicy retries whole objects; see the module docstring.
                              "retries": {"total_max_attempts": 1}},
        }
        if self.key is not None:
            options.update(key=self.key, secret=self.secret)
        if self.endpoint_url is not None:
            options["client_kwargs"] = {"endpoint_url": self.endpoint_url}
        return options

    def filesystem(self) -> fsspec.AbstractFileSystem:
        return fsspec.filesystem("s3", **self.storage_options())


def _md5(path: Path) -> str:
    digest = hashlib.md5(usedforsecurity=False)
    with open(path, "rb") as f:
        while block := f.read(_MD5_BLOCK):
            digest.update(block)
    return digest.hexdigest()


def _head(fs: fsspec.AbstractFileSystem, path: str) -> tuple[int, dict[str, Any]]:
    """The object's size and what else a fresh HEAD request says of it (not s3fs's cache)."""
    fs.invalidate_cache(path)
    info = fs.info(path)
    if info.get("size") is None:
        raise OSError(f"the store reports no size for {path}")
    return int(info["size"]), info


def _fetch_once(fs: fsspec.AbstractFileSystem, path: str, target: Path, check_md5: bool) -> None:
    expected, info = _head(fs, path)
    fs.get_file(path, str(target))
    got = target.stat().st_size
    if got != expected:
        raise IncompleteDownload(f"received {got} of {expected} bytes")
    etag = str(info.get("ETag", info.get("etag", ""))).strip('"').lower()
    if check_md5 and _PLAIN_MD5.match(etag) and _md5(target) != etag:
        raise IncompleteDownload(f"MD5 of the {got} bytes received differs from the ETag {etag}")


def download_whole(fs: fsspec.AbstractFileSystem, path: str, directory: str | os.PathLike,
                   what: str, policy: RetryPolicy, check_md5: bool = True) -> Path:
    """Download the object `path` (bucket/key) into a new file under `directory` and return it,
    only once its size (and MD5, where the ETag is one) matches the object's; see the module
    docstring for the retries. The caller owns (and deletes) the file."""
    fd, name = tempfile.mkstemp(dir=directory, suffix=".part")
    os.close(fd)
    target = Path(name)
    try:
        with_retries(lambda: _fetch_once(fs, path, target, check_md5), what, policy)
    except BaseException:
        target.unlink(missing_ok=True)
        raise
    return target


def object_size(fs: fsspec.AbstractFileSystem, path: str, what: str, policy: RetryPolicy) -> int:
    """The size in bytes of the object `path` (bucket/key), from a HEAD request."""
    return with_retries(lambda: _head(fs, path)[0], what, policy)


def read_ranges(fs: fsspec.AbstractFileSystem, path: str, ranges: Sequence[tuple[int, int]],
                what: str, policy: RetryPolicy, confirm: bool = False) -> list[bytes]:
    """The bytes [start, end) of the object `path` for each of `ranges`, only once every range
    received is as long as asked and, with `confirm`, equal to a second read of it (for
    transports that do not guard the bytes: `S3Access.guards_transfers`). Adjacent ranges are
    fetched by one request; the requests of one call (both reads of each, with `confirm`) run
    concurrently, and a failure retries them all."""
    if not ranges:
        return []
    _, starts, ends = merge_offset_ranges([path] * len(ranges), [r[0] for r in ranges],
                                          [r[1] for r in ranges])
    reads = 2 if confirm else 1

    def fetch() -> list[bytes]:
        blobs = fs.cat_ranges([path] * len(starts) * reads, starts * reads, ends * reads,
                              on_error="raise")
        for start, end, blob in zip(starts * reads, ends * reads, blobs):
            if len(blob) != end - start:
                raise IncompleteDownload(f"received {len(blob)} of {end - start} bytes of the "
                                         f"range {start}–{end}")
        first, again = blobs[:len(starts)], blobs[len(starts):]
        for start, end, blob, other in zip(starts, ends, first, again):
            if blob != other:
                differ = next(i for i, (a, b) in enumerate(zip(blob, other)) if a != b)
                raise IncompleteDownload(f"two reads of the range {start}–{end} differ at byte "
                                         f"{start + differ}")
        return first

    blobs = with_retries(fetch, what, policy)
    pieces = []
    for start, end in ranges:
        block = next(i for i, (s, e) in enumerate(zip(starts, ends)) if s <= start and end <= e)
        pieces.append(blobs[block][start - starts[block]:end - starts[block]])
    return pieces
