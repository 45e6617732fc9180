#!/usr/bin/env bash
# Runs the whole test suite. Installs libsodium-dev first when it is missing.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/ensure-libsodium.sh
swift build --build-tests "$@"
swift test --skip-build "$@"
