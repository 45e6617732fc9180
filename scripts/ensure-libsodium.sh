#!/usr/bin/env bash
# Installs libsodium-dev (Debian/Ubuntu) when pkg-config cannot find libsodium.
set -euo pipefail
if pkg-config --exists libsodium 2>/dev/null; then
    exit 0
fi
echo "libsodium not found by pkg-config; installing libsodium-dev" >&2
SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
if ! command -v pkg-config >/dev/null 2>&1; then
    $SUDO apt-get update -qq
    $SUDO apt-get install -y -qq pkg-config
fi
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq libsodium-dev
pkg-config --exists libsodium
