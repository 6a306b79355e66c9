#!/usr/bin/env bash
# Install Debian's redis-server for aichatflow's Redis tests (tests/production/limits), when it
# is missing. The tests start their own server on a free port on 127.0.0.1 (no persistence, a
# temporary directory: tests/support/redis_server.py); the package starts none by itself here
# (no systemd), and nothing listens after the tests.
#
# Idempotent: apt-get runs only when redis-server is not on PATH. Needs root and apt-get;
# without them it says what to install and exits 1.
set -euo pipefail

log() { echo "redis.sh: $*" >&2; }

if command -v redis-server >/dev/null; then
    exit 0
fi
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    log "installing redis-server"
    apt-get update -qq >&2
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq redis-server >&2
    exit 0
fi
log "redis-server is missing: install it (Debian/Ubuntu: apt-get install redis-server) and retry"
exit 1
