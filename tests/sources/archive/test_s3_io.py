"""Whole-object downloads, byte-range reads and retries: the backoff itself, which errors count as
transient, and a flaky S3 (a fault-injecting proxy in front of moto) that reads must survive or
name."""

import os

import pytest
import s3fs
from archive_fakes import FAST_RETRY, READ_TIMEOUT_S, public_bucket
from botocore.exceptions import ClientError
from gcsfs.retry import HttpError

from seeds_dag.sources.archive.errors import ArchiveObjectMissing, ArchiveTransferError
from seeds_dag.sources.archive.s3_io import (
    IncompleteDownload,
    RetryPolicy,
    S3Access,
    download_whole,
    is_transient,
    read_ranges,
    with_retries,
)

KEY = "bucket-a/GEFSv12/reforecast/2000/2000010100/c00/Days:1-10/pres_sfc_2000010100_c00.grib2"
WHAT = f"s3://{KEY} (test read, member c00)"


def client_error(status: int, code: str) -> ClientError:
    return ClientError({"Error": {"Code": code, "Message": "test"},
                        "ResponseMetadata": {"HTTPStatusCode": status}}, "GetObject")


def wrapped(cause: BaseException) -> OSError:
    """How s3fs hands a botocore error on: a translated OSError raised from it."""
    try:
        raise OSError(5, "translated") from cause
    except OSError as err:
        return err


@pytest.mark.parametrize("err, transient", [
    (client_error(500, "InternalError"), True),
    (client_error(503, "SlowDown"), True),
    (client_error(429, "TooManyRequests"), True),
    (client_error(400, "RequestTimeout"), True),
    (wrapped(client_error(502, "BadGateway")), True),
    (ConnectionResetError(104, "reset by peer"), True),
    (TimeoutError("read timed out"), True),
    (IncompleteDownload("received 10 of 20 bytes"), True),
    (client_error(404, "NoSuchKey"), False),
    (client_error(403, "AccessDenied"), False),
    (FileNotFoundError("no such key"), False),
    (PermissionError("denied"), False),
    (ValueError("a bug"), False),
    (HttpError({"code": 503, "message": "backend error"}), True),
    (HttpError({"code": 404, "message": "no such object"}), False),
])
def test_which_errors_are_transient(err, transient):
    assert is_transient(err) is transient


def test_backoff_grows_exponentially_with_jitter_and_then_succeeds():
    failures = [client_error(500, "InternalError"), ConnectionResetError(), TimeoutError(),
                IncompleteDownload("short")]
    waits = []

    def operation():
        if failures:
            raise failures.pop(0)
        return "whole object"

    policy = RetryPolicy(attempts=5, base_delay_s=1.0, multiplier=2.0, max_delay_s=5.0)
    assert with_retries(operation, WHAT, policy, sleep=waits.append) == "whole object"
    ceilings = [1.0, 2.0, 4.0, 5.0]  # doubling, capped at max_delay_s
    assert len(waits) == len(ceilings)
    for wait, ceiling in zip(waits, ceilings):
        assert ceiling / 2 <= wait <= ceiling


def test_permanent_errors_are_not_retried_and_name_the_object():
    calls, waits = [], []

    def missing():
        calls.append(1)
        raise FileNotFoundError(KEY)

    with pytest.raises(ArchiveObjectMissing, match="member c00"):
        with_retries(missing, WHAT, FAST_RETRY, sleep=waits.append)
    assert (len(calls), waits) == (1, [])

    def forbidden():
        raise wrapped(client_error(403, "AccessDenied"))

    with pytest.raises(ArchiveTransferError, match="pres_sfc_2000010100_c00"):
        with_retries(forbidden, WHAT, FAST_RETRY, sleep=waits.append)
    assert waits == []

    def always_500():
        raise client_error(500, "InternalError")

    with pytest.raises(ArchiveTransferError, match="still failing after 3 attempts"):
        with_retries(always_500, WHAT, RetryPolicy(attempts=3), sleep=waits.append)
    assert len(waits) == 2


def bare_client(endpoint: str) -> s3fs.S3FileSystem:
    """The production client (botocore's retries off) with s3fs's own retries and botocore's
    response checksums off too, so that only `download_whole` stands between a fault and the
    caller (the NOAA archives' objects predate S3 checksums, so there the size/MD5 check is the
    only one)."""
    options = S3Access(endpoint_url=endpoint, read_timeout_s=READ_TIMEOUT_S).storage_options()
    options["config_kwargs"]["response_checksum_validation"] = "when_required"
    fs = s3fs.S3FileSystem(**options, skip_instance_cache=True)
    fs.retries = 1
    return fs


@pytest.fixture
def stored_object(s3_writer) -> bytes:
    public_bucket(s3_writer, KEY.split("/")[0])
    data = os.urandom(200_000)
    s3_writer.pipe_file(KEY, data)
    return data


def test_download_survives_every_kind_of_fault(stored_object, flaky_s3, tmp_path):
    faults = ("500", "503", "reset", "timeout", "truncate", "short", "flip")
    # Every GET fails, with each fault in turn, until all have been seen once.
    proxy = flaky_s3(faults=faults, breaks=lambda method, path: method == "GET",
                     max_faults=len(faults), hang_s=2 * READ_TIMEOUT_S)
    policy = RetryPolicy(attempts=len(faults) + 2, base_delay_s=0.01, max_delay_s=0.05)
    path = download_whole(bare_client(proxy.endpoint), KEY, tmp_path, WHAT, policy)
    assert path.read_bytes() == stored_object
    assert sorted({fault for fault, _, _ in proxy.injected}) == sorted(faults)
    assert [p.name for p in tmp_path.iterdir()] == [path.name]


def test_a_damaged_body_is_never_returned(stored_object, flaky_s3, tmp_path):
    for fault, reason in [("short", "received 100000 of 200000 bytes"),
                          ("flip", "MD5 of the 200000 bytes")]:
        proxy = flaky_s3(faults=(fault,), breaks=lambda method, path: method == "GET")
        policy = RetryPolicy(attempts=2, base_delay_s=0.01)
        with pytest.raises(ArchiveTransferError, match=reason) as raised:
            download_whole(bare_client(proxy.endpoint), KEY, tmp_path, WHAT, policy)
        assert "member c00" in str(raised.value)
        assert len(proxy.injected) == 2 and list(tmp_path.iterdir()) == []


def test_ranged_reads_survive_every_kind_of_fault(stored_object, flaky_s3):
    """"flip" too: over plain http each range is read twice and taken only when both agree."""
    faults = ("500", "503", "reset", "timeout", "truncate", "short", "flip")
    proxy = flaky_s3(faults=faults, breaks=lambda method, path: method == "GET",
                     max_faults=len(faults), hang_s=2 * READ_TIMEOUT_S)
    policy = RetryPolicy(attempts=len(faults) + 2, base_delay_s=0.01, max_delay_s=0.05)
    ranges = [(0, 1_000), (1_000, 5_000), (150_000, 200_000)]  # the first two in one request
    got = read_ranges(bare_client(proxy.endpoint), KEY, ranges, WHAT, policy, confirm=True)
    assert got == [stored_object[start:end] for start, end in ranges]
    assert sorted({fault for fault, _, _ in proxy.injected}) == sorted(faults)


@pytest.mark.parametrize("fault, reason", [
    ("short", "received 500 of 1000 bytes of the range 10000–11000"),
    # Both reads altered, each at another byte (as damage in transit is): they disagree.
    ("flip", "two reads of the range 10000–11000 differ at byte 10502"),
])
def test_a_short_or_altered_range_is_never_returned(stored_object, flaky_s3, fault, reason):
    proxy = flaky_s3(faults=(fault,), breaks=lambda method, path: method == "GET")
    with pytest.raises(ArchiveTransferError, match=f"still failing after 2 attempts.*{reason}"
                       ) as raised:
        read_ranges(bare_client(proxy.endpoint), KEY, [(10_000, 11_000)], WHAT,
                    RetryPolicy(attempts=2, base_delay_s=0.01), confirm=True)
    assert "member c00" in str(raised.value) and len(proxy.injected) == 2 * 2


def test_ranges_are_read_twice_only_where_tls_does_not_guard_them():
    assert S3Access().guards_transfers  # AWS's endpoints, over https
    assert S3Access(endpoint_url="https://mirror.example.org").guards_transfers
    assert not S3Access(endpoint_url="http://127.0.0.1:9000").guards_transfers


def test_a_missing_object_is_reported_at_once(s3_writer, stored_object, flaky_s3, tmp_path):
    proxy = flaky_s3(faults=("500",), max_faults=0)  # a plain pass-through that counts
    fs = S3Access(endpoint_url=proxy.endpoint).filesystem()
    missing = KEY.replace("c00", "p01")
    with pytest.raises(ArchiveObjectMissing, match="p01.*no such object"):
        download_whole(fs, missing, tmp_path, f"s3://{missing}", FAST_RETRY)
    assert proxy.requests <= 2  # a HEAD, and s3fs's check for a directory of that name
    assert list(tmp_path.iterdir()) == []


def test_credentials_are_never_shown():
    access = S3Access(key="AKIAEXAMPLEKEY", secret="very-secret-value")
    assert "very-secret-value" not in repr(access) and "AKIAEXAMPLEKEY" not in repr(access)
    assert access.storage_options()["anon"] is False
