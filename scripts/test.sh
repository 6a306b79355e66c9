#!/usr/bin/env bash
# Run the whole test suite on this machine, installing first whatever is missing:
# the project with its dev extras (.venv), Debian's chromium (browser tests), LiteLLM's proxy in
# its own venv (a real upstream) and llama.cpp + SmolLM2-135M into .venv (a real model, built
# from source the first time: ~4 min on 2 cores). Then lint, type-check, test, benchmark smoke.
# Extra arguments go to pytest (e.g. scripts/test.sh -k openai -x).
set -euo pipefail
cd "$(dirname "$0")/.."
if [ ! -x .venv/bin/python ]; then
  python3 -m venv .venv
  .venv/bin/pip install --quiet --upgrade pip
fi
.venv/bin/pip install --quiet -e '.[dev]'
scripts/peers/chromium.sh
scripts/peers/litellm.sh
scripts/peers/llamacpp.sh >/dev/null
echo "== ruff"; .venv/bin/ruff check src tests examples benchmarks
.venv/bin/ruff format --check src tests examples benchmarks
echo "== mypy (strict)"; .venv/bin/mypy
echo "== pytest"; .venv/bin/python -m pytest "$@"
if [ $# -eq 0 ] && [ -f benchmarks/run_fast.py ]; then
  echo "== benchmark smoke (no timing assertions)"; .venv/bin/python benchmarks/run_fast.py --quick
fi
