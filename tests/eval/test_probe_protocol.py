"""The probe protocol: one generation length for every probe, the prompt-blind bound, the reference
controls and ``vividsound evaluate --probes-only``."""

import json
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from vividsound.audio import MelConfig, load_audio
from vividsound.cli import main
from vividsound.data.checkers import check, prompt_blind_bound, truth_class
from vividsound.data.probes import PROBE_TYPES, SR, build_probes, synth_sound
from vividsound.eval.runner import EvalConfig, read_probes, run_probes


@pytest.fixture(scope="module")
def probe_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("probes")
    build_probes(out, seed=0, n_per_type=10)
    return out


class Recorder:
    """A generator that renders ``audio_for(prompt)`` into each clip and records the requested lengths."""

    mel_config = MelConfig()

    def __init__(self, audio_for, max_duration=None):
        self.audio_for, self.durations = audio_for, []
        if max_duration is not None:
            self.max_duration = max_duration

    def generate_rows(self, prompts, seeds, *, duration, **kw):
        self.durations.append(duration)
        n = int(round(duration * SR))
        wav = np.stack([np.pad(a, (0, max(0, n - a.size)))[:n] for a in map(self.audio_for, prompts)])
        return SimpleNamespace(waveform=torch.from_numpy(wav), sample_rate=SR, mel=None)


def test_truth_classes_and_the_prompt_blind_bound(probe_dir):
    probes = read_probes(probe_dir)
    assert {truth_class(p) for p in probes if p["type"] == "count"} == {1, 2, 3, 4, 5}
    assert {truth_class(p) for p in probes if p["type"] == "silence_then"} == {None}
    bound = prompt_blind_bound(probes)
    # 10 probes per type: counts 1..5 twice each; binary types alternate; speech_then is 3:1 speech-first
    assert bound["count"] == pytest.approx(0.2)
    for t in ("order", "duration", "pitch", "loudness"):
        assert bound[t] == pytest.approx(0.5)
    assert bound["speech_then"] == pytest.approx(0.8)  # i % 4 != 3 for i < 10: 8 of 10
    assert bound["silence_then"] == 1.0
    with pytest.raises(ValueError, match="unknown probe type"):
        truth_class({"type": "tempo", "truth": {}})


def test_every_probe_is_generated_at_one_length(probe_dir):
    probes = read_probes(probe_dir)
    gen = Recorder(lambda p: np.zeros(10, np.float32))
    run_probes(gen, check, probes, EvalConfig(probe_duration=4.0, batch_size=8))
    assert gen.durations and set(gen.durations) == {4.0}
    capped = Recorder(lambda p: np.zeros(10, np.float32), max_duration=3.0)
    rep = run_probes(capped, check, probes, EvalConfig(probe_duration=10.0, batch_size=70))
    assert set(capped.durations) == {3.0} and rep["duration"] == 3.0


def test_a_prompt_blind_generator_cannot_beat_the_bound(probe_dir):
    """The same long beep for every prompt: each type scores exactly the share of the class it happens to
    pass, never more than the bound (the check the old reference-length protocol failed: a prompt-blind
    model passed every duration probe because "short" probes were generated 1.5 s long)."""
    probes = read_probes(probe_dir)
    beep = synth_sound("beep", np.random.default_rng(0), 5.0)
    rep = run_probes(Recorder(lambda p: np.r_[np.zeros(int(0.3 * SR), np.float32), beep]), check, probes,
                     EvalConfig(probe_duration=8.0, batch_size=70))
    for t in PROBE_TYPES:
        assert rep["accuracy_by_type"][t] <= rep["prompt_blind_bound_by_type"][t] + 1e-9, t
    assert rep["accuracy_by_type"]["duration"] == 0.5  # a long sound: right for "long", wrong for "short"
    assert rep["accuracy"] < 0.5
    # by answer: it passes every "long" probe and no "short" one, and the per-answer counts add up
    assert rep["accuracy_by_answer"]["duration"] == {"False": 0.0, "True": 1.0}
    for t in PROBE_TYPES:
        assert sum(rep["count_by_answer"][t].values()) == rep["count_by_type"][t]
        n = rep["count_by_answer"][t]
        mixed = sum(rep["accuracy_by_answer"][t][a] * n[a] for a in n) / rep["count_by_type"][t]
        assert mixed == pytest.approx(rep["accuracy_by_type"][t])
    assert sorted(rep["passed"]) == sorted(p["id"] for p in probes)
    assert sum(sum(v) for v in rep["passed"].values()) == round(rep["accuracy"] * len(probes))


def test_reference_controls_validate_the_checkers(probe_dir):
    probes = read_probes(probe_dir)
    by_prompt = {}
    for p in probes:  # a generator that plays a reference with the same prompt (prompts repeat, truths agree)
        by_prompt.setdefault(p["prompt"], load_audio(p["reference_path"], SR))
    rep = run_probes(Recorder(by_prompt.__getitem__), check, probes, EvalConfig(probe_duration=10.0, batch_size=70))
    assert rep["reference_accuracy"] >= 0.9
    assert rep["accuracy"] >= 0.85
    assert rep["shuffled_reference_accuracy"] < rep["reference_accuracy"] - 0.2
    for t in ("count", "order", "duration", "pitch", "loudness"):  # balanced binary or five classes
        assert rep["shuffled_reference_accuracy_by_type"][t] <= 0.8, t


def test_probes_only_cli(probe_dir, tiny_model_dir, tmp_path, capsys):
    out = tmp_path / "rep"
    assert main(["evaluate", "--model", str(tiny_model_dir), "--probes", str(probe_dir), "--probes-only",
                 "--probes-per-type", "1", "--probe-duration", "1.5", "--batch-size", "7", "--no-progress",
                 "--out", str(out)]) == 0
    rep = json.loads((out / "report.json").read_text())
    assert rep["num_items"] == 0 and rep["systems"] == {}
    p = rep["probes"]
    assert p["duration"] == 1.5 and set(p["count_by_type"]) == set(PROBE_TYPES)
    assert all(n == 1 for n in p["count_by_type"].values())
    assert isinstance(p["reference_accuracy"], float) and isinstance(p["prompt_blind_bound"], float)
    md = (out / "report.md").read_text()
    assert "prompt-blind bound" in md and "## Metrics" not in md
    loud = next(q for q in read_probes(probe_dir) if q["type"] == "loudness")["truth"]["order"]
    assert f"| loudness | {loud}: " in md  # the by-answer table
    assert len(list((out / "cache" / "probes").glob("*.npz"))) == len(PROBE_TYPES)
    # a second run reads the cached clips and writes the same numbers
    assert main(["evaluate", "--model", str(tiny_model_dir), "--probes", str(probe_dir), "--probes-only",
                 "--probes-per-type", "1", "--probe-duration", "1.5", "--no-progress", "--out", str(out)]) == 0
    assert json.loads((out / "report.json").read_text())["probes"] == p
    # another vocoder is another request: the cached clips are not reused for it
    before = {f: f.stat().st_mtime_ns for f in (out / "cache" / "probes").glob("*.npz")}
    assert main(["evaluate", "--model", str(tiny_model_dir), "--probes", str(probe_dir), "--probes-only",
                 "--probes-per-type", "1", "--probe-duration", "1.5", "--vocoder", "griffinlim", "--no-progress",
                 "--out", str(out)]) == 0
    again = json.loads((out / "report.json").read_text())
    assert again["config"]["vocoder"] == "griffinlim"
    assert all(f.stat().st_mtime_ns != t for f, t in before.items())
    # compare puts probes-only reports side by side, with the controls as rows
    from vividsound.eval.compare import compare_table

    table = compare_table([("a", rep), ("b", rep)], original=True, probes=True)
    lines = {ln.split(" | ")[0].lstrip("| "): ln for ln in table.splitlines()}
    assert set(lines) >= {"a", "b", "Original (reference audio)", "Shuffled references", "prompt-blind bound (probes)"}
    assert lines["prompt-blind bound (probes)"].rstrip(" |").endswith(f"{p['prompt_blind_bound']:.4g}")
    assert lines["Original (reference audio)"].rstrip(" |").endswith(f"{p['reference_accuracy']:.4g}")
    other = json.loads(json.dumps(rep))
    other["probes"]["duration"] = 10.0
    from vividsound.errors import InputError

    with pytest.raises(InputError, match="different lengths"):
        compare_table([("a", rep), ("c", other)], probes=True)


def test_probes_only_needs_a_probe_folder(tiny_model_dir, tmp_path, capsys):
    rc = main(["evaluate", "--model", str(tiny_model_dir), "--probes-only", "--out", str(tmp_path / "r")])
    assert rc != 0
    assert "--probes-only needs --probes" in capsys.readouterr().err
