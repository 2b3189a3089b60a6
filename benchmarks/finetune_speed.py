"""How long ``vividsound finetune`` takes with its default settings on 100 clips of 10 s (issue 24).

Writes 100 synthetic 10 s clips (noise bursts and tones with random envelopes: the content does not
change the cost) with a ``metadata.csv``, then fine-tunes the bundled default model on them in this
process: everything a real run does (reading, coding every clip with the VQGAN and its round trip,
encoding the captions, training) but only ``--steps`` optimiser steps. Every step of a run costs the
same (same batch size, same code length), so the default run's time is the measured preparation plus
the measured seconds per step times the default step count; the table gives both the wall time and
the process CPU time (on a machine shared with other work, a one-thread run's CPU time is close to its
wall time on an idle machine).

Run ``OMP_NUM_THREADS=1 PYTHONPATH=src python benchmarks/finetune_speed.py --threads 1``.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np
import soundfile as sf
import torch

from benchmarks.common import RESULTS_DIR, header, loadavg, markdown_table, today

SR = 22050
WORDS = ("hum", "buzz", "whir", "drone", "rumble", "chirp", "tone", "hiss", "crackle", "roar")


def make_clips(folder: Path, n: int, seconds: float, seed: int = 0) -> None:
    """``n`` clips of ``seconds`` each: noise bursts and tones, one caption each, in ``metadata.csv``."""
    rng = np.random.default_rng(seed)
    rows = ["file_name,caption"]
    t = np.arange(int(SR * seconds)) / SR
    for i in range(n):
        env = np.abs(np.sin(2 * np.pi * rng.uniform(0.1, 2.0) * t + rng.uniform(0, 6)))
        tone = np.sin(2 * np.pi * rng.uniform(60, 3000) * t)
        noise = rng.standard_normal(len(t))
        wav = 0.3 * env * (tone if i % 2 else 0.5 * noise)
        sf.write(folder / f"clip_{i:03d}.wav", wav.astype(np.float32), SR)
        rows.append(f"clip_{i:03d}.wav,a {WORDS[i % len(WORDS)]} that rises and falls {'slowly' if i % 3 else 'fast'}")
    (folder / "metadata.csv").write_text("\n".join(rows) + "\n")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--clips", type=int, default=100)
    ap.add_argument("--seconds", type=float, default=10.0)
    ap.add_argument("--steps", type=int, default=30, help="steps actually run (the rest is projected)")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--out", default=None, help="results markdown (default benchmarks/results/finetune-speed-...)")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    load0 = loadavg()
    from vividsound.finetune.trainer import FinetuneConfig, auto_steps, finetune

    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "clips"
        data.mkdir()
        make_clips(data, args.clips, args.seconds)
        res = finetune(data, Path(tmp) / "model", options={"steps": args.steps}, progress=False, log=lambda m: None)
        size = sum(p.stat().st_size for p in (Path(tmp) / "model").iterdir() if p.is_file())
        columns = json.loads((Path(tmp) / "model" / "pipeline.json").read_text())["finetune"]["settings"]["columns"]
    t = res.timings
    d = FinetuneConfig()
    default_steps = auto_steps(args.clips, d.batch_size, 30 + 5 * columns, d.prior_rows)
    rows = []
    for kind in ("wall", "cpu"):
        per_step = t[f"train_{kind}"] / t["steps"]
        total = t[f"prepare_{kind}"] + per_step * default_steps
        rows.append([kind, f"{t[f'prepare_{kind}']:.1f}", f"{per_step:.2f}", default_steps,
                     f"{total:.0f} s ({total / 60:.1f} min)"])
    lines = [f"# vividsound finetune: default settings, {args.clips} clips of {args.seconds:g} s", "",
             *header(torch.device("cpu"), args.threads, load0), "",
             f"Measured: preparation (load the default model, read and code {args.clips} clips, encode captions) and "
             f"{t['steps']} optimiser steps; projected: the default run's {default_steps} steps "
             f"(batch {d.batch_size} of your clips + {d.prior_rows} of the base's own, {columns} code columns "
             f"per example; the preparation includes making the base's {d.prior_clips} clips). "
             f"Adapters written: {size / 1e6:.2f} MB.", "",
             markdown_table(["time", "preparation s", "s / step", "default steps", "default run (projected)"], rows),
             "", f"- load average at the end: {loadavg()}"]
    text = "\n".join(lines) + "\n"
    print(text)
    out = Path(args.out) if args.out else RESULTS_DIR / f"finetune-speed-cpu-{args.threads}threads-{today()}.md"
    out.write_text(text)
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
