"""Everyday sound classes of the corpus and their distinct clips (issue 20, item 6).

Counts, per event class outside speech and musical notes (families speech, voice, music, instruments and
drums are left out), the *distinct* clips: one per recorded source file (pieces of one long file and
byte-identical copies count once) and one per synthesised clip. Recorded files are found through each
source's label table in the given download caches (read only); synthesised clips in a corpus's manifest.

Usage::

    python -m benchmarks.corpus_classes --cache CACHE [--cache CACHE2 ...] [--corpus CORPUS_WITH_SYNTH]
        [--min-clips 20] [--out benchmarks/results/corpus-classes-DATE.md]
"""

from __future__ import annotations

import argparse
import json
import time
from collections import defaultdict
from pathlib import Path

from vividsound.data.labels import EVENTS
from vividsound.data.sources import DEFAULT_SOURCES, SourceError

NOT_EVERYDAY = {"speech", "voice", "music", "instruments", "drums"}


def count_classes(caches: list[Path], corpus: Path | None) -> dict[str, dict]:
    """event -> {"family", "recorded": {source: files}, "synthetic": clips}."""
    table: dict[str, dict] = defaultdict(lambda: {"family": "", "recorded": defaultdict(int), "synthetic": 0})
    for src in DEFAULT_SOURCES.values():
        for cache in caches:
            if not (cache / "pkgs" / getattr(src, "package", src.name) / ".extracted").exists():
                continue
            try:
                clips, _ = src.clips(cache)
            except (SourceError, OSError):
                continue
            for c in clips:
                table[c.event]["family"] = c.family
                table[c.event]["recorded"][src.name] += 1
            break
    if corpus is not None:
        report = json.loads((corpus / "report.json").read_text()) if (corpus / "report.json").is_file() else {}
        dupes = {(r["source"], r["path"]) for r in report.get("duplicates", []) + report.get("reserved", [])}
        seen = set()
        for line in (corpus / "manifest.jsonl").read_text(encoding="utf-8").splitlines():
            it = json.loads(line)
            if it["meta"].get("kind") != "single" or it["source"] != "synth":
                continue
            if it["meta"]["source_file"] in seen:
                continue
            seen.add(it["meta"]["source_file"])
            ev = it["meta"]["events"][0]["label"]
            table[ev]["family"] = it["meta"]["family"]
            table[ev]["synthetic"] += 1
        _drop_duplicates(table, caches, dupes)
    return {k: v for k, v in table.items() if v["family"] not in NOT_EVERYDAY}


def _drop_duplicates(table: dict[str, dict], caches: list[Path], dupes: set[tuple[str, str]]) -> None:
    """Byte-identical copies (and reserved files) that the build skipped do not count as distinct clips."""
    if not dupes:
        return
    for src in DEFAULT_SOURCES.values():
        names = {p for s, p in dupes if s == src.name}
        if not names:
            continue
        for cache in caches:
            if not (cache / "pkgs" / getattr(src, "package", src.name) / ".extracted").exists():
                continue
            clips, _ = src.clips(cache)
            for c in clips:
                if c.key in names:
                    table[c.event]["recorded"][src.name] -= 1
            break


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--cache", action="append", required=True, help="download cache(s) with unpacked packages")
    ap.add_argument("--corpus", default=None, help="a built corpus whose manifest holds the synth clips")
    ap.add_argument("--min-clips", type=int, default=20)
    ap.add_argument("--out", default=f"benchmarks/results/corpus-classes-{time.strftime('%Y-%m-%d')}.md")
    args = ap.parse_args(argv)
    table = count_classes([Path(c) for c in args.cache], Path(args.corpus) if args.corpus else None)
    rows = []
    for ev, v in sorted(table.items(), key=lambda kv: (kv[1]["family"], kv[0])):
        rec = sum(v["recorded"].values())
        total = rec + v["synthetic"]
        srcs = ", ".join(f"{s} {n}" for s, n in sorted(v["recorded"].items()) if n > 0)
        rows.append((ev, v["family"], total, rec, v["synthetic"], srcs))
    ok = [r for r in rows if r[2] >= args.min_clips]
    lines = [f"Everyday classes (not speech, voice, music, instruments, drums): {len(rows)}; with >= {args.min_clips} "
             f"distinct clips: **{len(ok)}** ({sum(1 for r in ok if r[3] == 0)} synthetic only, "
             f"{sum(1 for r in ok if r[4] == 0)} recorded only, {sum(1 for r in ok if r[3] and r[4])} both).", "",
             "| class | family | distinct clips | recorded files | synthetic clips | recorded sources (files) |",
             "|---|---|---|---|---|---|"]
    lines += [f"| {ev} | {fam} | {tot} | {rec} | {syn} | {srcs or '-'} |" for ev, fam, tot, rec, syn, srcs in rows]
    text = "\n".join(lines) + "\n"
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(text, encoding="utf-8")
    print(lines[0])
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
