#!/usr/bin/env bash
# Install everything, lint, and run the test suite (the README's test command). Arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/system-deps.sh
bash scripts/install.sh
PY=${PYTHON:-python3}
$PY -m ruff check .
$PY -m ruff format --check .
set +e
$PY -m pytest "$@"
rc=$?
set -e
if [ $rc -eq 5 ]; then echo "pytest collected no tests"; exit 1; fi
exit $rc
