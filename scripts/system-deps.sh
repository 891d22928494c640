#!/usr/bin/env bash
# Debian/Ubuntu packages for the viewer tests and headless rendering: Xvfb, Mesa, OSMesa, xdotool; for the web
# page's tests (tests/test_web.py, docs/web.md): Chromium's headless shell, and Node.js where `node` is missing.
set -euo pipefail
pkgs="xvfb xauth libgl1-mesa-dri libglu1-mesa libosmesa6 libegl1 libegl-mesa0 xdotool chromium-headless-shell"
command -v node >/dev/null 2>&1 || pkgs="$pkgs nodejs"
missing=""
for p in $pkgs; do dpkg -s "$p" >/dev/null 2>&1 || missing="$missing $p"; done
if [ -n "$missing" ]; then
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq $missing >/dev/null
fi
