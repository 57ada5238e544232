"""A dask worker plugin that kills its worker with SIGKILL in the middle of a streamed dataset
write, made to happen there rather than by luck, for test_dask_backfill.

On every worker (those of the cluster now and those its nannies start later), the store's
`DatasetWriter.write_region` is wrapped: after a region of a version under `directory` is written,
the first worker to get there records its pid and the version in `signals/killed` and kills
itself, leaving a version with some of its chunks and no commit. The attempt that follows (dask
reruns the task of a lost worker elsewhere) writes its first region, says so in `signals/held`
and waits for `signals/released`, so the test can look at the store between the kill and the
retry's commit.
"""

from __future__ import annotations

import json
import os
import signal
import time
from pathlib import Path

from distributed import WorkerPlugin

KILLED, HELD, RELEASED = "killed", "held", "released"
HOLD_SECONDS = 120


class KillInsideWrite(WorkerPlugin):
    name = "kill-inside-write"

    def __init__(self, directory: str, signals: str):
        self.directory = directory  # e.g. "bucket/root/daily_emulated_ensembles/2000-01-06/"
        self.signals = signals

    def setup(self, worker) -> None:
        from seeds_dag.store.artifacts import DatasetWriter

        write_region, plugin = DatasetWriter.write_region, self

        def write_region_then_maybe_die(writer, ds, region):
            write_region(writer, ds, region)
            if plugin.directory in writer.url:
                plugin.after_region(writer.url)

        DatasetWriter.write_region = write_region_then_maybe_die

    def after_region(self, version_url: str) -> None:
        signals = Path(self.signals)
        try:
            first = os.open(signals / KILLED, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
        except FileExistsError:
            self._hold(signals, version_url)
            return
        os.write(first, json.dumps({"pid": os.getpid(), "version": version_url}).encode())
        os.close(first)
        os.kill(os.getpid(), signal.SIGKILL)

    @staticmethod
    def _hold(signals: Path, version_url: str) -> None:
        if (signals / RELEASED).exists():
            return
        # Written aside and renamed, so the test reads it whole.
        (signals / f".{HELD}").write_text(json.dumps({"pid": os.getpid(), "version": version_url}))
        os.replace(signals / f".{HELD}", signals / HELD)
        deadline = time.monotonic() + HOLD_SECONDS
        while not (signals / RELEASED).exists():
            if time.monotonic() > deadline:
                raise TimeoutError(f"{signals / RELEASED} did not appear in {HOLD_SECONDS} s")
            time.sleep(0.05)
