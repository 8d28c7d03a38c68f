"""Rewriting a zip with a few members changed, every other member kept byte for byte.

The members a write does not touch are copied as they are stored (local header, compressed
data, data descriptor) and keep their central-directory records; only the changed members
are compressed again. So a write to one cell of a workbook of a million cells compresses one
sheet's XML, and its charts, pictures and macros come out exactly as they went in.
"""

from __future__ import annotations

import struct
import zlib
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import IO

_EOCD = b"PK\x05\x06"
_CENTRAL = b"PK\x01\x02"
_LOCAL = b"PK\x03\x04"
_ZIP64_LOCATOR = b"PK\x06\x07"


class RezipError(Exception):
    """The zip is of a kind this rewriter does not handle (zip64, spanned, damaged)."""


@dataclass(frozen=True)
class _Member:
    name: str
    offset: int
    central: bytes
    """The member's central-directory record, as stored."""


def _members(data: bytes) -> tuple[list[_Member], int, bytes]:
    """The members in central-directory order, where the directory starts, and the comment."""
    end = data.rfind(_EOCD, max(0, len(data) - 65_557))
    if end < 0 or len(data) < end + 22:
        raise RezipError("no end of central directory")
    disk, cd_disk, _, count, size, start, comment_length = struct.unpack("<HHHHIIH", data[end + 4 : end + 22])
    zip64 = end >= 20 and data[end - 20 : end - 16] == _ZIP64_LOCATOR
    if disk or cd_disk or count == 0xFFFF or start == 0xFFFFFFFF or zip64:
        raise RezipError("zip64 or spanned archive")
    comment = data[end + 22 : end + 22 + comment_length]
    members: list[_Member] = []
    position = start
    for _ in range(count):
        if data[position : position + 4] != _CENTRAL:
            raise RezipError("bad central directory")
        name_length, extra_length, comment_len = struct.unpack("<HHH", data[position + 28 : position + 34])
        (offset,) = struct.unpack("<I", data[position + 42 : position + 46])
        record_end = position + 46 + name_length + extra_length + comment_len
        raw_name = data[position + 46 : position + 46 + name_length]
        (flags,) = struct.unpack("<H", data[position + 8 : position + 10])
        name = raw_name.decode("utf-8" if flags & 0x800 else "cp437")
        members.append(_Member(name, offset, data[position:record_end]))
        position = record_end
    if position != start + size:
        raise RezipError("central directory size mismatch")
    return members, start, comment


_CHUNK = 4 << 20
"""Bytes compressed as one piece; pieces of a big part are compressed in parallel."""


def _deflate(content: bytes, level: int) -> bytes:
    """Raw deflate of ``content``, big contents in parallel pieces (as pigz does).

    Each piece but the last ends with a sync flush (byte-aligned, not final), so the pieces
    joined are one valid deflate stream; zlib lets go of the GIL while it compresses.
    """
    if len(content) <= _CHUNK:
        packer = zlib.compressobj(level, zlib.DEFLATED, -15)
        return packer.compress(content) + packer.flush()
    view = memoryview(content)
    pieces = [view[i : i + _CHUNK] for i in range(0, len(content), _CHUNK)]

    def pack(index: int) -> bytes:
        packer = zlib.compressobj(level, zlib.DEFLATED, -15)
        last = index == len(pieces) - 1
        return packer.compress(pieces[index]) + packer.flush(zlib.Z_FINISH if last else zlib.Z_SYNC_FLUSH)

    with ThreadPoolExecutor(max_workers=min(4, len(pieces))) as pool:
        return b"".join(pool.map(pack, range(len(pieces))))


def rezip(
    data: bytes, replaced: dict[str, bytes], dropped: set[str], out: IO[bytes], *, level: int = 6
) -> None:
    """Writes the zip ``data`` to ``out`` with some members' contents replaced or left out.

    Args:
        data: The original zip's bytes.
        replaced: Member name to its new, uncompressed bytes (each must exist in ``data``).
        dropped: Members to leave out.
        out: Where the new zip goes.
        level: zlib compression level for the replaced members.

    Raises:
        RezipError: The zip is of a kind this cannot rewrite, or a replaced member is missing.
    """
    members, directory_start, comment = _members(data)
    if set(replaced) - {m.name for m in members}:
        raise RezipError("a replaced member is missing")
    # A member's stored bytes run from its local header to the next member's (or to the
    # directory), which takes in any data descriptor after it.
    starts = sorted({m.offset for m in members} | {directory_start})
    following = {offset: starts[i + 1] for i, offset in enumerate(starts[:-1])}
    written = 0
    central: list[bytes] = []
    for member in members:
        if member.name in dropped:
            continue
        offset = member.offset
        if data[offset : offset + 4] != _LOCAL:
            raise RezipError("bad local header")
        if member.name in replaced:
            content = replaced[member.name]
            # A big sheet is compressed fast rather than small: the write waits on it.
            packed = _deflate(content, level if len(content) <= _CHUNK else 1)
            crc = zlib.crc32(content)
            record = bytearray(member.central)
            (flags,) = struct.unpack("<H", record[8:10])
            flags &= 0x0800  # Keeps only "the name is UTF-8"; no descriptor, no encryption.
            name_bytes = record[46 : 46 + struct.unpack("<H", record[28:30])[0]]
            mod_time, mod_date = struct.unpack("<HH", record[12:16])
            local = (
                _LOCAL
                + struct.pack(
                    "<HHHHHIIIHH",
                    20,
                    flags,
                    8,
                    mod_time,
                    mod_date,
                    crc,
                    len(packed),
                    len(content),
                    len(name_bytes),
                    0,
                )
                + bytes(name_bytes)
            )
            record[6:8] = struct.pack("<H", 20)
            record[8:10] = struct.pack("<H", flags)
            record[10:12] = struct.pack("<H", 8)
            record[16:28] = struct.pack("<III", crc, len(packed), len(content))
            record[42:46] = struct.pack("<I", written)
            out.write(local)
            out.write(packed)
            central.append(bytes(record))
            written += len(local) + len(packed)
        else:
            chunk = memoryview(data)[offset : following[offset]]
            record = bytearray(member.central)
            record[42:46] = struct.pack("<I", written)
            out.write(chunk)
            central.append(bytes(record))
            written += len(chunk)
        if written >= 0xFFFFFFFF:
            raise RezipError("the archive would need zip64")
    directory = b"".join(central)
    out.write(directory)
    out.write(
        _EOCD
        + struct.pack("<HHHHIIH", 0, 0, len(central), len(central), len(directory), written, len(comment))
        + comment
    )
