"""Reading only the GRIB2 messages a forecast needs, against a local S3 (moto): byte ranges return
what whole reads do, bit for bit; an .idx that disagrees with its object, a damaged message and a
GRIB1 object are refused by name; a flaky S3 is survived."""

import dataclasses
import urllib.parse

import eccodes
import numpy as np
import pandas as pd
import pytest
import s3fs
import xarray as xr
from archive_fakes import (
    FAST_RETRY,
    NCEP,
    READ_TIMEOUT_S,
    archive_at,
    grib1_message,
    grib_grid,
    grib_message,
    write_gefs,
)

from seeds_dag.conventions import OutputGrid
from seeds_dag.sources.archive.errors import (
    ArchiveDamagedError,
    ArchiveDecodeError,
    ArchiveTransferError,
)
from seeds_dag.sources.archive.gefs import OPERATIONAL, REFORECAST, gefs_forecast
from seeds_dag.sources.archive.grib2_messages import parse_header, split_messages
from seeds_dag.sources.archive.grib2_reads import Wanted, read_messages
from seeds_dag.sources.archive.variables import CORE_VARIABLES, GEFS_FIELDS

INIT = pd.Timestamp("2000-01-05")
GRID = OutputGrid()
EXTRAS = (*CORE_VARIABLES, "msl", "t2m", "tcwv")


def assert_bitwise_equal(a: xr.Dataset, b: xr.Dataset) -> None:
    xr.testing.assert_identical(a, b)
    for name in a.data_vars:
        assert a[name].values.tobytes() == b[name].values.tobytes(), name


def key_of(written, member: str, stem: str) -> str:
    return next(k for k in written.keys if f"{member}" in k and stem in k)


def test_headers_are_read_as_ecCodes_reads_them():
    """Our section-4 reader against ecCodes' keys, for every field we read (NCEP's encodings)."""
    lat, lon = grib_grid()
    for name, field in GEFS_FIELDS.items():
        message = grib_message(name, np.zeros((lat.size, lon.size)), INIT, 3, 240, 31)
        header = parse_header(message, 1, 0, name)
        handle = eccodes.codes_new_from_message(message)
        try:
            assert (header.parameter.category, header.parameter.number, header.forecast_hours) == (
                eccodes.codes_get(handle, "parameterCategory"),
                eccodes.codes_get(handle, "parameterNumber"),
                eccodes.codes_get(handle, "forecastTime"))
            assert eccodes.codes_get(handle, "shortName") in field.short_names
            assert eccodes.codes_get(handle, "level") == field.level
        finally:
            eccodes.codes_release(handle)
        assert header.length == len(message)
        assert header.holds(field.grib2, 240) and not header.holds(field.grib2, 24)
        others = [f for f in GEFS_FIELDS.values() if f is not field]
        assert not any(header.holds(f.grib2, 240) for f in others), name


@pytest.mark.parametrize("archive, idx_sidecars", [(REFORECAST, False), (OPERATIONAL, True),
                                                   (OPERATIONAL, False)],
                         ids=["reforecast-headers", "operational-idx", "operational-headers"])
def test_ranged_reads_return_exactly_what_whole_reads_do(s3_server, s3_writer, archive,
                                                        idx_sidecars):
    members, lead_hours = [0, 2], [24, 48, 72]
    written = write_gefs(s3_writer, archive, INIT, members, lead_hours, EXTRAS, idx_sidecars)
    archive = archive_at(archive, s3_server, variables=CORE_VARIABLES)
    ranged = gefs_forecast(archive, INIT, members, [1, 3], GRID)
    whole = gefs_forecast(dataclasses.replace(archive, read_mode="whole"), INIT, members, [1, 3],
                          GRID)
    assert_bitwise_equal(ranged, whole)

    # The messages themselves: byte for byte the object's, exactly the ones asked for.
    key = key_of(written, "c00", "hgt_pres" if archive.index_suffix is None else "f072")
    path = f"{archive.bucket}/{key}"
    data = s3_writer.cat_file(path)
    wanted = [Wanted(GEFS_FIELDS["z500"], 72)]
    index = None if not idx_sidecars else path + ".idx"
    got = read_messages(archive.access.filesystem(), path, wanted, key, archive.retry, index)
    held = [h for h in split_messages(data, key) if wanted[0].found_in(h)]
    assert got == [data[h.offset:h.offset + h.length] for h in held] and len(got) == 1


def test_an_idx_that_disagrees_with_its_object_is_named(s3_server, s3_writer):
    written = write_gefs(s3_writer, OPERATIONAL, INIT, [0], [24], CORE_VARIABLES)
    key = written.keys[0]
    idx = f"{OPERATIONAL.bucket}/{key}.idx"
    lines = s3_writer.cat_file(idx).decode().splitlines()
    z500, t850 = (next(i for i, line in enumerate(lines) if f":{NCEP[n].wgrib2[0]}:{NCEP[n].wgrib2[1]}:"
                       in line) for n in ("z500", "t850"))
    # Swap the names of two lines: the .idx now places z500 where t850 is.
    swapped = list(lines)
    swapped[z500] = lines[z500].replace("HGT:500 mb", "TMP:850 mb")
    swapped[t850] = lines[t850].replace("TMP:850 mb", "HGT:500 mb")
    s3_writer.pipe_file(idx, "\n".join(swapped).encode())
    archive = archive_at(OPERATIONAL, s3_server)
    with pytest.raises(ArchiveDecodeError, match=rf"{key}.*member c00.*\.idx sidecar s3://"
                       rf"{OPERATIONAL.bucket}/{key}\.idx disagrees with the object: it places "
                       r"(z500|t850) at lead 24 h"):
        gefs_forecast(archive, INIT, [0], [1], GRID)

    # An offset past the end of the object.
    last = lines[-1].split(":")
    last[1] = "999999999"
    s3_writer.pipe_file(idx, "\n".join([*lines[:-1], ":".join(last)]).encode())
    with pytest.raises(ArchiveDecodeError, match=rf"{key} .*member c00.*\.idx sidecar s3://.*"
                       rf"{key}\.idx: message {len(lines)} at byte 999999999 does not fit the "
                       "object"):
        gefs_forecast(archive, INIT, [0], [1], GRID)


def section_offset(message: bytes, number: int) -> int:
    """Where section `number` of a GRIB2 message starts (each section begins with its length)."""
    offset = 16
    while message[offset + 4] != number:
        offset += int.from_bytes(message[offset:offset + 4], "big")
    return offset


@pytest.mark.parametrize("read_mode", ["ranged", "whole"])
def test_a_damaged_message_is_named_with_its_object(s3_server, s3_writer, read_mode):
    """A cut object, a lost end marker, broken section lengths: each an ArchiveDamagedError naming
    the key and the message, never a field reported missing or read around."""
    written = write_gefs(s3_writer, REFORECAST, INIT, [0], [24, 48], CORE_VARIABLES)
    archive = archive_at(REFORECAST, s3_server, read_mode=read_mode)
    key = key_of(written, "c00", "hgt_pres")
    path = f"{REFORECAST.bucket}/{key}"
    good = s3_writer.cat_file(path)
    first, second = split_messages(good, key)

    # Ranged, a message that fails its checks is read again before the object is called damaged.
    tries = rf".* \(attempt {FAST_RETRY.attempts} of {FAST_RETRY.attempts}\)$" * (
        read_mode == "ranged")

    def refused(data: bytes, match: str) -> None:
        s3_writer.pipe_file(path, data)
        with pytest.raises(ArchiveDamagedError, match=rf"{key}.*member c00.*for z500\): the "
                           rf"object is damaged: {match}{tries}"):
            gefs_forecast(archive, INIT, [0], [1, 2], GRID)

    refused(good[:-1000], f"message 2 at byte {second.offset} declares {second.length} bytes")
    refused(good[:second.offset - 1] + b"8" + good[second.offset:],
            "message 1 at byte 0 .*lacks its end marker '7777'")
    # Section 5's length made larger: the sections no longer chain up to the end marker.
    section5 = section_offset(good, 5)
    broken = bytearray(good)
    broken[section5:section5 + 4] = (1 << 20).to_bytes(4, "big")
    refused(bytes(broken), "message 1 at byte 0 .*sections do not end at the end marker")
    if read_mode == "whole":  # ranged reads stop at the last message they need
        refused(good + b"junk" * 8, f"message 3 at byte {len(good)} does not start with 'GRIB'")


def test_whole_reads_refuse_an_object_with_any_damaged_message(s3_server, s3_writer):
    """Whole, the object is read and checked message by message, the unused ones too; ranged, a
    message we do not read cannot hurt us (and is not read)."""
    written = write_gefs(s3_writer, OPERATIONAL, INIT, [0], [24], EXTRAS)
    path = f"{OPERATIONAL.bucket}/{written.keys[0]}"
    data = s3_writer.cat_file(path)
    headers = split_messages(data, path)
    msl = next(h for h in headers if h.holds(GEFS_FIELDS["msl"].grib2, 24))
    end = msl.offset + msl.length
    s3_writer.pipe_file(path, data[:end - 4] + b"7778" + data[end:])
    archive = archive_at(OPERATIONAL, s3_server, variables=CORE_VARIABLES)
    with pytest.raises(ArchiveDamagedError, match=rf"{written.keys[0]}.*object is damaged: message "
                       rf"{msl.index} at byte {msl.offset} lacks its end marker"):
        gefs_forecast(dataclasses.replace(archive, read_mode="whole"), INIT, [0], [1], GRID)
    assert gefs_forecast(archive, INIT, [0], [1], GRID).sizes["member"] == 1


@pytest.mark.parametrize("read_mode", ["ranged", "whole"])
def test_a_grib1_object_is_refused_by_name(s3_server, s3_writer, read_mode):
    written = write_gefs(s3_writer, REFORECAST, INIT, [0], [24], CORE_VARIABLES)
    key = key_of(written, "c00", "pres_sfc")
    lat, lon = grib_grid()
    s3_writer.pipe_file(f"{REFORECAST.bucket}/{key}", grib1_message(np.ones((lat.size, lon.size))))
    archive = archive_at(REFORECAST, s3_server, read_mode=read_mode)
    with pytest.raises(ArchiveDecodeError, match=rf"{key}.*for sp\): message 1 at byte 0 is GRIB "
                       "edition 1; this reader reads GRIB2 only"):
        gefs_forecast(archive, INIT, [0], [1], GRID)


def test_ranged_reads_survive_a_flaky_s3(s3_server, s3_writer, flaky_s3):
    for base in (REFORECAST, OPERATIONAL):
        write_gefs(s3_writer, base, INIT, [0, 1], [24, 48, 72], CORE_VARIABLES)
    faults = ("500", "503", "reset", "timeout", "truncate", "short", "flip")
    for base in (REFORECAST, OPERATIONAL):
        direct = gefs_forecast(archive_at(base, s3_server), INIT, [0, 1], [1, 2, 3], GRID)
        # Each fault once (an injected timeout costs READ_TIMEOUT_S).
        proxy = flaky_s3(faults=faults, fail_every=2, max_faults=len(faults),
                         hang_s=2 * READ_TIMEOUT_S, breaks=lambda method, path: method == "GET")
        flaky = gefs_forecast(archive_at(base, proxy.endpoint), INIT, [0, 1], [1, 2, 3], GRID)
        assert_bitwise_equal(flaky, direct)
        assert {fault for fault, _, _ in proxy.injected} == set(faults), base.name


def only_gets_of(key: str):
    """A FaultProxy `breaks` that picks the GETs of one object (ranged or whole)."""
    return lambda method, path: (method == "GET"
                                 and urllib.parse.unquote(path.split("?")[0]).endswith(key))


@pytest.mark.parametrize("base", [REFORECAST, OPERATIONAL], ids=["reforecast", "operational"])
def test_a_message_altered_in_transit_is_read_again_never_decoded(s3_server, s3_writer, flaky_s3,
                                                                 base):
    """Over plain http a message is read twice and taken only when both reads agree: a flipped
    byte in its packed values (which decode, to other values, and pass every GRIB2 check) costs a
    retry; flips that never stop are named after the retries, and nothing is returned. (The
    objects hold more than is read: a GET of a whole object is checked by S3's own checksum.)"""
    written = write_gefs(s3_writer, base, INIT, [0], [24, 48], EXTRAS)
    direct = gefs_forecast(archive_at(base, s3_server), INIT, [0], [1], GRID)
    key = key_of(written, "c00", "hgt_pres" if base.index_suffix is None else "f024")
    proxy = flaky_s3(faults=("flip",), breaks=only_gets_of(key), max_faults=3)
    assert_bitwise_equal(gefs_forecast(archive_at(base, proxy.endpoint), INIT, [0], [1], GRID),
                         direct)
    assert len(proxy.injected) == 3

    always = flaky_s3(faults=("flip",), breaks=only_gets_of(key))
    with pytest.raises(ArchiveTransferError, match=rf"{key} .*member c00.*still failing after "
                       rf"{FAST_RETRY.attempts} attempts.*two reads of the range .* differ"):
        gefs_forecast(archive_at(base, always.endpoint), INIT, [0], [1], GRID)


@pytest.mark.parametrize("base, flip_at", [(REFORECAST, 12), (OPERATIONAL, 2)],
                         ids=["message-header", "idx"])
def test_what_locates_the_messages_altered_in_transit_is_read_again(s3_server, s3_writer,
                                                                   flaky_s3, base, flip_at):
    """A flip the GRIB2 checks do catch, in what locates the messages, is no damage of the
    object: the first message header's declared length (octet 13 of section 0) or the first
    .idx line's offset, altered once, is read again and the forecast is right. (Stored without
    an S3 checksum, as NOAA's objects are, or botocore would catch the whole .idx's flip.)"""
    written = write_gefs(s3_writer, base, INIT, [0], [24], CORE_VARIABLES)
    key = key_of(written, "c00", "hgt_pres" if base.index_suffix is None else "f024")
    located_by = key if base.index_suffix is None else key + base.index_suffix
    path = f"{base.bucket}/{located_by}"
    unchecked = s3fs.S3FileSystem(anon=False, client_kwargs={"endpoint_url": s3_server},
                                  config_kwargs={"request_checksum_calculation": "when_required"},
                                  skip_instance_cache=True)
    unchecked.pipe_file(path, s3_writer.cat_file(path))
    direct = gefs_forecast(archive_at(base, s3_server), INIT, [0], [1], GRID)
    proxy = flaky_s3(faults=("flip",), breaks=only_gets_of(located_by), max_faults=1,
                     flip_at=flip_at)
    assert_bitwise_equal(gefs_forecast(archive_at(base, proxy.endpoint), INIT, [0], [1], GRID),
                         direct)
    assert len(proxy.injected) == 1
