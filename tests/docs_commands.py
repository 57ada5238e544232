"""Parse quoted commands without running them: `python tests/docs_commands.py` reads a JSON list of
argv lists on stdin and writes, for each, whether its arguments parse, as JSON on stdout.

- `python -m module …` and `python path.py …`: the module runs as `__main__` up to its
  `ArgumentParser.parse_args`, which parses the arguments as given (an unknown option or a bad
  value is argparse's exit status 2) and then stops the module before it does any work.
- a console script of this project (`seeds-dag …`, named in pyproject.toml's [project.scripts], so
  it needs no installed script): its entry point with the arguments as given, stopped once its
  `ArgumentParser.parse_args` has parsed them, as a module is (`seeds-dag run …` is parsed by the
  main job's own parser).
- another console script (`dagster …`, `dagster-daemon …`): its entry point with `--help` appended;
  click parses every option before it prints the help, so an unknown option or subcommand fails.

One process checks them all, so the imports (torch, dagster) are paid once.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import io
import json
import re
import runpy
import sys
import tomllib
from pathlib import Path


class Parsed(Exception):
    """Raised by the patched parse_args once the arguments have parsed: the module stops there."""


def _stop_after_parsing(parse_args):
    def parse_then_stop(self, args=None, namespace=None):
        parse_args(self, args, namespace)
        raise Parsed

    return parse_then_stop


def _entry_point(script: Path):
    """The function a console script calls (`from package.module import name`)."""
    match = re.search(r"^from (\S+) import (\w+)$", script.read_text(), re.M)
    if match is None:
        raise ValueError(f"{script} is not a console script")
    return getattr(importlib.import_module(match.group(1)), match.group(2))


def _project_scripts() -> dict[str, str]:
    """The console scripts pyproject.toml declares: name -> "module:function"."""
    project = tomllib.loads((Path.cwd() / "pyproject.toml").read_text())["project"]
    return project.get("scripts", {})


def check(argv: list[str], bin_dir: Path) -> tuple[bool, str]:
    """(parsed, what was said) for one command line; argv[0] is python or a console script."""
    out = io.StringIO()
    saved = sys.argv
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(out):
            if Path(argv[0]).name.startswith("python"):
                if argv[1] == "-m":
                    sys.argv = [argv[2], *argv[3:]]
                    runpy.run_module(argv[2], run_name="__main__", alter_sys=True)
                else:
                    sys.argv = argv[1:]
                    runpy.run_path(argv[1], run_name="__main__")
                return False, "ran without parsing any arguments"
            scripts = _project_scripts()
            if Path(argv[0]).name in scripts:
                module, function = scripts[Path(argv[0]).name].split(":")
                sys.argv = [Path(argv[0]).name, *argv[1:]]
                getattr(importlib.import_module(module), function)()
                return False, "returned without parsing any arguments"
            sys.argv = [argv[0], *argv[1:], "--help"]
            _entry_point(bin_dir / Path(argv[0]).name)()
            return False, "returned without printing its help"
    except Parsed:
        return True, ""
    except SystemExit as stopped:
        return stopped.code in (0, None), out.getvalue()[-2000:]
    except Exception as failed:  # noqa: BLE001 - a module that cannot be imported or run is what we report
        return False, f"{out.getvalue()[-1500:]}{type(failed).__name__}: {failed}"
    finally:
        sys.argv = saved


def main() -> None:
    bin_dir = Path(sys.executable).parent
    sys.path.insert(0, str(Path.cwd()))  # `python -m` from the repository root, as the docs say
    argparse.ArgumentParser.parse_args = _stop_after_parsing(argparse.ArgumentParser.parse_args)
    results = [{"argv": argv, **dict(zip(("ok", "said"), check(argv, bin_dir)))}
               for argv in json.loads(sys.stdin.read())]
    sys.stdout.write(json.dumps(results))


if __name__ == "__main__":
    main()
