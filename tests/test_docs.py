"""The README and the docs hold up: every relative link and image resolves (to a heading, where it
names one), and every command they quote parses as written, without being run
(`tests/docs_commands.py`)."""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCUMENTS = [ROOT / "README.md", ROOT / "ARCHITECTURE.md", *sorted((ROOT / "docs").glob("*.md"))]
LINK = re.compile(r"!?\[[^\]]*\]\(([^)\s]+)\)")
CODE_BLOCK = re.compile(r"```(\w*)\n(.*?)```", re.S)
INLINE_CODE = re.compile(r"`([^`]+)`")
# What a quoted command starts with, after `time (` and VAR=value prefixes.
PROGRAMS = re.compile(r"^(\.venv/bin/)?(python3?|pytest|bash|dagster|dagster-daemon|dagster-celery|"
                      r"dagster-webserver|dg|seeds-dag)$")
SHELL_ONLY = {"export", "cd"}


def slug(heading: str) -> str:
    """GitHub's anchor of a heading: lower case, punctuation dropped, spaces to hyphens."""
    text = re.sub(r"[^\w\- ]", "", heading.strip().lower())
    return text.replace(" ", "-")


def anchors(document: Path) -> set[str]:
    text = CODE_BLOCK.sub("", document.read_text())
    return {slug(line.lstrip("#")) for line in text.splitlines() if re.match(r"#{1,6} ", line)}


def links(document: Path) -> list[str]:
    text = CODE_BLOCK.sub("", document.read_text())
    return [target for target in LINK.findall(text) if not re.match(r"[a-z]+:", target)]


def test_the_docs_exist_and_the_readme_is_short():
    assert all(d.exists() for d in DOCUMENTS) and len(DOCUMENTS) >= 7
    readme = (ROOT / "README.md").read_text()
    assert readme.startswith("# seeds-dag\n\n```bash\nbash scripts/setup.sh && ")
    assert len(readme.splitlines()) <= 150, "the README is a five-minute read; details go to docs/"


@pytest.mark.parametrize("document", DOCUMENTS, ids=lambda d: str(d.relative_to(ROOT)))
def test_every_relative_link_resolves(document):
    broken = []
    for target in links(document):
        path, _, anchor = target.partition("#")
        resolved = (document.parent / path).resolve() if path else document
        if not resolved.exists():
            broken.append(f"{target}: no such file")
        elif anchor and (resolved.suffix != ".md" or anchor not in anchors(resolved)):
            broken.append(f"{target}: no heading #{anchor} in {resolved.name}")
    assert not broken, f"{document.name}: {broken}"


def _command_lines(document: Path) -> list[str]:
    """Every command line quoted: the lines of bash blocks (continuations joined) and inline code
    that starts with a program of ours."""
    text = document.read_text()
    quoted = []
    for language, block in CODE_BLOCK.findall(text):
        if language in ("bash", "sh", "console"):
            quoted += block.replace("\\\n", " ").splitlines()
    quoted += [" ".join(span.split()) for span in INLINE_CODE.findall(CODE_BLOCK.sub("", text))]
    commands = []
    for line in quoted:
        line = re.sub(r"(^|\s)#.*$", "", line).strip()  # a comment
        for part in re.split(r"&&|;", line):
            part = part.strip().removeprefix("time (").removesuffix(")").strip()
            words = part.split()
            while words and re.fullmatch(r"[A-Z_]+=\S*", words[0]):
                words.pop(0)
            if words and words[0] not in SHELL_ONLY and PROGRAMS.match(words[0]) and len(words) > 1:
                commands.append(" ".join(words))
    return commands


def quoted_commands() -> list[tuple[str, list[str]]]:
    return [(f"{d.relative_to(ROOT)}: {c}", shlex.split(c)) for d in DOCUMENTS for c in _command_lines(d)]


def test_every_quoted_command_parses():
    commands = quoted_commands()
    assert any(argv[:3] == [".venv/bin/python", "-m", "assets.main_job"] for _, argv in commands)
    problems, to_parse = [], []
    for where, argv in commands:
        program = Path(argv[0]).name
        if program == "bash":
            script = ROOT / argv[1]
            if not script.exists() or subprocess.run(["bash", "-n", str(script)]).returncode != 0:
                problems.append(f"{where}: {argv[1]} is not a bash script here")
            elif any(option not in script.read_text() for option in argv[2:]):
                problems.append(f"{where}: {argv[1]} takes no {argv[2:]}")
        elif program == "pytest" or argv[1:3] == ["-m", "pytest"]:
            # The test files and folders named (the values of -m, -k, … are not paths).
            paths = [a for a in argv[1:] if not a.startswith("-") and ("/" in a or a.endswith(".py"))]
            problems += [f"{where}: no {p}" for p in paths if not (ROOT / p.split("::")[0]).exists()]
        else:
            to_parse.append((where, [sys.executable if program.startswith("python") else program, *argv[1:]]))
    checked = subprocess.run(
        [sys.executable, str(ROOT / "tests" / "docs_commands.py")], cwd=ROOT, capture_output=True, text=True,
        input=json.dumps([argv for _, argv in to_parse]), timeout=600,
        env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert checked.returncode == 0, checked.stderr[-3000:]
    for (where, _), result in zip(to_parse, json.loads(checked.stdout)):
        if not result["ok"]:
            problems.append(f"{where}: {result['said'].strip()[-500:]}")
    assert not problems, "\n".join(problems)
