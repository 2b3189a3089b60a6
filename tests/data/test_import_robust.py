"""Issue 26 (7): one bad entry never aborts a corpus import; what is skipped is counted with its reason."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from vividsound.cli import main
from vividsound.data.readers import import_dataset, read_folder
from vividsound.errors import InputError


def _wav(path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(path, np.zeros(2205, dtype=np.float32), 22050)


def _messy_folder(tmp_path: Path) -> tuple[Path, Path]:
    clips = tmp_path / "clips"
    _wav(clips / "good.wav")
    _wav(clips / "other.flac")
    (clips / "broken.wav").write_bytes(b"RIFF\x00\x00\x00\x00WAVE not audio at all")
    bad_dir = os.path.join(os.fsencode(clips), b"caf\xe9")  # a Latin-1 folder name: not UTF-8
    os.makedirs(bad_dir)
    _wav(tmp_path / "bell.wav")
    os.rename(os.fsencode(tmp_path / "bell.wav"), os.path.join(bad_dir, b"bell.wav"))
    caps = tmp_path / "caps.csv"  # saved by a spreadsheet in Latin-1
    caps.write_bytes("file,caption\ngood.wav,a caf\u00e9 door slams\nother.flac,rain\nbroken.wav,noise\n"
                     .encode("latin-1"))
    return clips, caps


def test_import_skips_bad_entries_with_reasons(tmp_path):
    clips, caps = _messy_folder(tmp_path)
    out = tmp_path / "manifest.jsonl"
    n, missing, skipped, notes = import_dataset("folder", caps, clips, out)
    assert n == 2 and missing == []
    lines = [json.loads(x) for x in out.read_text(encoding="utf-8").splitlines()]
    assert sorted(x["captions"][0] for x in lines) == ["a caf\u00e9 door slams", "rain"]  # Latin-1 decoded
    reasons = {Path(s["file"]).name: s["reason"] for s in skipped}
    assert reasons["broken.wav"].startswith("unreadable audio")
    assert reasons["bell.wav"] == "the file or folder name is not valid UTF-8"
    assert len(notes) == 1 and "read as Latin-1" in notes[0]
    report = json.loads((tmp_path / "manifest.skipped.json").read_text(encoding="utf-8"))
    assert report["skipped"] == skipped and report["notes"] == notes


def test_import_cli_counts_the_skips(tmp_path, capsys):
    clips, caps = _messy_folder(tmp_path)
    out = tmp_path / "m.jsonl"
    assert main(["corpus", "import", "--format", "folder", "--captions", str(caps), "--audio", str(clips),
                 "--out", str(out)]) == 0
    got = capsys.readouterr()
    assert "wrote 2 items" in got.out and "skipped 2 file(s)" in got.out
    assert "unreadable audio: 1" in got.out and "not valid UTF-8: 1" in got.out
    assert "read as Latin-1" in got.err


@pytest.mark.parametrize("line", ["[1, 2]", '"just text"', "7"])
def test_jsonl_caption_line_that_is_not_an_object(tmp_path, line):
    _wav(tmp_path / "clips" / "a.wav")
    caps = tmp_path / "caps.jsonl"
    caps.write_text(json.dumps({"file": "a.wav", "caption": "x"}) + "\n" + line + "\n")
    with pytest.raises(InputError, match=r"caps.jsonl:2: each line must be a JSON object") as e:
        read_folder(caps, tmp_path / "clips")
    assert "\n" not in str(e.value)
