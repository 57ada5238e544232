"""ERA5 truth through the real path: an ARCO-ERA5-like zarr written with xarray to a local S3
(moto) through s3fs, read back with fsspec/zarr, mapped and regridded; and through a flaky S3."""

import re

import numpy as np
import pandas as pd
import pytest
from archive_fakes import (
    ERA5_ARRAYS,
    FAST_RETRY,
    era5_like,
    on_model_grid,
    public_bucket,
    write_era5,
)

from seeds_dag.conventions import TRUTH_DIMS, OutputGrid
from seeds_dag.sources.archive.era5 import Era5Store, era5_truth
from seeds_dag.sources.archive.errors import ArchiveDecodeError

URL = "s3://era5-mirror/ar/full_37-1h-0p25deg-chunk-1.zarr-v3"
HOURS = pd.date_range("2000-01-01", periods=4, freq="12h")  # 2 days, 12-hourly
DAYS = pd.date_range("2000-01-01", periods=2, freq="D")
GRID = OutputGrid()


@pytest.fixture
def era5_store(s3_writer):
    public_bucket(s3_writer, "era5-mirror")
    written = era5_like(HOURS)
    write_era5(s3_writer, URL, written)
    return written


def store_at(endpoint: str, client_retries: bool = True, **changes) -> Era5Store:
    options = {"anon": True, "client_kwargs": {"endpoint_url": endpoint}}
    if not client_retries:  # botocore's own backoff takes seconds; leave the retrying to ours
        options["config_kwargs"] = {"retries": {"total_max_attempts": 1}}
    return Era5Store(url=URL, storage_options=options, retry=FAST_RETRY, times_per_read=2,
                     **changes)


def assert_is_written_truth(truth, written) -> None:
    assert list(truth["time"].values) == list(DAYS.values)
    for name, (array, level) in ERA5_ARRAYS.items():
        source = written[array].sel(time=DAYS)
        if level is not None:
            source = source.sel(level=level)
        want = on_model_grid(source.values.astype(np.float64), written["latitude"].values,
                             written["longitude"].values)
        assert truth[name].dims == TRUTH_DIMS
        np.testing.assert_allclose(truth[name].values, want, rtol=2e-7, err_msg=name)


def test_truth_matches_what_was_written(s3_server, era5_store):
    truth = era5_truth(store_at(s3_server), DAYS, GRID)
    assert_is_written_truth(truth, era5_store)
    assert truth["sp"].attrs["units"] == "Pa"

    later = pd.date_range("2000-01-02", periods=3, freq="D")
    with pytest.raises(ArchiveDecodeError, match=r"era5-mirror.*no time\(s\) 2000-01-03 00h, "
                                                 r"2000-01-04 00h"):
        era5_truth(store_at(s3_server), later, GRID)
    with pytest.raises(ArchiveDecodeError, match="no array 'mean_sea_level_pressure' .for msl."):
        era5_truth(store_at(s3_server, variables=("z500", "t850", "u850", "v850", "sp", "msl")),
                   DAYS, GRID)


def test_truth_survives_a_flaky_store(era5_store, flaky_s3):
    # Every 4th read of a data chunk (keys like geopotential/3.0.0.0) fails, three times in all.
    chunk_read = lambda method, path: method == "GET" and re.search(r"/\d+(\.\d+)+$", path)
    proxy = flaky_s3(faults=("500", "reset", "503"), fail_every=4, max_faults=3,
                     breaks=chunk_read)
    truth = era5_truth(store_at(proxy.endpoint, client_retries=False), DAYS, GRID)
    assert_is_written_truth(truth, era5_store)
    assert {fault for fault, _, _ in proxy.injected} == {"500", "reset", "503"}
