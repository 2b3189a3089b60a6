"""The Qt .rcc reader on bundles built here, byte by byte, from the documented layout."""

from __future__ import annotations

import struct
import zlib

import pytest

from vividsound.data.rcc import RccError, RccReader


def make_rcc(files: dict[str, tuple[bytes, str]], version: int = 2) -> bytes:
    """Build an rcc bundle: ``files`` maps "dir/name" -> (data, "none" | "zlib").

    Nodes are laid out breadth first with each directory's children contiguous, as Qt's rcc does.
    """
    tree: dict = {}
    for path in files:
        node = tree
        for part in path.split("/")[:-1]:
            node = node.setdefault(part, {})
        node[path.split("/")[-1]] = path
    names, name_off, data = bytearray(), {}, bytearray()

    def name(n: str) -> int:
        if n not in name_off:
            name_off[n] = len(names)
            names.extend(struct.pack(">HI", len(n), 0) + n.encode("utf-16-be"))
        return name_off[n]

    records: list[bytes | None] = [None]  # node 0 is the root
    pending = [(0, "", tree)]
    while pending:
        index, label, children = pending.pop(0)
        first = len(records)
        kids = sorted(children.items())
        records.extend([None] * len(kids))
        for j, (n, child) in enumerate(kids):
            if isinstance(child, dict):
                pending.append((first + j, n, child))
            else:
                payload, comp = files[child]
                body = struct.pack(">I", len(payload)) + zlib.compress(payload) if comp == "zlib" else payload
                records[first + j] = struct.pack(">IHHHI", name(n), 1 if comp == "zlib" else 0, 0, 0, len(data))
                data.extend(struct.pack(">I", len(body)) + body)
        records[index] = struct.pack(">IHII", name(label) if index else 0, 2, len(kids), first)
    mtime = b"\0" * 8 if version >= 2 else b""
    raw_nodes = b"".join(r + mtime for r in records)
    tree_off = 20 if version < 3 else 24
    names_off = tree_off + len(raw_nodes)
    data_off = names_off + len(names)
    head = b"qres" + struct.pack(">IIII", version, tree_off, data_off, names_off)
    if version >= 3:
        head += struct.pack(">I", 0)
    return head + raw_nodes + bytes(names) + bytes(data)


@pytest.mark.parametrize("version", [1, 2, 3])
def test_reads_plain_and_zlib_entries(version):
    files = {"sounds/cow.ogg": (b"OggS" + bytes(range(200)), "zlib"),
             "sounds/animals/dog.wav": (b"RIFF" + b"\x01" * 50, "none"),
             "readme.txt": (b"hello", "none")}
    blob = make_rcc(files, version)
    r = RccReader(blob)
    assert r.version == version
    got = {e.path: r.read(e) for e in r.entries()}
    assert got == {k: v[0] for k, v in files.items()}
    comp = {e.path: e.compression for e in r.entries()}
    assert comp["sounds/cow.ogg"] == "zlib" and comp["readme.txt"] == "none"
    assert set(r.files((".ogg", ".wav"))) == {"sounds/cow.ogg", "sounds/animals/dog.wav"}


def test_bad_magic_and_truncation_are_clear_errors(tmp_path):
    with pytest.raises(RccError, match="qres"):
        RccReader(b"nope" + b"\0" * 40)
    blob = make_rcc({"a/b.ogg": (b"x" * 100, "zlib")})
    with pytest.raises(RccError, match="truncated|outside"):
        r = RccReader(blob[:-30])
        [r.read(e) for e in r.entries()]
    p = tmp_path / "x.rcc"
    p.write_bytes(blob)
    assert [e.path for e in RccReader(p).entries()] == ["a/b.ogg"]
    with pytest.raises(RccError, match="cannot read"):
        RccReader(tmp_path / "missing.rcc")


def test_corrupt_zlib_payload_is_reported():
    blob = bytearray(make_rcc({"a.ogg": (b"y" * 300, "zlib")}))
    blob[-10:] = b"\xff" * 10
    r = RccReader(bytes(blob))
    with pytest.raises(RccError, match="zlib|inflated"):
        r.read(next(r.entries()))
