"""Reading one GEFS init whole or by byte ranges: bytes, requests and seconds, on a local S3.

A moto S3 server in a child process (127.0.0.1, its own core) counts every request and every
response byte it serves. It holds GEFS objects at full size, written as the tests write theirs
(`tests/archive_fakes.py`: NCEP's encodings, 16-bit complex packing) on the 0.5° grid (361 × 720,
≈ 330 kB a message):

* reforecast, per member: one object per file of the default variables (`hgt_pres_abv700mb`,
  `tmp_pres`, `ugrd_pres`, `vgrd_pres`: 7 pressure levels; `pres_sfc`: one), each under
  `Days:1-10` (80 leads, 3-hourly to 240 h: 560 messages, ≈ 185 MB) and `Days:10-16` (24 leads,
  6-hourly to 384 h), messages ordered by lead, then level, and no `.idx`;
* operational, per member and lead: one object of 83 fields (HGT, TMP, RH, UGRD, VGRD at 15
  levels, 8 near-surface fields, ≈ 27 MB; the pgrb2ap5 files hold ≈ 80) and its wgrib2 `.idx`.

The messages a read needs are encoded from their own values; the others are copies of one of them
relabelled (`retagged`), which keeps sizes real and writing fast. `gefs.gefs_forecast` then reads
the default variables at the default leads (1, 3, 5, 7, 10, 15 days) with `read_mode` "whole" and
"ranged" and the two forecasts are compared bit for bit (the run stops if they differ). Members
are measured as asked (`--reforecast-members`, `--operational-members`) and the per-init columns
scale them to a whole init (5 reforecast members, 31 operational): bytes and requests scale
exactly (each member's objects are alike and read apart), seconds roughly.

    .venv/bin/python -m benchmarks.gefs_reads [--reforecast-members 1] [--operational-members 1]
        [--workers 4] [--tiny]

A local server answers a request in about a millisecond; S3 takes tens, so there the header hops
of a reforecast object (one request per message up to the last one needed) cost more time than
here. Requests are reported so that they can be priced.
"""

from __future__ import annotations

import argparse
import dataclasses
import logging
import multiprocessing
import signal
import time
from collections.abc import Iterator

import pandas as pd
import s3fs
import xarray as xr

from seeds_dag.conventions import OutputGrid
from seeds_dag.sources.archive.gefs import (
    HOURS_PER_DAY,
    OPERATIONAL,
    REFORECAST,
    GefsArchive,
    gefs_forecast,
)
from seeds_dag.sources.archive.s3_io import S3Access
from seeds_dag.sources.archive.variables import CORE_VARIABLES, GEFS_FIELDS
from seeds_dag.sources.embedded.source import EmbeddedSourceConfig
from tests.archive_fakes import (
    NCEP,
    NcepEncoding,
    field_in_grib_units,
    grib_grid,
    grib_message,
    idx_text,
    public_bucket,
    retagged,
)

COLUMNS = ("archive", "read_mode", "members", "objects", "requests", "mb", "seconds",
           "requests_per_init", "mb_per_init", "s_per_init", "mb_whole_over_ranged")
"""Per measured members: objects read, requests served (GET and HEAD), MB of response bodies,
wall seconds of `gefs_forecast`; *_per_init: scaled to every member of an init."""
INIT = pd.Timestamp("2019-06-01")
MEMBERS_PER_INIT = {REFORECAST.name: REFORECAST.max_members, OPERATIONAL.name: OPERATIONAL.max_members}
_COUNTED = ("GET", "HEAD")
MB = 1e6
STOP_SECONDS = 10
"""How long the S3 server process gets to stop on SIGTERM before it is killed."""


@dataclasses.dataclass(frozen=True)
class ArchiveShape:
    """How big the objects are: grid step, reforecast leads and levels, operational fields."""

    step_deg: float = 0.5
    lead_days: tuple[int, ...] = EmbeddedSourceConfig.lead_days
    # GEFSv12 reforecast: 3-hourly to 240 h under Days:1-10, 6-hourly beyond under Days:10-16.
    near_leads_h: tuple[int, ...] = tuple(range(3, 241, 3))
    far_leads_h: tuple[int, ...] = tuple(range(246, 385, 6))
    # Levels of each reforecast file, hPa (None: a surface field).
    file_levels: tuple[tuple[str, tuple[int | None, ...]], ...] = (
        ("hgt_pres_abv700mb", (500, 400, 300, 250, 200, 100, 50)),
        ("tmp_pres", (1000, 950, 925, 900, 850, 800, 700)),
        ("ugrd_pres", (1000, 950, 925, 900, 850, 800, 700)),
        ("vgrd_pres", (1000, 950, 925, 900, 850, 800, 700)),
        ("pres_sfc", (None,)),
    )
    operational_levels: tuple[int, ...] = (1000, 975, 950, 925, 850, 700, 500, 400, 300, 250,
                                           200, 100, 50, 20, 10)


TINY = ArchiveShape(step_deg=2.0, lead_days=(1, 2), near_leads_h=(24, 36, 48),
                    far_leads_h=(264,), operational_levels=(850, 500))

# The operational files' other fields, as NCEP encodes them: RH on pressure levels and the
# near-surface fields beside PRES, PRMSL, TMP 2 m and PWAT.
_RH = NcepEncoding(0, 1, 1, 100, None, 60.0, 30.0, ("RH", ""))
_NEAR_SURFACE = (
    NcepEncoding(0, 0, 0, 1, None, 285.0, 20.0, ("TMP", "surface")),
    NcepEncoding(0, 2, 2, 103, 10, 0.0, 10.0, ("UGRD", "10 m above ground")),
    NcepEncoding(0, 2, 3, 103, 10, 0.0, 10.0, ("VGRD", "10 m above ground")),
    NcepEncoding(0, 1, 1, 103, 2, 60.0, 30.0, ("RH", "2 m above ground")),
)


def _at_level(enc: NcepEncoding, hpa: int | None) -> NcepEncoding:
    if hpa is None:
        return enc
    return dataclasses.replace(enc, level=hpa * 100, wgrib2=(enc.wgrib2[0], f"{hpa} mb"))


def _file_of(name: str) -> str:
    return GEFS_FIELDS[name].reforecast_file


def reforecast_objects(shape: ArchiveShape, member: int) -> Iterator[tuple[str, bytes]]:
    """(key, object) of one reforecast member: every file of the default variables."""
    lat, lon = grib_grid(shape.step_deg)
    wanted = {d * HOURS_PER_DAY for d in shape.lead_days}
    levels = dict(shape.file_levels)
    for name in CORE_VARIABLES:
        field, base = GEFS_FIELDS[name], NCEP[name]
        for leads in (shape.near_leads_h, shape.far_leads_h):
            needed = {hours: grib_message(name, field_in_grib_units(name, member, hours, lat, lon),
                                          INIT, member, hours, REFORECAST.max_members,
                                          shape.step_deg)
                      for hours in leads if hours in wanted}
            if not needed:  # a file of leads the read does not ask for: never opened
                continue
            template = next(iter(needed.values()))
            messages = [needed[hours] if hours in needed and enc.level == base.level
                        else retagged(template, enc, hours)
                        for hours in leads
                        for enc in (_at_level(base, hpa) for hpa in levels[_file_of(name)])]
            yield REFORECAST.key(INIT, member, field, leads[0]), b"".join(messages)


def operational_objects(shape: ArchiveShape, member: int) -> Iterator[tuple[str, bytes]]:
    """(key, object) and (key.idx, inventory) of one operational member at every default lead."""
    lat, lon = grib_grid(shape.step_deg)
    names_at_levels = [(name, hpa) for name in ("z500", "t850", None, "u850", "v850")
                       for hpa in shape.operational_levels]
    for days in shape.lead_days:
        hours = days * HOURS_PER_DAY
        needed = {name: grib_message(name, field_in_grib_units(name, member, hours, lat, lon),
                                     INIT, member, hours, OPERATIONAL.max_members, shape.step_deg)
                  for name in CORE_VARIABLES}
        encodings = [_at_level(NCEP[name] if name else _RH, hpa) for name, hpa in names_at_levels]
        encodings += [NCEP["sp"], NCEP["msl"], NCEP["t2m"], NCEP["tcwv"], *_NEAR_SURFACE]
        by_encoding = {NCEP[name]: message for name, message in needed.items()}
        messages = [by_encoding.get(enc) or retagged(needed["z500"], enc, hours)
                    for enc in encodings]
        key = OPERATIONAL.key(INIT, member, GEFS_FIELDS["z500"], hours)
        yield key, b"".join(messages)
        yield f"{key}.idx", idx_text(messages, [(e, member, hours) for e in encodings],
                                     INIT).encode()


def _keep_object_bytes() -> None:
    """Make moto keep each object's bytes once instead of copying the whole object to answer any
    request for it, a range of 1 kB included (≈ 0.1 s for a 185 MB object here). S3 answers a
    range in a time that does not grow with the object; without this, the seconds of ranged reads
    would measure moto's copies."""
    from moto.s3.models import FakeKey

    stored = FakeKey.value

    def read(key: FakeKey) -> bytes:
        if key.__dict__.get("_bytes") is None:
            key.__dict__["_bytes"] = stored.fget(key)
        return key.__dict__["_bytes"]

    def write(key: FakeKey, value: bytes) -> None:
        key.__dict__["_bytes"] = None
        stored.fset(key, value)

    FakeKey.value = property(read, write)


def _serve(port, counts, lock) -> None:
    """The child process: moto behind a WSGI layer counting requests and response bytes."""
    # Stoppable by SIGTERM whoever started us: a process in which Dagster ran maps SIGTERM to
    # SIGINT's handler, which is "ignore" under a shell without job control, and an ignored
    # signal stays ignored across exec (the suite hung here on `terminate()`).
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    from moto.moto_server.werkzeug_app import (
        DomainDispatcherApplication,
        MotoRequestHandler,
        create_backend_app,
    )
    from werkzeug.serving import make_server

    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # a line per request otherwise
    _keep_object_bytes()
    moto = DomainDispatcherApplication(create_backend_app)

    def counting(environ, start_response):
        body = moto(environ, start_response)
        sent = 0
        try:
            for chunk in body:
                sent += len(chunk)
                yield chunk
        finally:
            getattr(body, "close", lambda: None)()
        method = environ["REQUEST_METHOD"]
        if method in _COUNTED:
            with lock:
                counts[_COUNTED.index(method)] += 1
                counts[len(_COUNTED)] += sent

    server = make_server("127.0.0.1", 0, counting, threaded=True,
                         request_handler=MotoRequestHandler)
    port.value = server.server_port
    server.serve_forever()


class CountingS3:
    """A moto S3 server in a child process; `counts()` since the last `reset()`."""

    def __enter__(self) -> CountingS3:
        context = multiprocessing.get_context("spawn")
        self._port = context.Value("i", 0)
        self._counts = context.Array("q", len(_COUNTED) + 1)
        self._lock = context.Lock()
        self._process = context.Process(target=_serve, args=(self._port, self._counts, self._lock),
                                        daemon=True)
        self._process.start()
        while not self._port.value:
            if not self._process.is_alive():
                raise RuntimeError("the moto server did not start")
            time.sleep(0.05)
        self.endpoint = f"http://127.0.0.1:{self._port.value}"
        return self

    def __exit__(self, *exc) -> None:
        self._process.terminate()
        self._process.join(timeout=STOP_SECONDS)
        if self._process.is_alive():
            self._process.kill()
            self._process.join()

    def reset(self) -> None:
        with self._lock:
            self._counts[:] = [0] * len(self._counts)

    def counts(self) -> tuple[int, int]:
        """(requests, response bytes)."""
        with self._lock:
            return sum(self._counts[:len(_COUNTED)]), self._counts[len(_COUNTED)]


def _bitwise_equal(a: xr.Dataset, b: xr.Dataset) -> bool:
    return a.identical(b) and all(a[n].values.tobytes() == b[n].values.tobytes()
                                  for n in a.data_vars)


def measure(server: CountingS3, archive: GefsArchive, members: int, shape: ArchiveShape,
            workers: int) -> list[dict]:
    """One row per read mode: the init read by `gefs_forecast` from `server`."""
    access = S3Access(endpoint_url=server.endpoint)
    forecasts, rows = {}, []
    for mode in ("whole", "ranged"):
        reader = dataclasses.replace(archive, access=access, read_mode=mode,
                                     download_workers=workers)
        server.reset()
        start = time.perf_counter()
        forecasts[mode] = gefs_forecast(reader, INIT, range(members), shape.lead_days,
                                        OutputGrid())
        seconds = time.perf_counter() - start
        requests, sent = server.counts()
        scale = MEMBERS_PER_INIT[archive.name] / members
        objects = len({archive.key(INIT, m, GEFS_FIELDS[n], d * HOURS_PER_DAY)
                       for m in range(members) for n in CORE_VARIABLES for d in shape.lead_days})
        rows.append({"archive": archive.name, "read_mode": mode, "members": members,
                     "objects": objects, "requests": requests, "mb": sent / MB,
                     "seconds": seconds, "requests_per_init": requests * scale,
                     "mb_per_init": sent / MB * scale, "s_per_init": seconds * scale})
    if not _bitwise_equal(forecasts["whole"], forecasts["ranged"]):
        raise AssertionError(f"{archive.name}: ranged and whole reads differ")
    rows[1]["mb_whole_over_ranged"] = rows[0]["mb"] / rows[1]["mb"]
    return rows


def run(shape: ArchiveShape, reforecast_members: int, operational_members: int,
        workers: int) -> pd.DataFrame:
    rows = []
    with CountingS3() as server:
        writer = s3fs.S3FileSystem(key="testing", secret="testing", skip_instance_cache=True,
                                   client_kwargs={"endpoint_url": server.endpoint})
        for archive, members, objects in ((REFORECAST, reforecast_members, reforecast_objects),
                                          (OPERATIONAL, operational_members, operational_objects)):
            public_bucket(writer, archive.bucket)
            for member in range(members):
                for key, data in objects(shape, member):
                    writer.pipe_file(f"{archive.bucket}/{key}", data)
            rows += measure(server, archive, members, shape, workers)
    return pd.DataFrame(rows, columns=list(COLUMNS))


def main(argv: list[str] | None = None) -> pd.DataFrame:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reforecast-members", type=int, default=1)
    parser.add_argument("--operational-members", type=int, default=1)
    parser.add_argument("--workers", type=int, default=REFORECAST.download_workers,
                        help="objects read in parallel (GefsArchive.download_workers)")
    parser.add_argument("--tiny", action="store_true", help="a seconds-long smoke run (tests)")
    args = parser.parse_args(argv)
    table = run(TINY if args.tiny else ArchiveShape(), args.reforecast_members,
                args.operational_members, args.workers)
    with pd.option_context("display.width", 250, "display.max_columns", None):
        print(table.to_string(index=False, float_format=lambda x: f"{x:.4g}"))
    return table


if __name__ == "__main__":
    main()
