"""`seeds-dag COMMAND …`: the parser of every command and the dispatch to its module.

`run` hands everything after it to the main job's own parser (`assets.main_job.main`), so the main
job's flags live in one place; the other commands parse their arguments here and report refused
input as one line naming the file at fault (exit status 1) rather than a traceback.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from seeds_dag.checkpoints import CheckpointError
from seeds_dag.conventions import DataValidationError
from seeds_dag.post_processing import FrameError
from seeds_dag.store import ArtifactNotFoundError, CorruptArtifactError
from seeds_dag_cli import emulate, report, run, score

PROG = "seeds-dag"
DESCRIPTION = ("seeds-dag without the Dagster UI: run the main job, emulate an ensemble from a forecast "
               "with a trained model, score it against a truth, find the report.")
COMMANDS = {"run": run, "emulate": emulate, "score": score, "report": report}
REFUSED = (ValueError, DataValidationError, FrameError, CheckpointError, FileNotFoundError,
           ArtifactNotFoundError, CorruptArtifactError)
"""What bad input raises: reported as the message (with its notes), not as a traceback."""


def parser() -> argparse.ArgumentParser:
    cli = argparse.ArgumentParser(prog=PROG, description=DESCRIPTION)
    commands = cli.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, module in COMMANDS.items():
        # `run`'s --help is the main job's: its subparser takes no options of its own.
        sub = commands.add_parser(name, help=module.HELP, description=module.__doc__,
                                  add_help=name != "run",
                                  formatter_class=argparse.RawDescriptionHelpFormatter)
        module.add_arguments(sub)
    return cli


def refusal(error: BaseException) -> str:
    """An error's message and its notes (which name the file at fault), on one line each."""
    return "\n".join([f"{type(error).__name__}: {error}", *getattr(error, "__notes__", [])])


def main(argv: Sequence[str] | None = None) -> int:
    """Run `seeds-dag` with `argv` (default sys.argv[1:]); returns the exit status."""
    argv = list(sys.argv[1:] if argv is None else argv)
    cli = parser()
    known, passed = cli.parse_known_args(argv)
    if known.command == "run":
        return run.command(passed)
    args = cli.parse_args(argv)
    try:
        return COMMANDS[args.command].command(args)
    except REFUSED as error:
        print(f"{PROG} {args.command}: {refusal(error)}", file=sys.stderr)
        return 1
