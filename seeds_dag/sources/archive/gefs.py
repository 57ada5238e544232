"""GEFS ensemble forecasts from GRIB2 objects in S3: locate, read the messages needed, decode, map,
regrid.

Layouts (key templates, Python `str.format` fields `init` (a timestamp, so `{init:%Y%m%d%H}`),
`member` (c00, p01, …), `file` (the variable's reforecast file stem), `lead_hours`, `days`):

* GEFSv12 reforecast, bucket `noaa-gefs-retrospective`, 2000–2019, 00 UTC, members c00 + p01–p04;
  one file per variable holding every lead, under `Days:1-10` (leads ≤ 240 h) or `Days:10-16`.
  Layout as in Herbie's `gefs_reforecast` template (github.com/blaylockbk/Herbie,
  herbie/models/gefs.py) and public download scripts that list `…/c00/Days:1-10/
  hgt_pres_abv700mb_2000010100_c00.grib2`-style keys.
* GEFS operational (v12), bucket `noaa-gefs-pds`, members gec00 + gep01–gep30, one file per member
  and lead holding every variable (`pgrb2ap5`, the 0.5° primary fields). Layout as in Herbie's
  `gefs` template (`gefs.{date}/{HH}/atmos/pgrb2ap5/ge{member}.t{HH}z.pgrb2a.0p50.f{FFF}`) and the
  NOAA Open Data Dissemination notes reproduced in microsoft/AIforEarthDataSets (data/noaa-gefs.md,
  example `gefs.20210827/06/atmos/pgrb2ap5/geavg.t06z.pgrb2a.0p50.f009`).

Of every object a forecast needs only the GRIB2 messages it needs are read (`read_mode="ranged"`,
the default; `grib2_reads`): located by the object's `.idx` sidecar (operational) or by hopping
from message header to message header (reforecast, which publishes none), fetched by byte ranges
(twice, and compared, where the endpoint is plain http), and each checked on its own (declared
length, `7777`, ecCodes decodes it, it holds what it was fetched for), all of it read again when a
check fails. `read_mode="whole"` downloads objects whole instead (`s3_io.download_whole`:
size/MD5 checked) and checks the framing of every message in them. Both retry transient failures
with backoff (`s3_io`). Measured by `python -m benchmarks.gefs_reads` (2026-12, this 2-core
machine: a local moto S3 counting requests and response bytes, full-size 0.5° objects, the
default variables and leads 1–15 days, one member read and scaled to an init, 4 objects at once):

| per init                      | requests | MB transferred | seconds (local S3) |
|-------------------------------|----------|----------------|--------------------|
| reforecast (5 members), whole |      180 |           4946 |                 26 |
| reforecast, ranged            |   14 580 |  64 (77× less) |                 60 |
| operational (31), whole       |      372 |           5120 |                 39 |
| operational, ranged           |    1 302 | 308 (17× less) |                 23 |

and the two modes' forecasts are equal bit for bit (the same message bytes are decoded). Ranged
reads trade bytes for requests where there is no `.idx`: a reforecast file of 80 leads × 7
levels is hopped one header at a time up to its last needed message (the 240-h lead is its
last), and here each request costs the local server ≈ 4 ms of CPU; on S3 the hops of different
objects overlap (`download_workers`), and a request's cost does not grow with the object.

The needed messages are then decoded with cfgrib, selected by shortName/typeOfLevel/level,
checked against the init time, member (perturbationNumber) and leads they should hold, converted
to our units and regridded conservatively (`regrid`). Any failure raises an `ArchiveError` naming
the key, init and member (a damaged message: `ArchiveDamagedError`, naming the message too),
before anything is returned: a partition is written whole or not at all.
"""

from __future__ import annotations

import concurrent.futures
import dataclasses
import os
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd
import xarray as xr

from seeds_dag.conventions import FORECAST_DIMS, OutputGrid, attach_attributes, validate
from seeds_dag.sources.archive.errors import ArchiveDecodeError, ArchiveError, lacks_leads
from seeds_dag.sources.archive.grib2_reads import Wanted, messages_in_file, read_messages
from seeds_dag.sources.archive.regrid import ToModelGrid
from seeds_dag.sources.archive.s3_io import RetryPolicy, S3Access, download_whole
from seeds_dag.sources.archive.variables import CORE_VARIABLES, GEFS_FIELDS, GribField

REFORECAST_BUCKET = "noaa-gefs-retrospective"
REFORECAST_INITS = (pd.Timestamp("2000-01-01"), pd.Timestamp("2019-12-31"))
"""The first and last init of the GEFSv12 reforecast (daily, 00 UTC)."""
REFORECAST_KEY = ("GEFSv12/reforecast/{init:%Y}/{init:%Y%m%d%H}/{member}/Days:{days}/"
                  "{file}_{init:%Y%m%d%H}_{member}.grib2")
OPERATIONAL_BUCKET = "noaa-gefs-pds"
OPERATIONAL_KEY = ("gefs.{init:%Y%m%d}/{init:%H}/atmos/pgrb2ap5/"
                   "ge{member}.t{init:%H}z.pgrb2a.0p50.f{lead_hours:03d}")
# The reforecast splits its files at day 10: leads up to 240 h under Days:1-10, later ones under
# Days:10-16 (Herbie's gefs_reforecast template).
_REFORECAST_SPLIT_HOURS = 240
HOURS_PER_DAY = 24


@dataclasses.dataclass(frozen=True)
class GefsArchive:
    """One GEFS archive: where its objects are and how its members are named.

    `control_member` names member 0, `perturbed_member` (a format with field `number`) the
    others; `max_members` is how many the archive has (5 reforecast, 31 operational).
    `read_mode` "ranged" fetches only the GRIB messages a forecast needs (`grib2_reads`),
    locating them by the `.idx` sidecar at key + `index_suffix` where the archive has one (None:
    by hopping message headers); "whole" downloads every object whole (size/MD5 checked).
    """

    name: str
    bucket: str
    key_template: str
    max_members: int
    control_member: str = "c00"
    perturbed_member: str = "p{number:02d}"
    variables: tuple[str, ...] = CORE_VARIABLES
    access: S3Access = dataclasses.field(default_factory=S3Access)
    retry: RetryPolicy = dataclasses.field(default_factory=RetryPolicy)
    download_workers: int = 4
    check_md5: bool = True
    read_mode: Literal["ranged", "whole"] = "ranged"
    index_suffix: str | None = None

    def __post_init__(self) -> None:
        if self.read_mode not in ("ranged", "whole"):
            raise ValueError(f"{self.name}: read_mode must be 'ranged' or 'whole', "
                             f"got {self.read_mode!r}")

    def member_name(self, number: int) -> str:
        return self.control_member if number == 0 else self.perturbed_member.format(number=number)

    def key(self, init: pd.Timestamp, number: int, field: GribField, lead_hours: int) -> str:
        """The object key holding `field` of member `number` at `lead_hours` for `init`."""
        days = "1-10" if lead_hours <= _REFORECAST_SPLIT_HOURS else "10-16"
        return self.key_template.format(init=init, member=self.member_name(number),
                                        file=field.reforecast_file, lead_hours=lead_hours,
                                        days=days)


REFORECAST = GefsArchive("GEFSv12 reforecast", REFORECAST_BUCKET, REFORECAST_KEY, max_members=5)
# NOAA publishes a wgrib2 .idx beside every operational pgrb2ap5 file (Herbie's `gefs` template
# reads `<key>.idx`); the reforecast files are read by hopping their message headers.
OPERATIONAL = GefsArchive("GEFS operational", OPERATIONAL_BUCKET, OPERATIONAL_KEY, max_members=31,
                          index_suffix=".idx")


@dataclasses.dataclass(frozen=True)
class _Read:
    """One variable of one member at some leads, all in one object."""

    member_index: int
    number: int
    field: GribField
    lead_indices: tuple[int, ...]
    lead_hours: tuple[int, ...]


def _plan(archive: GefsArchive, init: pd.Timestamp, members: Sequence[int],
          lead_hours: Sequence[int]) -> dict[str, list[_Read]]:
    """Object key → what to read from it."""
    leads_by_object: dict[tuple[str, int, int, str], list[int]] = {}
    for member_index, number in enumerate(members):
        for name in archive.variables:
            for lead_index, hours in enumerate(lead_hours):
                key = archive.key(init, number, GEFS_FIELDS[name], hours)
                leads_by_object.setdefault((key, member_index, number, name), []).append(lead_index)
    plan: dict[str, list[_Read]] = {}
    for (key, member_index, number, name), indices in leads_by_object.items():
        plan.setdefault(key, []).append(_Read(member_index, number, GEFS_FIELDS[name],
                                              tuple(indices),
                                              tuple(lead_hours[i] for i in indices)))
    return plan


def _select_one(da: xr.DataArray, coord: str, value: object, shown: str, where: str) -> xr.DataArray:
    """`da` at `coord == value`, whether `coord` is a dimension or a scalar; an error otherwise."""
    if coord not in da.coords:
        raise ArchiveDecodeError(f"{where}: the messages carry no {coord!r} ({shown} expected)")
    values = np.atleast_1d(da[coord].values)
    if value not in values:
        raise ArchiveDecodeError(f"{where}: holds {coord} {values.tolist()}, expected {shown}")
    return da.sel({coord: value}) if coord in da.dims else da


def _index_path(path: Path) -> str:
    """Where cfgrib keeps its index of `path`: every field is selected with the same keys, so the
    first decode of an object scans its messages and the others reuse the index."""
    return f"{path}.{{short_hash}}.idx"


def _decode(path: Path, read: _Read, init: pd.Timestamp, where: str) -> xr.DataArray:
    """`read.field` from the GRIB2 file at `path`: (lead, lat, lon) in our units, source grid."""
    field = read.field
    try:
        # errors="raise": cfgrib would otherwise log a message it cannot read and skip it.
        with xr.open_dataset(path, engine="cfgrib", decode_timedelta=True,
                             backend_kwargs={"filter_by_keys": field.filter_by_keys(),
                                             "indexpath": _index_path(path),
                                             "errors": "raise"}) as ds:
            if not ds.data_vars:
                raise ArchiveDecodeError(
                    f"{where}: no GRIB message for {field.name} (shortName in "
                    f"{list(field.short_names)}, typeOfLevel {field.type_of_level}, level "
                    f"{field.level})")
            da = ds[next(iter(ds.data_vars))]
            da = _select_one(da, "number", read.number, f"member {read.number} "
                             "(perturbationNumber)", where)
            da = _select_one(da, "time", np.datetime64(init, "ns"), f"init {init}", where)
            if "step" not in da.dims:
                da = da.expand_dims("step")
            wanted = np.array(read.lead_hours, dtype="timedelta64[h]").astype("timedelta64[ns]")
            missing = [h for h, w in zip(read.lead_hours, wanted) if w not in da["step"].values]
            if missing:
                held = (da["step"].values / np.timedelta64(1, "h")).astype(int).tolist()
                raise lacks_leads(where, field.name, missing, held)
            da = da.sel(step=wanted).rename(latitude="lat", longitude="lon")
            return (da.load() * field.scale).drop_vars(
                [c for c in da.coords if c not in ("step", "lat", "lon")])
    except ArchiveError:
        raise
    except Exception as err:
        raise ArchiveDecodeError(f"{where}: cannot decode {field.name} as GRIB2 "
                                 f"({type(err).__name__}: {err})") from err


def _needed_messages(archive: GefsArchive, fs, key: str, reads: Sequence[_Read], scratch: str,
                     where: str) -> Path:
    """A new file under `scratch` holding just the messages of `key` that `reads` need, each
    checked (`grib2_reads`); read by byte ranges or whole, as `archive.read_mode` says."""
    wanted = [Wanted(read.field, hours) for read in reads for hours in read.lead_hours]
    path = f"{archive.bucket}/{key}"
    if archive.read_mode == "ranged":
        index = None if archive.index_suffix is None else path + archive.index_suffix
        messages = read_messages(fs, path, wanted, where, archive.retry, index,
                                 confirm=not archive.access.guards_transfers)
    else:
        whole = download_whole(fs, path, scratch, where, archive.retry, archive.check_md5)
        try:
            messages = messages_in_file(whole, wanted, where)
        finally:
            whole.unlink(missing_ok=True)
    fd, name = tempfile.mkstemp(dir=scratch, suffix=".grib2")
    with os.fdopen(fd, "wb") as f:
        f.writelines(messages)
    return Path(name)


def gefs_forecast(archive: GefsArchive, init_time: pd.Timestamp | str, members: Sequence[int],
                  lead_days: Sequence[int], grid: OutputGrid) -> xr.Dataset:
    """The ensemble forecast of `archive` initialised at `init_time` (00 UTC for a date).

    `members`: member numbers (0 = control); `lead_days`: whole days. Returns dims (init_time=1,
    lead_time, member, lat, lon) on `grid`, float32, our variables and units, validated by
    `conventions.validate`. Raises an `ArchiveError` naming key, init and member when an object is
    missing, unreadable after retries, or does not hold what it should.
    """
    init = pd.Timestamp(init_time)
    members = [int(m) for m in members]
    where = f"{archive.name} init {init:%Y-%m-%d %H} UTC"
    bad = [m for m in members if not 0 <= m < archive.max_members]
    if bad or len(set(members)) != len(members) or not members:
        raise ValueError(f"{where}: members {members} must be distinct numbers in "
                         f"0..{archive.max_members - 1} (the archive has {archive.max_members})")
    lead_hours = [int(d) * HOURS_PER_DAY for d in lead_days]
    to_grid = ToModelGrid(grid.n_lat, grid.n_lon)
    shape = (len(lead_hours), len(members), grid.n_lat, grid.n_lon)
    # NaN until read: a (lead, member) the plan missed would fail validation, never pass as 0.
    fields = {name: np.full(shape, np.nan, np.float32) for name in archive.variables}
    plan = _plan(archive, init, members, lead_hours)
    fs = archive.access.filesystem()

    def describe(key: str) -> str:
        names = sorted({archive.member_name(r.number) for r in plan[key]})
        fields = ", ".join(dict.fromkeys(r.field.name for r in plan[key]))
        return f"s3://{archive.bucket}/{key} ({where}, member {', '.join(names)}, for {fields})"

    with tempfile.TemporaryDirectory(prefix="gefs-") as scratch, \
            concurrent.futures.ThreadPoolExecutor(max(1, archive.download_workers)) as pool:
        downloads = {pool.submit(_needed_messages, archive, fs, key, plan[key], scratch,
                                 describe(key)): key
                     for key in plan}
        try:
            for done in concurrent.futures.as_completed(downloads):
                key = downloads[done]
                path = done.result()
                try:
                    for read in plan[key]:
                        source = _decode(path, read, init, describe(key))
                        fields[read.field.name][list(read.lead_indices), read.member_index] = \
                            to_grid(source, describe(key))
                finally:
                    for leftover in (path, *path.parent.glob(f"{path.name}.*.idx")):
                        leftover.unlink(missing_ok=True)
        except BaseException:
            pool.shutdown(wait=True, cancel_futures=True)
            raise
    ds = xr.Dataset(
        {name: (FORECAST_DIMS, values[None]) for name, values in fields.items()},
        coords={
            "init_time": [init],
            "lead_time": np.array([np.timedelta64(int(d), "D") for d in lead_days],
                                  dtype="timedelta64[ns]"),
            "member": np.array(members),
            "lat": to_grid.lat,
            "lon": to_grid.lon,
        },
        attrs={"source": f"{archive.name}, s3://{archive.bucket}",
               "regridding": "first-order conservative to the model grid"},
    )
    ds = attach_attributes(ds)
    return validate(ds, FORECAST_DIMS, where, variables=archive.variables,
                    n_members=len(members), lat=to_grid.lat, lon=to_grid.lon)
