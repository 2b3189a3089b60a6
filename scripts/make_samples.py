"""Write docs/samples/: clips of the default model with their prompts, seeds and spectrogram images.

    python scripts/make_samples.py [--model DIR] [--out docs/samples] [--duration 6] [--seed 0]

Every prompt is generated once with the same seed; nothing is picked from several tries. The clips
are 16-bit FLAC with the prompt, seed and settings embedded (``vividsound.audio.read_audio_metadata``).
"""

from __future__ import annotations

import argparse
import os
import dataclasses
import datetime as _dt
import platform
import time
from pathlib import Path

import torch

PROMPTS = [
    "a dog barks while rain falls",
    "a horse neighs",
    "a cow moos twice",
    "birds chirp near a river",
    "a cello plays a low note",
    "a woman speaks in French",
    "footsteps on a wooden floor",
    "wind blows through the leaves",
]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default=None, help="pipeline folder (default: the installed default model)")
    ap.add_argument("--out", default="docs/samples")
    ap.add_argument("--duration", type=float, default=6.0)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()

    from vividsound.audio import save_audio
    from vividsound.pipeline import TextToSound
    from vividsound.plotting import plot_mels

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    tts = TextToSound.from_pretrained(args.model)
    rows = []
    t0 = time.time()
    for k, prompt in enumerate(PROMPTS, 1):
        res = tts(prompt, duration=args.duration, seed=args.seed)
        stem = f"{k:02d}_" + "_".join(prompt.split()[:4]).replace(",", "")
        save_audio(out / f"{stem}.flac", res.waveform[0], res.sample_rate, res.metadata(0))
        plot_mels(res.mel[:1], [f"{prompt} (seed {args.seed})"], out / f"{stem}.png",
                  sample_rate=res.sample_rate, hop_length=tts.mel_config.hop_length)
        rows.append((prompt, stem))
    wall = time.time() - t0
    threads = torch.get_num_threads()
    lines = [
        "# Samples of the default model",
        "",
        f"Made by `python scripts/make_samples.py --duration {args.duration:g} --seed {args.seed}` on "
        f"{_dt.date.today().isoformat()} ({platform.machine()} CPU, {threads} thread{'s' if threads > 1 else ''}, "
        f"{wall:.0f} s for all {len(rows)} at load average {os.getloadavg()[0]:.1f}: not a speed figure, see "
        f"benchmarks/), model `{tts.name}`, vocoder {type(tts.vocoder).__name__}, "
        f"default sampler settings {dataclasses.asdict(tts.defaults)}.",
        "",
        f"Every prompt was generated once with seed {args.seed}; nothing was chosen among several tries, so "
        "these are typical outputs, failures included. Each FLAC carries its prompt, seed and settings.",
        "",
        "| # | prompt | audio | spectrogram |",
        "|---|---|---|---|",
    ]
    for k, (prompt, stem) in enumerate(rows, 1):
        lines.append(f"| {k} | {prompt} | [{stem}.flac]({stem}.flac) | ![{prompt}]({stem}.png) |")
    (out / "README.md").write_text("\n".join(lines) + "\n", encoding="utf-8")
    print(f"wrote {len(rows)} clips to {out} in {wall:.1f} s")


if __name__ == "__main__":
    main()
