#!/usr/bin/env bash
# Installs this Ensemble bundle for the current user: the folder goes to
# ~/.local/opt/ensemble, a launcher to ~/.local/bin/ensemble, and the menu entry and icon to
# ~/.local/share. Run it from the unpacked archive: ./install.sh (./install.sh --uninstall
# removes them again; your missions, settings and keys stay).
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
data="${XDG_DATA_HOME:-$HOME/.local/share}"
opt="$HOME/.local/opt/ensemble"
bin="$HOME/.local/bin"
desktop="$data/applications/ensemble.desktop"
icon="$data/icons/hicolor/scalable/apps/ensemble.svg"

if [ "${1:-}" = "--uninstall" ]; then
  rm -rf "$opt"
  rm -f "$bin/ensemble" "$desktop" "$icon"
  echo "Ensemble was removed. Your missions and settings are still in ~/.local/share/Ensemble."
  exit 0
fi

if [ "$here" != "$opt" ]; then
  rm -rf "$opt.new"
  mkdir -p "$(dirname "$opt")"
  cp -a "$here" "$opt.new"
  rm -rf "$opt"
  mv "$opt.new" "$opt"
fi
mkdir -p "$bin" "$(dirname "$desktop")" "$(dirname "$icon")"
ln -sf "$opt/ensemble" "$bin/ensemble"
cp "$opt/share/icons/ensemble.svg" "$icon"
sed -e "s|^Exec=ensemble demo|Exec=\"$opt/ensemble\" demo|" \
    -e "s|^Exec=ensemble$|Exec=\"$opt/ensemble\"|" \
    -e "s|^TryExec=ensemble|TryExec=$opt/ensemble|" \
    "$opt/share/applications/ensemble.desktop" > "$desktop"
command -v update-desktop-database >/dev/null && update-desktop-database -q "$(dirname "$desktop")" || true
echo "Ensemble is installed: find it in your applications menu, or run $bin/ensemble."
