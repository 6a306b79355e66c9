#!/usr/bin/env bash
# Start the server with the chat page on http://127.0.0.1:8080 (keyless mock model by default).
# First run: creates .venv and installs aichatflow into it. Extra arguments go to `aichatflow serve`.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ ! -x .venv/bin/aichatflow ]; then
  python3 -m venv .venv
  .venv/bin/pip install --quiet --upgrade pip
  .venv/bin/pip install --quiet -e .
fi
exec .venv/bin/aichatflow serve "$@"
