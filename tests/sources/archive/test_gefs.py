"""GEFS through the real path: GRIB2 objects written with ecCodes under the real key layouts in a
local S3 (moto), read back with s3fs + cfgrib, mapped to our units and regridded."""

import numpy as np
import pandas as pd
import pytest
import xarray as xr
from archive_fakes import (
    archive_at,
    on_model_grid,
    our_units,
    packing_error,
    write_gefs,
)

from seeds_dag.conventions import FORECAST_DIMS, OutputGrid
from seeds_dag.sources.archive.errors import ArchiveDamagedError, ArchiveDecodeError
from seeds_dag.sources.archive.gefs import OPERATIONAL, REFORECAST, gefs_forecast
from seeds_dag.sources.archive.variables import CORE_VARIABLES

INIT = pd.Timestamp("2000-01-05")
FLOAT32_RTOL = 1e-6
GRID = OutputGrid()


def assert_matches(ds: xr.Dataset, written, variables, members, lead_days) -> None:
    """`ds` holds what the test wrote, in our units, regridded conservatively, to within the GRIB
    packing error (and float32 rounding)."""
    pairs = [(m, d) for m in members for d in lead_days]
    for name in variables:
        raw = np.stack([written.values[(name, m, 24 * d)] for m, d in pairs])
        reference = on_model_grid(our_units(name, raw), written.lat, written.lon)
        for (member, days), want, packed in zip(pairs, reference, raw):
            got = ds[name].sel(member=member, lead_time=np.timedelta64(days, "D")).values[0]
            tolerance = our_units(name, packing_error(packed)) + FLOAT32_RTOL * np.abs(want).max()
            np.testing.assert_allclose(got, want, rtol=0, atol=tolerance,
                                       err_msg=f"{name} member {member} lead {days} d")


def test_reforecast_matches_what_was_written(s3_server, s3_writer):
    members, lead_days = [0, 1, 2, 3, 4], [1, 3]
    written = write_gefs(s3_writer, REFORECAST, INIT, members, [24, 72], CORE_VARIABLES)
    assert "GEFSv12/reforecast/2000/2000010500/p03/Days:1-10/" \
           "hgt_pres_abv700mb_2000010500_p03.grib2" in written.keys
    assert len(written.keys) == len(members) * len(CORE_VARIABLES)  # one file per variable

    ds = gefs_forecast(archive_at(REFORECAST, s3_server), INIT, members, lead_days, GRID)

    assert ds["z500"].dims == FORECAST_DIMS and ds["z500"].dtype == np.float32
    assert ds["init_time"].values[0] == np.datetime64(INIT)
    assert list(ds["member"].values) == members
    assert list(ds["lead_time"].values) == [np.timedelta64(d, "D") for d in lead_days]
    assert ds["z500"].attrs["units"] == "m2 s-2"
    assert_matches(ds, written, CORE_VARIABLES, members, lead_days)


def test_operational_layout_and_optional_variables(s3_server, s3_writer):
    variables = (*CORE_VARIABLES, "msl", "t2m", "tcwv")
    members, lead_days = [0, 1, 30], [1, 2]
    written = write_gefs(s3_writer, OPERATIONAL, INIT, members, [24, 48], variables)
    assert "gefs.20000105/00/atmos/pgrb2ap5/gep30.t00z.pgrb2a.0p50.f048" in written.keys
    assert "gefs.20000105/00/atmos/pgrb2ap5/gec00.t00z.pgrb2a.0p50.f024" in written.keys
    assert len(written.keys) == len(members) * len(lead_days)  # one file per member and lead

    archive = archive_at(OPERATIONAL, s3_server, variables=variables)
    ds = gefs_forecast(archive, INIT, members, lead_days, GRID)

    assert sorted(ds.data_vars) == sorted(variables)
    assert ds["tcwv"].attrs["units"] == "kg m-2"
    assert_matches(ds, written, variables, members, lead_days)


@pytest.mark.parametrize("read_mode", ["ranged", "whole"])
def test_objects_that_do_not_hold_what_the_layout_promises_are_refused(s3_server, s3_writer,
                                                                       read_mode):
    """A truncated GRIB, an object holding another member, a lead the object lacks: each an
    ArchiveDecodeError naming the key, init, member and what is wrong (a missing member: see
    tests/assets/test_archive_sources.py; damaged messages: test_grib2_reads.py)."""
    written = write_gefs(s3_writer, REFORECAST, INIT, [0, 1, 2], [24], CORE_VARIABLES)
    archive = archive_at(REFORECAST, s3_server, read_mode=read_mode)
    path = lambda key: f"{REFORECAST.bucket}/{key}"
    key_of = lambda member, stem: next(k for k in written.keys
                                       if f"/{member}/" in k and f"/{stem}_" in k)

    truncated = key_of("p01", "tmp_pres")
    good = s3_writer.cat_file(path(truncated))
    s3_writer.pipe_file(path(truncated), good[: len(good) // 2])
    with pytest.raises(ArchiveDamagedError) as raised:
        gefs_forecast(archive, INIT, [0, 1], [1], GRID)
    assert truncated in str(raised.value)
    for part in ("member p01", "init 2000-01-05", "for t850", "the object is damaged: message 1 "
                 f"at byte 0 declares {len(good)} bytes but the object ends {len(good) // 2}"):
        assert part in str(raised.value)
    s3_writer.pipe_file(path(truncated), good)

    p01 = key_of("p01", "ugrd_pres")
    s3_writer.pipe_file(path(p01.replace("p01", "p02")), s3_writer.cat_file(path(p01)))
    with pytest.raises(ArchiveDecodeError, match=r"member p02.*number \[1\], expected member 2"):
        gefs_forecast(archive, INIT, [0, 1, 2], [1], GRID)

    with pytest.raises(ArchiveDecodeError, match=r"c00.*lacks lead\(s\) \[120\] h.*leads \[24\]"):
        gefs_forecast(archive, INIT, [0], [1, 5], GRID)


def test_members_beyond_the_archive_are_refused():
    with pytest.raises(ValueError, match=r"0\.\.4"):
        gefs_forecast(REFORECAST, INIT, [0, 5], [1], GRID)


def test_keys_follow_the_public_layouts():
    from seeds_dag.sources.archive.variables import GEFS_FIELDS

    init = pd.Timestamp("2019-12-31")
    assert REFORECAST.key(init, 0, GEFS_FIELDS["sp"], 264) == (
        "GEFSv12/reforecast/2019/2019123100/c00/Days:10-16/pres_sfc_2019123100_c00.grib2")
    assert OPERATIONAL.key(init, 7, GEFS_FIELDS["sp"], 168) == (
        "gefs.20191231/00/atmos/pgrb2ap5/gep07.t00z.pgrb2a.0p50.f168")
