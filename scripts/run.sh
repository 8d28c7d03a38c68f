#!/usr/bin/env bash
# Sets everything up, then runs Ensemble with the given arguments.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
ENSEMBLE_APT_PACKAGES="${ENSEMBLE_APT_PACKAGES:-$(cat packaging/apt-runtime.txt)}" bash scripts/setup.sh
exec .venv/bin/ensemble "$@"
