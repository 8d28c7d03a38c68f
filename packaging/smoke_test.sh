#!/usr/bin/env bash
# Smoke test of the desktop bundle: build it, install it for a throwaway user with its own
# install.sh, check the menu entry, open the window once (offscreen, until its first paint),
# then run the demo mission headless through the installed binary. Exit 0 only if the
# mission is done.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
out="$(mktemp -d)"
trap 'rm -rf "$out"' EXIT
bash packaging/build.sh "$out/dist"

user="$out/user"
HOME="$user" XDG_DATA_HOME="$user/.local/share" bash "$out/dist/ensemble/install.sh"
ensemble="$user/.local/bin/ensemble"
test -x "$ensemble"
desktop="$user/.local/share/applications/ensemble.desktop"
grep -q "^Exec=\"$user/.local/opt/ensemble/ensemble\"$" "$desktop"
test -f "$user/.local/share/icons/hicolor/scalable/apps/ensemble.svg"
if command -v desktop-file-validate >/dev/null; then desktop-file-validate "$desktop"; fi

export QT_QPA_PLATFORM=offscreen
ENSEMBLE_HOME="$out/home" ENSEMBLE_STARTUP_PROBE=1 ANTHROPIC_API_KEY=sk-ant-smoke "$ensemble" 2>"$out/window.log" \
  || { cat "$out/window.log" >&2; exit 1; }
grep -q '^ensemble-shown ' "$out/window.log" || { echo "the window did not show" >&2; cat "$out/window.log" >&2; exit 1; }

result="$(ENSEMBLE_HOME="$out/home" "$ensemble" demo --headless --approve all --json | tail -n 1)"
echo "$result"
# Done, and every step of it: a library missing from the bundle shows up as a failed step.
echo "$result" | .venv/bin/python -c 'import json, sys; r = json.load(sys.stdin); sys.exit(r["status"] != "done" or "Not everything was done" in r["result"])'
# Workflows through the bundle: YAML, the schedules' time zones and APScheduler, watchdog's
# observer and the service's start and stop (libraries the bundle must carry).
cat >"$out/workflow.yaml" <<'YAML'
name: Smoke workflow
instruction: Sum the invoices of {month}
params:
  - name: month
    default: 2026-11
YAML
mkdir -p "$out/inbox"
ENSEMBLE_HOME="$out/home" "$ensemble" workflow import "$out/workflow.yaml"
ENSEMBLE_HOME="$out/home" "$ensemble" workflow schedule "Smoke workflow" --weekly mon,thu 09:00 | grep -q "Every Monday and Thursday at 09:00"
ENSEMBLE_HOME="$out/home" "$ensemble" workflow trigger "Smoke workflow" --file "$out/inbox" --glob "*.pdf"
ENSEMBLE_HOME="$out/home" "$ensemble" workflow export "Smoke workflow" "$out/exported.yaml"
grep -q "kind: weekly" "$out/exported.yaml"
status=0
ENSEMBLE_HOME="$out/home" timeout -s TERM 30 "$ensemble" service >"$out/service.log" 2>&1 || status=$?
cat "$out/service.log"
test "$status" -eq 124  # stopped by timeout's SIGTERM, not failed on its own
grep -q "Smoke workflow" "$out/service.log"
grep -q "^Stopped" "$out/service.log" || grep -q "Stopped" "$out/service.log"

HOME="$user" XDG_DATA_HOME="$user/.local/share" bash "$user/.local/opt/ensemble/install.sh" --uninstall
test ! -e "$ensemble"
echo "bundle smoke test: passed"
