"""Procedural synthesis recipes and the corpus features of issue 20 (items 4 and 6) on fixture builds:
determinism per seed, distinct clips, class counts, synthetic marking, reserved-hash and duplicate skips,
varied captions, and sounds that go on filling 5-10 s."""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from vividsound.audio import load_audio
from vividsound.data import extract as extract_mod
from vividsound.data.builder import BuildConfig, build_corpus
from vividsound.data.captions import clip_info, single_captions
from vividsound.data.labels import EVENTS
from vividsound.data.manifest import read_manifest
from vividsound.data.mixtures import loop_fill
from vividsound.data.sources import FolderSource
from vividsound.data.synth import RECIPES, SynthSource, synthesise

# quick recipes from every family (the whole registry is checked by the slow test below)
SAMPLE = ("car_idle", "siren_yelp", "dtmf_dialing", "doorbell", "knock", "footsteps_wood", "microwave_beep",
          "glass_breaking")


def _logmel(wav: np.ndarray) -> np.ndarray:
    """A coarse log spectrum over time (frames, 32 bands) to compare clips."""
    n = 1024
    frames = wav[: wav.size // n * n].reshape(-1, n) * np.hanning(n)
    mag = np.abs(np.fft.rfft(frames, axis=1))[:, 1:]
    bands = np.array_split(np.arange(mag.shape[1]), 32)
    return np.log(np.stack([mag[:, b].mean(axis=1) for b in bands], axis=1) + 1e-6)


def _rhythm(wav: np.ndarray) -> np.ndarray:
    """Log modulation spectrum (24 bands, 0-43 Hz) of the amplitude envelope: beat, firing and tick rates."""
    env = np.sqrt((wav[: wav.size // 256 * 256].reshape(-1, 256) ** 2).mean(axis=1))
    spec = np.abs(np.fft.rfft((env - env.mean()) * np.hanning(env.size), 1024))[1:]
    spec = np.log(np.stack([b.mean() for b in np.array_split(spec, 24)]) + 1e-9)
    return spec - spec.mean()


def _distance(a: np.ndarray, b: np.ndarray) -> float:
    """How different two clips sound: mean absolute difference of their average log spectra and of their
    envelope rhythm (both with level removed), plus a length term. 0 for the same sound at another level."""
    sa, sb = _logmel(a).mean(axis=0), _logmel(b).mean(axis=0)
    sa, sb = sa - sa.mean(), sb - sb.mean()
    return float(np.abs(sa - sb).mean() + 0.5 * np.abs(_rhythm(a) - _rhythm(b)).mean() + abs(np.log(a.size / b.size)))


@pytest.mark.parametrize("name", SAMPLE)
def test_recipe_is_deterministic_per_seed_and_its_clips_differ(name):
    spec = {"recipe": name, "index": 0, "seed": 0}
    a, again = synthesise(spec), synthesise(dict(spec))
    assert a.dtype == np.float32 and np.isfinite(a).all() and 0.3 < a.size / 22050 <= 10.5
    assert np.array_equal(a, again), "same seed, different audio"
    assert 0.5 < np.abs(a).max() <= 0.91
    other = synthesise({"recipe": name, "index": 1, "seed": 0})
    other_seed = synthesise({"recipe": name, "index": 0, "seed": 1})
    # distinct clips are audibly different, not the same sound shifted: spectra or lengths differ
    dists = [_distance(a, other), _distance(a, other_seed), _distance(other, other_seed)]
    # ... further apart than the clip is from a copy of itself 6 dB down and rotated by 0.1 s
    copy = _distance(a, 0.5 * np.roll(a, 2205))
    assert min(dists) > max(0.1, 1.5 * copy), f"{name}: clips too alike ({dists}; copy {copy:.3f})"
    if RECIPES[name].continuing:  # a sound that goes on is synthesised long
        assert a.size / 22050 >= 2.5


def test_every_recipe_names_a_new_or_matching_class_with_several_phrasings():
    assert len(RECIPES) >= 150
    for name, r in RECIPES.items():
        assert len(r.clauses) >= 2 and len(r.nouns) >= 2, name
        assert len(set(r.clauses)) == len(r.clauses) and len(set(r.nouns)) == len(r.nouns), name
        assert r.family not in ("speech", "instruments", "music"), name
        if name in EVENTS:  # a recorded class of the same name: the same kind of sound
            assert EVENTS[name].family not in ("speech", "instruments", "music"), name


def test_synth_source_lists_per_class_clips_marked_synthetic(tmp_path):
    src = SynthSource(seed=3, per_class=4)
    clips, skipped = src.clips(tmp_path)
    per = {}
    for c in clips:
        per[c.event] = per.get(c.event, 0) + 1
        assert c.attrs["synthetic"] and c.loc[0] == "synth" and "synthetic" in c.attrs["tags"]
        assert json.loads(c.loc[1])["seed"] == 3
    assert set(per) | {k.split("/")[0] for k, _ in skipped} == set(RECIPES)
    assert all(v == 4 for v in per.values())
    assert len({c.key for c in clips}) == len(clips)


def test_captions_vary_and_sounds_that_go_on_are_never_brief():
    r = RECIPES["rain_light"]
    info = clip_info(r.name, r.family, {"clauses": list(r.clauses), "nouns": list(r.nouns), "tags": [],
                                        "continuing": True})
    sets = set()
    for i in range(30):
        caps = single_captions(info, 7.0 if i % 2 else 0.8, -20.0, np.random.default_rng(i))
        assert 3 <= len(caps) <= 5 and len(set(caps)) == len(caps)
        assert not any("briefly" in c or "once" in c for c in caps)
        if i % 2:
            assert any(w in " ".join(caps) for w in ("steadily", "continuously", "without stopping", "on and on",
                                                      "constant", "whole time")), caps
        sets.add(tuple(caps))
        # the first caption is not always the same template
    assert len(sets) >= 10
    assert len({s[0] for s in sets}) >= 3
    one_shot = clip_info("door_slam", "domestic", {"clauses": list(RECIPES["door_slam"].clauses),
                                                   "nouns": list(RECIPES["door_slam"].nouns), "tags": []})
    caps = single_captions(one_shot, 0.6, -20.0, np.random.default_rng(0))
    assert any("briefly" in c for c in caps)


def test_loop_fill_has_no_gap_and_no_click():
    t = np.arange(int(1.3 * 22050)) / 22050
    wav = (0.3 * np.random.default_rng(0).standard_normal(t.size)).astype(np.float32)
    out = loop_fill(wav, 8 * 22050)
    assert out.size == 8 * 22050
    frames = out[: out.size // 1102 * 1102].reshape(-1, 1102)
    rms_db = 20 * np.log10(np.sqrt((frames ** 2).mean(axis=1)) + 1e-9)
    assert rms_db.min() > rms_db.max() - 6, "a crossfade dips or a copy is missing"


def _fixture_with_dupes(root: Path, fixture_sources: Path) -> Path:
    shutil.copytree(fixture_sources, root)
    shutil.copyfile(root / "rain_00.wav", root / "rain_copy_99.wav")  # the same bytes under a new name
    return root


@pytest.fixture(scope="module")
def synth_corpus(tmp_path_factory, fixture_sources):
    root = tmp_path_factory.mktemp("synthc")
    folder = _fixture_with_dupes(root / "sounds", fixture_sources)
    reserved = hashlib.sha256((folder / "thunder_01.wav").read_bytes()).hexdigest()
    saved = extract_mod._RESERVED
    extract_mod._RESERVED = extract_mod.reserved_hashes() | {reserved}
    lines: list[str] = []
    try:
        cfg = BuildConfig(out=str(root / "c"), seed=0, workers=1, train_mixtures=60, eval_mixtures=10,
                          heldout_triples=2, progress=False)
        srcs = [FolderSource("fixture", "CC0-1.0", "Made by the test suite.", folder=str(folder)),
                SynthSource(seed=0, per_class=3, recipes=("knock", "car_idle", "dtmf_dialing"))]
        build_corpus(cfg, srcs, log=lines.append)
    finally:
        extract_mod._RESERVED = saved
    return root / "c", lines


def test_build_marks_synthetic_clips_and_counts_classes(synth_corpus):
    out, _ = synth_corpus
    items = read_manifest(out / "manifest.jsonl")
    singles = [it for it in items if it.meta["kind"] == "single"]
    syn = [it for it in singles if it.source == "synth"]
    assert {it.meta["events"][0]["label"] for it in syn} == {"knock", "car_idle", "dtmf_dialing"}
    assert all(it.meta.get("synthetic") is True and it.licence == "MIT" for it in syn)
    assert not any(it.meta.get("synthetic") for it in singles if it.source != "synth")
    per = {}
    for it in syn:
        per[it.meta["events"][0]["label"]] = per.get(it.meta["events"][0]["label"], 0) + 1
    assert set(per.values()) == {3}
    assert all(it.meta.get("continuing") for it in syn if it.meta["events"][0]["label"] == "car_idle")
    assert not any(it.meta.get("continuing") for it in syn if it.meta["events"][0]["label"] == "knock")
    mixes = [it for it in items if it.meta["kind"] == "mixture"]
    assert all(it.meta.get("synthetic") for it in mixes if "synth" in it.source.split("+"))


def test_reserved_hashes_and_duplicates_are_skipped_and_counted(synth_corpus):
    out, lines = synth_corpus
    report = json.loads((out / "report.json").read_text())
    assert [r["path"] for r in report["reserved"]] == ["thunder_01.wav"]
    assert [r["path"] for r in report["duplicates"]] == ["rain_copy_99.wav"]
    audio = {it.meta.get("source_file", "") for it in read_manifest(out / "manifest.jsonl")}
    assert not any("thunder_01" in a or "rain_copy_99" in a for a in audio)
    assert any("1 skipped as reserved for evaluation" in ln and "1 skipped as byte-identical" in ln for ln in lines)


def test_the_shipped_reserved_list_is_loaded():
    hashes = extract_mod.reserved_hashes()
    assert len(hashes) >= 100 and all(len(h) == 64 for h in hashes)


def test_sounds_that_go_on_fill_5_to_10_s_and_repeats_are_many(synth_corpus):
    out, _ = synth_corpus
    items = read_manifest(out / "manifest.jsonl")
    cont = [it for it in items if it.meta.get("relation") == "continuous"]
    rep = [it for it in items if it.meta.get("relation") == "repeated"]
    assert cont and rep and all(it.split == "train" for it in cont + rep)
    for it in cont:
        assert 5.0 <= it.duration <= 10.0
        assert not any(w in c for c in it.captions for w in ("once", "briefly", "then"))
        wav = load_audio(out / it.audio, 22050)
        frames = wav[: wav.size // 1102 * 1102].reshape(-1, 1102)
        db = 20 * np.log10(np.sqrt((frames ** 2).mean(axis=1)) + 1e-9)
        assert (db < -50).mean() <= 0.05, f"{it.id}: silent share {(db < -50).mean():.2f}"
        assert db[-3:].max() > -50, f"{it.id} ends in silence"
    for it in rep:
        assert 5.0 <= it.duration <= 10.0 and len(it.meta["events"]) >= 6
        wav = load_audio(out / it.audio, 22050)
        frames = wav[: wav.size // 1102 * 1102].reshape(-1, 1102)
        db = 20 * np.log10(np.sqrt((frames ** 2).mean(axis=1)) + 1e-9)
        assert db.min() > -60, f"{it.id}: digital silence between the repeats"
        assert any(w in it.captions[0] for w in ("again and again", "over and over", "repeatedly"))
        assert it.meta["events"][-1]["onset"] + it.meta["events"][-1]["duration"] >= it.duration - 1.5


@pytest.mark.slow
def test_every_recipe_runs_and_its_first_clips_differ():
    for name in sorted(RECIPES):
        a, b = (synthesise({"recipe": name, "index": i, "seed": 0}) for i in (0, 1))
        assert np.isfinite(a).all() and a.size > 0.2 * 22050, name
        copy = _distance(a, 0.5 * np.roll(a, 2205))
        assert _distance(a, b) > max(0.1, 1.5 * copy), name


def test_class_count_benchmark_counts_synthetic_clips_once(synth_corpus):
    import sys

    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # the repository root: `benchmarks` package
    from benchmarks.corpus_classes import count_classes

    out, _ = synth_corpus
    table = count_classes([], out)
    assert {k: v["synthetic"] for k, v in table.items() if v["synthetic"]} == {"knock": 3, "car_idle": 3,
                                                                               "dtmf_dialing": 3}
    assert all(v["family"] not in ("speech", "music") for v in table.values())
