#!/usr/bin/env bash
# Sets everything up, then runs Ensemble with the given arguments.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
bash scripts/setup.sh
exec .venv/bin/ensemble "$@"
