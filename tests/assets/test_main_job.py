"""The main job's console: the assets' own lines by default, Dagster's engine events on request."""

import pytest
from dagster import AssetExecutionContext, DagsterInstance, RunConfig, asset, materialize

from assets.main_job import console_logger_config

ASSET_LINE = "spin-up: 25/250 model days (10%), 12 s"


@asset
def chatty(context: AssetExecutionContext) -> None:
    context.log.info(ASSET_LINE)


def _console(capfd: pytest.CaptureFixture, log_level: str) -> list[str]:
    materialize([chatty], instance=DagsterInstance.ephemeral(),
                run_config=RunConfig(loggers=console_logger_config(log_level)))
    captured = capfd.readouterr()
    return (captured.out + captured.err).splitlines()


def test_at_info_the_console_shows_the_assets_lines_and_no_engine_event(capfd):
    lines = _console(capfd, "INFO")
    assert [line for line in lines if ASSET_LINE in line] != []
    assert [line for line in lines if " - DEBUG - " in line] == []


def test_verbose_adds_the_engine_events(capfd):
    lines = _console(capfd, "DEBUG")
    assert any(ASSET_LINE in line for line in lines)
    # Step start and success, output handling, run start and end at the least.
    assert len([line for line in lines if " - DEBUG - " in line]) >= 5
