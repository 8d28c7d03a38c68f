#!/usr/bin/env bash
# Sets everything up, then runs the whole test suite: lint, formatting, types, import
# contracts and the tests. Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
# What the tests run for real: Dovecot for mail, Chromium for the browser agent, Xvfb and
# the libraries Qt draws with for the desktop client.
export ENSEMBLE_APT_PACKAGES="${ENSEMBLE_APT_PACKAGES:-$(cat packaging/apt-runtime.txt packaging/apt-test.txt)}"
bash scripts/setup.sh

say() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }
say "ruff"
.venv/bin/ruff check .
.venv/bin/ruff format --check .
say "mypy (strict on app/, connectors/ and ui/)"
.venv/bin/mypy
say "import-linter"
.venv/bin/lint-imports
say "pytest"
status=0
.venv/bin/python -m pytest "$@" || status=$?
if [ "$status" = 5 ]; then
  echo "pytest collected no tests" >&2
fi
if [ "$status" = 0 ] && [ $# = 0 ]; then
  say "desktop bundle smoke test"
  bash packaging/smoke_test.sh
fi
exit "$status"
