#!/usr/bin/env bash
# Install Node.js and the Vercel AI SDK in both majors aichatflow's UI message stream speaks
# (`[ui] sdk_major`): `ai@6` in tests/clients/node and `ai@5` in tests/clients/node-ai5, exact
# versions in each directory's package.json and package-lock.json, for
# tests/clients/test_vercel_ai_sdk*.py: the SDK's own parser, run by `node`, is the strict client
# that checks every part POST /api/ui/chat writes.
#
# Node: at least 18.17, the floor ai@6 itself declares (ai@5 declares 18; ai@7 needs 22, which is
# why ai@6 is pinned); the tests ran on Node 20. apt-get installs Debian's nodejs and npm when
# either is missing (Debian 12 ships Node 18.20). Then `npm ci` in each directory: node_modules
# stays out of git, and is rebuilt only when its package-lock.json changed since the last install
# (a stamp with its sha256 in node_modules), so a second run takes well under a second.
#
# Idempotent. Needs root and apt-get only when node or npm is missing; without them it says what
# to install and exits 1. npm needs the registry (or its cache) the first time.
set -euo pipefail

log() { echo "node-ai.sh: $*" >&2; }

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"

node_new_enough() {
    node -e 'const [a, b] = process.versions.node.split(".").map(Number);
             process.exit(a > 18 || (a === 18 && b >= 17) ? 0 : 1)' 2>/dev/null
}

if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
    if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null; then
        log "node and npm are needed: install them (Debian/Ubuntu: apt-get install nodejs npm) and retry"
        exit 1
    fi
    log "installing nodejs and npm"
    apt-get update -qq >&2
    missing=()
    command -v node >/dev/null || missing+=(nodejs)
    command -v npm >/dev/null || missing+=(npm)
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >&2
fi
if ! node_new_enough; then
    log "node $(node --version) is too old: ai@6 needs Node >= 18.17 (the tests ran on Node 20)"
    exit 1
fi

# npm ci in tests/clients/$1 unless its node_modules was built from the same lock file.
install_client() {
    local client="$repo_root/tests/clients/$1"
    local stamp="$client/node_modules/.aichatflow-lock.sha256"
    local want
    want="$(sha256sum "$client/package-lock.json" | cut -d' ' -f1)"
    if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ] \
        && [ -f "$client/node_modules/ai/package.json" ]; then
        return 0
    fi
    log "npm ci in tests/clients/$1 ($2, a few seconds)"
    (cd "$client" && npm ci --no-audit --no-fund --loglevel=error >&2)
    echo "$want" >"$stamp"
}

install_client node ai@6
install_client node-ai5 ai@5
