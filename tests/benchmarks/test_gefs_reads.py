"""The GEFS reads benchmark's tiny configuration end to end, against its own moto server: the
table it promises, both read modes of both archives, and ranged reads moving fewer bytes (the run
itself stops if the two modes' forecasts differ by a bit)."""

import signal
import threading

from benchmarks import gefs_reads


def test_tiny_run_prints_the_promised_table():
    table = gefs_reads.main(["--tiny"])

    assert list(table.columns) == list(gefs_reads.COLUMNS)
    rows = {(row.archive, row.read_mode): row for row in table.itertuples()}
    for archive in ("GEFSv12 reforecast", "GEFS operational"):
        whole, ranged = rows[(archive, "whole")], rows[(archive, "ranged")]
        assert whole.requests == 2 * whole.objects  # a HEAD and a GET per object
        assert ranged.mb < whole.mb and ranged.mb_whole_over_ranged == whole.mb / ranged.mb
        assert ranged.requests_per_init / ranged.requests == gefs_reads.MEMBERS_PER_INIT[archive]


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
