#!/usr/bin/env bash
# Builds the one-folder desktop bundle into dist/ensemble (Linux) and packs it as
# dist/ensemble-linux-x86_64.tar.gz. Usage: packaging/build.sh [OUT_DIR]
# The folder holds the ensemble binary, install.sh (menu entry, icon, launcher for this
# user) and share/ (the .desktop file and the icon it installs).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
out="${1:-dist}"
.venv/bin/pyinstaller --noconfirm --log-level WARN --distpath "$out" --workpath build/pyinstaller packaging/ensemble.spec
bundle="$out/ensemble"
install -D -m 644 packaging/linux/ensemble.desktop "$bundle/share/applications/ensemble.desktop"
install -D -m 644 packaging/linux/ensemble.service "$bundle/share/systemd/ensemble.service"
install -D -m 644 resources/icons/ensemble.svg "$bundle/share/icons/ensemble.svg"
install -m 755 packaging/linux/install.sh "$bundle/install.sh"
archive="$out/ensemble-linux-$(uname -m).tar.gz"
tar -C "$out" -czf "$archive" ensemble
du -sh "$bundle" "$archive"
