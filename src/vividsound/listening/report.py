"""``listening-test report``: the paper's Table 3 from the stored ratings.

1. **Attention checks.** On each page a rater saw, the noise clip passes if its relevance is at most
   ``noise_max_relevance``, and the real recording passes if its relevance is at least
   ``reference_min_relevance``. A rater is kept if they passed at least ``min_pass_rate`` of their
   checks; a dropped rater's ratings are left out of everything below.
2. **Means with 95 % intervals.** Mean relevance and quality per condition over the kept ratings, with
   a percentile bootstrap that resamples raters *and* prompts (a two-way cluster bootstrap: a replicate
   draws raters with replacement and prompts with replacement and weights each rating by how often its
   rater and its prompt were drawn). Ratings of one rater, or of one prompt, are not independent, so
   resampling single ratings would give intervals that are too narrow.
3. **Pairwise differences.** For every two rated conditions (not the noise check), the difference of
   their means with its interval from the same replicates (paired by construction). The intervals are
   not corrected for multiple comparisons.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, replace
from typing import Sequence

import numpy as np

from vividsound.errors import InputError
from vividsound.listening.spec import Checks, ListeningTest
from vividsound.listening.store import Rating

__all__ = ["Estimate", "RaterCheck", "ConditionRow", "PairRow", "Report", "screen_raters", "make_report",
           "bootstrap_means"]

METRICS = ("relevance", "quality")


@dataclass(frozen=True)
class Estimate:
    mean: float
    low: float  # 2.5th percentile of the bootstrap replicates (NaN when no replicate had data)
    high: float  # 97.5th percentile


@dataclass(frozen=True)
class RaterCheck:
    rater: str
    pages: int  # pages (prompts) rated
    checks: int  # attention checks seen
    passed: int
    kept: bool


@dataclass(frozen=True)
class ConditionRow:
    condition: str
    kind: str
    n: int  # kept ratings
    relevance: Estimate
    quality: Estimate


@dataclass(frozen=True)
class PairRow:
    a: str
    b: str  # the difference is a - b
    relevance: Estimate
    quality: Estimate


@dataclass(frozen=True)
class Report:
    test: str
    checks: Checks
    raters: list[RaterCheck]
    conditions: list[ConditionRow]
    pairs: list[PairRow]
    n_ratings: int  # kept ratings
    bootstrap: int
    seed: int

    def table(self) -> str:
        """The report as aligned plain text."""
        kept = [r for r in self.raters if r.kept]
        c = self.checks
        out = [f"Listening test {self.test!r}: {self.n_ratings} ratings from {len(kept)} kept rater(s)",
               f"Raters: {len(kept)} kept, {len(self.raters) - len(kept)} dropped by the attention checks "
               f"(noise relevance <= {c.noise_max_relevance}, real recording relevance >= "
               f"{c.reference_min_relevance}, kept if >= {c.min_pass_rate:.0%} of checks passed)",
               f"  {'rater':<12} {'pages':>5} {'checks':>6} {'passed':>6}  kept"]
        out += [f"  {r.rater:<12} {r.pages:>5} {r.checks:>6} {r.passed:>6}  {'yes' if r.kept else 'DROPPED'}"
                for r in self.raters]
        out += ["", f"Mean scores (0-10) with 95 % bootstrap intervals ({self.bootstrap} replicates over raters and "
                    f"prompts, seed {self.seed}):",
                f"  {'condition':<16} {'kind':<10} {'n':>5}  {'relevance':<22} {'quality':<22}"]
        for row in self.conditions:
            out.append(f"  {row.condition:<16} {row.kind:<10} {row.n:>5}  {_fmt(row.relevance):<22} "
                       f"{_fmt(row.quality):<22}")
        if self.pairs:
            out += ["", "Pairwise differences (A - B) with 95 % intervals; * = the interval excludes 0:",
                    f"  {'A - B':<34} {'relevance':<24} {'quality':<24}"]
            for p in self.pairs:
                out.append(f"  {p.a + ' - ' + p.b:<34} {_fmt(p.relevance, True):<24} {_fmt(p.quality, True):<24}")
        return "\n".join(out)

    def csv(self) -> str:
        """Long-format CSV: ``section,name,kind,metric,n,mean,ci_low,ci_high`` (conditions, then differences)."""
        buf = io.StringIO()
        w = csv.writer(buf, lineterminator="\n")
        w.writerow(["section", "name", "kind", "metric", "n", "mean", "ci_low", "ci_high"])
        for row in self.conditions:
            for m in METRICS:
                e: Estimate = getattr(row, m)
                w.writerow(["condition", row.condition, row.kind, m, row.n, _num(e.mean), _num(e.low), _num(e.high)])
        for p in self.pairs:
            for m in METRICS:
                e = getattr(p, m)
                w.writerow(["difference", f"{p.a} - {p.b}", "", m, "", _num(e.mean), _num(e.low), _num(e.high)])
        return buf.getvalue()


def _num(x: float) -> str:
    return "" if np.isnan(x) else f"{x:.4f}"


def _fmt(e: Estimate, signed: bool = False) -> str:
    if np.isnan(e.mean):
        return "-"
    sign = "+" if signed else ""
    ci = "[-]" if np.isnan(e.low) else f"[{e.low:{sign}.2f}, {e.high:{sign}.2f}]"
    star = " *" if signed and not np.isnan(e.low) and (e.low > 0 or e.high < 0) else ""
    return f"{e.mean:{sign}.2f} {ci}{star}"


def screen_raters(test: ListeningTest, ratings: Sequence[Rating], checks: Checks) -> list[RaterCheck]:
    """Apply the attention checks to every rater who rated at least one page."""
    kind = {c.name: c.kind for c in test.conditions}
    pages: dict[str, set[str]] = {}
    seen: dict[str, int] = {}
    passed: dict[str, int] = {}
    for r in ratings:
        pages.setdefault(r.rater, set()).add(r.prompt)
        k = kind.get(r.condition)
        if k == "noise":
            ok = r.relevance <= checks.noise_max_relevance
        elif k == "reference":
            ok = r.relevance >= checks.reference_min_relevance
        else:
            continue
        seen[r.rater] = seen.get(r.rater, 0) + 1
        passed[r.rater] = passed.get(r.rater, 0) + int(ok)
    out = []
    for rater in sorted(pages):
        n, ok = seen.get(rater, 0), passed.get(rater, 0)
        # A test without checks keeps everyone; a rater who saw checks must pass enough of them.
        kept = n == 0 or ok / n >= checks.min_pass_rate - 1e-12
        out.append(RaterCheck(rater, len(pages[rater]), n, ok, kept))
    return out


def bootstrap_means(values: np.ndarray, groups: np.ndarray, n_groups: int, raters: np.ndarray, n_raters: int,
                    prompts: np.ndarray, n_prompts: int, *, replicates: int, seed: int,
                    chunk: int = 250) -> np.ndarray:
    """Two-way cluster bootstrap of group means.

    Args:
        values: (N,) scores; groups: (N,) condition index; raters, prompts: (N,) cluster indices.
    Returns:
        (replicates, n_groups) replicate means; NaN where a replicate drew no rating of a group.
    """
    rng = np.random.default_rng(seed)
    out = np.empty((replicates, n_groups))
    onehot = np.zeros((len(values), n_groups))
    onehot[np.arange(len(values)), groups] = 1.0
    for start in range(0, replicates, chunk):
        b = min(chunk, replicates - start)
        wr = rng.multinomial(n_raters, np.full(n_raters, 1.0 / n_raters), size=b)  # (b, R) draw counts
        wp = rng.multinomial(n_prompts, np.full(n_prompts, 1.0 / n_prompts), size=b)  # (b, P)
        w = (wr[:, raters] * wp[:, prompts]).astype(np.float64)  # (b, N) weight of each rating
        num = (w * values) @ onehot  # (b, G)
        den = w @ onehot
        with np.errstate(invalid="ignore", divide="ignore"):
            out[start : start + b] = np.where(den > 0, num / np.where(den > 0, den, 1.0), np.nan)
    return out


def _interval(reps: np.ndarray, mean: float) -> Estimate:
    ok = reps[~np.isnan(reps)]
    if len(ok) == 0:
        return Estimate(mean, float("nan"), float("nan"))
    lo, hi = np.percentile(ok, [2.5, 97.5])
    return Estimate(mean, float(lo), float(hi))


def make_report(test: ListeningTest, ratings: Sequence[Rating], *, checks: Checks | None = None,
                replicates: int = 2000, seed: int = 0) -> Report:
    """Screen the raters, then estimate every condition's means and the pairwise differences."""
    if isinstance(replicates, bool) or not isinstance(replicates, int) or not 100 <= replicates <= 100_000:
        raise InputError(f"--bootstrap is {replicates!r}; allowed: an integer 100..100000")
    checks = checks or test.checks
    screened = screen_raters(test, ratings, checks)
    kept = {r.rater for r in screened if r.kept}
    rows = [r for r in ratings if r.rater in kept]
    conds = test.conditions
    cidx = {c.name: k for k, c in enumerate(conds)}
    unknown = sorted({r.condition for r in rows} - set(cidx))
    if unknown:
        raise InputError(f"the ratings name condition(s) {unknown} that test.json does not have")
    rater_ids = sorted(kept)
    prompt_ids = sorted({r.prompt for r in rows})
    ri = {r: k for k, r in enumerate(rater_ids)}
    pi = {p: k for k, p in enumerate(prompt_ids)}
    g = np.array([cidx[r.condition] for r in rows], dtype=np.int64)
    rr = np.array([ri[r.rater] for r in rows], dtype=np.int64)
    pp = np.array([pi[r.prompt] for r in rows], dtype=np.int64)
    reps: dict[str, np.ndarray] = {}
    means: dict[str, np.ndarray] = {}
    for m in METRICS:
        v = np.array([getattr(r, m) for r in rows], dtype=np.float64)
        counts = np.bincount(g, minlength=len(conds)) if len(rows) else np.zeros(len(conds))
        sums = np.bincount(g, weights=v, minlength=len(conds)) if len(rows) else np.zeros(len(conds))
        with np.errstate(invalid="ignore", divide="ignore"):
            means[m] = np.where(counts > 0, sums / np.maximum(counts, 1), np.nan)
        reps[m] = (bootstrap_means(v, g, len(conds), rr, len(rater_ids), pp, len(prompt_ids), replicates=replicates,
                                   seed=seed) if len(rows) else np.full((replicates, len(conds)), np.nan))
    n = np.bincount(g, minlength=len(conds)) if len(rows) else np.zeros(len(conds), dtype=int)
    table = [ConditionRow(c.name, c.kind, int(n[k]), *(_interval(reps[m][:, k], float(means[m][k])) for m in METRICS))
             for k, c in enumerate(conds)]
    rated = [k for k, c in enumerate(conds) if c.kind != "noise" and n[k] > 0]
    pairs = []
    for x in range(len(rated)):
        for y in range(x + 1, len(rated)):
            a, b = rated[x], rated[y]
            est = [_interval(reps[m][:, a] - reps[m][:, b], float(means[m][a] - means[m][b])) for m in METRICS]
            pairs.append(PairRow(conds[a].name, conds[b].name, *est))
    return Report(test.name, checks, screened, table, pairs, len(rows), replicates, seed)


def with_overrides(checks: Checks, noise_max: int | None, reference_min: int | None,
                   min_pass_rate: float | None) -> Checks:
    """The test's checks with the report's command-line overrides applied (validated)."""
    kw = {k: v for k, v in (("noise_max_relevance", noise_max), ("reference_min_relevance", reference_min),
                            ("min_pass_rate", min_pass_rate)) if v is not None}
    return replace(checks, **kw)
