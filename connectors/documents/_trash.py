"""Sending a file or folder to the system trash, and taking it back out.

The trash is the platform's, through ``send2trash`` (on Linux the freedesktop.org trash:
``$XDG_DATA_HOME/Trash``, or a ``.Trash-UID`` folder at the top of another drive). Nothing is
ever deleted for good. To be undoable however the trash is emptied meanwhile, the bytes are
also copied into the mission's backup folder first (up to :data:`MAX_BACKUP_BYTES`).

An undo moves the item back out of the trash when it is still there (found by its
``.trashinfo``, which records the original path), removing its entry; otherwise it copies the
backup back.
"""

from __future__ import annotations

import os
import shutil
import sys
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import send2trash  # type: ignore[import-untyped]  # It ships no type information.

from connectors.base import ToolError
from connectors.documents._common import folder_size, quick_state

MAX_BACKUP_BYTES = 256 * 1024 * 1024
"""The most bytes copied into the backup folder before trashing; bigger items rely on the trash."""

if sys.platform in ("darwin", "win32"):
    _plat_other: Any = None
else:
    # The freedesktop trash's own module, whose folders send2trash uses on Linux and BSD.
    from send2trash import plat_other as _plat_other

KEEP_FOLDER = "documents-kept"
"""The subfolder of the mission's backup folder that keeps copies of trashed or replaced items.

A subfolder, not files beside the write backups, because the engine's clean-up after a crash
removes backup *files* that no action's ``backup_path`` names, and these are named only inside
an action's undo data."""


@dataclass(frozen=True)
class Trashed:
    """Where a trashed item went, as a tool's undo data keeps it.

    Attributes:
        path: Where it was, absolute.
        is_folder: Whether it is a folder.
        state: Its :func:`quick_state` before it was trashed.
        backup: A copy of it in the backup folder, or None when it was too big to copy.
        trash_file: The item inside the trash, when it was found there.
        trash_info: Its ``.trashinfo`` entry, when found.
    """

    path: Path
    is_folder: bool
    state: str
    backup: Path | None
    trash_file: Path | None
    trash_info: Path | None

    def to_json(self) -> dict[str, Any]:
        """The record as JSON data, for :attr:`~connectors.base.ToolOutput.undo`."""
        return {
            "kind": "trash",
            "path": str(self.path),
            "is_folder": self.is_folder,
            "state": self.state,
            "backup": str(self.backup) if self.backup else None,
            "trash_file": str(self.trash_file) if self.trash_file else None,
            "trash_info": str(self.trash_info) if self.trash_info else None,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Trashed:
        """Reads what :meth:`to_json` wrote."""

        def opt(key: str) -> Path | None:
            value = data.get(key)
            return Path(value) if value else None

        return cls(
            path=Path(data["path"]),
            is_folder=bool(data.get("is_folder")),
            state=str(data.get("state", "")),
            backup=opt("backup"),
            trash_file=opt("trash_file"),
            trash_info=opt("trash_info"),
        )


def keep_copy(path: Path, backup_dir: Path) -> Path:
    """Copies a file or folder (links as links) into the backup folder's kept items.

    Returns:
        The copy's path.
    """
    folder = backup_dir / KEEP_FOLDER / uuid.uuid4().hex
    folder.mkdir(parents=True)
    target = folder / path.name
    if path.is_dir() and not path.is_symlink():
        shutil.copytree(path, target, symlinks=True)
    else:
        shutil.copy2(path, target, follow_symlinks=False)
    return target


def trash(path: Path, backup_dir: Path, checkpoint: Any = None) -> Trashed:
    """Sends a file or folder to the system trash, copying it into the backup folder first.

    Args:
        path: What to trash, absolute and resolved.
        backup_dir: The mission's backup folder.
        checkpoint: Called with the item's :func:`quick_state` right before it is trashed.

    Returns:
        Where it went.

    Raises:
        ToolError: The system has no trash for it, or it could not be moved there (its
            backup copy is removed again).
    """
    is_folder = path.is_dir() and not path.is_symlink()
    size = folder_size(path)[1] if is_folder else path.lstat().st_size
    backup = keep_copy(path, backup_dir) if size <= MAX_BACKUP_BYTES else None
    state = quick_state(path)
    started = time.time()
    try:
        if checkpoint is not None:
            checkpoint(state)
        send2trash.send2trash(str(path))
    except (OSError, send2trash.TrashPermissionError) as exc:
        if backup is not None:
            shutil.rmtree(backup.parent, ignore_errors=True)
        raise ToolError(
            f"'{path.name}' could not be moved to the trash ({exc}); nothing was deleted."
        ) from exc
    trash_file, trash_info = _find_in_trash(path, started)
    return Trashed(path, is_folder, state, backup, trash_file, trash_info)


def _trash_info_dirs(path: Path) -> list[tuple[Path, Path]]:
    """The freedesktop trash folders an item at ``path`` may have gone to, with their top folders."""
    if _plat_other is None:
        return []
    plat_other = _plat_other
    found = [(Path(plat_other.HOMETRASH), Path(os.fsdecode(plat_other.XDG_DATA_HOME)))]
    try:
        mount = Path(os.fsdecode(plat_other.find_mount_point(os.fsencode(str(path.parent)))))
    except OSError:
        return found
    uid = str(os.getuid())
    found += [(mount / ".Trash" / uid, mount), (mount / f".Trash-{uid}", mount)]
    return found


def _find_in_trash(path: Path, since: float) -> tuple[Path | None, Path | None]:
    """Finds the trash entry send2trash just made for ``path``: the newest whose ``Path=`` is it."""
    best: tuple[float, Path, Path] | None = None
    for trash_dir, topdir in _trash_info_dirs(path):
        info_dir = trash_dir / "info"
        try:
            entries = list(os.scandir(info_dir))
        except OSError:
            continue
        for entry in entries:
            if not entry.name.endswith(".trashinfo"):
                continue
            try:
                modified = entry.stat().st_mtime
            except OSError:
                continue
            if modified < since - 2:
                continue
            recorded = _recorded_path(Path(entry.path), topdir)
            if recorded == path and (best is None or modified > best[0]):
                files = trash_dir / "files" / entry.name[: -len(".trashinfo")]
                best = (modified, files, Path(entry.path))
    if best is None:
        return None, None
    return best[1], best[2]


def _recorded_path(info: Path, topdir: Path) -> Path | None:
    try:
        text = info.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return None
    for line in text.splitlines():
        if line.startswith("Path="):
            value = Path(unquote(line[5:].strip()))
            return value if value.is_absolute() else topdir / value
    return None


def take_back(record: Trashed) -> str:
    """Puts a trashed item back where it was: out of the trash if it is still there, else from
    its backup copy.

    Returns:
        A sentence saying what was restored.

    Raises:
        ToolError: Something else is at the original place now, its folder is gone, or the
            item is neither in the trash nor backed up any more.
    """
    path = record.path
    if path.exists() or path.is_symlink():
        raise ToolError(
            f"Something is at {path} again, so the trashed '{path.name}' was not put back over it. "
            "Move that away first."
        )
    if not path.parent.is_dir():
        raise ToolError(f"The folder {path.parent} is gone, so '{path.name}' cannot be put back into it.")
    in_trash = record.trash_file
    if in_trash is not None and (in_trash.exists() or in_trash.is_symlink()):
        same = record.is_folder or quick_state(in_trash) == record.state
        if same:
            shutil.move(str(in_trash), str(path))
            if record.trash_info is not None:
                record.trash_info.unlink(missing_ok=True)
            _drop_backup(record)
            return f"Put {path} back from the trash."
    if record.backup is not None and (record.backup.exists() or record.backup.is_symlink()):
        temp = path.with_name(f".{path.name}.{uuid.uuid4().hex[:8]}.ensemble-undo")
        if record.is_folder:
            shutil.copytree(record.backup, temp, symlinks=True)
        else:
            shutil.copy2(record.backup, temp, follow_symlinks=False)
        os.replace(temp, path)
        _drop_backup(record)
        return f"Restored {path} from its backup copy (it had left the trash)."
    raise ToolError(
        f"'{path.name}' is no longer in the trash and had no backup copy (it was larger than "
        f"{MAX_BACKUP_BYTES // 2**20} MB), so it cannot be put back."
    )


def _drop_backup(record: Trashed) -> None:
    """Removes the backup copy once the item is back: an undo is done only once."""
    if record.backup is not None and record.backup.parent.parent.name == KEEP_FOLDER:
        shutil.rmtree(record.backup.parent, ignore_errors=True)
