"""The parsed-sheet cache: each workbook's sheets as python-calamine parsed them, kept between
calls while the file stays the same.

A read of the second page of a sheet, a write's preview and the write itself then reuse the
first read's work instead of parsing the file again. An entry is keyed by the file's path and
checked against its size, modification time and inode on every use, so a file changed on disk
(by Ensemble or anyone else) is parsed afresh. The cache holds at most
:data:`MAX_CACHED_CELLS` cells across its entries, dropping the least recently used first,
and is safe to use from several threads at once.
"""

from __future__ import annotations

import os
import threading
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from connectors.spreadsheet._parts import PartError, SheetScan, _Stream, part_infos, sheet_parts

if TYPE_CHECKING:
    import zipfile
    from pathlib import Path

    import python_calamine

    from connectors.spreadsheet._a1 import _Area

MAX_CACHED_CELLS = 6_000_000
"""The most cells the cache keeps parsed across all its workbooks (about 300 MB at worst)."""
MAX_CACHED_BOOKS = 16
"""The most workbooks the cache keeps."""

_Stamp = tuple[int, int, int]


def stamp(path: Path) -> _Stamp:
    """What tells one version of a file from another: size, modification time, inode.

    Raises:
        OSError: The file cannot be inspected.
    """
    info = os.stat(path)
    return (info.st_size, info.st_mtime_ns, info.st_ino)


@dataclass
class CachedSheet:
    """One sheet as parsed: calamine's cells, and the rows turned into Python so far."""

    sheet: python_calamine.CalamineSheet
    used: _Area | None
    cells: int
    rows: list[list[Any]] = field(default_factory=list)
    """The first rows as calamine's Python values (grows as reads ask for more)."""
    scan: SheetScan | None = None
    scan_failed: bool = False
    lock: threading.Lock = field(default_factory=threading.Lock)

    def python_rows(self, bottom: int) -> list[list[Any]]:
        """At least the first ``bottom`` rows (fewer when the sheet has fewer), as Python values.

        Rows are converted in batches growing fourfold, so reading a sheet page by page
        converts each row about 1.3 times in all, not once per page.
        """
        with self.lock:
            if len(self.rows) < bottom and (self.used is None or len(self.rows) < self.used.bottom):
                want = max(bottom, 4 * len(self.rows), 1024)
                self.rows = self.sheet.to_python(skip_empty_area=False, nrows=want)
            return self.rows


@dataclass
class CachedBook:
    """One version of a workbook: its sheets' metadata, and the sheets parsed so far."""

    stamp: _Stamp
    metadata: list[python_calamine.SheetMetadata]
    sheets: dict[str, CachedSheet] = field(default_factory=dict)
    parts: dict[str, str] | None = None
    infos: dict[str, zipfile.ZipInfo] | None = None
    lock: threading.RLock = field(default_factory=threading.RLock)

    @property
    def cells(self) -> int:
        return sum(s.cells for s in self.sheets.values())

    def part_of(self, path: Path, name: str) -> str | None:
        """The zip member holding a worksheet's XML, or None when it cannot be told."""
        with self.lock:
            if self.parts is None:
                try:
                    self.parts = sheet_parts(path)
                except PartError:
                    self.parts = {}
            return self.parts.get(name)

    def scan(self, path: Path, name: str) -> SheetScan | None:
        """The sheet's scan for cells calamine misses (started on first use), or None."""
        sheet = self.sheets[name]
        with self.lock:
            if sheet.scan is None and not sheet.scan_failed:
                part = self.part_of(path, name)
                if self.infos is None:
                    self.infos = _infos(path)
                infos = self.infos
                if part is None or part not in infos:
                    sheet.scan_failed = True
                else:
                    sheet.scan = SheetScan(_Stream(path, infos[part]))
            return sheet.scan


def _infos(path: Path) -> dict[str, zipfile.ZipInfo]:
    try:
        return dict(part_infos(path))
    except PartError:
        return {}


class SheetCache:
    """Parsed workbooks by path, least recently used dropped first."""

    def __init__(self, max_cells: int = MAX_CACHED_CELLS, max_books: int = MAX_CACHED_BOOKS) -> None:
        self._books: OrderedDict[Path, CachedBook] = OrderedDict()
        self._lock = threading.Lock()
        self.max_cells = max_cells
        self.max_books = max_books

    def book(self, path: Path, opener: python_calamine.CalamineWorkbook | None = None) -> CachedBook | None:
        """The cached version of a file if it is still the one on disk, else None."""
        try:
            current = stamp(path)
        except OSError:
            return None
        with self._lock:
            found = self._books.get(path)
            if found is None or found.stamp != current:
                self._books.pop(path, None)
                return None
            self._books.move_to_end(path)
            return found

    def put(self, path: Path, book: CachedBook) -> None:
        """Keeps a parsed workbook, unless the file changed while it was parsed."""
        try:
            if stamp(path) != book.stamp:
                return
        except OSError:
            return
        with self._lock:
            self._books[path] = book
            self._books.move_to_end(path)
            self._trim()

    def grew(self) -> None:
        """Called after sheets were added to an entry: trims the cache to its bounds."""
        with self._lock:
            self._trim()

    def forget(self, path: Path) -> None:
        """Drops a file's entry (after Ensemble replaced the file)."""
        with self._lock:
            self._books.pop(path, None)

    def clear(self) -> None:
        """Drops every entry."""
        with self._lock:
            self._books.clear()

    def _trim(self) -> None:
        total = sum(b.cells for b in self._books.values())
        while self._books and (total > self.max_cells or len(self._books) > self.max_books):
            if len(self._books) == 1:
                break  # The one in use stays, however big: it is being read now.
            _, dropped = self._books.popitem(last=False)
            total -= dropped.cells


CACHE = SheetCache()
"""The process's one cache, shared by reads, previews and writes."""
