"""The everyday prompt set and its judges (class retrieval by aiSFX, level over time)."""

from __future__ import annotations

import importlib.util
import itertools
import json

import numpy as np
import pytest
import torch

from vividsound.errors import InputError
from vividsound.eval.promptset import (ClassBank, chance_at_k, class_retrieval, level_stats, load_prompt_set)

SR = 22050
has_aisfx = pytest.mark.skipif(importlib.util.find_spec("aisfx") is None, reason="aisfx not installed")


# ----- the bundled set ----------------------------------------------------------------------------

def test_bundled_prompt_set_is_large_varied_and_not_templated():
    from vividsound.data.labels import EVENTS
    from vividsound.data.render import GM_SFX

    items = load_prompt_set()
    assert len(items) >= 300
    assert len({it.prompt for it in items}) == len(items)
    sounds = {it.sound for it in items}
    assert len(sounds) >= 100
    per_sound = {s: sum(it.sound == s for it in items) for s in sounds}
    assert sum(n >= 2 for n in per_sound.values()) >= 0.8 * len(sounds)  # several phrasings per sound
    # none is a corpus template phrase (the label table's clauses and nouns are what captions are built from)
    templates = {p.lower() for e in EVENTS.values() for p in e.clauses + e.nouns}
    templates |= {g[2] for g in GM_SFX} | {g[3] for g in GM_SFX}
    from vividsound.data.synth import RECIPES

    templates |= {p.lower() for r in RECIPES.values() for p in r.clauses + r.nouns}
    assert not [it.prompt for it in items if it.prompt.lower() in templates]
    shapes = {it.shape for it in items}
    assert shapes == {"event", "continuing", "once"}
    assert sum(it.shape == "continuing" for it in items) >= 60
    assert sum(it.beyond for it in items) >= 20


def test_the_set_splits_into_dev_and_test_halves_by_sound():
    items = load_prompt_set()
    parts = {}
    for it in items:
        parts.setdefault(it.sound, set()).add(it.part)
    assert all(len(p) == 1 for p in parts.values())  # all phrasings of a sound in one half
    n_dev = sum(p == {"dev"} for p in parts.values())
    assert 0.35 * len(parts) < n_dev < 0.65 * len(parts)
    assert {it.part for it in items if it.shape == "continuing"} == {"dev", "test"}


def test_beyond_marks_agree_with_the_label_table():
    from vividsound.data.labels import EVENTS
    from vividsound.data.render import GM_SFX
    from vividsound.data.synth import RECIPES

    known = set(EVENTS) | {g[1] for g in GM_SFX} | set(RECIPES)  # every class `corpus build` can make
    for it in load_prompt_set():
        assert it.beyond == (not any(lab in known for lab in it.labels)), it.sound


@pytest.mark.parametrize("text, msg", [
    ("- {sound: a, labels: [x], shape: loud, prompts: [p]}", "shape is 'loud'"),
    ("- {sound: a, labels: [], shape: event, prompts: [p]}", "labels must be"),
    ("- {sound: a, labels: [x], shape: event, prompts: []}", "prompts must be"),
    ("- {sound: a, labels: [x], shape: event, prompts: [p], colour: red}", "unknown field"),
    ("- {sound: a, labels: [x], shape: event, prompts: [p, p]}", "appears twice"),
    ("- {sound: a, labels: [x], shape: event, prompts: [p]}\n- {sound: a, labels: [x], shape: event, prompts: [q]}",
     "unique"),
    ("[unclosed", "not readable YAML"),
    ("{}", "non-empty list"),
])
def test_bad_prompt_sets_are_refused_in_one_line(tmp_path, text, msg):
    p = tmp_path / "set.yaml"
    p.write_text(text)
    with pytest.raises(InputError, match=msg) as e:
        load_prompt_set(p)
    assert "\n" not in str(e.value)


def test_missing_prompt_set_file(tmp_path):
    with pytest.raises(InputError, match="no such file"):
        load_prompt_set(tmp_path / "nope.yaml")


# ----- chance and retrieval -----------------------------------------------------------------------

@pytest.mark.parametrize("C, m, k", [(6, 1, 1), (6, 2, 3), (7, 3, 2), (5, 2, 5), (8, 1, 5)])
def test_chance_at_k_equals_enumeration(C, m, k):
    hits = total = 0
    for perm in itertools.permutations(range(C)):
        total += 1
        hits += any(x < m for x in perm[:k])  # labels 0..m-1 are the accepted ones
    assert chance_at_k(C, m, k) == pytest.approx(hits / total)


def _bank() -> ClassBank:
    e = np.eye(4)[[0, 0, 1, 1, 2, 3]]
    return ClassBank(["a", "b", "c", "d"], np.eye(4), e, [f"c{i}" for i in range(6)], ["a", "a", "b", "b", "c", "d"],
                     "test")


def test_class_retrieval_ranks_the_accepted_labels():
    bank = _bank()
    q = np.array([[0.9, 0.1, 0.3, 0.0], [0.0, 0.2, 0.1, 0.97]])
    q /= np.linalg.norm(q, axis=1, keepdims=True)
    rows = class_retrieval(bank, q, [["c"], ["b", "zzz"]])
    assert rows[0]["rank"] == 2 and rows[0]["hit@1"] is False and rows[0]["hit@5"] is True
    assert rows[0]["nearest"] == "a"
    assert rows[1]["rank"] == 2 and rows[1]["accepted_in_bank"] == 1  # "zzz" has no centroid
    assert rows[1]["chance@1"] == pytest.approx(0.25)
    assert class_retrieval(bank, q[:1], [["zzz"]])[0]["rank"] is None


def test_leave_one_out_centroid_drops_the_clip():
    bank = _bank()
    bank.embeddings[1] = np.array([0.0, 0.0, 1.0, 0.0])  # a's second clip points at c
    bank.centroids[0] = np.array([0.5, 0, 0.5, 0]) / np.sqrt(0.5)
    c = bank.centroid_without(1)
    assert np.allclose(c[0], [1, 0, 0, 0])
    assert np.allclose(c[1:], bank.centroids[1:])


# ----- level over time ----------------------------------------------------------------------------

def _noise(seconds: float, level: float = 0.3, seed: int = 0) -> np.ndarray:
    return (level * np.random.default_rng(seed).standard_normal(int(seconds * SR))).astype(np.float32)


def test_a_sound_that_fills_the_clip_has_no_silence_and_no_cut():
    s = level_stats(_noise(10.0), SR)
    assert s.silent_share == 0.0 and not s.ends_silent and not s.ends_in_cut
    assert s.last_sound_s == pytest.approx(10.0)


def test_a_hard_cut_to_digital_silence_is_found():
    x = np.concatenate([_noise(3.0), np.zeros(7 * SR, np.float32)])
    s = level_stats(x, SR)
    assert s.silent_share == pytest.approx(0.7, abs=0.01)
    assert s.ends_silent and s.ends_in_cut
    assert s.last_sound_s == pytest.approx(3.0, abs=0.06)  # 50 ms frames
    assert s.tail_silent_share == 1.0


def test_a_sound_that_fades_out_ends_silent_without_a_cut():
    x = _noise(3.0)
    x[-SR:] *= np.logspace(0, -4, SR).astype(np.float32)  # 80 dB fade over the last second
    s = level_stats(np.concatenate([x, np.zeros(7 * SR, np.float32)]), SR)
    assert s.ends_silent and not s.ends_in_cut


def test_level_stats_refuse_a_clip_shorter_than_a_frame():
    with pytest.raises(InputError, match="shorter than one"):
        level_stats(np.zeros(10, np.float32), SR)


# ----- aiSFX: active blocks and the whole run -----------------------------------------------------

@pytest.fixture(scope="module")
def aisfx():
    if importlib.util.find_spec("aisfx") is None:
        pytest.skip("aisfx not installed")
    from vividsound.eval.aisfx import load_aisfx

    return load_aisfx()


def _tone(freq: float, seconds: float, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * SR)) / SR
    return (0.4 * np.sin(2 * np.pi * freq * t + rng.uniform(0, 6)) + 0.002 * rng.standard_normal(t.size)).astype(np.float32)


@has_aisfx
def test_active_embedding_ignores_the_silent_blocks(aisfx):
    from vividsound.eval.promptset import active_embedding

    burst = _noise(2.5)

    def padded(seconds):
        return np.concatenate([burst, np.zeros(int(seconds * SR), np.float32)])

    def plain(x):
        e = aisfx.embed_audio(torch.from_numpy(x)[None], SR).embedding[0].double().numpy()
        return e / np.linalg.norm(e)

    a = active_embedding(aisfx, burst, SR)
    short, long = active_embedding(aisfx, padded(2.5), SR), active_embedding(aisfx, padded(7.5), SR)
    assert float(short @ long) > 0.999  # how long the silence after the sound lasts does not move it
    assert float(plain(padded(2.5)) @ plain(padded(7.5))) < 0.99  # the mean over all blocks does move
    assert float(a @ long) > float(a @ plain(padded(7.5))) + 0.02
    assert np.isfinite(active_embedding(aisfx, np.zeros(SR, np.float32), SR)).all()


class _Gen:
    """Stands in for TextToSound: noise for prompts with "noise", a 1 kHz tone for "tone", else a 200 Hz
    hum; "stops" makes the clip end in a hard cut after 2 s."""

    mel_config = type("M", (), {"sample_rate": SR, "hop_length": 256, "n_mels": 80})()

    def generate_rows(self, prompts, seeds, *, duration, vocode=True, **_):
        from types import SimpleNamespace

        n = int(duration * SR)
        rows = []
        for p, s in zip(prompts, seeds):
            x = _noise(duration, seed=s) if "noise" in p else _tone(1000.0 if "tone" in p else 200.0, duration, s)
            if "stops" in p:
                x[2 * SR :] = 0
            rows.append(x[:n])
        wav = torch.from_numpy(np.stack(rows))
        return SimpleNamespace(waveform=wav, sample_rate=SR, mel=torch.zeros(len(rows), 80, 10))


def test_prompt_seed_depends_on_id_and_leaves_room_for_samples():
    from vividsound.eval.promptset_eval import SEED_SLOTS, prompt_seed

    seeds = {i: prompt_seed(7, f"sound-{i}", 3) for i in range(300)}
    assert prompt_seed(7, "sound-5", 3) == seeds[5]
    assert all(7 <= s < 7 + SEED_SLOTS * 3 and (s - 7) % 3 == 0 for s in seeds.values())
    assert len(set(seeds.values())) > 290  # ids spread over the slots (a rare collision is harmless)
    assert prompt_seed(8, "sound-5", 3) == seeds[5] + 1


@has_aisfx
def test_evaluate_prompt_set_judges_class_and_length(aisfx, tmp_path):
    from vividsound.eval.promptset import PromptItem, active_embedding
    from vividsound.eval.promptset_eval import evaluate_prompt_set

    refs = {"noise": [_noise(2.0, seed=k) for k in range(3)], "tone": [_tone(1000.0, 2.0, k) for k in range(3)],
            "hum": [_tone(200.0, 2.0, k) for k in range(3)]}
    labels = sorted(refs)
    emb = np.stack([active_embedding(aisfx, x, SR) for lab in labels for x in refs[lab]])
    cl = [lab for lab in labels for _ in range(3)]
    cents = np.stack([emb[[i for i, c in enumerate(cl) if c == lab]].mean(0) for lab in labels])
    bank = ClassBank(labels, cents / np.linalg.norm(cents, axis=1, keepdims=True), emb,
                     [f"r{i}" for i in range(9)], cl, "test")
    items = [PromptItem("n-0", "steady noise", "n", ("noise",), "continuing", False, "dev"),
             PromptItem("t-0", "a tone that stops", "t", ("tone",), "continuing", False, "dev"),
             PromptItem("h-0", "a hum", "h", ("hum",), "event", False, "test"),
             PromptItem("x-0", "a tone", "x", ("unknown",), "once", True, "dev")]
    rep = evaluate_prompt_set(_Gen(), items, bank, aisfx, tmp_path, duration=4.0, seed=3)
    rows = {r["id"]: r for r in rep["rows"]}
    assert rows["n-0"]["hit@1"] and rows["t-0"]["hit@1"] and rows["h-0"]["hit@1"]
    assert rows["x-0"]["rank"] is None
    assert rows["t-0"]["ends_in_cut"] and not rows["n-0"]["ends_in_cut"]
    assert rows["n-0"]["silent_share"] == 0.0 and rows["t-0"]["silent_share"] == pytest.approx(0.5, abs=0.02)
    s = rep["summary"]
    assert s["retrieval"]["clips"] == 3 and s["retrieval"]["hit@1"] == 1.0
    assert s["retrieval"]["chance@1"] == pytest.approx(1 / 3)
    assert s["continuing"]["clips"] == 2 and s["continuing"]["ends_in_cut"] == 0.5
    assert (s["continuing"]["dev_clips"], s["continuing"]["dev_ends_in_cut"], s["continuing"]["test_clips"]) == (2, 0.5, 0)
    assert s["continuing"]["test_silent_share"] is None and s["event"]["test_clips"] == 1
    assert s["unscored_clips"] == 1
    on_disk = json.loads((tmp_path / "report.json").read_text())
    assert on_disk["summary"] == json.loads(json.dumps(s))
    assert "hit@1" in (tmp_path / "report.md").read_text()
    # resumable: a second run reads the cached clips and gives the same rows
    class _NoCalls(_Gen):
        def generate_rows(self, *a, **k):
            raise AssertionError("the cached clips should have been reused")

    rep2 = evaluate_prompt_set(_NoCalls(), items, bank, aisfx, tmp_path, duration=4.0, seed=3)
    assert [r["rank"] for r in rep2["rows"]] == [r["rank"] for r in rep["rows"]]
    # a prompt's seed follows its id, not its position: reordered or fewer prompts reuse every cached clip
    rep3 = evaluate_prompt_set(_NoCalls(), items[::-1][1:], bank, aisfx, tmp_path, duration=4.0, seed=3)
    assert {r["id"]: r["seed"] for r in rep3["rows"]} == {r["id"]: r["seed"] for r in rep["rows"][:3]}
    # references: leave-one-out scoring of the bank's own clips
    rr = evaluate_prompt_set(None, items, bank, aisfx, tmp_path / "refs", references=True)
    assert rr["summary"]["retrieval"]["hit@1"] == 1.0 and rr["summary"]["continuing"]["clips"] == 0


@has_aisfx
def test_evaluate_cli_runs_the_prompt_set_and_its_controls(tmp_path, tiny_model_dir, tiny_clap_dir, aisfx):
    from vividsound.audio import save_audio
    from vividsound.cli import main
    from vividsound.data.manifest import ManifestItem, write_manifest

    corpus = tmp_path / "corpus"
    (corpus / "clips").mkdir(parents=True)
    items = []
    makers = {"hum": lambda k: _tone(200.0, 1.5, k), "tone": lambda k: _tone(1000.0, 1.5, k),
              "noise": lambda k: _noise(1.5, seed=k)}
    for lab, make in makers.items():
        for k, split in enumerate(["val", "test", "train"]):
            path = corpus / "clips" / f"{lab}{k}.wav"
            save_audio(path, make(k), SR)
            items.append(ManifestItem(id=f"{lab}{k}", audio=f"clips/{lab}{k}.wav", captions=[f"a {lab}"], split=split,
                                      source="test", meta={"kind": "single", "events": [{"label": lab}]}))
    write_manifest(corpus / "manifest.jsonl", items)
    pset = tmp_path / "set.yaml"
    pset.write_text("- {sound: hum, labels: [hum], shape: continuing, prompts: [a low hum, humming]}\n"
                    "- {sound: noise, labels: [noise], shape: event, prompts: [static noise]}\n"
                    "- {sound: other, labels: [nothing], shape: event, prompts: [something else]}\n")
    out = tmp_path / "rep"
    rc = main(["evaluate", "--model", str(tiny_model_dir), "--corpus", str(corpus), "--prompt-set", str(pset),
               "--duration", "1", "--batch-size", "2", "--no-progress", "--out", str(out)])
    assert rc == 0
    rep = json.loads((out / "report.json").read_text())
    assert rep["prompt_set_size"] == 4 and rep["num_prompts"] == 3  # "something else" gives no number here
    assert rep["bank"]["classes"] == 3 and rep["bank"]["split"] == "heldout" and rep["bank"]["clips"] == 6
    assert rep["summary"]["retrieval"]["clips"] == 3 and rep["summary"]["continuing"]["clips"] == 2
    # one half alone: exactly the full run's rows of that half (a prompt's seed follows its id)
    from vividsound.eval.promptset import part_of

    half = part_of("hum")
    rc = main(["evaluate", "--model", str(tiny_model_dir), "--corpus", str(corpus), "--prompt-set", str(pset),
               "--prompt-set-part", half, "--duration", "1", "--batch-size", "2", "--no-progress",
               "--out", str(tmp_path / "half")])
    assert rc == 0
    part = json.loads((tmp_path / "half" / "report.json").read_text())
    assert part["part"] == half and part["prompt_set_size"] == 4
    keep = ("id", "seed", "rank", "silent_share")
    assert [{k: r[k] for k in keep} for r in part["rows"]] == \
        [{k: r[k] for k in keep} for r in rep["rows"] if r["part"] == half]
    assert any(r["sound"] == "hum" for r in part["rows"])
    rc = main(["evaluate", "--model", str(tiny_model_dir), "--corpus", str(corpus), "--prompt-set", str(pset),
               "--prompt-set-references", "--no-progress", "--out", str(tmp_path / "refs")])
    assert rc == 0
    refs = json.loads((tmp_path / "refs" / "report.json").read_text())
    assert refs["system"] == "reference clips" and refs["summary"]["retrieval"]["clips"] == 3
    assert main(["evaluate", "--model", str(tiny_model_dir), "--corpus", str(corpus), "--prompt-set", str(pset),
                 "--prompt-set-bank", "val", "--out", str(tmp_path / "x")]) == 2  # 1 clip per class in val alone
    # best of 2 by a CLAP scorer: candidate 0 of each clip is the plain run's clip
    best_args = ["evaluate", "--model", str(tiny_model_dir), "--corpus", str(corpus), "--prompt-set", str(pset),
                 "--duration", "1", "--batch-size", "2", "--no-progress", "--candidates", "2"]
    assert main(best_args + ["--out", str(tmp_path / "nob")]) == 2  # the tiny model folder has no clap/
    assert not (tmp_path / "nob").exists()
    assert main(best_args + ["--scorer", str(tiny_clap_dir), "--out", str(tmp_path / "best")]) == 0
    # only the prompts the bank judges: a continuing prompt of a class the bank lacks is kept for its level
    # statistics by default, and left out with --prompt-set-scored-only
    pset2 = tmp_path / "set2.yaml"
    pset2.write_text(pset.read_text() + "- {sound: rain, labels: [rain], shape: continuing, prompts: [rain falls]}\n")
    few = ["evaluate", "--model", str(tiny_model_dir), "--corpus", str(corpus), "--prompt-set", str(pset2),
           "--duration", "1", "--batch-size", "2", "--no-progress"]
    assert main(few + ["--out", str(tmp_path / "kept")]) == 0
    assert main(few + ["--prompt-set-scored-only", "--out", str(tmp_path / "scored")]) == 0
    kept = json.loads((tmp_path / "kept" / "report.json").read_text())
    scored = json.loads((tmp_path / "scored" / "report.json").read_text())
    assert [r["prompt"] for r in kept["rows"] if r["rank"] is None] == ["rain falls"]
    assert [r["seed"] for r in scored["rows"]] == [r["seed"] for r in kept["rows"] if r["rank"] is not None]
    assert main(few + ["--prompt-set-scored-only", "--prompt-set-all", "--out", str(tmp_path / "both")]) == 2
    best = json.loads((tmp_path / "best" / "report.json").read_text())
    assert best["candidates"] == 2 and best["system"].endswith("(best of 2 by CLAP)")
    assert [r["seed"] for r in best["rows"]] == [r["seed"] for r in rep["rows"]]
    import torch

    from vividsound.pipeline import TextToSound

    tts = TextToSound.from_pretrained(tiny_model_dir)
    for r_best, r_plain in zip(best["rows"], rep["rows"]):
        kept = tts.generate_rows([r_best["prompt"]], [r_best["seed"]], duration=1.0, candidates=2, scorer=tiny_clap_dir)
        plain = tts.generate_rows([r_plain["prompt"]], [r_plain["seed"]], duration=1.0)
        picked_plain = kept.seeds[0] == r_plain["seed"]
        assert torch.equal(kept.codes, plain.codes) == picked_plain  # the kept clip is candidate 0's or another's


def test_prompt_set_seed_that_leaves_no_room_is_refused_before_work(tmp_path, capsys):
    from vividsound.cli import main

    rc = main(["evaluate", "--prompt-set", "--corpus", str(tmp_path / "none"), "--out", str(tmp_path / "o"),
               "--model", str(tmp_path / "m"),
               "--seed", str(2**63 - 10)])
    err = capsys.readouterr().err.strip()
    assert rc == 2 and "--seed is" in err and len(err.splitlines()) == 1
    assert not (tmp_path / "o").exists()


def test_evaluate_threads_are_checked_and_set(tmp_path, capsys):
    import torch

    from vividsound.cli import main

    base = ["evaluate", "--prompt-set", "--corpus", str(tmp_path / "none"), "--out", str(tmp_path / "o"),
            "--model", str(tmp_path / "m")]
    assert main(base + ["--threads", "0"]) == 2
    err = capsys.readouterr().err.strip()
    assert "threads is 0" in err and len(err.splitlines()) == 1
    before = torch.get_num_threads()
    try:
        assert main(base + ["--threads", "1"]) == 2  # then the missing corpus stops it
        assert torch.get_num_threads() == 1
    finally:
        torch.set_num_threads(before)


@pytest.mark.parametrize("extra, match", [
    (["--candidates", "0"], "candidates is 0"),
    (["--candidates", "17"], "candidates is 17"),
    (["--scorer", "somewhere"], "a scorer ranks candidates"),
    (["--candidates", "2", "--scorer", "nowhere"], "needs a CLAP scorer: nowhere has no config.json"),
])
def test_evaluate_best_of_options_are_checked_before_work(tmp_path, capsys, extra, match):
    from vividsound.cli import main

    rc = main(["evaluate", "--prompt-set", "--corpus", str(tmp_path / "none"), "--out", str(tmp_path / "o"),
               "--model", str(tmp_path / "m")] + extra)
    err = capsys.readouterr().err.strip()
    assert rc == 2 and match in err and len(err.splitlines()) == 1, err
    assert not (tmp_path / "o").exists()
