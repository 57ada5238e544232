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
