"""Materialise the whole asset graph and print the summary: the main job (`python -m
assets.main_job`), with the same flags (`seeds-dag run --help` lists them)."""

from __future__ import annotations

import argparse

HELP = "the main job: the whole asset graph, then the summary (flags: seeds-dag run --help)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """None: every argument goes to the main job's own parser, its one home."""


def command(job_arguments: list[str]) -> int:
    # Imported here: the asset definitions take seconds to load, which only this command needs.
    from assets import main_job

    main_job.main(job_arguments, prog="seeds-dag run")
    return 0
