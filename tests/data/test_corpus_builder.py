"""The corpus builder on fixture sources: splits, captions vs metadata, determinism, resume, bad files."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pytest

from vividsound.audio import load_audio
from vividsound.data import builder as builder_mod
from vividsound.data.builder import BuildConfig, assign_splits, build_corpus
from vividsound.data.captions import count_word
from vividsound.data.checkers import segments
from vividsound.data.labels import EVENTS
from vividsound.data.manifest import read_manifest
from vividsound.data.sources import FolderSource, SourceError


def _sources(folder: Path) -> list:
    return [FolderSource("fixture", "CC0-1.0", "Made by the test suite.", folder=str(folder))]


def _build(out: Path, folder: Path, seed: int = 0, workers: int = 1, **kw) -> dict:
    cfg = BuildConfig(out=str(out), seed=seed, workers=workers, train_mixtures=kw.pop("train", 60),
                      eval_mixtures=kw.pop("eval", 20), heldout_triples=4, progress=False, **kw)
    return build_corpus(cfg, _sources(folder), log=lambda s: None)


@pytest.fixture(scope="module")
def corpus(tmp_path_factory, fixture_sources) -> Path:
    out = tmp_path_factory.mktemp("corpus") / "c"
    _build(out, fixture_sources, workers=2)
    return out


def _digest(folder: Path) -> str:
    h = hashlib.sha256()
    for p in sorted(folder.rglob("*.flac")):
        h.update(p.relative_to(folder).as_posix().encode())
        h.update(p.read_bytes())
    return h.hexdigest()


def test_splits_by_source_file(corpus):
    items = read_manifest(corpus / "manifest.jsonl")
    assert {it.split for it in items} == {"train", "val", "test"}
    split_of: dict[str, str] = {}
    for it in items:
        if it.meta["kind"] == "single":
            f = it.meta["source_file"]
            assert split_of.setdefault(f, it.split) == it.split, f"{f} is in two splits"
    for it in items:
        if it.meta["kind"] == "mixture":
            for f in it.meta["source_files"]:
                assert split_of[f] == it.split, f"mixture {it.id} ({it.split}) uses {f} from {split_of[f]}"
    # long music files were cut into pieces that stay together
    music = [it for it in items if it.meta.get("family") == "music"]
    assert len(music) > 3 and len({it.meta["source_file"] for it in music}) == 3


def test_assign_splits_stratified():
    units = {f"f{i}": ("a" if i < 40 else "b") for i in range(60)}
    s = assign_splits(units, seed=3)
    for fam, n in (("a", 40), ("b", 20)):
        got = [s[u] for u, f in units.items() if f == fam]
        assert got.count("test") >= 1 and got.count("val") >= 1 and got.count("train") >= n - 4
    assert assign_splits(units, seed=3) == s and assign_splits(units, seed=4) != s


def test_items_have_tags_events_and_3_to_5_captions(corpus):
    items = read_manifest(corpus / "manifest.jsonl")
    for it in items:
        assert it.tags and it.meta["events"] and it.licence == "CC0-1.0" and 0 < it.duration <= 10.0
        if it.meta["kind"] == "single":
            assert 3 <= len(it.captions) <= 5 and len(set(it.captions)) == len(it.captions)
        assert (corpus / it.audio).is_file()
    assert (corpus / "SOURCES.md").read_text().count("Made by the test suite.") == 1


def _phrase_pos(caption: str, label: str) -> int:
    ev = EVENTS[label]
    pos = [caption.find(p) for p in ev.clauses + ev.nouns if p in caption]
    return min(pos) if pos else -1


def test_captions_agree_with_metadata(corpus):
    items = [it for it in read_manifest(corpus / "manifest.jsonl") if it.meta["kind"] == "mixture"]
    rels = {it.meta["relation"] for it in items}
    assert {"then", "k_times", "background", "then_and"} <= rels
    checked_then = checked_k = 0
    for it in items:
        ev = it.meta["events"]
        rel = it.meta["relation"]
        if rel in ("then", "quiet_loud", "speech_then", "then_and", "loud_quiet", "quiet_loud_same",
                   "loud_quiet_same"):
            for a, b in zip(ev, ev[1:]):
                assert a["onset"] + a["duration"] <= b["onset"], it.id
            if rel == "then" and ev[0]["label"] != ev[1]["label"]:
                cap = it.captions[0]
                pa, pb = _phrase_pos(cap, ev[0]["label"]), _phrase_pos(cap, ev[1]["label"])
                assert 0 <= pa < pb, f"{it.id}: {cap!r} does not name {ev[0]['label']} before {ev[1]['label']}"
                checked_then += 1
        if rel in ("quiet_loud", "quiet_loud_same"):
            assert ev[1]["level_db"] - ev[0]["level_db"] >= 12
        if rel in ("loud_quiet", "loud_quiet_same"):
            assert ev[0]["level_db"] - ev[1]["level_db"] >= 12
        if rel.endswith("_same"):  # one sound twice
            assert ev[0]["clip"] == ev[1]["clip"] and len(ev) == 2
            assert ("quietly, then loudly" if rel.startswith("quiet") else "loudly, then quietly") in it.captions[0]
        if rel == "k_times":
            k = it.meta["count"]
            assert len(ev) == k and count_word(k) in it.captions[0]
            wav = load_audio(corpus / it.audio, 22050)
            assert len(segments(wav, 22050)) == k, f"{it.id}: audio does not hold {k} events"
            checked_k += 1
        if rel == "background":
            assert "background" in it.captions[0] and ev[1]["level_db"] < ev[0]["level_db"]
    assert checked_then > 0 and checked_k > 0


def test_heldout_combinations_never_in_train(corpus):
    summary = json.loads((corpus / "corpus.json").read_text())
    held = {tuple(t) for t in summary["heldout_combinations"]}
    assert held
    for it in read_manifest(corpus / "manifest.jsonl", split="train"):
        if it.meta["kind"] == "mixture" and len(it.meta["events"]) > 1:
            ev = it.meta["events"]
            assert (ev[0]["label"], it.meta["relation"], ev[1]["label"]) not in held


def test_corrupt_and_unlabelled_files_are_reported_and_skipped(corpus):
    report = json.loads((corpus / "report.json").read_text())
    assert any(r["path"] == "dog_corrupt.wav" for r in report["corrupt"])
    assert any(r["path"] == "mystery_01.wav" for r in report["unlabelled"])
    audio = {it.audio for it in read_manifest(corpus / "manifest.jsonl")}
    assert not any("corrupt" in a or "mystery" in a for a in audio)


def test_build_is_deterministic_for_a_seed(tmp_path, corpus, fixture_sources):
    _build(tmp_path / "again", fixture_sources, workers=1)
    assert (tmp_path / "again" / "manifest.jsonl").read_text() == (corpus / "manifest.jsonl").read_text()
    assert _digest(tmp_path / "again") == _digest(corpus)
    _build(tmp_path / "other", fixture_sources, seed=1, workers=1)
    assert (tmp_path / "other" / "manifest.jsonl").read_text() != (corpus / "manifest.jsonl").read_text()


def test_interrupted_build_resumes_to_the_same_result(tmp_path, corpus, fixture_sources, monkeypatch):
    real = builder_mod.render_mixture
    calls = {"n": 0}

    def flaky(recipe, load):
        calls["n"] += 1
        if calls["n"] == 25:
            raise KeyboardInterrupt  # the user stops the build midway
        return real(recipe, load)

    monkeypatch.setattr(builder_mod, "render_mixture", flaky)
    with pytest.raises(KeyboardInterrupt):
        _build(tmp_path / "r", fixture_sources)
    done = sorted((tmp_path / "r" / "mixtures").rglob("*.flac"))
    assert len(done) == 24
    stamp = {p: p.stat().st_mtime_ns for p in done}
    calls["n"] = -10 ** 6
    _build(tmp_path / "r", fixture_sources)
    assert (tmp_path / "r" / "manifest.jsonl").read_text() == (corpus / "manifest.jsonl").read_text()
    assert _digest(tmp_path / "r") == _digest(corpus)
    assert all(p.stat().st_mtime_ns == t for p, t in stamp.items()), "finished mixtures were redone"
    n_mix = sum(1 for it in read_manifest(corpus / "manifest.jsonl") if it.meta["kind"] == "mixture")
    assert calls["n"] == -10 ** 6 + n_mix - 24


def test_reserved_sources_are_refused(tmp_path, monkeypatch):
    from vividsound.data import sources

    monkeypatch.setattr(sources, "_RESERVED_SHA1", {hashlib.sha1(b"held-out-pack").hexdigest()})
    with pytest.raises(SourceError, match="reserved"):
        FolderSource("held-out-pack", "x", "y", folder=str(tmp_path)).fetch(tmp_path)


def test_mixture_levels_follow_gains(corpus):
    items = [it for it in read_manifest(corpus / "manifest.jsonl") if it.meta["kind"] == "mixture"
             and it.meta["relation"] == "quiet_loud"]
    assert items
    it = items[0]
    wav = load_audio(corpus / it.audio, 22050)
    a, b = it.meta["events"]
    seg = lambda e: wav[int(e["onset"] * 22050): int((e["onset"] + e["duration"]) * 22050)]  # noqa: E731
    peak_db = lambda x: 20 * np.log10(np.abs(x).max() + 1e-9)  # noqa: E731
    assert peak_db(seg(b)) - peak_db(seg(a)) > 8.0


def test_loudness_supplement_is_train_only_passes_the_probe_checker_and_changes_nothing_else(
        corpus, fixture_sources, tmp_path):
    """The supplement's mixtures (louder first, one sound at two levels) are in train only, their audio
    passes the loudness probe's checker for the order their caption states, and a build without them has
    every other item byte for byte the same (they are drawn from their own seeds)."""
    from vividsound.data.checkers import check_loudness

    items = read_manifest(corpus / "manifest.jsonl")
    sup = [it for it in items if it.meta.get("relation") in ("loud_quiet", "quiet_loud_same", "loud_quiet_same")]
    assert {it.meta["relation"] for it in sup} == {"loud_quiet", "quiet_loud_same", "loud_quiet_same"}
    assert all(it.split == "train" for it in sup)
    for it in sup:
        if it.meta["relation"].endswith("_same"):
            order = "quiet_loud" if it.meta["relation"].startswith("quiet") else "loud_quiet"
            wav = load_audio(corpus / it.audio, 22050)
            assert check_loudness(wav, 22050, {"truth": {"order": order, "min_db": 6.0}}), it.id
            other = "loud_quiet" if order == "quiet_loud" else "quiet_loud"
            assert not check_loudness(wav, 22050, {"truth": {"order": other, "min_db": 6.0}}), it.id
    plain = tmp_path / "plain"
    _build(plain, fixture_sources, workers=2, supplement=())
    rest = {it.id: it for it in items if it not in sup}
    again = {it.id: it for it in read_manifest(plain / "manifest.jsonl")}
    assert again.keys() == rest.keys()
    assert all(again[k] == rest[k] for k in rest)
    assert all((plain / it.audio).read_bytes() == (corpus / it.audio).read_bytes() for it in rest.values()
               if it.meta["kind"] == "mixture")


def test_stats_cli_prints_the_corpus_tables(corpus, capsys):
    from vividsound.cli import main

    assert main(["corpus", "stats", "--corpus", str(corpus)]) == 0
    out = capsys.readouterr().out
    summary = json.loads((corpus / "corpus.json").read_text())
    assert f"| train | {summary['counts']['train']} |" in out and "| fixture |" in out


def test_renders_without_their_tools_are_skipped_with_a_reason(monkeypatch, tmp_path):
    """No tinysoundfont / TTS engine: those renders are skipped up front, each with a reason that names the
    missing tool (not extracted and then counted as unreadable), and the builder warns about them."""
    import importlib.util

    from vividsound.data import render

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "tinysoundfont" else real(name, *a))
    monkeypatch.setattr(render, "speech_available", lambda: {"espeak-ng": True, "flite": False})
    src = render.RenderSource(counts=(("note", 3), ("drums", 2), ("speech", 6)))
    clips, skipped = src.clips(tmp_path)
    assert {c.attrs["spec"]["kind"] for c in clips} == {"speech"}
    reasons = [r for _, r in skipped]
    assert sum("tinysoundfont is not installed" in r for r in reasons) == 5
    assert all(c.attrs["spec"]["engine"] == "espeak-ng" for c in clips)
    assert len(clips) + sum("flite" in r for r in reasons) == 6

    lines = []
    monkeypatch.setattr(render.RenderSource, "fetch", lambda self, cache: None)
    src = render.RenderSource(counts=(("note", 3), ("drums", 2)))  # no speech: nothing to render, a quick build
    build_corpus(BuildConfig(out=str(tmp_path / "corpus"), progress=False, train_mixtures=10, eval_mixtures=2),
                 [src], log=lines.append)
    assert any("WARNING rendered: 5 clips skipped: tinysoundfont is not installed" in ln for ln in lines)
