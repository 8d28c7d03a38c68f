#!/usr/bin/env bash
# Smoke test of the bundle: build it, then run the demo mission headless through the bundled
# binary (offscreen Qt, a private ENSEMBLE_HOME); exit 0 only if the mission is done.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
out="$(mktemp -d)"
trap 'rm -rf "$out"' EXIT
bash packaging/build.sh "$out/dist"
result="$(ENSEMBLE_HOME="$out/home" QT_QPA_PLATFORM=offscreen "$out/dist/ensemble/ensemble" demo --headless --approve all --json | tail -n 1)"
echo "$result"
echo "$result" | .venv/bin/python -c 'import json, sys; sys.exit(json.load(sys.stdin)["status"] != "done")'
echo "bundle smoke test: passed"
