"""The GEFS reads benchmark's tiny configuration end to end, against its own moto server: the
table it promises, both read modes of both archives, and ranged reads moving fewer bytes (the run
itself stops if the two modes' forecasts differ by a bit). Its counts are checked against what
was put on the server and against GEFS's published member counts, not against its own arithmetic."""

import signal
import threading

import pytest

from benchmarks import gefs_reads

# Members of one init: GEFSv12 reforecast (c00 and p01-p04) and GEFS operational (c00, p01-p30).
MEMBERS_PER_INIT = {"GEFSv12 reforecast": 5, "GEFS operational": 31}
BYTES_PER_MB = 1e6  # the table's unit
# The tiny run reads one member of each archive; these build that member's objects as it does.
OBJECTS = {"GEFSv12 reforecast": gefs_reads.reforecast_objects,
           "GEFS operational": gefs_reads.operational_objects}


def test_tiny_run_prints_the_promised_table():
    table = gefs_reads.main(["--tiny"])

    assert list(table.columns) == list(gefs_reads.COLUMNS)
    rows = {(row.archive, row.read_mode): row for row in table.itertuples()}
    for archive, members in MEMBERS_PER_INIT.items():
        whole, ranged = rows[(archive, "whole")], rows[(archive, "ranged")]
        # Read whole, every GRIB2 object of the member crosses the wire once, and nothing else
        # (the operational .idx inventories are for ranged reads).
        stored = {key: len(data) for key, data in OBJECTS[archive](gefs_reads.TINY, 0)
                  if not key.endswith(".idx")}
        stored_bytes = sum(stored.values())
        assert (whole.members, whole.objects) == (1, len(stored))
        assert round(whole.mb * BYTES_PER_MB) == stored_bytes
        assert whole.requests == 2 * len(stored)  # a HEAD and a GET per object
        assert 0 < ranged.mb < whole.mb
        assert ranged.mb_whole_over_ranged == pytest.approx(stored_bytes / (ranged.mb * BYTES_PER_MB))
        for row in (whole, ranged):
            assert (row.requests_per_init, row.mb_per_init) == pytest.approx(
                (row.requests * members, row.mb * members))


def test_the_s3_server_stops_on_sigterm_even_where_sigterm_is_ignored():
    """A process in which Dagster ran has SIGTERM mapped to SIGINT's handler: "ignore" under a
    shell without job control (CI's, nohup's), and the server's process inherited it, so leaving
    the benchmark's server hung the suite. Its process stops on the SIGTERM itself, not on the
    SIGKILL that follows a timeout."""
    previous = signal.signal(signal.SIGTERM, signal.SIG_IGN)
    try:
        server = gefs_reads.CountingS3().__enter__()
    finally:
        signal.signal(signal.SIGTERM, previous)
    process = server._process
    # Left in a thread, so that a server that ignores SIGTERM fails the test instead of hanging it.
    leaving = threading.Thread(target=server.__exit__, args=(None, None, None), daemon=True)
    leaving.start()
    leaving.join(timeout=gefs_reads.STOP_SECONDS / 2)
    if process.is_alive():
        process.kill()
    assert process.exitcode == -signal.SIGTERM
