#!/usr/bin/env bash
# Runs one libFuzzer target for a bounded time and fails on any crash.
#   scripts/fuzz.sh TARGET SECONDS [extra libFuzzer flags]
# TARGET: FuzzMessageFile, FuzzIdentifiers, FuzzListReader or FuzzStateFile (party state,
# member state and hub key files). The committed seed corpus is
# Tests/Fuzz/Corpus/TARGET; new inputs go to a scratch copy, not into the repository.
set -euo pipefail
cd "$(dirname "$0")/.."
target=${1:?usage: scripts/fuzz.sh TARGET SECONDS}
seconds=${2:?usage: scripts/fuzz.sh TARGET SECONDS}
shift 2
scripts/ensure-libsodium.sh
export SODIUM_PSI_FUZZ=1
export SODIUM_PSI_CORE_ONLY=1   # no server stack in the fuzz build
swift build -c release --product "$target" --scratch-path .build-fuzz \
    -Xswiftc -sanitize=fuzzer,address -Xswiftc -use-ld=lld >/dev/null
binary=.build-fuzz/release/$target
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cp -R "Tests/Fuzz/Corpus/$target/." "$work/"
artifacts=.build-fuzz/artifacts/$target
mkdir -p "$artifacts"
"$binary" -max_total_time="$seconds" -max_len=4096 -timeout=10 -rss_limit_mb=2048 \
    -artifact_prefix="$artifacts/" -print_final_stats=1 "$@" "$work" 2>&1 | tail -n 12
