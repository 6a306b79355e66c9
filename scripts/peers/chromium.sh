#!/usr/bin/env bash
# Install Debian's Chromium for aichatflow's browser tests (tests/browser); docs/testing.md.
#
# The tests drive it with Python Playwright and executable_path=/usr/bin/chromium. Never run
# `playwright install`: it downloads a browser of its own.
#
# Idempotent: apt-get runs only when /usr/bin/chromium is missing, and only as root (otherwise the
# command to run is printed and the script fails). Prints the browser path on stdout.
set -euo pipefail

chromium=/usr/bin/chromium

if [ ! -x "$chromium" ]; then
    if [ "$(id -u)" -ne 0 ]; then
        echo "chromium.sh: $chromium is missing; as root, run:" >&2
        echo "  apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y chromium" >&2
        exit 1
    fi
    echo "chromium.sh: installing Debian chromium with apt-get" >&2
    apt-get update >&2
    DEBIAN_FRONTEND=noninteractive apt-get install -y chromium >&2
    if [ ! -x "$chromium" ]; then
        echo "chromium.sh: install finished but $chromium is missing" >&2
        exit 1
    fi
fi

# The Debian launcher prints a harmless "[: ...: unexpected operator" on stderr: hide it.
echo "chromium.sh: $("$chromium" --version 2>/dev/null || echo "version unknown")" >&2
echo "$chromium"
