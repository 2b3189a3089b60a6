"""``vividsound corpus``: build the offline corpus, import real dataset formats, cache mels."""

from __future__ import annotations

import argparse
from pathlib import Path

from vividsound.errors import InputError

__all__ = ["add_arguments", "run", "default_sources"]

RENDER_COUNTS = (("note", 1500), ("melody", 1500), ("chord", 1000), ("drums", 1000), ("sfx", 400),
                 ("speech", 2500))


SYNTH_PER_CLASS = 24  # clips per synthesis recipe (>= 20 distinct clips per class, issue 20 item 6)


def default_sources(names: list[str] | None, seed: int, synth_per_class: int = SYNTH_PER_CLASS) -> list:
    """The default sources (Debian packages, renders and synthesis recipes), or the named subset."""
    from vividsound.data.render import RenderSource
    from vividsound.data.sources import DEFAULT_SOURCES
    from vividsound.data.synth import SynthSource

    table = dict(DEFAULT_SOURCES)
    table["rendered"] = RenderSource(seed=seed, counts=RENDER_COUNTS)
    table["synth"] = SynthSource(seed=seed, per_class=synth_per_class)
    if not names:
        return list(table.values())
    unknown = [n for n in names if n not in table]
    if unknown:
        raise InputError(f"--sources: unknown source(s) {unknown}; choose from {sorted(table)}")
    return [table[n] for n in names]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="action", metavar="ACTION", parser_class=type(parser))
    b = sub.add_parser("build", help="fetch the sources and build (or resume) the corpus")
    b.add_argument("--out", required=True, help="corpus folder")
    b.add_argument("--cache", default="", help="download cache (default OUT/cache)")
    b.add_argument("--sources", nargs="*", help="source names (default: all)")
    b.add_argument("--workers", type=int, default=2)
    b.add_argument("--seed", type=int, default=0)
    b.add_argument("--max-items", type=int, default=0, help="quick build: clips per source and mixtures per split")
    b.add_argument("--train-mixtures", type=int, default=46000)
    b.add_argument("--eval-mixtures", type=int, default=1500)
    b.add_argument("--synth-per-class", type=int, default=SYNTH_PER_CLASS,
                   help="clips per procedural synthesis recipe (source 'synth')")
    b.add_argument("--no-progress", action="store_true")
    i = sub.add_parser("import", help="convert AudioCaps / Clotho / MACS / a folder into a manifest")
    i.add_argument("--format", required=True, choices=["audiocaps", "clotho", "macs", "folder"])
    i.add_argument("--captions", required=True, help="the CSV / YAML / JSONL caption file")
    i.add_argument("--audio", required=True, help="folder holding the audio files")
    i.add_argument("--split", default="train", choices=["train", "val", "test"])
    i.add_argument("--out", required=True, help="manifest.jsonl to write")
    i.add_argument("--allow-missing", action="store_true", help="skip items whose audio is missing")
    st = sub.add_parser("stats", help="print a built corpus's counts as Markdown tables")
    st.add_argument("--corpus", required=True, help="corpus folder (reads corpus.json and report.json)")
    c = sub.add_parser("cache", help="compute a sharded fp16 log-mel cache of a manifest")
    c.add_argument("--corpus", required=True, help="corpus folder or manifest.jsonl")
    c.add_argument("--out", required=True, help="cache folder")
    c.add_argument("--mel-preset", default="hifigan")
    c.add_argument("--split", default=None, choices=["train", "val", "test"])
    c.add_argument("--shard-size", type=int, default=2000)
    c.add_argument("--workers", type=int, default=2)


def run(args: argparse.Namespace) -> int:
    if args.action == "build":
        from vividsound.data.builder import BuildConfig, build_corpus

        if args.workers < 1:
            raise InputError(f"--workers must be >= 1, got {args.workers}")
        if args.synth_per_class < 0:
            raise InputError(f"--synth-per-class must be >= 0, got {args.synth_per_class}")
        cfg = BuildConfig(out=args.out, cache=args.cache, seed=args.seed, workers=args.workers,
                          max_items=args.max_items, train_mixtures=args.train_mixtures,
                          eval_mixtures=args.eval_mixtures, progress=not args.no_progress)
        summary = build_corpus(cfg, default_sources(args.sources, args.seed, args.synth_per_class))
        print(f"corpus: {summary['counts']} items, {summary['hours']} hours, in {Path(args.out)}")
        return 0
    if args.action == "import":
        from vividsound.data.readers import import_dataset

        import sys
        from collections import Counter

        n, missing, skipped, notes = import_dataset(args.format, args.captions, args.audio, args.out, args.split,
                                                    allow_missing=args.allow_missing)
        for note in notes:
            print(f"vividsound: note: {note}", file=sys.stderr)
        print(f"wrote {n} items to {args.out}" + (f"; skipped {len(missing)} with missing audio" if missing else ""))
        if skipped:
            reasons = Counter(s["reason"].split(" (")[0] for s in skipped)
            print(f"skipped {len(skipped)} file(s): " + "; ".join(f"{k}: {v}" for k, v in reasons.most_common())
                  + f" (each listed in {Path(args.out).with_name(Path(args.out).stem + '.skipped.json')})")
        return 0
    if args.action == "cache":
        from vividsound.audio import MelConfig
        from vividsound.data.cache import build_mel_cache

        try:
            mel = MelConfig.preset(args.mel_preset)
        except ValueError as e:
            raise InputError(f"--mel-preset: {e}") from None
        if args.workers < 1 or args.shard_size < 1:
            raise InputError(f"--workers and --shard-size must be >= 1, got {args.workers}, {args.shard_size}")
        n = build_mel_cache(args.corpus, args.out, mel, split=args.split, shard_size=args.shard_size,
                            workers=args.workers)
        print(f"mel cache: {n} items in {args.out}")
        return 0
    if args.action == "stats":
        print(corpus_stats_markdown(args.corpus))
        return 0
    raise InputError("corpus: choose an action: build, import, stats or cache")


def corpus_stats_markdown(corpus: str | Path) -> str:
    """Markdown tables of a built corpus: items and hours per split, clips per family and source."""
    import json

    path = Path(corpus) / "corpus.json"
    if not path.is_file():
        raise InputError(f"--corpus: no corpus.json in {corpus} (is the build finished?)")
    s = json.loads(path.read_text(encoding="utf-8"))
    rep_path = Path(corpus) / "report.json"
    rep = json.loads(rep_path.read_text(encoding="utf-8")) if rep_path.is_file() else {}
    lines = ["| split | items | hours |", "|---|---|---|"]
    lines += [f"| {k} | {s['counts'][k]} | {s['hours'][k]} |" for k in s["counts"]]
    lines += ["", "| family | single clips |", "|---|---|"]
    lines += [f"| {k} | {v} |" for k, v in s["single_clips_per_family"].items()]
    lines += ["", "| source | single clips | licence |", "|---|---|---|"]
    lic = {x["name"]: x["licence"] for x in s["sources"]}
    lines += [f"| {k} | {v} | {lic.get(k, '')} |" for k, v in sorted(s["single_clips_per_source"].items())]
    lines += ["", "| relation | mixtures |", "|---|---|"]
    lines += [f"| {k} | {v} |" for k, v in sorted(s["mixtures_per_relation"].items())]
    if rep:
        lines += ["", f"skipped: {len(rep.get('unlabelled', []))} files without a label, "
                      f"{len(rep.get('corrupt', []))} unreadable/silent/too short, "
                      f"{len(rep.get('failed_sources', []))} sources failed"]
    lines += ["", f"build time: {s['build_seconds']} s; held-out combinations: {len(s['heldout_combinations'])}"]
    return "\n".join(lines)
