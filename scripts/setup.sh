#!/usr/bin/env bash
# Sets up everything Ensemble needs on a Debian or Ubuntu machine: system packages (through
# apt, as root or with sudo), uv, and the project's virtual environment from uv.lock.
# Safe to run again: each step only does what is missing.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

UV_VERSION="0.13.9"
TOOLS=".cache/tools"

say() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }

apt_install() {
  local sudo=""
  if [ "$(id -u)" != 0 ]; then
    if command -v sudo >/dev/null; then sudo="sudo"; else
      say "Please install these packages as root: $*"; exit 1
    fi
  fi
  say "Installing system packages: $*"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "$@" >/dev/null
}

# System packages: Python with venv (to bootstrap uv) and the libraries Qt needs to draw.
missing=()
command -v python3 >/dev/null || missing+=(python3)
python3 -c 'import venv, ensurepip' 2>/dev/null || missing+=(python3-venv)
if command -v dpkg-query >/dev/null; then
  for pkg in ${ENSEMBLE_APT_PACKAGES:-}; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "ok installed" || missing+=("$pkg")
  done
fi
if [ ${#missing[@]} -gt 0 ]; then
  command -v apt-get >/dev/null || { say "Install these first: ${missing[*]}"; exit 1; }
  apt_install "${missing[@]}"
fi

# uv, pinned, in a private folder so it never mixes with the project's environment.
if ! "$TOOLS/bin/uv" --version 2>/dev/null | grep -q "$UV_VERSION"; then
  say "Installing uv $UV_VERSION"
  python3 -m venv "$TOOLS"
  "$TOOLS/bin/python" -m pip install -q --disable-pip-version-check "uv==$UV_VERSION"
fi

say "Syncing the virtual environment (.venv) from uv.lock"
"$TOOLS/bin/uv" sync --frozen --all-extras --quiet
