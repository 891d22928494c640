#!/usr/bin/env bash
# Install everything and start the viewer (the README's first command). Extra arguments go to the viewer.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install.sh
PY=${PYTHON:-python3}
# motion clips for playback and latent presets: fetched once (pinned, checksummed); the viewer runs without them
if ! $PY -c "from motion.data import deepmimic_dir; deepmimic_dir()" 2>/dev/null; then
  $PY launch.py motions download || echo "viewer.sh: no motion clips (download failed); the viewer starts without them"
fi
exec $PY launch.py --viewer "$@"
