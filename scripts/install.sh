#!/usr/bin/env bash
# Install the project's Python packages into the current Python (a venv is recommended).
# torch goes first and pinned: an unpinned torch would pull a multi-GB CUDA build.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
$PY -m pip install -q torch==2.13.0
$PY -m pip install -q -r requirements-dev.txt
