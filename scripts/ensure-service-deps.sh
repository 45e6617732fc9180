#!/usr/bin/env bash
# Installs what the hub service's tests and demo need when it is missing (Debian/Ubuntu):
# PostgreSQL 15's server binaries (the replica tests start a private server with initdb) and
# openssl (the tests and the demo make a throwaway self-signed TLS certificate).
# The SQLite ledger needs nothing: sqlite-nio builds its own SQLite.
set -euo pipefail
missing=()
[ -x /usr/lib/postgresql/15/bin/initdb ] || ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || missing+=(postgresql)
command -v openssl >/dev/null 2>&1 || missing+=(openssl)
[ ${#missing[@]} -eq 0 ] && exit 0
echo "installing ${missing[*]} for the hub service's tests" >&2
SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}"
