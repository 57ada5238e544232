"""Progress of a long asset body in a handful of log lines: the one way every asset reports it.

    report = progress_logger(context, "spin-up", total=250, unit="model days")
    run_spinup(config, on_day=report)          # the science calls report(done) as it goes
    # → spin-up: 25/250 model days (10%), 12 s  …  spin-up: 250/250 model days (100%), 118 s

The reporter may be called as often as the work likes (every model day, every training step,
every batch of members): it logs only when `done` reaches the next tenth of `total`, and at the
end, so a stage prints at most PROGRESS_LINES lines at INFO whatever its length. Lines go
through the asset's Dagster log (`context.log`), so they appear in the console, the run's event
log and the UI.

For a stage that generates members, count the members written over all its models and report
after every batch (the science takes the reporter as a `Callable[[int], None]` callback):

    report = progress_logger(context, "members generated", len(models) * n_members, "members")
    ...                                        # after each batch is written:
    report(members_written)                    # → members generated: 16/64 members (25%), 3 s
"""

import time
from typing import Protocol

PROGRESS_LINES = 10
"""A line at every tenth of the work: enough to see a stage move and to estimate when it ends,
few enough that the console stays a timing table with a few lines per stage."""


class InfoLog(Protocol):
    """What the lines go to: Dagster's `context.log` (or any logger with `info`)."""

    def info(self, msg: str) -> None: ...


class LoggingContext(Protocol):
    """An asset's `AssetExecutionContext`, or anything else with a `log`."""

    @property
    def log(self) -> InfoLog: ...


class ProgressReport(Protocol):
    """`report(done)` or `report(done, note)`: usable wherever the science takes a
    `Callable[[int], None]` progress callback (`on_day`, `on_members`)."""

    def __call__(self, done: int, note: str = "") -> None: ...


def progress_logger(context: LoggingContext, what: str, total: int, unit: str) -> ProgressReport:
    """A function `report(done, note="")` that logs to `context.log`, at most PROGRESS_LINES times,

        f"{what}: {done}/{total} {unit} ({percent}%), {seconds} s[, {note}]"

    when `done` (work finished so far, 1..total, non-decreasing) first reaches another tenth of
    `total`; the line at `done == total` always comes. Seconds count from this call. `note` adds
    what the stage knows at that moment, e.g. the training loss.
    """
    if total < 1:
        raise ValueError(f"progress of {what!r}: total must be at least 1 {unit}, got {total}")
    start = time.perf_counter()
    logged_tenths = 0

    def report(done: int, note: str = "") -> None:
        nonlocal logged_tenths
        tenths = min(done, total) * PROGRESS_LINES // total
        if tenths <= logged_tenths:
            return
        logged_tenths = tenths
        seconds = time.perf_counter() - start
        line = f"{what}: {done}/{total} {unit} ({100 * min(done, total) // total}%), {seconds:.0f} s"
        context.log.info(f"{line}, {note}" if note else line)

    return report
