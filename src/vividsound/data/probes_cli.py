"""``vividsound probes``: build the probe set, or score a folder of generated audio against it."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any, Callable

import numpy as np

from vividsound.errors import InputError

__all__ = ["add_arguments", "run", "corpus_clip_provider", "score_folder"]


def corpus_clip_provider(corpus: str | Path) -> Callable[[str, np.random.Generator], tuple[str, np.ndarray]]:
    """Event sounds from the *test* split's single clips of a corpus (``kind``: short, event, speech:G).

    A clip qualifies as an event when it is one active region (so "k times" counts are well defined).
    """
    from vividsound.audio import load_audio
    from vividsound.data.checkers import segments
    from vividsound.data.manifest import read_manifest
    from vividsound.data.probes import SR

    man = Path(corpus) / "manifest.jsonl" if Path(corpus).is_dir() else Path(corpus)
    items = [it for it in read_manifest(man, split="test") if it.meta.get("kind") == "single"]
    if not items:
        raise InputError(f"--corpus: no single test-split clips in {man}")
    root = man.parent
    cache: dict[str, np.ndarray] = {}

    def load(it: Any) -> np.ndarray:
        if it.id not in cache:
            w = load_audio(it.audio_path(root), SR)
            cache[it.id] = (0.5 * w / (np.abs(w).max() + 1e-9)).astype(np.float32)
        return cache[it.id]

    speech = {g: [it for it in items if it.meta.get("family") == "speech"
                  and it.meta.get("speech", {}).get("speaker") == g and (it.duration or 0) <= 4.0]
              for g in ("man", "woman")}
    # sound events only: pitched music would look like speech to the speech checker, and rendered
    # clips' first captions carry dynamics words that contradict "quietly, then loudly"
    events = [it for it in items if it.meta.get("family") not in ("speech", "music", "voice", "ambience",
                                                                  "instruments", "drums")
              and it.source != "rendered" and (it.duration or 9) <= 3.0]
    short = [it for it in events if (it.duration or 9) <= 1.0]
    if not short or not events:
        raise InputError(f"--corpus: the test split of {man} has too few short event clips")

    def provider(kind: str, rng: np.random.Generator) -> tuple[str, np.ndarray]:
        if kind.startswith("speech:"):
            pool = speech[kind.split(":")[1]]
            if not pool:
                raise InputError(f"--corpus: no {kind.split(':')[1]} speech clips in the test split of {man}")
            it = pool[int(rng.integers(len(pool)))]
            return f"a {kind.split(':')[1]} speaks", load(it)
        pool = short if kind == "short" else events
        for _ in range(50):
            it = pool[int(rng.integers(len(pool)))]
            w = load(it)
            if len(segments(w, SR)) == 1:
                return it.captions[0], w
        raise InputError(f"--corpus: found no single-event {kind} clip in the test split of {man}")

    return provider


def score_folder(probes_dir: str | Path, audio_dir: str | Path) -> dict[str, Any]:
    """Run every probe's checker on ``audio_dir/<probe id>.wav``; returns per-type accuracy."""
    from vividsound.audio import load_audio
    from vividsound.data.checkers import check

    path = Path(probes_dir) / "probes.jsonl"
    if not path.is_file():
        raise InputError(f"--probes: no probes.jsonl in {probes_dir}")
    per: dict[str, list[bool]] = {}
    missing = []
    for line in path.read_text(encoding="utf-8").splitlines():
        p = json.loads(line)
        f = Path(audio_dir) / f"{p['id']}.wav"
        if not f.is_file():
            missing.append(p["id"])
            continue
        per.setdefault(p["type"], []).append(check(load_audio(f, 22050), 22050, p))
    acc = {k: round(sum(v) / len(v), 4) for k, v in per.items()}
    return {"accuracy": acc, "n": {k: len(v) for k, v in per.items()}, "missing": len(missing)}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="action", metavar="ACTION", parser_class=type(parser))
    b = sub.add_parser("build", help="write the probe prompts, ground truth and reference renders")
    b.add_argument("--out", required=True)
    b.add_argument("--seed", type=int, default=0)
    b.add_argument("--n-per-type", type=int, default=100)
    b.add_argument("--corpus", default=None, help="take event sounds from this corpus's test split")
    s = sub.add_parser("score", help="check generated audio (AUDIO/<probe id>.wav) against the probes")
    s.add_argument("--probes", required=True)
    s.add_argument("--audio", required=True)


def run(args: argparse.Namespace) -> int:
    if args.action == "build":
        from vividsound.audio import load_audio
        from vividsound.data.checkers import check
        from vividsound.data.probes import build_probes

        if args.n_per_type < 1:
            raise InputError(f"--n-per-type must be >= 1, got {args.n_per_type}")
        provider = corpus_clip_provider(args.corpus) if args.corpus else None
        probes = build_probes(args.out, seed=args.seed, n_per_type=args.n_per_type, clip_provider=provider)
        per: dict[str, list[bool]] = {}
        for p in probes:
            wav = load_audio(Path(args.out) / p["reference"], 22050)
            per.setdefault(p["type"], []).append(check(wav, 22050, p))
        acc = {k: round(sum(v) / len(v), 4) for k, v in per.items()}
        (Path(args.out) / "summary.json").write_text(json.dumps(
            {"n": len(probes), "seed": args.seed, "corpus": args.corpus, "reference_accuracy": acc}, indent=1))
        print(f"{len(probes)} probes in {args.out}; checker accuracy on the references: {acc}")
        return 0
    if args.action == "score":
        res = score_folder(args.probes, args.audio)
        print(json.dumps(res))
        return 0
    raise InputError("probes: choose an action: build or score")
