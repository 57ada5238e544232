"""Only the GRIB2 messages a forecast needs: find them in an object, fetch them, check each.

A GEFSv12 reforecast object holds one variable at every level and lead of a member (up to 81 leads
× 7 levels), an operational one every variable of a member at one lead (≈ 80 messages); a
partition needs one level at a few leads, or five of the eighty fields. So by default
(`read_mode="ranged"`) an object is read in three steps:

1. **Find** the messages: from the object's `.idx` sidecar where the archive publishes one (the
   operational `noaa-gefs-pds` files: wgrib2 inventories, `n:offset:d=YYYYMMDDHH:VAR:LEVEL:FCST:
   ENS`, one GET), otherwise by hopping from message to message (the reforecast files: one small
   ranged GET of each message's first `HEADER_BYTES`, whose section 0 gives the offset of the
   next and whose section 4 what this one holds; we stop once every needed message is found).
2. **Fetch** each needed message by one ranged GET (adjacent ones merged; `s3_io.read_ranges`),
   twice where the transport does not guard the bytes (plain http), taken only when both agree.
3. **Check** each on its own (`grib2_messages.check_message`: declared length, `7777`, ecCodes
   decodes it) and against what it was fetched for, so an `.idx` that disagrees with its object is
   named instead of decoded.

A check that fails may be the transfer's fault rather than the object's: a byte altered in a
header hop, in the `.idx` or (over http) in one of the message reads. So the three steps are
retried together by the archive's `RetryPolicy`, and the object is named damaged (or the `.idx`
wrong, or a lead missing) only when the last attempt fails its checks as well.

What the checks can and cannot see. GRIB2 carries no checksum: the checks catch an altered byte
in a message's framing and sections 0–4 (length, section chain, `7777`, what it holds), but of
single bytes flipped at random in the packed data (section 7, ≈ 99.8 % of a message) ecCodes
still decodes 99 %, to other values (measured on the test suite's 1° messages, complex packing
as NCEP's: 2919 of 2946 sampled bytes), and 6 of the 55 bytes of sections 5–6, flipped, abort the
process inside ecCodes. So a message's bytes must be right before they are checked: over https
TLS authenticates them, over http the two reads must agree (`s3_io`). The header hops and the
`.idx` are read once: an altered one can only misplace or hide a message, which the checks then
refuse (a confirmed message that is not what it was fetched for, a lead missing), and the retry
reads them again.
Reading twice costs twice the message bytes; measured from a local moto S3 (3 members × 10 leads
× 5 variables at 1°, medians of 3 on this shared 2-core machine, seconds summed over the 4
download threads): reforecast 14.1 → 28.0 MB, 10.5 → 9.6 s; operational 13.9 → 27.9 MB, 5.5 →
6.5 s. Over https, as from the NOAA buckets, nothing is read twice.

`messages_in_file` serves the whole-object fallback (`read_mode="whole"`) with the same selection
and checks, after checking the framing of every message the object holds. Both return the bytes
of the needed messages, which the caller decodes with cfgrib: the values are those of a
whole-object read bit for bit, because they are decoded from the very same message bytes.
"""

from __future__ import annotations

import dataclasses
import logging
import mmap
import re
from collections.abc import Sequence
from pathlib import Path

import fsspec

from seeds_dag.sources.archive.errors import (
    ArchiveDecodeError,
    ArchiveObjectMissing,
    lacks_leads,
)
from seeds_dag.sources.archive.grib2_messages import (
    HEADER_BYTES,
    NO_SECTION_4,
    MessageHeader,
    check_fits,
    check_message,
    damaged,
    message_length,
    parse_header,
    split_messages,
)
from seeds_dag.sources.archive.s3_io import RetryPolicy, object_size, read_ranges, with_retries
from seeds_dag.sources.archive.variables import GribField

logger = logging.getLogger(__name__)

# A header longer than HEADER_BYTES is read again with this many times more bytes.
_GROWTH = 4
# wgrib2's forecast-time field: "anl" or "<n> <unit> fcst".
_FCST = re.compile(r"^(\d+) (min|hour|day) fcst$")
_HOURS_PER_IDX_UNIT = {"min": 1 / 60, "hour": 1.0, "day": 24.0}


@dataclasses.dataclass(frozen=True)
class Wanted:
    """One message a read needs: `field` at `lead_hours`."""

    field: GribField
    lead_hours: int

    def found_in(self, header: MessageHeader) -> bool:
        return header.holds(self.field.grib2, self.lead_hours)


def _leads(hours: Sequence[float | None]) -> list[int | float]:
    return sorted({int(h) if float(h).is_integer() else h for h in hours if h is not None})


def select_messages(headers: Sequence[MessageHeader], wanted: Sequence[Wanted], where: str
                    ) -> list[MessageHeader]:
    """The headers holding what `wanted` asks for, in object order; an error naming the variable
    and the leads it lacks when one is not there."""
    chosen = [h for h in headers if any(w.found_in(h) for w in wanted)]
    for name in dict.fromkeys(w.field.name for w in wanted):
        asked = [w for w in wanted if w.field.name == name]
        missing = [w.lead_hours for w in asked if not any(w.found_in(h) for h in chosen)]
        if missing:
            held = [h.forecast_hours for h in headers if h.is_field(asked[0].field.grib2)]
            raise lacks_leads(where, name, missing, _leads(held))
    return chosen


def messages_in_file(path: Path, wanted: Sequence[Wanted], where: str) -> list[bytes]:
    """The needed messages of the whole object downloaded to `path`, each checked, after the
    framing of every message it holds is (a damaged message anywhere fails the object)."""
    with open(path, "rb") as f, mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as data:
        headers = select_messages(split_messages(data, where), wanted, where)
        messages = [data[h.offset:h.offset + h.length] for h in headers]
    for header, message in zip(headers, messages):
        check_message(message, header, where)
    return messages


@dataclasses.dataclass(frozen=True)
class _Located:
    """Where a message should be, and by what we know it (`by`: the .idx or the headers)."""

    wanted: Wanted
    index: int
    offset: int
    length: int
    by: str


@dataclasses.dataclass(frozen=True)
class _IdxLine:
    """One line of a wgrib2 inventory: message `index` at `offset`, `length` bytes (up to the next
    message), holding `variable` at `level` at `forecast_hours` (None: not a forecast time)."""

    index: int
    offset: int
    length: int
    variable: str
    level: str
    forecast_hours: float | None


def _idx_lines(text: str, size: int, idx: str) -> list[_IdxLine]:
    """The lines of a wgrib2 .idx of an object of `size` bytes; `idx` names the sidecar and what
    it was read for."""
    rows = []
    for number, line in enumerate(text.splitlines(), 1):
        parts = line.split(":")
        if len(parts) < 6 or not parts[0].isdigit() or not parts[1].isdigit():
            raise ArchiveDecodeError(f"{idx}: line {number} is not a wgrib2 inventory line "
                                     f"(n:offset:date:VAR:LEVEL:FCST): {line!r}")
        fcst = parts[5].strip()
        match = _FCST.match(fcst)
        hours = 0.0 if fcst == "anl" else (
            int(match[1]) * _HOURS_PER_IDX_UNIT[match[2]] if match else None)
        rows.append((int(parts[0]), int(parts[1]), parts[3], parts[4], hours))
    rows.sort(key=lambda row: row[1])
    lines = []
    for (index, offset, variable, level, hours), end in zip(
            rows, [*(row[1] for row in rows[1:]), size]):
        if end <= offset:
            raise ArchiveDecodeError(f"{idx}: message {index} at byte {offset} does not fit "
                                     f"the object ({size} bytes)")
        lines.append(_IdxLine(index, offset, end - offset, variable, level, hours))
    return lines


def _locate_by_idx(fs: fsspec.AbstractFileSystem, idx_path: str, size: int,
                   wanted: Sequence[Wanted], where: str, policy: RetryPolicy
                   ) -> list[_Located] | None:
    """Where the .idx sidecar places each wanted message; None when the archive has no sidecar
    for this object."""
    idx_url = f"s3://{idx_path}"
    idx = f"{where}: its .idx sidecar {idx_url}"
    try:
        # start=0: a plain GET (without a start s3fs asks for the size first, one more request).
        text = with_retries(lambda: fs.cat_file(idx_path, start=0), idx, policy).decode(
            "ascii", errors="replace")
    except ArchiveObjectMissing:
        logger.info("%s: no .idx sidecar (%s); finding messages by their headers", where, idx_url)
        return None
    lines = _idx_lines(text, size, idx)
    located, missing = [], {}
    for want in wanted:
        hits = [line for line in lines if (line.variable, line.level) == want.field.idx_name
                and line.forecast_hours == want.lead_hours]
        if not hits:
            missing.setdefault(want.field, []).append(want.lead_hours)
        located += [_Located(want, line.index, line.offset, line.length,
                             f"its .idx sidecar {idx_url}") for line in hits]
    for field, leads in missing.items():
        held = [line.forecast_hours for line in lines
                if (line.variable, line.level) == field.idx_name]
        raise lacks_leads(f"{where} (by its .idx {idx_url})", field.name, leads, _leads(held))
    return located


def _hop_headers(fs: fsspec.AbstractFileSystem, path: str, size: int, wanted: Sequence[Wanted],
                 where: str, policy: RetryPolicy) -> list[MessageHeader]:
    """The headers of the object's messages from the first until every wanted one is found (or
    the object ends), one small ranged read each."""
    headers: list[MessageHeader] = []
    offset, unfound = 0, list(wanted)
    while offset < size and unfound:
        index, read = len(headers) + 1, HEADER_BYTES
        while True:
            end = min(offset + read, size)
            head = read_ranges(fs, path, [(offset, end)], where, policy)[0]
            header = parse_header(head, index, offset, where)
            if header is not None:
                break
            if end == size or len(head) >= message_length(head, index, offset, where):
                raise damaged(where, index, offset, NO_SECTION_4)
            read *= _GROWTH
        check_fits(index, offset, header.length, size, where)
        headers.append(header)
        unfound = [w for w in unfound if not w.found_in(header)]
        offset += header.length
    return headers


def _fetch_checked(fs: fsspec.AbstractFileSystem, path: str, located: Sequence[_Located],
                   where: str, policy: RetryPolicy, confirm: bool) -> list[bytes]:
    """The messages `located` places, fetched (`confirm`: twice, and agreeing) and each checked
    against what it was fetched for and on its own."""
    blobs = read_ranges(fs, path, [(m.offset, m.offset + m.length) for m in located], where,
                        policy, confirm)
    for spot, blob in zip(located, blobs):
        header = parse_header(blob, spot.index, spot.offset, where)
        if header is None or header.length != spot.length or not spot.wanted.found_in(header):
            held = (header.describe() if header is not None
                    else f"message {spot.index} at byte {spot.offset} (no section 4)")
            declared = "" if header is None else f", {header.length} bytes long"
            raise ArchiveDecodeError(
                f"{where}: {spot.by} disagrees with the object: it places "
                f"{spot.wanted.field.name} at lead {spot.wanted.lead_hours} h in "
                f"{spot.length} bytes at byte {spot.offset}, but there is {held}{declared}")
        check_message(blob, header, where)
    return blobs


def read_messages(fs: fsspec.AbstractFileSystem, path: str, wanted: Sequence[Wanted], where: str,
                  policy: RetryPolicy, idx_path: str | None = None, confirm: bool = False
                  ) -> list[bytes]:
    """The wanted messages of the object `path` (bucket/key), fetched by byte ranges and each
    checked; `idx_path` is its .idx sidecar where the archive publishes one; `confirm`: read each
    message twice and require agreement (where the transport does not guard the bytes). Finding,
    fetching and checking are retried together when a check fails (module docstring)."""
    size = object_size(fs, path, where, policy)

    def attempt() -> list[bytes]:
        located = (None if idx_path is None
                   else _locate_by_idx(fs, idx_path, size, wanted, where, policy))
        if located is None:
            headers = select_messages(_hop_headers(fs, path, size, wanted, where, policy), wanted,
                                      where)
            located = [_Located(next(w for w in wanted if w.found_in(h)), h.index, h.offset,
                                h.length, "its message headers") for h in headers]
        return _fetch_checked(fs, path, located, where, policy, confirm)

    return with_retries(attempt, where, policy, also_retry=(ArchiveDecodeError,))
