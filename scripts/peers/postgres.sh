#!/usr/bin/env bash
# Install Debian's PostgreSQL server for aichatflow's store tests (tests/store,
# tests/support/postgres_server.py), when it is missing. The tests start their own throwaway
# cluster on a free port of 127.0.0.1 in a temporary directory (as the postgres user when run
# as root: initdb refuses root), and stop it at the end; nothing listens after the tests.
#
# Idempotent: apt-get runs only when no initdb is found (pg_config --bindir, then
# /usr/lib/postgresql/*/bin). Needs root and apt-get; without them it says what to install and
# exits 1.
set -euo pipefail

log() { echo "postgres.sh: $*" >&2; }

have_initdb() {
    if command -v pg_config >/dev/null && [ -x "$(pg_config --bindir)/initdb" ]; then
        return 0
    fi
    compgen -G "/usr/lib/postgresql/*/bin/initdb" >/dev/null
}

if have_initdb; then
    exit 0
fi
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    log "installing postgresql-15"
    apt-get update -qq >&2
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql-15 >&2
    exit 0
fi
log "the PostgreSQL server is missing: install it (Debian/Ubuntu: apt-get install postgresql-15) and retry"
exit 1
