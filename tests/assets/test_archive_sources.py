"""The source assets with `kind="gefs"`: truth from an ERA5-like zarr and GEFS reforecast and
operational ensembles from GRIB2, all in a local S3 (moto), materialised through the real Dagster
definitions, s3fs and cfgrib; a flaky S3 in front; a missing member and a corrupt file."""

import numpy as np
import pandas as pd
import pytest
from archive_fakes import (
    READ_TIMEOUT_S,
    era5_like,
    on_model_grid,
    our_units,
    packing_error,
    public_bucket,
    write_era5,
    write_gefs,
)
from tiny_experiment import materialise, metadata, partition_dir

from resources import SourceResource
from resources.source import Era5Settings, GefsSettings
from seeds_dag.sources.archive.errors import ArchiveDecodeError, ArchiveObjectMissing
from seeds_dag.sources.archive.gefs import OPERATIONAL, REFORECAST
from seeds_dag.sources.archive.variables import CORE_VARIABLES
from seeds_dag.store import ArtifactStore

ERA5_URL = "s3://era5-mirror/ar/full_37-1h-0p25deg-chunk-1.zarr-v3"
REFORECAST_INIT = "2000-01-02"
OPERATIONAL_INIT = "2000-01-05"  # after reforecast_end + the longest lead
LEAD_DAYS = [1, 2]


def gefs_source(endpoint: str, **changes) -> SourceResource:
    """The tiny experiment's calendar on kind "gefs", every archive on the S3 at `endpoint`."""
    settings = {
        "kind": "gefs", "start_date": "2000-01-01", "truth_days": 3, "lead_days": LEAD_DAYS,
        "reforecast_members": 5, "operational_members": 2, "reforecast_start": REFORECAST_INIT,
        "reforecast_end": REFORECAST_INIT, "threads": 1,
        "gefs": GefsSettings(endpoint_url=endpoint, read_timeout_s=READ_TIMEOUT_S,
                             retry_attempts=8, retry_base_delay_s=0.02),
        "era5": Era5Settings(url=ERA5_URL, storage_options={
            "anon": True, "client_kwargs": {"endpoint_url": endpoint}}),
    }
    return SourceResource(**{**settings, **changes})


def assert_shard_holds(root, asset, key, written, members) -> None:
    stored = ArtifactStore(str(root)).load_dataset(asset, key)
    assert stored.sizes["member"] == len(members)
    for name in ("z500", "sp"):
        for member in members:
            raw = written.values[(name, member, 48)]
            want = on_model_grid(our_units(name, raw), written.lat, written.lon)
            got = stored[name].sel(member=member, lead_time=np.timedelta64(2, "D")).values[0]
            np.testing.assert_allclose(got, want, rtol=1e-6,
                                       atol=our_units(name, packing_error(raw)))


def test_gefs_kind_materialises_truth_and_both_ensembles(tmp_path, s3_server, s3_writer):
    source = gefs_source(s3_server)
    public_bucket(s3_writer, "era5-mirror")
    era5 = era5_like(source.truth_times())
    write_era5(s3_writer, ERA5_URL, era5)
    reforecast = write_gefs(s3_writer, REFORECAST, pd.Timestamp(REFORECAST_INIT), list(range(5)),
                            [24, 48], CORE_VARIABLES)
    operational = write_gefs(s3_writer, OPERATIONAL, pd.Timestamp(OPERATIONAL_INIT), [0, 1],
                             [24, 48], CORE_VARIABLES)

    spinup = metadata(materialise(tmp_path, "physics_spinup", source=source), "physics_spinup")
    assert spinup["used"] is False and not (tmp_path / "physics_spinup").exists()

    result = materialise(tmp_path, "truth", source=source)
    assert all(check.passed for check in result.get_asset_check_evaluations())
    truth = ArtifactStore(str(tmp_path)).load_dataset("truth")
    assert list(truth["time"].values) == list(source.truth_times().values)
    want = on_model_grid(era5["geopotential"].sel(level=500).values.astype(np.float64),
                         era5["latitude"].values, era5["longitude"].values)
    np.testing.assert_allclose(truth["z500"].values, want, rtol=2e-7)

    result = materialise(tmp_path, "reforecast_shards", REFORECAST_INIT, source=source)
    assert all(check.passed for check in result.get_asset_check_evaluations())
    assert metadata(result, "reforecast_shards")["members"] == 5
    assert_shard_holds(tmp_path, "reforecast_shards", REFORECAST_INIT, reforecast, range(5))

    result = materialise(tmp_path, "operational_ensemble", OPERATIONAL_INIT, source=source)
    assert all(check.passed for check in result.get_asset_check_evaluations())
    assert_shard_holds(tmp_path, "operational_ensemble", OPERATIONAL_INIT, operational, range(2))


def test_reforecast_shard_survives_a_flaky_s3(tmp_path, s3_writer, flaky_s3):
    written = write_gefs(s3_writer, REFORECAST, pd.Timestamp(REFORECAST_INIT), list(range(5)),
                         [24, 48], CORE_VARIABLES)
    faults = ("500", "reset", "503", "truncate", "short", "timeout")
    proxy = flaky_s3(faults=faults, fail_every=4, hang_s=2 * READ_TIMEOUT_S)
    result = materialise(tmp_path, "reforecast_shards", REFORECAST_INIT,
                         source=gefs_source(proxy.endpoint))
    assert result.success
    assert {fault for fault, _, _ in proxy.injected} == set(faults)
    assert_shard_holds(tmp_path, "reforecast_shards", REFORECAST_INIT, written, range(5))


def test_a_missing_member_or_corrupt_file_fails_the_partition_and_writes_nothing(
        tmp_path, s3_server, s3_writer):
    source = gefs_source(s3_server)
    write_gefs(s3_writer, REFORECAST, pd.Timestamp(REFORECAST_INIT), [0, 1, 2, 3], [24, 48],
               CORE_VARIABLES)
    with pytest.raises(ArchiveObjectMissing) as raised:
        materialise(tmp_path, "reforecast_shards", REFORECAST_INIT, source=source)
    assert "2000010200/p04/Days:1-10/" in str(raised.value)
    assert "init 2000-01-02" in str(raised.value) and "member p04" in str(raised.value)
    assert not partition_dir(tmp_path, "reforecast_shards", REFORECAST_INIT).exists()

    written = write_gefs(s3_writer, REFORECAST, pd.Timestamp(REFORECAST_INIT), [4], [24, 48],
                         CORE_VARIABLES)
    corrupt = next(key for key in written.keys if "vgrd_pres" in key)
    s3_writer.pipe_file(f"{REFORECAST.bucket}/{corrupt}", b"GRIB\x00\x01 not really" * 64)
    with pytest.raises(ArchiveDecodeError, match="vgrd_pres_2000010200_p04.*member p04.*v850"):
        materialise(tmp_path, "reforecast_shards", REFORECAST_INIT, source=source)
    assert not partition_dir(tmp_path, "reforecast_shards", REFORECAST_INIT).exists()
