#!/usr/bin/env bash
# Runs the whole test suite under sanitizers: scripts/sanitize.sh [address] [thread]
# (both when none is named). Each sanitizer builds in its own folder, .build-SANITIZER.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/ensure-libsodium.sh
# The core library only: the hub service's stack (NIO, BoringSSL, the DB drivers) is not built
# or tested under the sanitizers (Package.swift drops it with this variable).
export SODIUM_PSI_CORE_ONLY=1
sanitizers=("$@")
[ ${#sanitizers[@]} -gt 0 ] || sanitizers=(address thread)
for sanitizer in "${sanitizers[@]}"; do
    echo "== tests under the ${sanitizer} sanitizer"
    swift build --build-tests --sanitize="$sanitizer" --scratch-path ".build-$sanitizer"
    # halt_on_error makes the first report fail the run.
    ASAN_OPTIONS=halt_on_error=1:detect_leaks=0 TSAN_OPTIONS=halt_on_error=1 \
        swift test --skip-build --sanitize="$sanitizer" --scratch-path ".build-$sanitizer"
done
