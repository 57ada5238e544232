"""Small stand-ins for the real archives, written the way the real ones are: GEFS ensemble GRIB2
messages encoded with ecCodes as NCEP encodes them (discipline/category/number, fixed-surface
types, product template 1 with perturbationNumber) under the real key layouts, wgrib2-style `.idx`
sidecars beside the operational objects (as NOAA publishes them), and an ARCO-ERA5-like zarr (v2,
consolidated, one time per chunk, descending latitudes, `level` in hPa).

Grids are coarser than the archives' (1° GRIB, 2° zarr) to keep tests fast; they still do not
nest in the 5.625° model grid, and they straddle the 0°/360° seam, like the real ones.
"""

from __future__ import annotations

import dataclasses
import json

import eccodes
import numpy as np
import pandas as pd
import xarray as xr

from seeds_dag.conventions import regular_latitudes, regular_longitudes
from seeds_dag.sources.archive.gefs import OPERATIONAL_KEY, GefsArchive
from seeds_dag.sources.archive.regrid import ConservativeRegridder
from seeds_dag.sources.archive.s3_io import RetryPolicy, S3Access
from seeds_dag.sources.archive.variables import G0, GEFS_FIELDS

GRIB_STEP_DEG = 1.0
ZARR_STEP_DEG = 2.0
BITS_PER_VALUE = 16  # NCEP packs GEFS with complex packing at about this precision
# The production backoff, with waits short enough for tests.
FAST_RETRY = RetryPolicy(attempts=6, base_delay_s=0.02, max_delay_s=0.2)
# The client's read timeout: the proxy's "timeout" fault (FaultProxy.hang_s) is longer, and a
# healthy answer must never come close, or a loaded machine injects timeouts nobody asked for and
# the exact fault counts the tests check change. Measured with four busy loops beside the fault
# tests on 2 cores: the slowest healthy answer took 0.08 s (FaultProxy.slowest_forward_s, printed
# at teardown), so 2 s leaves a margin of 25; each injected timeout costs this long.
READ_TIMEOUT_S = 2.0


def archive_at(archive: GefsArchive, endpoint: str, **changes) -> GefsArchive:
    """`archive` read anonymously from the S3 service at `endpoint`, with FAST_RETRY."""
    access = S3Access(endpoint_url=endpoint, anon=True, read_timeout_s=READ_TIMEOUT_S)
    return dataclasses.replace(archive, access=access, retry=FAST_RETRY, **changes)


@dataclasses.dataclass(frozen=True)
class NcepEncoding:
    """How NCEP encodes one field in GRIB2 (WMO code tables 4.2 and 4.5)."""

    discipline: int
    category: int
    number: int
    surface: int  # typeOfFirstFixedSurface
    level: int | None  # scaledValueOfFirstFixedSurface (Pa for isobaric, m for heights)
    base: float  # a typical value in the GRIB units
    amplitude: float
    wgrib2: tuple[str, str]  # variable and level as wgrib2 names them in an inventory


NCEP: dict[str, NcepEncoding] = {
    "z500": NcepEncoding(0, 3, 5, 100, 50_000, 5_500.0, 300.0, ("HGT", "500 mb")),  # gpm
    "t850": NcepEncoding(0, 0, 0, 100, 85_000, 275.0, 15.0, ("TMP", "850 mb")),  # K
    "u850": NcepEncoding(0, 2, 2, 100, 85_000, 0.0, 15.0, ("UGRD", "850 mb")),
    "v850": NcepEncoding(0, 2, 3, 100, 85_000, 0.0, 10.0, ("VGRD", "850 mb")),
    "sp": NcepEncoding(0, 3, 0, 1, None, 98_000.0, 3_000.0, ("PRES", "surface")),
    "msl": NcepEncoding(0, 3, 1, 101, None, 101_000.0, 2_000.0, ("PRMSL", "mean sea level")),
    "t2m": NcepEncoding(0, 0, 0, 103, 2, 285.0, 20.0, ("TMP", "2 m above ground")),
    "tcwv": NcepEncoding(0, 1, 3, 200, None, 25.0, 20.0,
                         ("PWAT", "entire atmosphere (considered as a single layer)")),
}


def grib_grid(step: float = GRIB_STEP_DEG) -> tuple[np.ndarray, np.ndarray]:
    """GEFS grid order: latitudes 90 → −90, longitudes 0 → 360 − step."""
    return np.linspace(90.0, -90.0, round(180 / step) + 1), np.arange(round(360 / step)) * step


def field_in_grib_units(name: str, member: int, lead_hours: int, lat: np.ndarray,
                        lon: np.ndarray) -> np.ndarray:
    """A field that differs by member and lead everywhere and varies on sub-cell scales."""
    enc = NCEP[name]
    phi, lam = np.deg2rad(lat)[:, None], np.deg2rad(lon)[None, :]
    pattern = np.cos(phi) ** 2 * np.sin(3 * lam + 0.7 * member) + 0.3 * np.sin(17 * lam) * np.cos(phi)
    shift = 0.05 * member + 0.01 * lead_hours / 24
    return enc.base + enc.amplitude * (pattern + shift)


def _set_product(handle, enc: NcepEncoding, lead_hours: int) -> None:
    """What the message holds: the field (sections 0 and 4) and its lead."""
    for key, value in {"discipline": enc.discipline, "parameterCategory": enc.category,
                       "parameterNumber": enc.number, "typeOfFirstFixedSurface": enc.surface,
                       "indicatorOfUnitOfTimeRange": 1, "forecastTime": lead_hours}.items():
        eccodes.codes_set(handle, key, value)
    if enc.level is None:
        eccodes.codes_set_missing(handle, "scaleFactorOfFirstFixedSurface")
        eccodes.codes_set_missing(handle, "scaledValueOfFirstFixedSurface")
    else:
        eccodes.codes_set(handle, "scaleFactorOfFirstFixedSurface", 0)
        eccodes.codes_set(handle, "scaledValueOfFirstFixedSurface", enc.level)


def grib_message(name: str, values: np.ndarray, init: pd.Timestamp, member: int,
                 lead_hours: int, n_members: int, step: float = GRIB_STEP_DEG,
                 enc: NcepEncoding | None = None) -> bytes:
    """One ensemble GRIB2 message (product template 4.1) as NCEP writes GEFS: `name`'s field, or
    the one `enc` describes."""
    enc = enc or NCEP[name]
    nj, ni = values.shape
    handle = eccodes.codes_grib_new_from_samples("regular_ll_sfc_grib2")
    try:
        for key, value in {
            "centre": 7, "Ni": ni, "Nj": nj, "latitudeOfFirstGridPointInDegrees": 90.0,
            "longitudeOfFirstGridPointInDegrees": 0.0, "latitudeOfLastGridPointInDegrees": -90.0,
            "longitudeOfLastGridPointInDegrees": 360.0 - step,
            "iDirectionIncrementInDegrees": step, "jDirectionIncrementInDegrees": step,
            "dataDate": int(f"{init:%Y%m%d}"), "dataTime": int(f"{init:%H}00"),
            "productDefinitionTemplateNumber": 1,
            "typeOfEnsembleForecast": 1 if member == 0 else 3, "perturbationNumber": member,
            "numberOfForecastsInEnsemble": n_members,
        }.items():
            eccodes.codes_set(handle, key, value)
        _set_product(handle, enc, lead_hours)
        eccodes.codes_set(handle, "bitsPerValue", BITS_PER_VALUE)
        eccodes.codes_set(handle, "packingType", "grid_complex_spatial_differencing")
        eccodes.codes_set_values(handle, values.ravel())
        return eccodes.codes_get_message(handle)
    finally:
        eccodes.codes_release(handle)


def retagged(message: bytes, enc: NcepEncoding, lead_hours: int) -> bytes:
    """`message` saying it holds `enc`'s field at `lead_hours`, its packed data kept: a quick
    stand-in for the many messages of a full-size object that a read skips (encoding each anew
    takes ~60 ms at 0.5°)."""
    handle = eccodes.codes_new_from_message(message)
    try:
        _set_product(handle, enc, lead_hours)
        return eccodes.codes_get_message(handle)
    finally:
        eccodes.codes_release(handle)


def grib1_message(values: np.ndarray) -> bytes:
    """A GRIB edition 1 message (ecCodes' GRIB1 sample) holding `values` on the 1° grid."""
    handle = eccodes.codes_grib_new_from_samples("GRIB1")
    try:
        nj, ni = values.shape
        for key, value in {"Ni": ni, "Nj": nj, "latitudeOfFirstGridPointInDegrees": 90.0,
                           "longitudeOfFirstGridPointInDegrees": 0.0,
                           "latitudeOfLastGridPointInDegrees": -90.0,
                           "longitudeOfLastGridPointInDegrees": 360.0 - GRIB_STEP_DEG,
                           "iDirectionIncrementInDegrees": GRIB_STEP_DEG,
                           "jDirectionIncrementInDegrees": GRIB_STEP_DEG}.items():
            eccodes.codes_set(handle, key, value)
        eccodes.codes_set_values(handle, values.ravel())
        return eccodes.codes_get_message(handle)
    finally:
        eccodes.codes_release(handle)


def idx_line(index: int, offset: int, enc: NcepEncoding, init: pd.Timestamp, member: int,
             lead_hours: int) -> str:
    """One line of a wgrib2 inventory, as in NOAA's GEFS `.idx` files."""
    fcst = "anl" if lead_hours == 0 else f"{lead_hours} hour fcst"
    ens = "low-res ctl" if member == 0 else f"+{member}"
    return f"{index}:{offset}:d={init:%Y%m%d%H}:{enc.wgrib2[0]}:{enc.wgrib2[1]}:{fcst}:ENS={ens}"


def idx_text(messages: list[bytes], lines: list[tuple[NcepEncoding, int, int]],
             init: pd.Timestamp) -> str:
    """The .idx of the object `b"".join(messages)`; `lines`: (encoding, member, lead hours) of
    each message."""
    offsets = np.cumsum([0, *map(len, messages)])[:-1]
    return "".join(idx_line(i, int(offset), enc, init, member, hours) + "\n"
                   for i, (offset, (enc, member, hours)) in enumerate(zip(offsets, lines), 1))


def public_bucket(fs, bucket: str) -> None:
    """Create `bucket` (if new) readable by anyone, as NOAA's and Google's public buckets are."""
    if not fs.exists(bucket):
        fs.mkdir(bucket, acl="public-read")
    policy = {"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow", "Principal": "*", "Action": ["s3:GetObject", "s3:ListBucket"],
        "Resource": [f"arn:aws:s3:::{bucket}", f"arn:aws:s3:::{bucket}/*"]}]}
    fs.call_s3("put_bucket_policy", Bucket=bucket, Policy=json.dumps(policy))


def packing_error(values: np.ndarray) -> float:
    """Largest rounding error of values packed with BITS_PER_VALUE bits over their range."""
    return float(values.max() - values.min()) / 2 ** BITS_PER_VALUE


def on_model_grid(values: np.ndarray, lat: np.ndarray, lon: np.ndarray) -> np.ndarray:
    """(..., lat, lon) on the 32 × 64 model grid; the regridder is checked on its own, against
    brute-force cell means, in tests/sources/archive/test_regrid.py."""
    return ConservativeRegridder.between(lat, lon, regular_latitudes(32),
                                         regular_longitudes(64))(values)


def our_units(name: str, values: np.ndarray) -> np.ndarray:
    return values * (G0 if name == "z500" else 1.0)


@dataclasses.dataclass
class WrittenForecast:
    """What a fake archive holds: values per (variable, member, lead hours) in GRIB units, and
    every key written."""

    lat: np.ndarray
    lon: np.ndarray
    values: dict[tuple[str, int, int], np.ndarray] = dataclasses.field(default_factory=dict)
    keys: list[str] = dataclasses.field(default_factory=list)


def write_gefs(fs, archive: GefsArchive, init: pd.Timestamp, members: list[int],
               lead_hours: list[int], variables: tuple[str, ...],
               idx_sidecars: bool | None = None) -> WrittenForecast:
    """Upload GEFS GRIB2 objects for `init` under `archive`'s bucket and key layout: one object per
    key the layout gives, holding every (variable, lead) that maps to it, and beside each its
    wgrib2 `.idx` (`<key>.idx`) if `idx_sidecars`, by default for the operational layout only."""
    if idx_sidecars is None:
        idx_sidecars = archive.key_template == OPERATIONAL_KEY
    lat, lon = grib_grid()
    written = WrittenForecast(lat, lon)
    objects: dict[str, list[bytes]] = {}
    inventories: dict[str, list[tuple[NcepEncoding, int, int]]] = {}
    n_members = archive.max_members
    for member in members:
        for name in variables:
            for hours in lead_hours:
                values = field_in_grib_units(name, member, hours, lat, lon)
                written.values[(name, member, hours)] = values
                key = archive.key(init, member, GEFS_FIELDS[name], hours)
                objects.setdefault(key, []).append(
                    grib_message(name, values, init, member, hours, n_members))
                inventories.setdefault(key, []).append((NCEP[name], member, hours))
    public_bucket(fs, archive.bucket)
    for key, messages in objects.items():
        fs.pipe_file(f"{archive.bucket}/{key}", b"".join(messages))
        if idx_sidecars:
            fs.pipe_file(f"{archive.bucket}/{key}.idx",
                         idx_text(messages, inventories[key], init).encode())
        written.keys.append(key)
    return written


ERA5_ARRAYS = {"z500": ("geopotential", 500), "t850": ("temperature", 850),
               "u850": ("u_component_of_wind", 850), "v850": ("v_component_of_wind", 850),
               "sp": ("surface_pressure", None)}
ERA5_LEVELS = [500, 850, 1000]


def era5_like(times: pd.DatetimeIndex) -> xr.Dataset:
    """An ARCO-ERA5-shaped dataset: pressure-level arrays (time, level, latitude, longitude) and
    surface pressure (time, latitude, longitude), latitudes descending, float32, SI units."""
    lat = np.linspace(90.0, -90.0, round(180 / ZARR_STEP_DEG) + 1)
    lon = np.arange(round(360 / ZARR_STEP_DEG)) * ZARR_STEP_DEG
    hours = ((times - times[0]) / pd.Timedelta(hours=1)).to_numpy()
    data = {}
    for name, (array, level) in ERA5_ARRAYS.items():
        enc = NCEP[name]
        per_time = np.stack([our_units(name, field_in_grib_units(name, 0, int(h), lat, lon))
                             for h in hours]).astype(np.float32)
        if level is None:
            data[array] = (("time", "latitude", "longitude"), per_time)
        else:
            # Other levels hold a different field, so selecting the wrong level is visible.
            by_level = np.stack([per_time + (lv - level) * enc.amplitude for lv in ERA5_LEVELS], 1)
            data[array] = (("time", "level", "latitude", "longitude"), by_level)
    return xr.Dataset(data, coords={"time": times, "level": ERA5_LEVELS, "latitude": lat,
                                    "longitude": lon})


def write_era5(fs, url: str, ds: xr.Dataset) -> None:
    """Write `ds` to `url` like ARCO-ERA5: zarr v2 with consolidated metadata, one time a chunk."""
    chunks = {name: {"chunks": (1, *var.shape[1:])} for name, var in ds.data_vars.items()}
    ds.to_zarr(fs.get_mapper(url.removeprefix("s3://")), mode="w", zarr_format=2,
               consolidated=True, encoding=chunks)
