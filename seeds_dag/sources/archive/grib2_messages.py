"""GRIB2 messages as bytes: where each one starts and ends, whether it is whole, and what it holds.

A GRIB2 message (WMO FM 92 GRIB edition 2) is framed by a 16-byte section 0 (`GRIB`, two reserved
octets, the discipline, the edition 2, and the message's total length in 8 octets) and the 4-byte
end marker `7777`; sections 1–7 between them each start with their length (4 octets) and number
(1 octet). So the messages of an object can be found by hopping from one section 0 to the next,
and what a message holds can be read from its sections 1–4, about 150 bytes of a 0.5° GEFS
message (its data, sections 5–7, is the other ≈ 99.9 %), without decoding it:

* section 4, product template 4.0 and the templates that begin like it (4.1 ensemble member, 4.2,
  4.8, 4.11, 4.12): parameter category (octet 10) and number (11), the unit of the forecast time
  (18, code table 4.4) and the forecast time (19–22), the type of first fixed surface (23), its
  scale factor (24) and scaled value (25–28).

GRIB edition 1 has an 8-byte section 0 with the edition at the same octet (8); it is refused by
name, since the GEFSv12 archives and this reader are GRIB2. Every message we keep is checked on
its own: the length its section 0 declares is the length we hold, it ends with `7777`, its
sections chain up to the end marker, and ecCodes decodes its values.
"""

from __future__ import annotations

import dataclasses
import mmap

import eccodes

from seeds_dag.sources.archive.errors import ArchiveDamagedError, ArchiveDecodeError

SECTION0_BYTES = 16
END_MARKER = b"7777"
_MAGIC = b"GRIB"
# Sections 0–4 of a 0.5° regular lat–lon GEFS message take about 150 bytes; 1 KiB leaves room for
# a local-use section or a longer grid definition (a longer header is read again, whole).
HEADER_BYTES = 1024
_SECTION_HEAD_BYTES = 5  # length (4 octets) and section number (1 octet)
# Product templates whose octets 10–28 are laid out as in template 4.0 (WMO code table 4.0).
_TEMPLATES_LIKE_4_0 = {0, 1, 2, 8, 11, 12}
# Code table 4.4, units of the forecast time, in hours.
_HOURS_PER_UNIT = {0: 1 / 60, 1: 1.0, 2: 24.0, 10: 3.0, 11: 6.0, 12: 12.0, 13: 1 / 3600}


@dataclasses.dataclass(frozen=True)
class Grib2Parameter:
    """A field in GRIB2 codes: discipline (code table 0.0), parameter category and number (4.1,
    4.2), type of first fixed surface (4.5) and its value in the surface's unit (Pa for isobaric
    surfaces, m for heights); `surface_value` None means the surface has no value (the ground,
    mean sea level, the entire atmosphere) or any value is accepted."""

    discipline: int
    category: int
    number: int
    surface_type: int
    surface_value: float | None = None

    def describe(self) -> str:
        at = "" if self.surface_value is None else f" at {self.surface_value:g}"
        return (f"discipline {self.discipline} category {self.category} number {self.number}, "
                f"surface type {self.surface_type}{at}")


@dataclasses.dataclass(frozen=True)
class MessageHeader:
    """Where message `index` (1-based, as wgrib2 numbers them) lies in its object, and what it
    holds: `parameter` and `forecast_hours` are None for a product template we do not read."""

    index: int
    offset: int
    length: int
    parameter: Grib2Parameter | None
    forecast_hours: float | None

    def is_field(self, wanted: Grib2Parameter) -> bool:
        """Whether the message holds the field `wanted`, at any lead."""
        got = self.parameter
        return got is not None and (
            (got.discipline, got.category, got.number, got.surface_type)
            == (wanted.discipline, wanted.category, wanted.number, wanted.surface_type)
            and (wanted.surface_value is None or got.surface_value == wanted.surface_value))

    def holds(self, wanted: Grib2Parameter, lead_hours: int) -> bool:
        """Whether the message holds the field `wanted` at `lead_hours`."""
        return self.forecast_hours == lead_hours and self.is_field(wanted)

    def describe(self) -> str:
        what = ("a product template we do not read" if self.parameter is None
                else f"{self.parameter.describe()}, lead {self.forecast_hours:g} h")
        return f"message {self.index} at byte {self.offset} ({what})"


def damaged(where: str, index: int, offset: int, problem: str) -> ArchiveDamagedError:
    """The error for message `index` at byte `offset` of the object `where` names; `problem`
    says what is wrong with it."""
    return ArchiveDamagedError(f"{where}: the object is damaged: message {index} at byte {offset} "
                               f"{problem}")


def check_fits(index: int, offset: int, length: int, size: int, where: str) -> None:
    """Refuse message `index` at `offset` when the `length` it declares runs past the end of the
    object (`size` bytes)."""
    if offset + length > size:
        raise damaged(where, index, offset, f"declares {length} bytes but the object ends "
                      f"{size - offset} bytes after its start")


NO_SECTION_4 = "has no section 4"


def _uint(data: bytes, start: int, size: int) -> int:
    return int.from_bytes(data[start:start + size], "big")


def _signed(data: bytes, start: int, size: int) -> int:
    """GRIB2 signed integers are sign and magnitude: the first bit is the sign."""
    raw = _uint(data, start, size)
    sign_bit = 1 << (8 * size - 1)
    return -(raw & ~sign_bit) if raw & sign_bit else raw


def message_length(section0: bytes, index: int, offset: int, where: str) -> int:
    """The total length section 0 of message `index` at `offset` declares; refuses GRIB1 and
    anything that is not a GRIB section 0."""
    if len(section0) < SECTION0_BYTES or section0[:4] != _MAGIC:
        raise damaged(where, index, offset,
                      f"does not start with 'GRIB' (found {bytes(section0[:4])!r})")
    edition = section0[7]
    if edition == 1:
        raise ArchiveDecodeError(f"{where}: message {index} at byte {offset} is GRIB edition 1; "
                                 "this reader reads GRIB2 only (the GEFSv12 archives are GRIB2)")
    if edition != 2:
        raise damaged(where, index, offset, f"declares GRIB edition {edition}")
    length = _uint(section0, 8, 8)
    if length < SECTION0_BYTES + len(END_MARKER):
        raise damaged(where, index, offset, f"declares a length of {length} bytes")
    return length


def parse_header(head: bytes, index: int, offset: int, where: str) -> MessageHeader | None:
    """The header of the message whose first bytes are `head`, or None when `head` ends before
    its section 4 does (read more and call again)."""
    length = message_length(head, index, offset, where)
    start = SECTION0_BYTES
    while True:
        if start + _SECTION_HEAD_BYTES > len(head):
            return None
        size, number = _uint(head, start, 4), head[start + 4]
        if size < _SECTION_HEAD_BYTES or start + size > length - len(END_MARKER) or number > 7:
            raise damaged(where, index, offset,
                          f"has a section {number} of {size} bytes at byte {offset + start} that "
                          f"does not fit its declared length {length}")
        if number == 4:
            if start + size > len(head):
                return None
            return _product(head[start:start + size], index, offset, length, head[6])
        start += size


def _product(section4: bytes, index: int, offset: int, length: int,
             discipline: int) -> MessageHeader:
    template = _uint(section4, 7, 2)
    if template not in _TEMPLATES_LIKE_4_0 or len(section4) < 28:
        return MessageHeader(index, offset, length, None, None)
    factor, scaled = section4[23], _uint(section4, 24, 4)
    surface_value = (None if factor == 0xFF or scaled == 0xFFFFFFFF
                     else scaled * 10.0 ** -_signed(section4, 23, 1))
    unit = _HOURS_PER_UNIT.get(section4[17])
    hours = None if unit is None else _signed(section4, 18, 4) * unit
    parameter = Grib2Parameter(discipline, section4[9], section4[10], section4[22], surface_value)
    return MessageHeader(index, offset, length, parameter, hours)


def check_message(message: bytes, header: MessageHeader, where: str) -> None:
    """Refuse `message` unless it is whole: the declared length, the end marker, sections that
    chain up to it, and values ecCodes decodes."""
    declared = message_length(message, header.index, header.offset, where)
    prefix = f"{where}: the object is damaged: {header.describe()}"
    if declared != len(message):
        raise ArchiveDamagedError(f"{prefix} declares {declared} bytes, {len(message)} held")
    if message[-len(END_MARKER):] != END_MARKER:
        raise ArchiveDamagedError(f"{prefix} lacks its end marker '7777'")
    start = SECTION0_BYTES
    while start < declared - len(END_MARKER):
        size = _uint(message, start, 4)
        if size < _SECTION_HEAD_BYTES:
            raise ArchiveDamagedError(f"{prefix} has a section of {size} bytes at byte "
                                      f"{header.offset + start}")
        start += size
    if start != declared - len(END_MARKER):
        raise ArchiveDamagedError(f"{prefix}: its sections do not end at the end marker")
    try:
        handle = eccodes.codes_new_from_message(bytes(message))
        try:
            eccodes.codes_get_values(handle)
        finally:
            eccodes.codes_release(handle)
    except Exception as err:
        raise ArchiveDamagedError(f"{prefix} does not decode ({type(err).__name__}: {err})"
                                  ) from err


def split_messages(data: bytes | mmap.mmap, where: str) -> list[MessageHeader]:
    """The headers of every message in `data` (a whole object), checking that each starts with a
    GRIB2 section 0, fits in the object and ends with `7777`, and that nothing follows the last
    one."""
    headers: list[MessageHeader] = []
    offset = 0
    while offset < len(data):
        index = len(headers) + 1
        head = data[offset:offset + SECTION0_BYTES]
        length = message_length(head, index, offset, where)
        check_fits(index, offset, length, len(data), where)
        if data[offset + length - len(END_MARKER):offset + length] != END_MARKER:
            raise damaged(where, index, offset, "lacks its end marker '7777'")
        # Sections 0–4 first, from a prefix: slicing an mmap copies, and a message is ~1000× longer.
        header = (parse_header(data[offset:offset + min(length, HEADER_BYTES)], index, offset,
                               where)
                  or parse_header(data[offset:offset + length], index, offset, where))
        if header is None:
            raise damaged(where, index, offset, NO_SECTION_4)
        headers.append(header)
        offset += length
    return headers
