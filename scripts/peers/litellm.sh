#!/usr/bin/env bash
# Install the LiteLLM proxy into its own virtualenv, for aichatflow's peer tests (tests/peers).
#
# Why a separate venv: litellm[proxy] pins many packages (fastapi, openai, ...) that would clash
# with aichatflow's own dependencies, and it is ~750 MB, so it is installed only on demand
# (docs/testing.md, LiteLLM).
#
# Idempotent: pip runs only when <venv>/bin/litellm is missing. Prints the venv path on stdout
# (progress goes to stderr), so `VENV=$(scripts/peers/litellm.sh)` works.
#
# Environment: LITELLM_VENV overrides the location (default: <repo>/.venv-litellm);
# PYTHON selects the interpreter that creates the venv (default: python3).
set -euo pipefail

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
venv="${LITELLM_VENV:-$repo_root/.venv-litellm}"
python="${PYTHON:-python3}"

log() { echo "litellm.sh: $*" >&2; }

# Debian ships `venv` without ensurepip unless python3-venv is installed, and a fresh Debian 12
# does not have it: `python3 -m venv` then fails half way. Install it when we can (root + apt).
ensure_venv_module() {
    if "$python" -c 'import ensurepip, venv' 2>/dev/null; then
        return
    fi
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
        log "installing python3-venv (ensurepip is missing)"
        apt-get update >&2
        DEBIAN_FRONTEND=noninteractive apt-get install -y python3-venv >&2
        return
    fi
    log "'$python -m venv' needs ensurepip: install python3-venv (Debian/Ubuntu) and retry"
    exit 1
}

if [ ! -x "$venv/bin/litellm" ]; then
    if [ ! -x "$venv/bin/python" ] || ! "$venv/bin/python" -m pip --version >/dev/null 2>&1; then
        ensure_venv_module
        log "creating venv $venv"
        # --clear: a venv left half-made by an earlier failed run is rebuilt, not reused.
        "$python" -m venv --clear "$venv" >&2
    fi
    log "installing 'litellm[proxy]' into $venv (~750 MB, about half a minute)"
    "$venv/bin/python" -m pip install --disable-pip-version-check --quiet 'litellm[proxy]' >&2
    if [ ! -x "$venv/bin/litellm" ]; then
        log "install finished but $venv/bin/litellm is missing"
        exit 1
    fi
fi

echo "$venv"
