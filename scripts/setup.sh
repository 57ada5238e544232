#!/usr/bin/env bash
# Create .venv (Python 3.11) and install seeds-dag into it; `--test` adds the test dependencies.
# torch is pinned to 2.13.0 in pyproject.toml: on these machines that is a local CPU wheel.
set -euo pipefail
cd "$(dirname "$0")/.."
python=${PYTHON:-python3.11}
command -v "$python" >/dev/null || python=python3
[ -x .venv/bin/python ] || "$python" -m venv .venv
extras=""
[ "${1:-}" = "--test" ] && extras="[test]"
.venv/bin/python -m pip install --quiet -e ".${extras}"
