"""The probe set: size and types, determinism, and checkers that pass their references and fail wrong truths."""

from __future__ import annotations

import copy
import json

import numpy as np
import pytest
import soundfile as sf

from vividsound.cli import main
from vividsound.data.checkers import check, yin
from vividsound.data.probes import PROBE_TYPES, build_probes, synth_tone


@pytest.fixture(scope="module")
def probes(tmp_path_factory):
    out = tmp_path_factory.mktemp("probes")
    return out, build_probes(out, seed=0, n_per_type=100)


def _wav(out, p):
    w, sr = sf.read(str(out / p["reference"]), dtype="float32")
    return w, sr


def test_at_least_600_probes_100_per_type(probes):
    _, ps = probes
    assert len(ps) >= 600 and len(PROBE_TYPES) >= 6
    for t in PROBE_TYPES:
        assert sum(p["type"] == t for p in ps) >= 100
    counts = sorted({p["truth"]["count"] for p in ps if p["type"] == "count"})
    assert counts == [1, 2, 3, 4, 5]


def test_each_checker_scores_98_percent_on_its_references(probes):
    out, ps = probes
    per: dict[str, list[bool]] = {}
    for p in ps:
        w, sr = _wav(out, p)
        per.setdefault(p["type"], []).append(check(w, sr, p))
    for t, v in per.items():
        assert sum(v) / len(v) >= 0.98, f"{t}: {sum(v)}/{len(v)}"


def test_checkers_reject_wrong_ground_truth(probes):
    out, ps = probes
    flips = {"count": lambda t: t.update(count=t["count"] % 5 + 1), "order": lambda t: t.update(
        first_brighter=not t["first_brighter"]), "duration": lambda t: t.update(long=not t["long"]),
        "pitch": lambda t: t.update(high=not t["high"]), "loudness": lambda t: t.update(
        order="loud_quiet" if t["order"] == "quiet_loud" else "quiet_loud"),
        "speech_then": lambda t: t.update(speech_first=not t["speech_first"]),
        "silence_then": lambda t: t.update(min_silence=t["onset"] + 1.0)}
    for t in PROBE_TYPES:
        sample = [p for p in ps if p["type"] == t][:20]
        wrong = 0
        for p in sample:
            q = copy.deepcopy(p)
            flips[t](q["truth"])
            w, sr = _wav(out, p)
            wrong += not check(w, sr, q)
        assert wrong >= 19, f"{t}: checker accepted {20 - wrong} of 20 wrong truths"


def test_probes_are_deterministic(tmp_path, probes):
    _, ps = probes
    # probe i of a type depends only on (seed, type, i), so a 10-per-type build is a subset of the full one
    again = build_probes(tmp_path, seed=0, n_per_type=10)
    subset = [p for p in ps if int(p["id"].rsplit("-", 1)[1]) < 10]
    assert [(p["id"], p["prompt"], p["truth"]) for p in again] == [(p["id"], p["prompt"], p["truth"]) for p in subset]
    for a, b in zip(again, subset):
        assert (tmp_path / a["reference"]).read_bytes() == (probes[0] / b["reference"]).read_bytes()
    other = build_probes(tmp_path / "o", seed=1, n_per_type=10)
    assert [p["prompt"] for p in other] != [p["prompt"] for p in again]


def test_yin_has_no_octave_errors():
    rng = np.random.default_rng(0)
    for f0 in (82.0, 110.0, 196.0, 440.0, 880.0, 1318.0):
        f, _ = yin(synth_tone(f0, 1.0, rng), 22050)
        est = np.median(f[f > 0])
        assert abs(12 * np.log2(est / f0)) < 0.5, (f0, est)


def test_probes_cli(tmp_path):
    assert main(["probes", "build", "--out", str(tmp_path), "--n-per-type", "4", "--seed", "2"]) == 0
    lines = (tmp_path / "probes.jsonl").read_text().splitlines()
    assert len(lines) == 4 * len(PROBE_TYPES)
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert set(summary["reference_accuracy"]) == set(PROBE_TYPES)
    assert main(["probes", "build", "--out", str(tmp_path), "--n-per-type", "0"]) == 2
