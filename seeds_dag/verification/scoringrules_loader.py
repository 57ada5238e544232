"""scoringrules, imported so that processes starting at once cannot corrupt numba's cache of it.

scoringrules compiles its energy-score gufuncs as it is imported (``guvectorize`` with explicit
signatures and ``cache=True``) and writes them to numba's on-disk cache. Each gufunc is cached as
two files, the kernel and the wrapper that calls it by a symbol name numbered in the order the
compiling process compiled things. When two processes compile at once (two daily runs, the dask
backfill's workers, two test workers on a fresh install), the cache can end up with the kernel
of one and the wrapper of the other, and every later process that loads them crashes with a
segmentation fault at the first energy score: numba's open issue #10128, seen here as four test
workers killed in one clean-clone run. Importing under an exclusive file lock means one process
compiles and writes both files while the others wait and then load that pair.
"""

from __future__ import annotations

import contextlib
import functools
import importlib.util
import os
import sys
import tempfile
from pathlib import Path
from types import ModuleType
from typing import Iterator

try:
    import fcntl
except ImportError:  # Windows: no advisory locks of this kind; the import goes unguarded there.
    fcntl = None

LOCK_NAME = "seeds_dag-scoringrules-import.lock"


@functools.cache
def lock_path() -> Path:
    """The lock file every process importing this installation of scoringrules shares.

    It sits in scoringrules' own ``__pycache__`` (numba writes its cache there too) when that is
    writable, so the processes sharing one installation share one lock; otherwise in the user's
    temp folder (numba then caches per user as well).
    """
    spec = importlib.util.find_spec("scoringrules")
    if spec is None or spec.origin is None:
        raise ModuleNotFoundError("scoringrules is not installed: `pip install -e .` installs it")
    cache = Path(spec.origin).parent / "__pycache__"
    with contextlib.suppress(OSError):
        cache.mkdir(exist_ok=True)
    if os.access(cache, os.W_OK):
        return cache / LOCK_NAME
    return Path(tempfile.gettempdir()) / f"{LOCK_NAME}.{os.getuid()}"


@contextlib.contextmanager
def import_lock() -> Iterator[None]:
    """Hold the exclusive lock on :func:`lock_path` (waiting for it) for the ``with`` block."""
    if fcntl is None:
        yield
        return
    try:
        handle = open(lock_path(), "a")
    except PermissionError:  # a lock file another user made in a shared installation
        handle = open(Path(tempfile.gettempdir()) / f"{LOCK_NAME}.{os.getuid()}", "a")
    with handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def load_scoringrules() -> ModuleType:
    """The scoringrules module, imported under :func:`import_lock` the first time in a process.

    Call it where scores are computed, not at module top: the import compiles or loads gufuncs
    (2–7 s), and most processes that load the pipeline's definitions never score.
    """
    if "scoringrules" not in sys.modules:
        with import_lock():
            return importlib.import_module("scoringrules")
    # Imported, or being imported by another thread of this process: import_module waits for that
    # import to finish, where sys.modules would hand over a half-made module.
    return importlib.import_module("scoringrules")
