"""GEFS ensemble forecasts from GRIB2 objects in S3: locate, download whole, decode, map, regrid.

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

Every object a forecast needs is downloaded whole (`s3_io.download_whole`: size/MD5 checked,
retried with backoff), then each of our variables is decoded with cfgrib, selected by
shortName/typeOfLevel/level, checked against the init time, member (perturbationNumber) and leads
it should hold, converted to our units and regridded conservatively (`regrid`). Any failure raises
an `ArchiveError` naming the key, init and member, before anything is returned: a partition is
written whole or not at all.
"""

from __future__ import annotations

import concurrent.futures
import dataclasses
import tempfile
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd
import xarray as xr

from seeds_dag.conventions import FORECAST_DIMS, attach_attributes, validate
from seeds_dag.sources.archive.errors import ArchiveDecodeError, ArchiveError
from seeds_dag.sources.archive.regrid import ToModelGrid
from seeds_dag.sources.archive.s3_io import RetryPolicy, S3Access, download_whole
from seeds_dag.sources.archive.variables import CORE_VARIABLES, GEFS_FIELDS, GribField
from seeds_dag.sources.embedded.config import OutputGrid

REFORECAST_BUCKET = "noaa-gefs-retrospective"
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

    def member_name(self, number: int) -> str:
        return self.control_member if number == 0 else self.perturbed_member.format(number=number)

    def key(self, init: pd.Timestamp, number: int, field: GribField, lead_hours: int) -> str:
        """The object key holding `field` of member `number` at `lead_hours` for `init`."""
        days = "1-10" if lead_hours <= _REFORECAST_SPLIT_HOURS else "10-16"
        return self.key_template.format(init=init, member=self.member_name(number),
                                        file=field.reforecast_file, lead_hours=lead_hours,
                                        days=days)


REFORECAST = GefsArchive("GEFSv12 reforecast", REFORECAST_BUCKET, REFORECAST_KEY, max_members=5)
OPERATIONAL = GefsArchive("GEFS operational", OPERATIONAL_BUCKET, OPERATIONAL_KEY, max_members=31)


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
        with xr.open_dataset(path, engine="cfgrib", decode_timedelta=True,
                             backend_kwargs={"filter_by_keys": field.filter_by_keys(),
                                             "indexpath": _index_path(path)}) as ds:
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
                raise ArchiveDecodeError(f"{where}: {field.name} lacks lead(s) {missing} h; the "
                                         f"object holds leads {held} h")
            da = da.sel(step=wanted).rename(latitude="lat", longitude="lon")
            return (da.load() * field.scale).drop_vars(
                [c for c in da.coords if c not in ("step", "lat", "lon")])
    except ArchiveError:
        raise
    except Exception as err:
        raise ArchiveDecodeError(f"{where}: cannot decode {field.name} as GRIB2 "
                                 f"({type(err).__name__}: {err})") from err


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
        return f"s3://{archive.bucket}/{key} ({where}, member {', '.join(names)})"

    with tempfile.TemporaryDirectory(prefix="gefs-") as scratch, \
            concurrent.futures.ThreadPoolExecutor(max(1, archive.download_workers)) as pool:
        downloads = {pool.submit(download_whole, fs, f"{archive.bucket}/{key}", scratch,
                                 describe(key), archive.retry, archive.check_md5): key
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
