"""Progress lines: a handful per stage, whatever its length, and the last one always."""

import re

import pytest

from assets.progress import PROGRESS_LINES, progress_logger

LINE = re.compile(r"^(?P<what>.+): (?P<done>\d+)/(?P<total>\d+) (?P<unit>.+) \((?P<percent>\d+)%\), "
                  r"(?P<seconds>\d+) s(?:, (?P<note>.+))?$")


class FakeLog:
    """Stands in for Dagster's context.log: records the INFO lines."""

    def __init__(self):
        self.lines: list[str] = []

    def info(self, msg: str) -> None:
        self.lines.append(msg)


class FakeContext:
    """Stands in for an asset's context: only its log is used."""

    def __init__(self):
        self.log = FakeLog()


def _parsed(lines: list[str]) -> list[dict]:
    matches = [LINE.match(line) for line in lines]
    assert all(matches), lines
    return [m.groupdict() for m in matches]


def test_a_long_stage_reported_every_step_logs_each_tenth_once():
    context = FakeContext()
    report = progress_logger(context, "spin-up", 200, "model days")
    for day in range(1, 201):
        report(day)
    lines = _parsed(context.log.lines)
    assert len(lines) == PROGRESS_LINES
    assert [int(line["done"]) for line in lines] == list(range(20, 201, 20))
    assert [int(line["percent"]) for line in lines] == list(range(10, 101, 10))
    assert {(line["what"], line["total"], line["unit"]) for line in lines} == {
        ("spin-up", "200", "model days")}
    assert context.log.lines[-1].startswith("spin-up: 200/200 model days (100%), ")


def test_a_stage_shorter_than_ten_steps_logs_every_step():
    context = FakeContext()
    report = progress_logger(context, "truth", 3, "model days")
    for day in (1, 2, 3):
        report(day)
    lines = _parsed(context.log.lines)
    assert [(line["done"], line["percent"]) for line in lines] == [("1", "33"), ("2", "66"),
                                                                    ("3", "100")]


def test_sparse_reports_log_the_tenths_they_cross_and_carry_their_note():
    # Training calls back every log_every = 50 steps of 800: a line when a call passes a new tenth.
    context = FakeContext()
    report = progress_logger(context, "training", 800, "steps")
    for step in range(50, 801, 50):
        report(step, f"loss {1 / step:.4f}")
    lines = _parsed(context.log.lines)
    assert [int(line["done"]) for line in lines] == [100, 200, 250, 350, 400, 500, 600, 650,
                                                     750, 800]
    assert lines[-1]["note"] == "loss 0.0013"


def test_repeated_or_early_reports_add_no_line():
    context = FakeContext()
    report = progress_logger(context, "members", 64, "members")
    for done in (0, 3, 6, 6, 7, 7):
        report(done)
    assert [line["done"] for line in _parsed(context.log.lines)] == ["7"]


def test_an_empty_stage_is_refused_by_name():
    with pytest.raises(ValueError, match="'spin-up'.*at least 1 model days, got 0"):
        progress_logger(FakeContext(), "spin-up", 0, "model days")
