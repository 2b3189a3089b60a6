"""A reader for Qt binary resource bundles (``.rcc``), which GCompris ships its sounds in.

Layout (Qt's ``rcc`` tool, format versions 1-3; read from the public format description):

* header: magic ``b"qres"``, then big-endian uint32 ``version``, ``tree_offset``, ``data_offset``,
  ``names_offset`` and, from version 3 on, a uint32 of overall flags;
* tree: fixed-size nodes (14 bytes in version 1, 22 from version 2 which adds a uint64 mtime), node 0
  is the root. A node is ``name_offset:u32, flags:u16`` followed either, for a directory (flag 0x02),
  by ``child_count:u32, first_child:u32`` or, for a file, by ``country:u16, language:u16,
  data_offset:u32``;
* names: ``length:u16`` (UTF-16 code units), ``hash:u32``, then the UTF-16BE name;
* data: ``size:u32`` then the payload. Flag 0x01 marks a zlib payload in Qt's ``qCompress`` form
  (a 4-byte big-endian uncompressed length, then a zlib stream); flag 0x04 marks a zstd frame.
"""

from __future__ import annotations

import struct
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

from vividsound.errors import VividsoundError

__all__ = ["RccError", "RccEntry", "RccReader"]

_COMPRESSED = 0x01
_DIRECTORY = 0x02
_COMPRESSED_ZSTD = 0x04


class RccError(VividsoundError):
    """An ``.rcc`` file is malformed or uses a feature this reader lacks."""


@dataclass(frozen=True)
class RccEntry:
    """One file inside a resource bundle."""

    path: str  # "/"-separated path inside the bundle, without a leading slash
    flags: int  # raw node flags (0x01 zlib, 0x04 zstd)
    data_offset: int  # absolute offset of the size-prefixed payload in the bundle

    @property
    def compression(self) -> str:
        if self.flags & _COMPRESSED_ZSTD:
            return "zstd"
        return "zlib" if self.flags & _COMPRESSED else "none"


class RccReader:
    """Lists and reads the files of one ``.rcc`` bundle held in memory.

    Args:
        source: path of the bundle, or its bytes.
    """

    def __init__(self, source: str | Path | bytes) -> None:
        if isinstance(source, (bytes, bytearray)):
            self.name = "<bytes>"
            self.buf = bytes(source)
        else:
            self.name = str(source)
            try:
                self.buf = Path(source).read_bytes()
            except OSError as e:
                raise RccError(f"cannot read rcc bundle {source}: {e.strerror}") from None
        if len(self.buf) < 20 or self.buf[:4] != b"qres":
            raise RccError(f"{self.name} is not a Qt resource bundle (no 'qres' magic)")
        self.version, self.tree_offset, self.data_offset, self.names_offset = struct.unpack_from(
            ">IIII", self.buf, 4)
        if self.version not in (1, 2, 3):
            raise RccError(f"{self.name}: unsupported rcc format version {self.version} (1-3 are known)")
        self.node_size = 14 if self.version == 1 else 22
        for label, off in (("tree", self.tree_offset), ("data", self.data_offset), ("names", self.names_offset)):
            if not 0 < off <= len(self.buf):
                raise RccError(f"{self.name}: {label} offset {off} lies outside the file ({len(self.buf)} bytes)")

    # -- low-level ---------------------------------------------------------------------------------

    def _u16(self, off: int) -> int:
        self._need(off, 2)
        return struct.unpack_from(">H", self.buf, off)[0]

    def _u32(self, off: int) -> int:
        self._need(off, 4)
        return struct.unpack_from(">I", self.buf, off)[0]

    def _need(self, off: int, n: int) -> None:
        if off < 0 or off + n > len(self.buf):
            raise RccError(f"{self.name}: truncated (needs bytes {off}..{off + n}, file has {len(self.buf)})")

    def _name(self, name_offset: int) -> str:
        off = self.names_offset + name_offset
        length = self._u16(off)
        start = off + 6  # u16 length, u32 hash
        self._need(start, 2 * length)
        return self.buf[start:start + 2 * length].decode("utf-16-be", errors="replace")

    def _node(self, index: int) -> tuple[str, int, int, int]:
        """(name, flags, a, b): a, b = child count, first child (dir) or locale, data offset (file)."""
        off = self.tree_offset + index * self.node_size
        self._need(off, self.node_size)
        name_off, flags = struct.unpack_from(">IH", self.buf, off)
        name = self._name(name_off) if index else ""
        if flags & _DIRECTORY:
            count, first = struct.unpack_from(">II", self.buf, off + 6)
            return name, flags, count, first
        _country, _lang, data_off = struct.unpack_from(">HHI", self.buf, off + 6)
        return name, flags, 0, data_off

    # -- public ------------------------------------------------------------------------------------

    def entries(self) -> Iterator[RccEntry]:
        """All files of the bundle, depth first, with their "/"-joined paths."""
        stack: list[tuple[int, str]] = [(0, "")]
        seen: set[int] = set()
        while stack:
            index, prefix = stack.pop()
            if index in seen:
                raise RccError(f"{self.name}: the resource tree has a cycle at node {index}")
            seen.add(index)
            name, flags, a, b = self._node(index)
            path = f"{prefix}/{name}" if prefix else name
            if flags & _DIRECTORY:
                for child in range(b + a - 1, b - 1, -1):
                    stack.append((child, path))
            else:
                yield RccEntry(path=path, flags=flags, data_offset=self.data_offset + b)

    def read(self, entry: RccEntry) -> bytes:
        """The uncompressed bytes of one entry."""
        size = self._u32(entry.data_offset)
        start = entry.data_offset + 4
        self._need(start, size)
        payload = self.buf[start:start + size]
        if entry.compression == "none":
            return payload
        if entry.compression == "zstd":
            try:
                import zstandard  # optional: only newer Qt bundles use zstd
            except ImportError:
                raise RccError(f"{self.name}:{entry.path} is zstd-compressed; pip install zstandard") from None
            try:
                return zstandard.ZstdDecompressor().decompress(payload, max_output_size=1 << 30)
            except zstandard.ZstdError as e:
                raise RccError(f"{self.name}:{entry.path}: bad zstd data ({e})") from None
        if size < 4:
            raise RccError(f"{self.name}:{entry.path}: compressed entry shorter than its length prefix")
        expected = struct.unpack_from(">I", payload, 0)[0]
        try:
            out = zlib.decompress(payload[4:])
        except zlib.error as e:
            raise RccError(f"{self.name}:{entry.path}: bad zlib data ({e})") from None
        if len(out) != expected:
            raise RccError(f"{self.name}:{entry.path}: inflated to {len(out)} bytes, header says {expected}")
        return out

    def files(self, suffixes: tuple[str, ...] = ()) -> dict[str, bytes]:
        """Map path -> bytes for every entry whose name ends with one of ``suffixes`` (all when empty)."""
        return {e.path: self.read(e) for e in self.entries()
                if not suffixes or e.path.lower().endswith(suffixes)}
