"""``listening-test create``: every clip, blind-safe files, seeded and resumable; the folder's checks."""

from __future__ import annotations

import hashlib
import json
import shutil

import numpy as np
import pytest
from lt_helpers import DURATION, create_args

from vividsound.audio import load_audio, read_audio_metadata
from vividsound.cli import main
from vividsound.errors import InputError
from vividsound.listening import create as create_module
from vividsound.listening.create import finish_clip
from vividsound.listening.spec import TEST_FILE, load_test


def test_create_makes_every_clip_blind_and_levelled(lt_made):
    test = load_test(lt_made["dir"], check_clips=True)
    assert [c.name for c in test.conditions] == ["alpha", "beta", "reference", "retrieval", "noise"]
    assert len(test.clips) == 3 * 5 and all(c.sha256 for c in test.clips)
    assert [p.item for p in test.prompts] == ["item0", "item1", "item2"]
    assert test.prompts[0].text == "a dog barks" and test.prompts[1].text == "water drips on a tin roof"
    n = int(round(DURATION * test.sample_rate))
    for c in test.clips:
        path = test.root / c.file
        assert read_audio_metadata(path) == {}
        wav = load_audio(path)
        assert len(wav) == n
        rms_db = 20 * np.log10(np.sqrt(np.mean(wav.astype(np.float64) ** 2)))
        assert rms_db == pytest.approx(-20.0, abs=0.5) or np.abs(wav).max() > 0.98  # levelled, or peak-limited
    # System seeds: clip k of prompt i uses seed + i * K + k, the same for both systems.
    assert [c.seed for c in test.clips if c.condition == "alpha"] == [0, 1, 2]
    assert [c.seed for c in test.clips if c.condition == "beta"] == [0, 1, 2]
    # The retrieval baseline never plays a recording the prompts name (item2 is a train item named by p003).
    retrieved = [c.item for c in test.clips if c.condition == "retrieval"]
    assert all(r in {"item3", "item4", "item5"} for r in retrieved)
    assert [c.item for c in test.clips if c.condition == "reference"] == ["item0", "item1", "item2"]


def test_reference_and_system_clips_are_what_they_claim(lt_made, tiny_tts):
    test = load_test(lt_made["dir"])
    n = int(round(DURATION * test.sample_rate))
    ref = next(c for c in test.clips if c.condition == "reference" and c.prompt == "p002")
    want = finish_clip(load_audio(lt_made["corpus"] / "audio/1.wav", test.sample_rate), test.sample_rate,
                       test.sample_rate, n, -20.0)
    assert np.abs(load_audio(test.root / ref.file) - want).max() < 2e-4  # 16-bit rounding
    # alpha's clip of p003 is the pipeline's own output for that prompt and seed (made in a batch of 2 there).
    clip = next(c for c in test.clips if c.condition == "alpha" and c.prompt == "p003")
    out = tiny_tts.generate_rows([test.prompts[2].text], [clip.seed], duration=DURATION)
    want = finish_clip(out.numpy()[0], out.sample_rate, test.sample_rate, n, -20.0)
    assert np.abs(load_audio(test.root / clip.file) - want).max() < 2e-4


def test_interrupted_create_resumes_and_gives_the_same_clips(lt_made, tmp_path, monkeypatch):
    out = tmp_path / "t"
    args = create_args(out, lt_made["m1"], lt_made["m2"], lt_made["corpus"], lt_made["prompts"])
    real_write, calls = create_module._Writer.write, []

    def crash_after_four(self, *a, **kw):
        if len(calls) == 4:
            raise KeyboardInterrupt
        calls.append(1)
        return real_write(self, *a, **kw)

    monkeypatch.setattr(create_module._Writer, "write", crash_after_four)
    assert main(args) == 130
    monkeypatch.undo()
    assert len(list((out / "clips").glob("*.wav"))) == 4
    assert json.loads((out / TEST_FILE).read_text())["complete"] is False
    with pytest.raises(InputError, match="not all generated yet"):
        load_test(out)
    assert main(["listening-test", "serve", str(out)]) == 2
    before = {p.name: p.stat().st_mtime_ns for p in (out / "clips").glob("*.wav")}
    assert main(args) == 0
    test = load_test(out, check_clips=True)
    assert all((out / "clips" / k).stat().st_mtime_ns == v for k, v in before.items())  # not made twice
    # Same options, same audio: the clips equal the session's test clip for clip (their ids differ: salted),
    # up to the last bit of 16-bit rounding (float sums vary a little with the batch and thread count).
    made = load_test(lt_made["dir"])
    key = lambda t: {(c.prompt, c.condition, c.index): load_audio(t.root / c.file) for c in t.clips}  # noqa: E731
    a, b = key(test), key(made)
    assert a.keys() == b.keys()
    diffs = {k: float(np.abs(a[k] - b[k]).max()) for k in a}
    assert max(diffs.values()) <= 2 / 32768, diffs


def test_another_plan_in_the_same_folder_is_refused(lt_made, tmp_path, capsys):
    out = tmp_path / "t"
    shutil.copytree(lt_made["dir"], out)
    before = (out / TEST_FILE).read_bytes()
    args = create_args(out, lt_made["m1"], lt_made["m2"], lt_made["corpus"], lt_made["prompts"], "--seed", "5")
    assert main(args) == 2
    err = capsys.readouterr().err
    assert "holds another test (it differs in: seed)" in err and len(err.strip().splitlines()) == 1
    assert (out / TEST_FILE).read_bytes() == before


def _no_corpus(args: list[str]) -> list[str]:
    k = args.index("--corpus")
    return args[:k] + args[k + 2:]


def _swap_prompts(args: list[str], text: str | None) -> list[str]:
    k = args.index("--prompts")
    path = args[-1] + ".prompts.txt"  # beside --out, never inside it
    if text is not None:
        with open(path, "w", encoding="utf-8") as f:
            f.write(text)
    return args[:k + 1] + [path] + args[k + 2:]


@pytest.mark.parametrize("change, message", [
    (lambda a: a + ["--per-prompt", "0"], "--per-prompt is 0; allowed: an integer 1..20"),
    (lambda a: a + ["--duration", "61"], "--duration is 61.0; allowed: 0 < seconds <= 60"),
    (lambda a: a + ["--system", "noise=x"], "NAME must be"),
    (lambda a: a + ["--system", "alpha=/"], "the name 'alpha' is given twice"),
    (lambda a: a + ["--system", "gamma"], "expected NAME=MODEL_DIR"),
    (lambda a: a + ["--system", "gamma=/no/such/model"], "--system gamma=/no/such/model: not a folder"),
    (lambda a: a + ["--system", "gamma=/"], "--system gamma: / is not a vividsound model (no pipeline.json)"),
    (_no_corpus, "--reference needs --corpus DIR"),
    (lambda a: _swap_prompts(a, "@item9\n"), "corpus item 'item9' is not in the --corpus manifest"),
    (lambda a: _swap_prompts(a, "@item0\na free prompt\n"), "--reference: every prompt must name a corpus item"),
    (lambda a: _swap_prompts(a, "@item0\n@item0\n"), "repeats line 1"),
    (lambda a: _swap_prompts(a, "# nothing\n"), "no prompts in the file"),
    (lambda a: _swap_prompts(a, None), "file not found"),
])
def test_bad_create_options_fail_before_anything_is_written(lt_made, tmp_path, capsys, change, message):
    out = tmp_path / "new"
    args = change(create_args(out, lt_made["m1"], lt_made["m2"], lt_made["corpus"], lt_made["prompts"]))
    assert main(args) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and len(err.splitlines()) == 1, err
    assert not out.exists()


def test_nonempty_folder_without_a_test_is_refused(lt_made, tmp_path, capsys):
    out = tmp_path / "busy"
    out.mkdir()
    (out / "notes.txt").write_text("mine")
    assert main(create_args(out, lt_made["m1"], lt_made["m2"], lt_made["corpus"], lt_made["prompts"])) == 2
    assert "is not empty and holds no test.json" in capsys.readouterr().err
    assert sorted(p.name for p in out.iterdir()) == ["notes.txt"]


def test_test_folder_checks(lt_dir, capsys):
    """Another version, a missing clip, a changed clip, damage: one-line errors from load, serve and report."""
    meta = json.loads((lt_dir / TEST_FILE).read_text())
    clip = lt_dir / "clips" / f"{meta['clips'][3]['id']}.wav"
    data = clip.read_bytes()
    clip.write_bytes(data[:-2] + b"\x00\x01")
    with pytest.raises(InputError, match="differs from the one recorded"):
        load_test(lt_dir, check_clips=True)
    clip.unlink()
    with pytest.raises(InputError, match=f"clip .*{clip.name} is missing"):
        load_test(lt_dir, check_clips=True)
    assert main(["listening-test", "serve", str(lt_dir)]) == 2
    assert "is missing" in capsys.readouterr().err
    clip.write_bytes(data)
    assert hashlib.sha256(data).hexdigest() == meta["clips"][3]["sha256"]
    load_test(lt_dir, check_clips=True)
    (lt_dir / TEST_FILE).write_text(json.dumps({**meta, "format_version": 2}))
    for cmd in (["serve", str(lt_dir)], ["report", str(lt_dir)]):
        assert main(["listening-test", *cmd]) == 2
        err = capsys.readouterr().err.strip()
        assert "has format version 2; this vividsound reads version 1" in err and len(err.splitlines()) == 1
    (lt_dir / TEST_FILE).write_text(json.dumps({**meta, "clips": [{"id": "x"}]}))
    with pytest.raises(InputError, match="is damaged"):
        load_test(lt_dir)
    (lt_dir / TEST_FILE).write_text("{not json")
    with pytest.raises(InputError, match="not valid JSON"):
        load_test(lt_dir)
    (lt_dir / TEST_FILE).unlink()
    with pytest.raises(InputError, match="is not a listening test"):
        load_test(lt_dir)


def test_serve_and_report_option_checks(lt_dir, tmp_path, capsys):
    assert main(["listening-test", "serve", str(lt_dir), "--host", "0.0.0.0"]) == 2
    assert "without --invite" in capsys.readouterr().err
    assert main(["listening-test", "serve", str(lt_dir), "--pages-per-rater", "0"]) == 2
    assert main(["listening-test", "report", str(lt_dir)]) == 2
    assert "no ratings yet" in capsys.readouterr().err
    assert main(["listening-test", "report", str(lt_dir), "--csv", str(tmp_path / "no" / "x.csv")]) == 2
    assert "--csv" in capsys.readouterr().err


def test_finish_clip_cuts_pads_fades_and_levels():
    sr = 8000
    loud = np.ones(sr, dtype=np.float32) * 0.9
    out = finish_clip(loud, sr, sr, sr // 2, -20.0)
    assert len(out) == sr // 2 and out[0] == 0 and out[-1] == 0  # faded in and out
    assert 20 * np.log10(np.sqrt(np.mean(out.astype(np.float64) ** 2))) == pytest.approx(-20, abs=0.1)
    short = finish_clip(np.full(100, 0.5, np.float32), sr, sr, 400, None)
    assert len(short) == 400 and np.all(short[100:] == 0)
    assert np.all(finish_clip(np.zeros(400, np.float32), sr, sr, 400, -20.0) == 0)  # silence stays silence
    resampled = finish_clip(np.sin(np.arange(sr) / 3).astype(np.float32), sr, 2 * sr, 2 * sr, None)
    assert len(resampled) == 2 * sr
    spiky = np.zeros(sr, np.float32)
    spiky[sr // 2] = 1.0
    assert np.abs(finish_clip(spiky, sr, sr, sr, -20.0)).max() <= 10 ** (-0.1 / 20) + 1e-6  # peak limited
