"""``vividsound finetune``: teach a model your own sounds from a folder of clips (see vividsound.finetune)."""

from __future__ import annotations

import argparse

from vividsound.finetune.trainer import FinetuneConfig

# option -> FinetuneConfig field (left out of the options when not given, so --resume keeps the run's)
_OPTIONS = {"steps": "steps", "minutes": "minutes", "batch_size": "batch_size", "lr": "lr", "rank": "rank",
            "alpha": "alpha", "seed": "seed", "cond_dropout": "cond_dropout", "warmup_steps": "warmup_steps",
            "prior_rows": "prior_rows", "prior_clips": "prior_clips", "prior_compositional": "prior_compositional",
            "prior_full_length": "prior_full_length"}


def add_arguments(p: argparse.ArgumentParser) -> None:
    d = FinetuneConfig()
    p.add_argument("data", metavar="DATA",
                   help="a folder of clips (with metadata.csv: file_name,caption; else file names are the captions), "
                        "a manifest .jsonl, or with --format the audio folder of a dataset")
    p.add_argument("--out", required=True, metavar="DIR", help="folder for the fine-tuned model (adapters only)")
    p.add_argument("--model", metavar="BASE", help="base pipeline folder (default: the bundled model, 'default')")
    p.add_argument("--format", choices=("audiocaps", "clotho", "macs", "folder"),
                   help="DATA is the audio folder of a dataset in this format (as `vividsound corpus import`)")
    p.add_argument("--captions", metavar="FILE", help="with --format: the dataset's caption file")
    p.add_argument("--steps", type=int, metavar="N",
                   help="optimiser steps (default: 30 passes over the clips, at least 100, at most a budget that "
                        "fits 100 clips of 10 s in about 15 minutes on 2 CPU cores)")
    p.add_argument("--minutes", type=float, metavar="M",
                   help="stop training after M minutes and write the model (--resume continues)")
    p.add_argument("--batch-size", type=int, metavar="N", help=f"clips per step (default {d.batch_size})")
    p.add_argument("--lr", type=float, metavar="LR", help=f"learning rate of the adapters (default {d.lr:g})")
    p.add_argument("--rank", type=int, metavar="R", help=f"adapter rank (default {d.rank})")
    p.add_argument("--alpha", type=float, metavar="A", help=f"adapter scale alpha/rank (default {d.alpha:g})")
    p.add_argument("--warmup-steps", type=int, metavar="N", help=f"learning-rate warm-up (default {d.warmup_steps})")
    p.add_argument("--cond-dropout", type=float, metavar="P",
                   help=f"fraction of rows trained without their caption, for --cfg-scale (default {d.cond_dropout:g})")
    p.add_argument("--prior-rows", type=int, metavar="N",
                   help="add N of the base model's own samples (of its corpus's captions) to every step, so it keeps "
                        f"more of what it knew (default {d.prior_rows}; 0 = off)")
    p.add_argument("--prior-clips", type=int, metavar="N",
                   help=f"how many such samples to make first (default {d.prior_clips})")
    p.add_argument("--prior-compositional", type=float, metavar="F",
                   help="share of those samples whose captions are compositions (\"X, then Y\", \"X three times\", "
                        f"\"silence, then X\", ...; default {d.prior_compositional:g})")
    p.add_argument("--prior-full-length", action=argparse.BooleanOptionalAction, default=None,
                   help="make the base's samples as long as its window (10 s for the default), not as long as "
                        "your clips (default: on)")
    p.add_argument("--text-adapter", action="store_true",
                   help="also adapt the text encoder's trained MLP (when the base has one)")
    p.add_argument("--seed", type=int, metavar="N", help=f"random seed (default {d.seed})")
    p.add_argument("--name", help="model name recorded in pipeline.json (default: the --out folder's name)")
    p.add_argument("--resume", action="store_true", help="continue an interrupted run in --out with its settings")
    p.add_argument("--overwrite", action="store_true", help="replace a model this command wrote in --out")
    p.add_argument("--quiet", action="store_true", help="no progress bars")


def run(args: argparse.Namespace) -> int:
    from vividsound.errors import InputError
    from vividsound.finetune.trainer import finetune

    if args.resume and args.overwrite:
        raise InputError("--resume and --overwrite exclude each other")
    if args.captions and not args.format:
        raise InputError("--captions needs --format (audiocaps, clotho, macs or folder)")
    options = {field: getattr(args, opt) for opt, field in _OPTIONS.items() if getattr(args, opt) is not None}
    if args.text_adapter:
        options["text_adapter"] = True
    res = finetune(args.data, args.out, base=args.model, fmt=args.format, captions=args.captions, options=options,
                   resume=args.resume, overwrite=args.overwrite, name=args.name, progress=not args.quiet)
    if res.written:
        state = "done" if res.finished else f"stopped at step {res.step} of {res.steps}"
        print(f"wrote {res.out} ({state}; {len(res.clips)} clips, final loss {res.loss:.3f}): "
              f"vividsound generate \"...\" --model {res.out} -o out.wav")
        return 0
    return 130
