"""``vividsound continue | inpaint | vary`` and generate's editing options, in-process on the tiny model."""

from __future__ import annotations

import numpy as np
import pytest

from vividsound.audio import load_audio, read_audio_metadata
from vividsound.cli import main


@pytest.fixture(scope="module")
def clip_file(tmp_path_factory):
    """A 1 s stereo 16 kHz file (resampled and mixed down by the commands)."""
    import soundfile as sf

    t = np.arange(16000) / 16000
    wav = np.stack([0.3 * np.sin(2 * np.pi * 440 * t), 0.1 * np.random.default_rng(0).standard_normal(16000)], 1)
    p = tmp_path_factory.mktemp("clip") / "in.wav"
    sf.write(p, wav.astype(np.float32), 16000)
    return p


def test_continue_inpaint_vary_write_audio_with_metadata(tiny_model_dir, clip_file, tmp_path):
    m = ["--model", str(tiny_model_dir), "--quiet"]
    assert main(["continue", str(clip_file), "a dog barks", "--duration", "1.5", "-o", str(tmp_path / "c.wav"), *m]) == 0
    assert len(load_audio(tmp_path / "c.wav")) == round(1.5 * 22050)
    assert read_audio_metadata(tmp_path / "c.wav")["edit"] == "continue"
    assert main(["inpaint", str(clip_file), "a cat", "--start", "0.2", "--end", "0.5", "--tries", "2",
                 "-o", str(tmp_path / "i.flac"), *m]) == 0
    meta = read_audio_metadata(tmp_path / "i.flac")
    assert meta["edit"] == "inpaint" and meta["tries"] == 2 and len(meta["right_log_likelihoods"]) == 2
    assert main(["vary", str(clip_file), "--strength", "0.3", "--num-samples", "2", "-o", str(tmp_path / "v.wav"), *m]) == 0
    assert read_audio_metadata(tmp_path / "v_1.wav")["strength"] == 0.3
    assert read_audio_metadata(tmp_path / "v_0.wav")["prompt"] is None


@pytest.mark.parametrize("argv, needle", [
    (["inpaint", "{clip}", "x", "--start", "0.5", "--end", "0.2"], "span"),
    (["inpaint", "{clip}", "x", "--start", "0.5", "--end", "3"], "allowed: 0 <= start < end <= 1.000 s"),
    (["inpaint", "{clip}", "x", "--start", "0.5", "--end", "0.52"], "shorter than one code column"),
    (["continue", "{clip}", "x", "--duration", "500"], "duration"),
    (["continue", "{empty}", "x", "--duration", "2"], "IN:"),
    (["continue", "{missing}", "x", "--duration", "2"], "not found"),
    (["vary", "{clip}", "--strength", "2"], "strength"),
    (["vary", "{clip}", "--threads", "0"], "threads is 0"),
    (["continue", "{clip}", "x", "--duration", "2", "--device", "bogus"], "device 'bogus'"),
    (["vary", "{clip}", "--negative-prompt", "rain"], "needs --prompt"),
    (["generate", "a dog", "--negative-prompt", "rain", "--cfg-scale", "0.5"], "cfg_scale"),
    (["generate", "a dog", "--candidates", "3"], "needs a scorer"),
    (["generate", "a dog", "--candidates", "0"], "--candidates is 0"),
])
def test_bad_edit_arguments_exit_2_with_one_line_and_no_file(tiny_model_dir, clip_file, tmp_path, capsys, argv, needle):
    empty = tmp_path / "empty.wav"
    empty.write_bytes(b"")
    subs = {"{clip}": str(clip_file), "{empty}": str(empty), "{missing}": str(tmp_path / "nope.wav")}
    out = tmp_path / "out.wav"
    rc = main([subs.get(a, a) for a in argv] + ["-o", str(out), "--model", str(tiny_model_dir), "--quiet"])
    err = capsys.readouterr().err.strip()
    assert rc == 2 and needle in err and len(err.splitlines()) == 1
    assert not out.exists()
