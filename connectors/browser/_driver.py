"""Playwright's Node.js runtime, when the desktop bundle ships it compressed.

Playwright drives the browser through a Node.js program. Its runtime is the largest single
file of the desktop bundle (112 MB on Linux), so the bundle ships it xz-compressed as
``playwright/driver/node.xz`` (about 28 MB) and the browser agent unpacks it once, the first
time a mission uses the browser, into the user's cache folder. From source, and in a bundle
built with ``ENSEMBLE_PACK_NODE=0``, Playwright's own ``node`` is there and nothing happens.
"""

from __future__ import annotations

import hashlib
import logging
import lzma
import os
import shutil
import sys
import tempfile
import threading
from pathlib import Path

import platformdirs
import playwright

from connectors.base import ToolError

log = logging.getLogger(__name__)

NODE = "node.exe" if sys.platform == "win32" else "node"
ENV = "PLAYWRIGHT_NODEJS_PATH"
_lock = threading.Lock()


def cache_root() -> Path:
    """Where unpacked runtimes go: ``$ENSEMBLE_HOME/cache`` if set, else the user's cache folder."""
    home = os.environ.get("ENSEMBLE_HOME")
    if home:
        return Path(home).expanduser().resolve() / "cache"
    return Path(platformdirs.user_cache_dir("Ensemble", appauthor=False))


def ensure_node(driver_dir: Path | None = None, cache: Path | None = None) -> Path | None:
    """Makes Playwright's Node.js runtime available, unpacking the bundle's copy if needed.

    Blocking (up to about two seconds the first time): call it from a worker thread.

    Args:
        driver_dir: Playwright's ``driver`` folder (default: the installed package's).
        cache: The folder unpacked runtimes go to (default: :func:`cache_root`).

    Returns:
        The runtime set in ``PLAYWRIGHT_NODEJS_PATH``, or None when Playwright's own runtime
        is used as it is.

    Raises:
        ToolError: The packed runtime could not be unpacked (a full disk, a damaged bundle).
    """
    if os.environ.get(ENV):
        return Path(os.environ[ENV])
    driver = driver_dir or Path(playwright.__file__).parent / "driver"
    if (driver / NODE).is_file():
        return None
    packed = driver / f"{NODE}.xz"
    if not packed.is_file():
        return None  # Playwright explains that its runtime is missing.
    with _lock:
        stat = packed.stat()
        tag = hashlib.sha256(f"{stat.st_size}:{stat.st_mtime_ns}:{packed}".encode()).hexdigest()[:16]
        target = (cache or cache_root()) / "playwright-node" / tag / NODE
        if not target.is_file():
            log.info("Unpacking the browser driver's runtime into %s", target.parent)
            try:
                target.parent.mkdir(parents=True, exist_ok=True)
                with tempfile.NamedTemporaryFile(dir=target.parent, delete=False) as tmp:
                    partial = Path(tmp.name)
                    try:
                        with lzma.open(packed) as src:
                            shutil.copyfileobj(src, tmp, 1 << 20)
                        tmp.close()
                        partial.chmod(0o755)
                        partial.replace(target)
                    finally:
                        partial.unlink(missing_ok=True)  # gone already once it was moved into place
            except (OSError, lzma.LZMAError) as exc:
                raise ToolError(
                    f"The browser driver could not be unpacked into {target.parent}: {exc}. "
                    "Free some disk space, or reinstall Ensemble if this keeps happening."
                ) from exc
        os.environ[ENV] = str(target)
    return target
