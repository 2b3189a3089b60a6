"""benchmarks/ship_rule.py: the written ship rule applied to two models' reports, refusing unlike runs."""

import copy
import json
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # the repository root: `benchmarks` package

from benchmarks import ship_rule  # noqa: E402


def _items(fd, kl, split="val"):
    return {"config": {"split": split, "num_samples": 1, "sample": 200, "sample_seed": 0, "duration": 5.0,
                       "domain": "waveform", "seed": 0},
            "systems": {"Generated": {"fd_aisfx": fd, "kl_aisfx": kl}}, "items": [{"id": f"i{i}"} for i in range(3)]}


def _prompts(hit5, hit1, silent, cut, part="dev"):
    rows = [{"id": f"p{i}", "seed": i, "part": part} for i in range(4)]
    return {"prompt_set_size": 414, "num_samples": 3, "duration": 10.0, "seed": 0, "vocoder": None,
            "sampler": {"top_k": None, "cfg_scale": 1.0}, "bank": {"split": "heldout", "clips": 9, "labels": ["a"]},
            "rows": rows, "summary": {"retrieval": {"clips": 4, "hit@5": hit5, "hit@1": hit1},
                                      "continuing": {"clips": 4, "silent_share": silent, "ends_in_cut": cut}}}


def _probes(overall, by_type):
    return {"config": {"split": "test", "probes_per_type": 20, "seed": 0, "duration": None},
            "probes": {"duration": 10.0, "accuracy": overall, "accuracy_by_type": by_type,
                       "count_by_type": {t: 20 for t in by_type}}, "items": []}


def _write(tmp_path, name, report):
    d = tmp_path / name
    d.mkdir()
    (d / "report.json").write_text(json.dumps(report))
    return str(d)


def _args(tmp_path, items, prompts, probes, model=None):
    a = []
    for flag, (s, c) in (("--items", items), ("--prompts", prompts), ("--probes", probes)):
        a += [flag, _write(tmp_path, f"{flag[2:]}-s", s), _write(tmp_path, f"{flag[2:]}-c", c)]
    return a + (["--candidate-model", str(model)] if model else [])


def test_a_candidate_that_keeps_every_bound_ships_only_with_a_speed_figure(tmp_path, capsys):
    model = tmp_path / "model"
    model.mkdir()
    (model / "w.bin").write_bytes(b"0" * 1000)
    args = _args(tmp_path, (_items(100.0, 3.0), _items(94.0, 3.04)), (_prompts(0.30, 0.10, 0.60, 0.40),
                 _prompts(0.29, 0.09, 0.61, 0.42)), (_probes(0.75, {"count": 1.0, "order": 0.6}),
                 _probes(0.73, {"count": 0.95, "order": 0.51})), model)
    assert ship_rule.main(args) == 0
    out = capsys.readouterr().out
    assert "not yet decided: rule(s) 5 not checked" in out and "**no**" not in out
    assert ship_rule.main(args + ["--seconds-per-10s", "4.2", "--speed-source", "bench.md"]) == 0
    assert "Decision: ships: every rule holds." in capsys.readouterr().out


@pytest.mark.parametrize("change, rule", [
    (lambda i, p, q: i[1]["systems"]["Generated"].update(fd_aisfx=95.1), "1"),  # needs <= 0.95 x 100
    (lambda i, p, q: i[1]["systems"]["Generated"].update(kl_aisfx=3.06), "1"),
    (lambda i, p, q: p[1]["summary"]["retrieval"].update({"hit@5": 0.27}), "2"),
    (lambda i, p, q: p[1]["summary"]["continuing"].update(silent_share=0.63), "3"),
    (lambda i, p, q: p[1]["summary"]["continuing"].update(ends_in_cut=0.44), "3"),
    (lambda i, p, q: q[1]["probes"].update(accuracy=0.71), "4"),
    (lambda i, p, q: q[1]["probes"]["accuracy_by_type"].update(order=0.49), "4"),
])
def test_each_rule_fails_past_its_bound(tmp_path, capsys, change, rule):
    items, prompts = (_items(100.0, 3.0), _items(94.0, 3.04)), (_prompts(0.30, 0.10, 0.60, 0.40),
                                                                _prompts(0.30, 0.10, 0.60, 0.40))
    probes = (_probes(0.75, {"count": 1.0, "order": 0.6}), _probes(0.75, {"count": 1.0, "order": 0.6}))
    change(items, prompts, probes)
    assert ship_rule.main(_args(tmp_path, items, prompts, probes)) == 1
    assert f"does not ship: rule(s) {rule} fail" in capsys.readouterr().out


@pytest.mark.parametrize("which, edit, error", [
    ("items", lambda r: r["config"].update(duration=10.0), "differ in duration"),
    ("items", lambda r: r["items"].pop(), "different items"),
    ("prompts", lambda r: r.update(num_samples=1), "differ in num_samples"),
    ("prompts", lambda r: r["rows"][0].update(seed=99), "different prompts or samples"),
    ("probes", lambda r: r["probes"]["count_by_type"].update(count=10), "different probe counts"),
])
def test_runs_not_made_alike_are_refused(tmp_path, capsys, which, edit, error):
    pairs = {"items": (_items(100.0, 3.0), _items(94.0, 3.0)), "prompts": (_prompts(0.3, 0.1, 0.6, 0.4),) * 2,
             "probes": (_probes(0.75, {"count": 1.0}),) * 2}
    pairs = {k: (copy.deepcopy(v[0]), copy.deepcopy(v[1])) for k, v in pairs.items()}
    edit(pairs[which][1])
    assert ship_rule.main(_args(tmp_path, pairs["items"], pairs["prompts"], pairs["probes"])) == 2
    assert error in capsys.readouterr().err


def test_the_rule_selects_on_validation_only(tmp_path, capsys):
    both = (_prompts(0.3, 0.1, 0.6, 0.4, part="test"),) * 2
    assert ship_rule.main(["--prompts", _write(tmp_path, "a", both[0]), _write(tmp_path, "b", both[1])]) == 2
    assert "dev half" in capsys.readouterr().err
    assert ship_rule.main(["--items", _write(tmp_path, "c", _items(1, 1, "test")),
                           _write(tmp_path, "d", _items(1, 1, "test"))]) == 2
    assert "selects on 'val'" in capsys.readouterr().err
