"""Start at login, on Linux and the BSDs: an XDG autostart entry.

The desktop starts every ``.desktop`` file in ``$XDG_CONFIG_HOME/autostart`` (default
``~/.config/autostart``) when the person logs in (the XDG Autostart specification). Ours is
``ensemble.desktop``; it starts Ensemble so that its scheduled and triggered workflows run
(the window keeps running in the tray). No Qt here: the window's settings call these.
"""

from __future__ import annotations

import os
import re
import sys
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Sequence

ENTRY_NAME = "ensemble.desktop"
_RESERVED = re.compile(r"""[\s"'\\><~|&;$*?#()`%]""")


def supported() -> bool:
    """Whether this system reads XDG autostart entries (Linux and the BSDs, not Windows or macOS)."""
    return not sys.platform.startswith(("win", "darwin", "cygwin"))


def entry_path() -> Path:
    """Where the entry goes: ``$XDG_CONFIG_HOME/autostart/ensemble.desktop``; an unset, empty
    or relative ``XDG_CONFIG_HOME`` means ``~/.config`` (as the specification says)."""
    config = os.environ.get("XDG_CONFIG_HOME", "")
    base = Path(config) if config and Path(config).is_absolute() else Path.home() / ".config"
    return base / "autostart" / ENTRY_NAME


def is_enabled() -> bool:
    """Whether Ensemble starts at login: our entry exists and is not switched off in it
    (``Hidden=true``, or ``X-GNOME-Autostart-enabled=false`` as GNOME's settings write)."""
    path = entry_path()
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return False
    for line in text.splitlines():
        key, sep, value = line.partition("=")
        if not sep:
            continue
        key, value = key.strip(), value.strip().lower()
        if (key == "Hidden" and value == "true") or (key == "X-GNOME-Autostart-enabled" and value == "false"):
            return False
    return True


def launcher() -> list[str]:
    """The command that starts Ensemble: the bundle's own binary when frozen, else the
    ``ensemble`` script beside this Python (a virtual environment's), else ``python -m app.cli``."""
    if getattr(sys, "frozen", False):
        return [sys.executable]
    script = Path(sys.executable).with_name("ensemble")
    if script.is_file() and os.access(script, os.X_OK):
        return [str(script)]
    return [sys.executable, "-m", "app.cli"]


def enable(arguments: Sequence[str] = (), *, command: Sequence[str] | None = None) -> Path:
    """Writes the autostart entry (replacing ours if there is one); returns its path.

    Args:
        arguments: Words after the command, e.g. an option that starts the window in the tray.
        command: The program and its first words; default :func:`launcher`.

    Raises:
        OSError: The folder cannot be created or the file written.
    """
    words = [*(command if command is not None else launcher()), *arguments]
    path = entry_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = [
        "[Desktop Entry]",
        "Type=Application",
        "Version=1.0",
        "Name=Ensemble",
        "Comment=Runs your scheduled and triggered Ensemble workflows",
        f"Exec={exec_line(words)}",
        "Icon=ensemble",
        "Terminal=false",
        "NoDisplay=false",
        "X-GNOME-Autostart-enabled=true",
        "",
    ]
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        temporary.write_text("\n".join(lines), encoding="utf-8")
        temporary.replace(path)
    finally:
        temporary.unlink(missing_ok=True)
    return path


def disable() -> bool:
    """Removes the autostart entry; returns whether there was one."""
    path = entry_path()
    try:
        path.unlink()
    except FileNotFoundError:
        return False
    return True


def exec_line(words: Sequence[str]) -> str:
    """``Exec``'s value for these words, quoted as the Desktop Entry specification asks: a word
    with a reserved character in double quotes (``"``, `````, ``$`` and ``\\`` escaped), ``%``
    doubled, then backslashes doubled again for the string value the line is."""
    quoted = []
    for word in words:
        word = word.replace("%", "%%")
        if word == "" or _RESERVED.search(word):
            word = '"' + re.sub(r'(["`$\\])', r"\\\1", word) + '"'
        quoted.append(word)
    return " ".join(quoted).replace("\\", "\\\\")
