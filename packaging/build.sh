#!/usr/bin/env bash
# Builds the one-folder desktop bundle into dist/ensemble and packs it as dist/ensemble-linux.tar.gz.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
out="${1:-dist}"
.venv/bin/pyinstaller --noconfirm --log-level WARN --distpath "$out" --workpath build/pyinstaller packaging/ensemble.spec
tar -C "$out" -czf "$out/ensemble-linux.tar.gz" ensemble
du -sh "$out/ensemble" "$out/ensemble-linux.tar.gz"
