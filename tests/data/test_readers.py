"""Readers for AudioCaps, Clotho, MACS and a generic folder, on small fixtures in each real format."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from vividsound.cli import main
from vividsound.data.manifest import read_manifest
from vividsound.data.readers import read_audiocaps, read_clotho, read_folder, read_macs
from vividsound.errors import InputError


def _wav(path: Path, seconds: float = 0.5) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(str(path), np.zeros(int(seconds * 16000), np.float32) + 0.01, 16000)


def test_audiocaps_groups_captions_and_finds_files_by_id(tmp_path):
    _wav(tmp_path / "audio" / "Y--0w1YA1Hm4_30.wav", 1.0)
    _wav(tmp_path / "audio" / "abcDEF12345.flac")
    (tmp_path / "test.csv").write_text(
        "audiocap_id,youtube_id,start_time,caption\n"
        "103549,--0w1YA1Hm4,30,A vehicle driving as a man and woman are talking\n"
        "103548,--0w1YA1Hm4,30,Two people talk while a car drives by\n"
        "7,abcDEF12345,0,\"A dog barks, then a cat meows\"\n"
        "9,missingID000,10,Rain falls\n")
    items, missing = read_audiocaps(tmp_path / "test.csv", tmp_path / "audio", "test")
    assert missing == ["missingID000"]
    by = {it.meta["youtube_id"]: it for it in items}
    assert len(by["--0w1YA1Hm4"].captions) == 2 and by["--0w1YA1Hm4"].duration == pytest.approx(1.0)
    assert by["abcDEF12345"].captions == ["A dog barks, then a cat meows"] and by["abcDEF12345"].split == "test"


def test_clotho_five_captions(tmp_path):
    _wav(tmp_path / "dev" / "Distorted AM Radio noise.wav")
    caps = [f"caption number {i}" for i in range(1, 6)]
    (tmp_path / "clotho_captions_development.csv").write_text(
        "file_name,caption_1,caption_2,caption_3,caption_4,caption_5\n"
        "Distorted AM Radio noise.wav," + ",".join(caps) + "\n"
        "gone.wav,a,b,c,d,e\n")
    items, missing = read_clotho(tmp_path / "clotho_captions_development.csv", tmp_path / "dev")
    assert missing == ["gone.wav"] and items[0].captions == caps


def test_macs_yaml_merges_annotators(tmp_path):
    _wav(tmp_path / "audio" / "airport-lisbon-1000-40000-a.wav")
    (tmp_path / "MACS.yaml").write_text(
        "files:\n"
        "- filename: airport-lisbon-1000-40000-a.wav\n"
        "  annotations:\n"
        "  - annotator_id: 1\n    sentence: people talking in a big hall\n    tags: [adults_talking, announcement]\n"
        "  - annotator_id: 2\n    sentence: an announcement over murmur\n    tags: [announcement, footsteps]\n")
    items, missing = read_macs(tmp_path / "MACS.yaml", tmp_path / "audio")
    assert not missing and len(items[0].captions) == 2
    assert items[0].tags == ["adults_talking", "announcement", "footsteps"]
    (tmp_path / "bad.yaml").write_text("nothing: here\n")
    with pytest.raises(InputError, match="files"):
        read_macs(tmp_path / "bad.yaml", tmp_path / "audio")


def test_folder_csv_and_jsonl(tmp_path):
    _wav(tmp_path / "clips" / "a.wav")
    _wav(tmp_path / "clips" / "sub" / "b.ogg")
    (tmp_path / "caps.csv").write_text("file,caption,tags\na.wav,a door slams,door;impact\na.wav,a bang,\n")
    items, missing = read_folder(tmp_path / "caps.csv", tmp_path / "clips")
    assert not missing and items[0].captions == ["a door slams", "a bang"] and items[0].tags == ["door", "impact"]
    (tmp_path / "caps.jsonl").write_text(json.dumps({"file": "sub/b.ogg", "captions": ["x", "y"]}) + "\n")
    items, _ = read_folder(tmp_path / "caps.jsonl", tmp_path / "clips")
    assert items[0].captions == ["x", "y"] and items[0].audio.endswith("b.ogg")
    (tmp_path / "nocol.csv").write_text("name,words\na.wav,hi\n")
    with pytest.raises(InputError, match="caption column"):
        read_folder(tmp_path / "nocol.csv", tmp_path / "clips")


def test_import_cli_reports_missing_audio(tmp_path, capsys):
    _wav(tmp_path / "dev" / "one.wav")
    (tmp_path / "c.csv").write_text("file_name,caption_1\none.wav,a bell\ntwo.wav,a horn\n")
    out = tmp_path / "m.jsonl"
    args = ["corpus", "import", "--format", "clotho", "--captions", str(tmp_path / "c.csv"),
            "--audio", str(tmp_path / "dev"), "--out", str(out)]
    assert main(args) == 2
    assert "two.wav" in capsys.readouterr().err and not out.exists()
    assert main(args + ["--allow-missing"]) == 0
    assert [it.captions for it in read_manifest(out)] == [["a bell"]]


def test_corpus_cli_rejects_unknown_source(tmp_path, capsys):
    assert main(["corpus", "build", "--out", str(tmp_path), "--sources", "no-such-pack"]) == 2
    assert "no-such-pack" in capsys.readouterr().err
