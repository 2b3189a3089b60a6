"""The report: attention-check screening, bootstrap intervals, paired differences, CSV."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import numpy as np
import pytest

from vividsound.errors import InputError
from vividsound.listening.report import bootstrap_means, make_report, screen_raters, with_overrides
from vividsound.listening.spec import Checks, Clip, Condition, ListeningTest, Prompt
from vividsound.listening.store import Rating

CONDS = [("A", "system"), ("B", "system"), ("reference", "reference"), ("noise", "noise")]


def _test(n_prompts: int = 4, checks: Checks = Checks(), conds=CONDS) -> ListeningTest:
    prompts = [Prompt(f"p{i:03d}", f"prompt {i}") for i in range(n_prompts)]
    clips = [Clip(f"{c}-{p.id}", p.id, c, 0, 0) for p in prompts for c, _ in conds]
    return ListeningTest(id="x", name="unit", created="", duration=1.0, sample_rate=16000, seed=0, per_prompt=1,
                         loudness_dbfs=None, checks=checks, conditions=[Condition(n, k) for n, k in conds],
                         prompts=prompts, clips=clips, complete=True, root=Path("."))


def _r(rater: str, prompt: str, cond: str, rel: int, q: int) -> Rating:
    return Rating(rater, prompt, f"{cond}-{prompt}", cond, rel, q, "t", "1")


def _rater(name: str, test: ListeningTest, a: int, b: int, ref: int = 9, noise: int = 0) -> list[Rating]:
    out = []
    for p in test.prompts:
        out += [_r(name, p.id, "A", a, a), _r(name, p.id, "B", b, b), _r(name, p.id, "reference", ref, 8),
                _r(name, p.id, "noise", noise, 0)]
    return out


def test_attention_checks_keep_and_drop_at_the_thresholds():
    t = _test(n_prompts=4, checks=Checks(noise_max_relevance=3, reference_min_relevance=5, min_pass_rate=0.75))
    ratings = (_rater("r-good", t, 5, 5) + _rater("r-bad", t, 5, 5, ref=2, noise=9)
               + _rater("r-edge", t, 5, 5, ref=5, noise=3))  # exactly at both thresholds: passes
    # r-mixed fails the noise check on 2 of 4 pages: 6 of 8 checks = 75 % -> kept; r-worse fails 3: 62.5 % -> dropped
    mixed = _rater("r-mixed", t, 5, 5)
    worse = _rater("r-worse", t, 5, 5)
    for rows, bad_pages in ((mixed, 2), (worse, 3)):
        for k in range(bad_pages):
            i = next(j for j, r in enumerate(rows) if r.condition == "noise" and r.prompt == t.prompts[k].id)
            rows[i] = _r(rows[i].rater, rows[i].prompt, "noise", 4, 0)
    got = {r.rater: r for r in screen_raters(t, ratings + mixed + worse, t.checks)}
    assert {k: v.kept for k, v in got.items()} == {"r-good": True, "r-bad": False, "r-edge": True,
                                                    "r-mixed": True, "r-worse": False}
    assert (got["r-mixed"].checks, got["r-mixed"].passed, got["r-mixed"].pages) == (8, 6, 4)
    assert (got["r-bad"].checks, got["r-bad"].passed) == (8, 0)


def test_dropped_raters_are_left_out_of_the_means():
    t = _test()
    rep = make_report(t, _rater("r-good", t, 7, 3) + _rater("r-bad", t, 0, 10, ref=0, noise=10), replicates=200)
    rows = {r.condition: r for r in rep.conditions}
    assert rows["A"].relevance.mean == 7 and rows["B"].quality.mean == 3 and rows["A"].n == 4
    assert [r.rater for r in rep.raters if not r.kept] == ["r-bad"] and rep.n_ratings == 16


def test_a_test_without_checks_keeps_every_rater():
    t = _test(conds=[("A", "system"), ("B", "system")])
    ratings = [_r("r1", p.id, c, 0, 0) for p in t.prompts for c in ("A", "B")]
    assert [(r.kept, r.checks) for r in screen_raters(t, ratings, t.checks)] == [(True, 0)]


def test_bootstrap_interval_is_seeded_and_brackets_the_mean():
    t = _test(n_prompts=6)
    rng = np.random.default_rng(1)
    ratings = []
    for k in range(5):
        for p in t.prompts:
            a, b = rng.integers(3, 9, size=2)
            ratings += [_r(f"r{k}", p.id, "A", int(a), int(b)), _r(f"r{k}", p.id, "B", int(b), int(a)),
                        _r(f"r{k}", p.id, "reference", 9, 9), _r(f"r{k}", p.id, "noise", 0, 0)]
    one = make_report(t, ratings, replicates=500, seed=3)
    two = make_report(t, ratings, replicates=500, seed=3)
    other = make_report(t, ratings, replicates=500, seed=4)
    assert one == two
    a1 = one.conditions[0].relevance
    assert other.conditions[0].relevance != a1
    assert a1.mean == pytest.approx(np.mean([r.relevance for r in ratings if r.condition == "A"]))
    assert a1.low < a1.mean < a1.high and a1.high - a1.low < 3
    # A constant condition cannot move in any replicate.
    ref = one.conditions[2]
    assert (ref.relevance.low, ref.relevance.high) == (9, 9)


def test_bootstrap_over_raters_widens_intervals_when_raters_differ():
    """Ratings of one rater are not independent: resampling raters must show rater-to-rater spread
    that resampling single ratings hides."""
    n_r, n_p = 8, 10
    rng = np.random.default_rng(0)
    offsets = rng.normal(0, 2.0, n_r)  # each rater's own leniency
    raters = np.repeat(np.arange(n_r), n_p)
    prompts = np.tile(np.arange(n_p), n_r)
    values = 5 + offsets[raters] + rng.normal(0, 0.3, n_r * n_p)
    groups = np.zeros(n_r * n_p, dtype=np.int64)
    reps = bootstrap_means(values, groups, 1, raters, n_r, prompts, n_p, replicates=2000, seed=0)[:, 0]
    naive = np.array([values[rng.integers(0, len(values), len(values))].mean() for _ in range(2000)])
    assert reps.std() > 2.5 * naive.std()
    # ... and comes close to the rater-level standard error it should estimate.
    rater_means = values.reshape(n_r, n_p).mean(axis=1)
    assert reps.std() == pytest.approx(rater_means.std(ddof=0) / np.sqrt(n_r), rel=0.25)


def test_pairwise_difference_is_paired():
    """B is A + 2 on every page: the difference's interval is exactly [2, 2] however much A varies."""
    t = _test(n_prompts=5)
    ratings = []
    for k in range(3):
        for i, p in enumerate(t.prompts):
            a = (i * 3 + k * 2) % 8
            ratings += [_r(f"r{k}", p.id, "A", a, a), _r(f"r{k}", p.id, "B", a + 2, a),
                        _r(f"r{k}", p.id, "reference", 9, 9), _r(f"r{k}", p.id, "noise", 0, 0)]
    rep = make_report(t, ratings, replicates=300)
    ab = next(p for p in rep.pairs if (p.a, p.b) == ("A", "B"))
    assert (ab.relevance.mean, ab.relevance.low, ab.relevance.high) == pytest.approx((-2, -2, -2))
    assert (ab.quality.mean, ab.quality.low, ab.quality.high) == pytest.approx((0, 0, 0))
    a = next(c for c in rep.conditions if c.condition == "A")
    assert a.relevance.high - a.relevance.low > 1  # A itself is uncertain
    assert not any("noise" in (p.a, p.b) for p in rep.pairs)
    assert len(rep.pairs) == 3  # A-B, A-reference, B-reference
    line = next(x for x in rep.table().splitlines() if x.strip().startswith("A - B ") and "relevance" not in x)
    assert "-2.00 [-2.00, -2.00] *" in line and "+0.00 [+0.00, +0.00]" in line


def test_csv_holds_every_condition_and_difference():
    t = _test()
    rep = make_report(t, _rater("r1", t, 6, 4), replicates=200)
    rows = list(csv.DictReader(io.StringIO(rep.csv())))
    assert {(r["section"], r["name"], r["metric"]) for r in rows} >= {
        ("condition", "A", "relevance"), ("condition", "noise", "quality"), ("difference", "A - B", "quality")}
    a = next(r for r in rows if r["name"] == "A" and r["metric"] == "relevance")
    assert (float(a["mean"]), int(a["n"]), a["kind"]) == (6.0, 4, "system")
    assert len(rows) == 2 * (len(CONDS) + 3)


def test_no_ratings_gives_an_empty_table_not_an_error():
    rep = make_report(_test(), [], replicates=100)
    assert rep.n_ratings == 0 and all(np.isnan(c.relevance.mean) for c in rep.conditions)
    assert "0 kept, 0 dropped" in rep.table()


def test_report_options_are_checked():
    with pytest.raises(InputError, match="--bootstrap is 5"):
        make_report(_test(), [], replicates=5)
    with pytest.raises(InputError, match="noise_max_relevance must be an integer 0..10, got 12"):
        with_overrides(Checks(), 12, None, None)
    with pytest.raises(InputError, match="min_pass_rate"):
        with_overrides(Checks(), None, None, 1.5)
    assert with_overrides(Checks(), None, 7, None) == Checks(reference_min_relevance=7)
