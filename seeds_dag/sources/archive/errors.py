"""What the archive readers raise. Every message names the object (URL or key) and the forecast
(init date, member) or truth time it was read for, so a failed partition says what to fix."""


class ArchiveError(Exception):
    """Base of the archive readers' errors."""


class ArchiveObjectMissing(ArchiveError, FileNotFoundError):
    """The object a layout points to does not exist (a member, lead or date the archive lacks)."""


class ArchiveTransferError(ArchiveError, OSError):
    """An object could not be read whole: retries exhausted on transient errors, or access refused."""


class ArchiveDecodeError(ArchiveError, ValueError):
    """An object was read whole but does not hold what the layout promises (corrupt or truncated
    GRIB, a missing message, lead, member or variable, a time the store lacks)."""


class ArchiveDamagedError(ArchiveDecodeError):
    """A GRIB message of an object is damaged: it does not start with `GRIB`, declares a length
    the object does not hold, lacks its `7777` end marker, or does not decode. Raised instead of
    decoding the object's other messages, since a decoder that skips the damaged one would
    otherwise report a missing field, or nothing at all."""


def lacks_leads(where: str, name: str, missing: list[int], held: list[int]) -> ArchiveDecodeError:
    """The error for an object that lacks leads of a variable: which, and which it holds."""
    return ArchiveDecodeError(f"{where}: {name} lacks lead(s) {missing} h; the object holds "
                              f"leads {held} h")
