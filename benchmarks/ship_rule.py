"""Apply the default model's ship rule to a candidate and the shipped model's evaluation reports.

The rule (benchmarks/results/default-model-2026-12-04/ship-rule.md, written before any candidate was
scored) decides on independent judges only, on the validation side; this script reads the reports that
`vividsound evaluate` wrote for both models with the same command, refuses pairs that were not run alike,
and prints one table: each rule, both values, the bound and whether the candidate keeps it. Exit status 0
when every rule that was given its reports holds, 1 when one fails, 2 for reports that cannot be compared.

    python -m benchmarks.ship_rule \\
        --items SHIPPED_VAL200 CANDIDATE_VAL200 \\        # evaluate --split val --sample 200 --duration 5
        --prompts SHIPPED_DEV CANDIDATE_DEV \\            # evaluate --prompt-set --prompt-set-part dev --num-samples 3 --duration 10
        --probes SHIPPED_PROBES CANDIDATE_PROBES \\       # evaluate --probes P --probes-only --probes-per-type 20 --probe-duration 10
        --candidate-model DIR [--seconds-per-10s S --speed-source FILE] [--out FILE.md]

Rule 5's speed bound needs a figure from the speed benchmark on an idle 2-core CPU (`--seconds-per-10s`,
with the benchmark table it came from); without it the rule is reported as not checked, and the
decision is "not yet". A decoder-only candidate's codec rule is judged by experiments/decoder_detail.py.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from vividsound.errors import InputError
from vividsound.eval.compare import check_comparable, load_report

WEIGHTS_MB = 40.0
SECONDS_PER_10S = 5.0


@dataclass
class Check:
    rule: str
    what: str
    shipped: float | None
    candidate: float | None
    bound: str
    ok: bool | None  # None: not checked


def _num(x: Any, where: str) -> float:
    if not isinstance(x, (int, float)) or x != x:
        raise InputError(f"{where}: no number in the report (got {x!r})")
    return float(x)


def item_checks(shipped: dict, cand: dict) -> list[Check]:
    """Rule 1: FD aiSFX <= 0.95 x shipped, KL aiSFX <= shipped + 0.05 (200 seeded val items, 5 s)."""
    check_comparable([("shipped", shipped), ("candidate", cand)])
    cfg = shipped.get("config", {})
    if cfg.get("split") != "val":
        raise InputError(f"item reports are on the {cfg.get('split')!r} split: the rule selects on 'val'")
    g0, g1 = (r.get("systems", {}).get("Generated", {}) for r in (shipped, cand))
    fd0, fd1 = _num(g0.get("fd_aisfx"), "shipped FD aiSFX"), _num(g1.get("fd_aisfx"), "candidate FD aiSFX")
    kl0, kl1 = _num(g0.get("kl_aisfx"), "shipped KL aiSFX"), _num(g1.get("kl_aisfx"), "candidate KL aiSFX")
    n = len(shipped.get("items", []))
    return [Check("1", f"FD aiSFX ({n} val items)", fd0, fd1, f"<= {0.95 * fd0:.3f}", fd1 <= 0.95 * fd0),
            Check("1", f"KL aiSFX ({n} val items)", kl0, kl1, f"<= {kl0 + 0.05:.3f}", kl1 <= kl0 + 0.05)]


_PROMPT_SAME = ("prompt_set_size", "num_samples", "duration", "seed", "sampler", "vocoder", "bank")


def prompt_checks(shipped: dict, cand: dict) -> list[Check]:
    """Rules 2-3 on the prompt set's dev half: hit@5 and hit@1 >= shipped - 0.02; continuing prompts'
    silent share <= shipped + 0.02 and share ending in a cut <= shipped + 0.03."""
    for k in _PROMPT_SAME:
        if shipped.get(k) != cand.get(k):
            raise InputError(f"prompt-set reports differ in {k} ({shipped.get(k)!r} vs {cand.get(k)!r}); not comparable")
    key = [(r.get("id"), r.get("seed")) for r in shipped.get("rows", [])]
    if key != [(r.get("id"), r.get("seed")) for r in cand.get("rows", [])]:
        raise InputError("prompt-set reports hold different prompts or samples; not comparable")
    parts = {r.get("part") for r in shipped.get("rows", [])}
    if parts != {"dev"}:
        raise InputError(f"prompt-set reports cover the parts {sorted(map(str, parts))}: the rule selects on the dev half "
                         "alone (--prompt-set-part dev)")
    s0, s1 = shipped["summary"], cand["summary"]
    out = []
    n = s0["retrieval"]["clips"]
    for h in ("hit@5", "hit@1"):
        a, b = _num(s0["retrieval"][h], f"shipped {h}"), _num(s1["retrieval"][h], f"candidate {h}")
        out.append(Check("2", f"class retrieval {h} (dev, {n} scored clips)", a, b, f">= {a - 0.02:.3f}", b >= a - 0.02))
    c0, c1 = s0["continuing"], s1["continuing"]
    n = c0["clips"]
    a, b = _num(c0["silent_share"], "shipped silent share"), _num(c1["silent_share"], "candidate silent share")
    out.append(Check("3", f"continuing: silent share ({n} clips)", a, b, f"<= {a + 0.02:.3f}", b <= a + 0.02))
    a, b = _num(c0["ends_in_cut"], "shipped ends in a cut"), _num(c1["ends_in_cut"], "candidate ends in a cut")
    out.append(Check("3", f"continuing: ends in a cut ({n} clips)", a, b, f"<= {a + 0.03:.3f}", b <= a + 0.03))
    return out


def probe_checks(shipped: dict, cand: dict) -> list[Check]:
    """Rule 4: probes overall >= shipped - 0.03, no type more than 0.10 below the shipped model's."""
    check_comparable([("shipped", shipped), ("candidate", cand)])
    p0, p1 = shipped.get("probes"), cand.get("probes")
    if not isinstance(p0, dict) or not isinstance(p1, dict):
        raise InputError("probe reports without probe results (evaluate --probes DIR --probes-only)")
    if p0.get("count_by_type") != p1.get("count_by_type"):
        raise InputError("probe reports scored different probe counts per type; not comparable")
    n = sum(p0.get("count_by_type", {}).values())
    a, b = _num(p0.get("accuracy"), "shipped probe accuracy"), _num(p1.get("accuracy"), "candidate probe accuracy")
    out = [Check("4", f"probes overall ({n} probes)", a, b, f">= {a - 0.03:.3f}", b >= a - 0.03)]
    for t in sorted(p0["accuracy_by_type"]):
        a, b = _num(p0["accuracy_by_type"][t], f"shipped {t}"), _num(p1["accuracy_by_type"].get(t), f"candidate {t}")
        out.append(Check("4", f"probes: {t} ({p0['count_by_type'][t]})", a, b, f">= {a - 0.10:.3f}", b >= a - 0.10))
    return out


def budget_checks(model: Path | None, seconds: float | None, source: str | None) -> list[Check]:
    """Rule 5: shipped weights <= 40 MB; a 10 s clip <= 5 s wall on an idle 2-core CPU (from the benchmark)."""
    out = []
    if model is not None:
        if not model.is_dir():
            raise InputError(f"--candidate-model {model}: no such folder")
        mb = sum(p.stat().st_size for p in model.rglob("*") if p.is_file()) / 1e6
        out.append(Check("5", "weights shipped (MB)", None, mb, f"<= {WEIGHTS_MB:.0f}", mb <= WEIGHTS_MB))
    if seconds is not None:
        if not source:
            raise InputError("--seconds-per-10s needs --speed-source (the benchmark table it was read from)")
        out.append(Check("5", f"s per 10 s clip, idle 2-core CPU ({source})", None, seconds,
                         f"<= {SECONDS_PER_10S:.0f}", seconds <= SECONDS_PER_10S))
    else:
        out.append(Check("5", "s per 10 s clip, idle 2-core CPU", None, None, f"<= {SECONDS_PER_10S:.0f}", None))
    return out


def table(checks: list[Check]) -> str:
    def f(x):
        return "" if x is None else f"{x:.3f}"

    lines = ["| rule | measure | shipped | candidate | bound | kept |", "|---|---|---|---|---|---|"]
    for c in checks:
        lines.append(f"| {c.rule} | {c.what} | {f(c.shipped)} | {f(c.candidate)} | {c.bound} | "
                     f"{'not checked' if c.ok is None else ('yes' if c.ok else '**no**')} |")
    failed = [c for c in checks if c.ok is False]
    missing = {"1", "2", "3", "4", "5"} - {c.rule for c in checks} | {c.rule for c in checks if c.ok is None}
    verdict = ("ships: every rule holds" if not failed and not missing else
               f"does not ship: rule(s) {', '.join(sorted({c.rule for c in failed}))} fail" if failed else
               f"not yet decided: rule(s) {', '.join(sorted(missing))} not checked")
    return "\n".join(lines) + f"\n\nDecision: {verdict}.\n"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--items", nargs=2, metavar=("SHIPPED", "CANDIDATE"), help="val item reports (rule 1)")
    p.add_argument("--prompts", nargs=2, metavar=("SHIPPED", "CANDIDATE"), help="dev-half prompt-set reports (2-3)")
    p.add_argument("--probes", nargs=2, metavar=("SHIPPED", "CANDIDATE"), help="probe reports (rule 4)")
    p.add_argument("--candidate-model", type=Path, help="the candidate's pipeline folder (rule 5: weights)")
    p.add_argument("--seconds-per-10s", type=float, help="the candidate's wall seconds per 10 s clip (rule 5)")
    p.add_argument("--speed-source", help="the benchmark table that figure comes from")
    p.add_argument("--out", type=Path, help="also write the table here (Markdown)")
    a = p.parse_args(argv)
    try:
        checks: list[Check] = []
        if a.items:
            checks += item_checks(*(load_report(x) for x in a.items))
        if a.prompts:
            checks += prompt_checks(*(load_report(x) for x in a.prompts))
        if a.probes:
            checks += probe_checks(*(load_report(x) for x in a.probes))
        checks += budget_checks(a.candidate_model, a.seconds_per_10s, a.speed_source)
    except InputError as e:
        print(f"ship_rule: {e}", file=sys.stderr)
        return 2
    text = table(checks)
    print(text, end="")
    if a.out:
        a.out.write_text(text, encoding="utf-8")
    return 1 if any(c.ok is False for c in checks) else 0


if __name__ == "__main__":
    sys.exit(main())
