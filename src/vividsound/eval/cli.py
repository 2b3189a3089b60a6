"""``vividsound evaluate``: score a model on a corpus split (and the probes) and write a report folder.

    vividsound evaluate --model DIR --corpus DIR [--split test] [--probes DIR] [--num-samples N]
                        [--max-items N | --sample N] [--duration S | --match-reference-length]
                        [--in-house] [--tagger DIR] [--captioner DIR] [--clap DIR]
                        [--batch-size N] [--domain waveform|mel] [--retrieval] --out REPORT_DIR
    vividsound evaluate --model DIR --probes DIR --probes-only [--probe-duration S] --out REPORT_DIR

``--retrieval`` scores the retrieval baseline instead of the model: each prompt plays the training
clip whose caption is nearest in the model's (pooled) text-encoder space. ``--domain mel`` scores the
decoded spectrograms without a vocoder (fast; aisfx and probes need waveforms and are skipped).
``--probes-only`` runs just the probe set (no corpus needed, except for ``--retrieval``); every probe is
generated at ``--probe-duration`` seconds (default 10, capped at the model's longest clip).

Judges. By default the corpus is scored by judges that had no part in training or selecting the model:
the pretrained aiSFX network (FD, KL, IS), PSNR, mel diversity and the rule-based probe checkers. The
project's own helper models are in-house judges, reported in columns labelled "(in-house)": pass them
with ``--tagger`` / ``--clap`` / ``--captioner DIR``, or ``--in-house`` to take the ``tagger``, ``clap``
and ``captioner`` sub-folders of ``--model``. A judge that is asked for but missing makes its metrics
"unavailable: <reason>".

Length. Every item is generated at one length, ``--duration`` (default: the model's default length), and
its reference is cut or silence-padded to it; ``--match-reference-length`` instead generates each item at
its reference's length, which tells the generator something about the answer.
"""

from __future__ import annotations

import argparse
import datetime as _dt
import importlib
from pathlib import Path
from typing import Any

from vividsound.errors import InputError

__all__ = ["add_arguments", "run", "load_components", "manifest_path"]


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--model", required=True, help="pipeline folder (TextToSound.from_pretrained)")
    p.add_argument("--corpus", default=None,
                   help="corpus folder holding manifest.jsonl, or a manifest file (required unless --probes-only)")
    p.add_argument("--split", default="test", choices=["train", "val", "test"],
                   help="manifest split (default test). Choose between candidate models on val; score test "
                        "once for the model you ship")
    p.add_argument("--probes", default=None, help="probe folder holding probes.jsonl")
    p.add_argument("--num-samples", type=int, default=1, help="generations per caption (>= 2 for diversity)")
    p.add_argument("--max-items", type=int, default=None, help="evaluate only the first N items")
    p.add_argument("--sample", type=int, default=None,
                   help="evaluate a random subset of N items of the split (seeded; fairer than --max-items, "
                        "since manifests are grouped by source)")
    p.add_argument("--sample-seed", type=int, default=0, help="seed of the --sample subset (default 0)")
    p.add_argument("--in-house", action="store_true",
                   help="also score with the project's own helper models found under --model (tagger/, clap/, "
                        "captioner/): in-house judges, reported in their own labelled columns")
    p.add_argument("--tagger", default=None, help="in-house tagger component folder (with --in-house: MODEL/tagger)")
    p.add_argument("--captioner", default=None,
                   help="in-house captioner component folder (with --in-house: MODEL/captioner)")
    p.add_argument("--clap", default=None, help="in-house CLAP component folder (with --in-house: MODEL/clap)")
    p.add_argument("--no-aisfx", action="store_true", help="skip the aisfx metrics")
    p.add_argument("--duration", type=float, default=None,
                   help="seconds per generation, the same for every item (default: the model's default length)")
    p.add_argument("--match-reference-length", action="store_true",
                   help="generate each item at its reference clip's length (1-10 s); this tells the generator "
                        "the reference's length, so say so when reporting")
    p.add_argument("--seed", type=int, default=0, help="item i is generated with seed + i")
    p.add_argument("--top-k", type=int, default=None)
    p.add_argument("--top-p", type=float, default=None)
    p.add_argument("--temperature", type=float, default=1.0)
    p.add_argument("--cfg-scale", type=float, default=1.0)
    p.add_argument("--batch-size", type=int, default=1,
                   help="items generated together when their durations are equal (e.g. with --duration); "
                        "does not change the audio")
    p.add_argument("--domain", default="waveform", choices=["waveform", "mel"],
                   help="mel: score decoded log-mels directly, skipping the vocoder (no aisfx, no probes)")
    p.add_argument("--probes-per-type", type=int, default=None, help="run only the first N probes of each type")
    p.add_argument("--probes-only", action="store_true", help="run only the probe set (needs --probes)")
    p.add_argument("--probe-duration", type=float, default=10.0,
                   help="seconds every probe is generated at (default 10, capped at the model's longest clip)")
    p.add_argument("--prompt-set", nargs="?", const="default", default=None, metavar="FILE",
                   help="run the everyday prompt set (default: the bundled one) judged by aiSFX class retrieval "
                        "against real clips of --split, plus silence/cut statistics (docs/MODEL_CARD.md)")
    p.add_argument("--prompt-set-references", action="store_true",
                   help="with --prompt-set: score real reference clips of each prompt's sound instead of a model")
    p.add_argument("--prompt-set-bank", default="heldout", choices=["heldout", "val", "test"],
                   help="with --prompt-set: whose real clips judge the classes (default heldout: val and test, "
                        "every clip no training stage saw)")
    p.add_argument("--prompt-set-min-clips", type=int, default=2,
                   help="with --prompt-set: a class needs this many real clips in the bank to be judged (default 2)")
    p.add_argument("--prompt-set-all", action="store_true",
                   help="with --prompt-set: generate every prompt, also those that give no number with this "
                        "bank (default: only prompts with a judged class or a continuing/once shape)")
    p.add_argument("--prompt-set-scored-only", action="store_true",
                   help="with --prompt-set: only the prompts whose class the bank judges (class retrieval), "
                        "not those kept for their level statistics alone")
    p.add_argument("--threads", type=int, metavar="N",
                   help="CPU threads (default: the CPUs this process may use, at most 8)")
    p.add_argument("--prompt-set-part", default="all", choices=["all", "dev", "test"],
                   help="with --prompt-set: only the dev half (model selection) or the test half (score once) of "
                        "the sounds (default all)")
    p.add_argument("--retrieval", action="store_true",
                   help="evaluate the retrieval baseline (nearest training caption's clip) instead of the model")
    p.add_argument("--retrieval-captions", default="first", choices=["first", "all"],
                   help="captions indexed per training item for --retrieval (default: the first)")
    p.add_argument("--vocoder", default=None,
                   help="replace the model's vocoder: hifigan, griffinlim (fast, for screening) or a folder")
    p.add_argument("--candidates", type=int, default=1, metavar="N",
                   help="generate the best of N clips per sample by a CLAP scorer (candidate 0 is the plain clip)")
    p.add_argument("--scorer", default=None, metavar="DIR",
                   help="CLAP component folder that ranks --candidates (default: the model folder's clap/)")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")
    p.add_argument("--out", required=True, help="report folder to write")


def manifest_path(corpus: str | Path | None) -> Path:
    """The manifest of a corpus argument: the file itself, or ``manifest.jsonl`` inside the folder."""
    if corpus is None:
        raise InputError("--corpus is required (a corpus folder or manifest file)")
    p = Path(corpus)
    if p.is_file():
        return p
    m = p / "manifest.jsonl"
    if not m.is_file():
        raise InputError(f"--corpus {p}: no manifest.jsonl found")
    return m


def _helper(name: str, cls: str, given: str | None, model_dir: Path, reasons: dict[str, str],
            in_house: bool = False) -> Any:
    """Load an in-house helper component given explicitly, or (``in_house``) found under the model folder;
    None (with a reason) if not asked for or absent."""
    from vividsound.checkpoint import load_component

    if not given and not in_house:
        reasons[name] = f"in-house judge not requested (pass --{name} DIR or --in-house)"
        return None
    folder = Path(given) if given else model_dir / name
    if not folder.is_dir():
        if given:
            raise InputError(f"--{name} {folder}: not a folder")
        reasons[name] = f"no {name} (pass --{name} DIR; {folder} does not exist)"
        return None
    return load_component(folder, expected=cls)


def _progress_fn(args: argparse.Namespace, desc: str) -> Any:
    if getattr(args, "no_progress", False):
        return lambda xs: xs
    from tqdm import tqdm

    return lambda xs: tqdm(xs, desc=desc, unit="batch")


def load_components(args: argparse.Namespace, helpers: bool = True) -> Any:
    """Build :class:`~vividsound.eval.runner.Components` from the command-line arguments
    (``helpers=False``: only the generator and the probe checker)."""
    from vividsound.eval.runner import Components

    model_dir = Path(args.model)
    if not model_dir.is_dir():
        raise InputError(f"--model {model_dir}: not a folder")
    try:
        pipeline = importlib.import_module("vividsound.pipeline")
    except ModuleNotFoundError as e:
        if e.name and e.name.startswith("vividsound"):
            raise InputError("this build has no vividsound.pipeline (TextToSound); cannot generate") from None
        raise
    reasons: dict[str, str] = {}
    voc = getattr(args, "vocoder", None)
    gen = pipeline.TextToSound.from_pretrained(str(model_dir), **({"vocoder": voc} if voc else {}))
    if getattr(args, "retrieval", False):
        from vividsound.data.manifest import read_manifest
        from vividsound.eval.retrieval import RetrievalGenerator

        train = read_manifest(manifest_path(args.corpus), split="train")
        if not train:
            raise InputError(f"--retrieval: the manifest {manifest_path(args.corpus)} has no train items")
        bar = _progress_fn(args, "retrieval index")
        model = gen
        gen = RetrievalGenerator(train, manifest_path(args.corpus).parent, model.text_encoder, model.mel_config,
                                 captions=args.retrieval_captions,
                                 cache_file=Path(args.out) / "cache" / "retrieval-index.pt", progress=bar)
        gen.defaults = getattr(model, "defaults", None)  # the same default length as the model it stands in for
    comp = Components(generator=gen, reasons=reasons)
    if not helpers:
        comp.probe_checker = importlib.import_module("vividsound.data.checkers").check
        return comp
    in_house = bool(getattr(args, "in_house", False))
    comp.tagger = _helper("tagger", "Tagger", args.tagger, model_dir, reasons, in_house)
    comp.captioner = _helper("captioner", "Captioner", args.captioner, model_dir, reasons, in_house)
    comp.clap = _helper("clap", "CLAP", args.clap, model_dir, reasons, in_house)

    if args.no_aisfx:
        reasons["aisfx"] = "skipped (--no-aisfx)"
    else:
        from vividsound.errors import CheckpointError
        from vividsound.eval.aisfx import load_aisfx

        try:
            comp.aisfx = load_aisfx()
        except CheckpointError as e:
            reasons["aisfx"] = str(e)

    from vividsound.eval.spice import spice, spice_availability

    avail = spice_availability()
    if avail.available:
        comp.spice = spice
    else:
        reasons["spice"] = avail.reason

    try:
        comp.probe_checker = importlib.import_module("vividsound.data.checkers").check
    except (ImportError, AttributeError) as e:
        reasons["probe_checker"] = f"vividsound.data.checkers.check is not importable ({e})"
    return comp


def _meta(args: argparse.Namespace, **extra: str) -> dict[str, str]:
    """report.json's header: the model (marked when the retrieval baseline stands in for it), the given
    fields and the creation time."""
    return {"model": str(args.model) + (" (retrieval baseline)" if args.retrieval else ""), **extra,
            "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")}


def run(args: argparse.Namespace) -> int:
    from vividsound.data.manifest import read_manifest
    from vividsound.devices import set_threads
    from vividsound.eval.runner import EvalConfig, evaluate, evaluate_probes, read_probes

    set_threads(args.threads)
    cfg = EvalConfig(split=args.split, num_samples=args.num_samples, max_items=args.max_items,
                     sample=args.sample, sample_seed=args.sample_seed,
                     duration=args.duration, match_reference_length=args.match_reference_length, seed=args.seed, top_k=args.top_k, top_p=args.top_p,
                     temperature=args.temperature, cfg_scale=args.cfg_scale, batch_size=args.batch_size,
                     domain=args.domain, probes_per_type=args.probes_per_type, probe_duration=args.probe_duration,
                     vocoder=args.vocoder, candidates=args.candidates, scorer=args.scorer)
    if args.candidates != 1:  # before any slow work: the scorer must be there
        folder = Path(args.scorer) if args.scorer else Path(args.model) / "clap"
        if not (folder / "config.json").is_file():
            raise InputError(f"--candidates {args.candidates} needs a CLAP scorer: {folder} has no config.json "
                             "(pass --scorer DIR, a CLAP component folder)")
        if args.retrieval:
            raise InputError("--candidates ranks a model's samples; the retrieval baseline has none")
    if args.prompt_set:
        return _run_prompt_set(args)
    if args.probes_only:
        if not args.probes:
            raise InputError("--probes-only needs --probes DIR")
        probes = read_probes(args.probes)
        comp = load_components(args, helpers=False)
        rep = evaluate_probes(comp, probes, args.out, cfg, meta=_meta(args, probes=str(args.probes)),
                              show_progress=not args.no_progress)
        out = Path(args.out)
        n = sum(rep["probes"]["count_by_type"].values())
        print(f"wrote {out / 'report.json'}, {out / 'report.md'} ({n} probe clips)")
        return 0
    mpath = manifest_path(args.corpus)
    items = read_manifest(mpath, split=args.split)
    if not items:
        raise InputError(f"--split {args.split}: the manifest {mpath} has no items in this split")
    probes = read_probes(args.probes) if args.probes else None
    comp = load_components(args)
    report = evaluate(comp, items, mpath.parent, args.out, cfg, probes,
                      meta=_meta(args, corpus=str(mpath), split=args.split),
                      show_progress=not args.no_progress)
    out = Path(args.out)
    print(f"wrote {out / 'report.json'}, {out / 'report.md'}, {out / 'spectrograms.png'} "
          f"({report['num_items']} items)")
    return 0


def _run_prompt_set(args: argparse.Namespace) -> int:
    """``--prompt-set``: the everyday prompts, judged by aiSFX class retrieval and level statistics."""
    from vividsound.data.manifest import read_manifest
    from vividsound.eval.aisfx import load_aisfx
    from vividsound.eval.promptset import load_prompt_set
    from vividsound.eval.promptset_eval import evaluate_prompt_set, load_or_build_bank

    if args.prompt_set_all and args.prompt_set_scored_only:
        raise InputError("give --prompt-set-all or --prompt-set-scored-only, not both")
    items = load_prompt_set(None if args.prompt_set == "default" else args.prompt_set)
    size = len(items)
    if args.prompt_set_part != "all":
        items = [it for it in items if it.part == args.prompt_set_part]
    if args.max_items is not None:
        if args.max_items < 1:
            raise InputError(f"--max-items is {args.max_items}; allowed: >= 1")
        items = items[: args.max_items]
    if args.prompt_set_min_clips < 2:
        raise InputError(f"--prompt-set-min-clips is {args.prompt_set_min_clips}; allowed: >= 2")
    from vividsound.eval.promptset_eval import SEED_SLOTS
    from vividsound.pipeline import MAX_SEED

    if not 0 <= args.seed <= MAX_SEED - SEED_SLOTS * args.num_samples:
        raise InputError(f"--seed is {args.seed}; with --prompt-set allowed: 0..{MAX_SEED - SEED_SLOTS * args.num_samples} "
                         "(each prompt's seed is --seed plus a slot from its id)")
    duration = 10.0 if args.duration is None else args.duration
    if not 0 < duration <= 60:
        raise InputError(f"--duration is {duration}; allowed: 0 < duration <= 60")
    mpath = manifest_path(args.corpus)
    out = Path(args.out)
    aisfx = load_aisfx()
    bank = load_or_build_bank(read_manifest(mpath), mpath.parent, aisfx, args.prompt_set_bank, out / "cache",
                              progress=_progress_fn(args, "reference clips"), min_clips=args.prompt_set_min_clips)
    if args.prompt_set_scored_only:
        have = set(bank.labels)
        items = [it for it in items if any(lab in have for lab in it.labels)]
    elif not args.prompt_set_all:
        from vividsound.eval.promptset_eval import measurable

        items = measurable(items, bank)
    if args.prompt_set_references:
        gen, system = None, "reference clips"
    else:
        gen = load_components(args, helpers=False).generator
        system = str(args.model) + (" (retrieval baseline)" if args.retrieval else "") + \
            (" (text removed: cfg-scale 0)" if args.cfg_scale == 0 and not args.retrieval else "") + \
            (f" (best of {args.candidates} by CLAP)" if args.candidates != 1 else "")
    sampler = {"top_k": args.top_k, "top_p": args.top_p, "temperature": args.temperature,
               "cfg_scale": args.cfg_scale}
    rep = evaluate_prompt_set(gen, items, bank, aisfx, out, duration=duration, seed=args.seed,
                              num_samples=args.num_samples, sampler=sampler, batch_size=args.batch_size,
                              references=args.prompt_set_references, system=system,
                              candidates=args.candidates, scorer=args.scorer,
                              meta={"corpus": str(mpath), "prompt_set_size": size, "part": args.prompt_set_part,
                                    "prompt_set": args.prompt_set, "vocoder": args.vocoder},
                              progress=_progress_fn(args, "prompt set"))
    r = rep["summary"]["retrieval"]
    print(f"wrote {out / 'report.json'}, {out / 'report.md'}: hit@1 {r['hit@1']}, hit@5 {r['hit@5']} "
          f"(chance {r['chance@1']}, {r['chance@5']}) on {r['clips']} scored clips")
    return 0
