"""``vividsound train STAGE --config FILE [--set key=value ...] --out RUN_DIR [--resume]``."""

from __future__ import annotations

import argparse

from vividsound.train import STAGES


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("stage", choices=list(STAGES), help="which stage to train")
    parser.add_argument("--config", help="YAML or JSON config (e.g. configs/default/vqgan.yaml), or a "
                        "recipe's stage (e.g. configs/default/recipe.yaml#gpt_gpu); "
                        "omitted: the built-in defaults")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                        help="override a config value, e.g. --set train.steps=100 (repeatable; types are checked)")
    parser.add_argument("--out", required=True, help="run folder (config, logs, checkpoints, export)")
    parser.add_argument("--resume", action="store_true", help="continue the run in --out exactly where it stopped")
    parser.add_argument("--write-pack", metavar="FILE", help="gpt, vqgan and vocos: write what the stage reads into "
                        "one file instead of training (gpt: every train and validation item coded, caches under "
                        "--out; vqgan: 8-bit log-mels of a seeded subset, see --pack-mb; vocos: an excerpt of each "
                        "item's waveform); train on it elsewhere with --set pack=FILE")
    parser.add_argument("--pack-mb", type=float, default=56.0,
                        help="vqgan --write-pack: spectrogram budget in MB before compression (default 56)")


def run(args: argparse.Namespace) -> int:
    from vividsound.train import train

    import os

    import torch.distributed as dist

    if args.write_pack:
        from vividsound.train import write_pack

        path = write_pack(args.stage, args.config, args.out, args.write_pack, overrides=args.overrides,
                          budget_mb=args.pack_mb)
        print(f"wrote {args.stage} pack {path} ({path.stat().st_size / 1e6:.1f} MB)")
        return 0
    export = train(args.stage, args.config, args.out, overrides=args.overrides, resume=args.resume)
    if dist.is_available() and dist.is_initialized():  # launched by torchrun
        dist.destroy_process_group()
    if os.environ.get("RANK", "0") != "0":
        return 0
    if export.is_dir():
        print(f"exported {args.stage} to {export}")
    else:
        print(f"stopped early; continue with --resume (checkpoint in {args.out}/checkpoints/last)")
    return 0
