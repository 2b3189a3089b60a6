"""``vividsound info``: what a model holds."""

from __future__ import annotations

import argparse
import json
from pathlib import Path


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--model", metavar="DIR", help="pipeline folder (default: the bundled model)")
    p.add_argument("--json", action="store_true", help="print JSON instead of text")


def _folder_size(path: Path) -> int:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file())


def run(args: argparse.Namespace) -> int:
    from vividsound.pipeline import DEFAULT_MODEL_DIR
    from vividsound.pipeline_folder import describe

    info = describe(args.model)  # configs only: no weights read, no text backbone loaded (fast)
    root = Path(args.model) if args.model else DEFAULT_MODEL_DIR
    info["size_bytes"] = {name: _folder_size(root / name) for name in info["components"] if (root / name).is_dir()}
    if args.json:
        print(json.dumps(info, indent=2))
        return 0
    print(f"model: {info['name']}  ({root})")
    for name, c in info["components"].items():
        size = info["size_bytes"].get(name, 0)
        extra = ", ".join(f"{k}={v}" for k, v in c.items() if k not in ("class", "parameters"))
        print(f"  {name:13s} {c['class']:15s} {c['parameters']:>12,d} params  {size / 1e6:7.2f} MB  {extra}")
    g = info["gpt"]
    print(f"  GPT: {g['n_layer']} layers x {g['n_head']} heads x {g['n_embd']} wide, {g['vocab_size']} codes, "
          f"{g['rows']} rows x {g['max_columns']} columns")
    m = info["mel"]
    print(f"  mel: {m['sample_rate']} Hz, n_fft {m['n_fft']}, hop {m['hop_length']}, win {m['win_length']}, "
          f"{m['n_mels']} mels {m['fmin']:g}-{m['fmax']:g} Hz, ln(max(x, {m['log_floor']:g}))")
    print(f"  max duration {info['max_duration']} s; defaults {info['defaults']}")
    return 0
