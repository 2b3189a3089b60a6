"""Put several evaluation reports side by side: one Markdown table, one row per report.

    python -m vividsound.eval.compare NAME=REPORT_DIR [NAME=REPORT_DIR ...] [--original] [--probes]
                                      [--metrics psnr,fd_tagger,...] [--out FILE]

Each report contributes its "Generated" row under NAME; ``--original`` adds the first report's
"Original" row (the reference audio: the best attainable value) and its "Shuffled references" row.
Reports scored on different items, splits, durations or domains are refused: a table only compares
like with like.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any, Sequence

from vividsound.errors import InputError
from vividsound.eval.report import format_value

__all__ = ["load_report", "check_comparable", "compare_table", "main"]

# settings that must agree for two reports to share a table
_SAME = ("split", "num_samples", "max_items", "sample", "sample_seed", "duration", "domain", "seed", "probes_per_type")


def load_report(folder: str | Path) -> dict[str, Any]:
    p = Path(folder)
    p = p / "report.json" if p.is_dir() else p
    if not p.is_file():
        raise InputError(f"no report.json at {p}")
    try:
        return json.loads(p.read_text(encoding="utf-8"))
    except json.JSONDecodeError as e:
        raise InputError(f"{p}: not valid JSON ({e.msg})") from None


def check_comparable(named: Sequence[tuple[str, dict[str, Any]]]) -> None:
    name0, r0 = named[0]
    ids0 = [it["id"] for it in r0.get("items", [])]
    for name, r in named[1:]:
        for k in _SAME:
            a, b = r0.get("config", {}).get(k), r.get("config", {}).get(k)
            if a != b:
                raise InputError(f"reports {name0!r} and {name!r} differ in {k} ({a!r} vs {b!r}); not comparable")
        pa, pb = r0.get("probes"), r.get("probes")
        if isinstance(pa, dict) and isinstance(pb, dict) and pa.get("duration") != pb.get("duration"):
            raise InputError(f"reports {name0!r} and {name!r} generated their probes at different lengths "
                             f"({pa.get('duration')!r} vs {pb.get('duration')!r} s); not comparable")
        if [it["id"] for it in r.get("items", [])] != ids0:
            raise InputError(f"reports {name0!r} and {name!r} were scored on different items; not comparable")


def compare_table(named: Sequence[tuple[str, dict[str, Any]]], *, original: bool = False, probes: bool = False,
                  metrics: Sequence[str] | None = None) -> str:
    """Markdown table: a row per (name, report); columns are metrics (and probe accuracy per type)."""
    if not named:
        raise InputError("compare needs at least one report")
    check_comparable(named)
    info = named[0][1]["metrics"]
    has_systems = any(r.get("systems") for _, r in named)
    keys = list(metrics) if metrics else (list(info) if has_systems else [])
    unknown = [k for k in keys if k not in info]
    if unknown:
        raise InputError(f"unknown metric(s) {unknown}; known: {list(info)}")
    rows: list[tuple[str, dict[str, Any], Any]] = [(n, (r.get("systems") or {}).get("Generated", {}), r.get("probes"))
                                                   for n, r in named]
    if original:
        r0 = named[0][1]
        sys0, p0 = r0.get("systems") or {}, r0.get("probes")
        p0 = p0 if isinstance(p0, dict) and isinstance(p0.get("reference_accuracy_by_type"), dict) else None
        # the probe controls sit in the rows they mirror: references ~ Original, other probes' references ~ Shuffled
        rows.append(("Original (reference audio)", sys0.get("Original", {}), p0 and
                     {"accuracy_by_type": p0["reference_accuracy_by_type"], "accuracy": p0["reference_accuracy"]}))
        rows.append(("Shuffled references", sys0.get("Shuffled references", {}), p0 and
                     {"accuracy_by_type": p0["shuffled_reference_accuracy_by_type"],
                      "accuracy": p0["shuffled_reference_accuracy"]}))
    first = named[0][1].get("probes")
    if probes and isinstance(first, dict) and isinstance(first.get("prompt_blind_bound_by_type"), dict):
        rows.append(("prompt-blind bound (probes)", {}, {"accuracy_by_type": first["prompt_blind_bound_by_type"],
                                                         "accuracy": first["prompt_blind_bound"]}))
    ptypes: list[str] = []
    if probes:
        for _, _, p in rows:
            if isinstance(p, dict):
                ptypes += [t for t in p["accuracy_by_type"] if t not in ptypes]
    head = [f"{info[k]['label']} {'↑' if info[k]['better'] == 'higher' else '↓'}" for k in keys]
    head += [f"probe {t} ↑" for t in ptypes] + (["probes all ↑"] if ptypes else [])
    lines = ["| system | " + " | ".join(head) + " |", "|---|" + "---|" * len(head)]
    for name, sysrow, p in rows:
        cells = [format_value(sysrow.get(k, "–")) for k in keys]
        if ptypes:
            if isinstance(p, dict):
                cells += [format_value(p["accuracy_by_type"].get(t, "")) for t in ptypes]
                cells.append(format_value(p["accuracy"]))
            else:
                cells += ["–"] * (len(ptypes) + 1)
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m vividsound.eval.compare", description=__doc__.splitlines()[0])
    ap.add_argument("reports", nargs="+", metavar="NAME=REPORT_DIR")
    ap.add_argument("--original", action="store_true", help="add the Original and Shuffled references rows")
    ap.add_argument("--probes", action="store_true", help="add probe accuracy columns")
    ap.add_argument("--metrics", default=None, help="comma-separated metric keys (default: all)")
    ap.add_argument("--out", default=None, help="also write the table to this file")
    a = ap.parse_args(argv)
    try:
        named = []
        for spec in a.reports:
            name, sep, folder = spec.partition("=")
            if not sep or not name or not folder:
                raise InputError(f"expected NAME=REPORT_DIR, got {spec!r}")
            named.append((name, load_report(folder)))
        table = compare_table(named, original=a.original, probes=a.probes,
                              metrics=a.metrics.split(",") if a.metrics else None)
    except InputError as e:
        print(f"error: {e}")
        return 2
    print(table, end="")
    if a.out:
        Path(a.out).write_text(table, encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
