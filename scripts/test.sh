#!/usr/bin/env bash
# Runs the whole test suite, the hub service's (PSIServiceTests: a real HTTPS server on loopback,
# SQLite and a private PostgreSQL) included. Installs libsodium-dev, and PostgreSQL and openssl
# for the service tests, first when they are missing.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/ensure-libsodium.sh
scripts/ensure-service-deps.sh
swift build --build-tests "$@"
swift test --skip-build "$@"
