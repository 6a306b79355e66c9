#!/usr/bin/env bash
# Install Debian's nginx for aichatflow's reverse-proxy tests (tests/proxy), when it is missing.
# The tests start their own nginx on a free port of 127.0.0.1 with a configuration, pid file,
# temporary files and logs in a temporary directory (tests/support/nginx.py); nothing of the
# package's own configuration is used, and nothing listens after the tests.
#
# Installs nginx-light (the small build), or nginx where there is no nginx-light. The package's
# postinst starts its own server on port 80 when it can (invoke-rc.d, with or without systemd):
# a policy-rc.d that denies every start is put in place for the install (unless one exists
# already, as in Docker images) and removed afterwards, so no service starts and port 80 stays
# free.
#
# Idempotent: apt-get runs only when nginx is not installed. Needs root and apt-get; without
# them it says what to install and exits 1.
set -euo pipefail

log() { echo "nginx.sh: $*" >&2; }

# Debian puts nginx in /usr/sbin, which a non-root PATH may lack.
if command -v nginx >/dev/null || [ -x /usr/sbin/nginx ]; then
    exit 0
fi
if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null; then
    log "nginx is missing: install it (Debian/Ubuntu: apt-get install nginx-light, or nginx) and retry"
    exit 1
fi

POLICY=/usr/sbin/policy-rc.d
if [ ! -e "$POLICY" ]; then
    printf '#!/bin/sh\n# nginx.sh: no service starts while nginx is installed\nexit 101\n' >"$POLICY"
    chmod 755 "$POLICY"
    trap 'rm -f "$POLICY"' EXIT
fi

log "installing nginx"
apt-get update -qq >&2
export DEBIAN_FRONTEND=noninteractive
apt-get install -y -qq --no-install-recommends nginx-light >&2 ||
    apt-get install -y -qq --no-install-recommends nginx >&2
