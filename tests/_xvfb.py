"""A private X display from Xvfb for the tests that take screenshots with Qt's real X11 plugin."""

from __future__ import annotations

import os
import shutil
import subprocess
from contextlib import contextmanager
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from collections.abc import Iterator


@contextmanager
def xvfb(size: str) -> Iterator[str]:
    """Starts Xvfb with one screen of ``size`` (``"1024x700"``) on a display number it picks
    itself, and yields that display (``":5"``); skips the test if Xvfb is not installed."""
    binary = shutil.which("Xvfb")
    if binary is None:
        pytest.skip("Xvfb is not installed (apt install xvfb): no screenshots can be taken.")
    read_fd, write_fd = os.pipe()
    process = subprocess.Popen(
        [binary, "-displayfd", str(write_fd), "-screen", "0", f"{size}x24", "-nolisten", "tcp"],
        pass_fds=(write_fd,),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    os.close(write_fd)
    with os.fdopen(read_fd) as pipe:  # Xvfb writes its display number once it accepts connections
        number = pipe.readline().strip()
    if not number:
        process.kill()
        _, err = process.communicate()
        pytest.fail(f"Xvfb did not start: {err.decode(errors='replace')}")
    try:
        yield f":{number}"
    finally:
        process.terminate()
        process.communicate(timeout=10)
