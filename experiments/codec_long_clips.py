"""Does the codec keep a sound's level on long clips? VQGAN round trips at one clip length, per decoder span.

    python experiments/codec_long_clips.py [--model DIR] --probes DIR --corpus DIR [--seconds 10]
                                       [--spans 0,24,32] [--loudness 30] [--items 40] [--out FILE.md]

For each ``decode_norm_columns`` value in ``--spans`` (0: whole-grid group-norm statistics) the model's
VQGAN codes and decodes, at ``--seconds`` (clips zero-padded or cut):

- the first ``--loudness`` loudness probe references ("X quietly, then loudly" and the reverse), rendered by
  the model's vocoder and scored by the probe checker (the share that still passes: a generator decoded
  this way can do no better on that probe type);
- ``--items`` seeded test-split clips of the corpus (half >= 6 s long, half shorter): mean |error| of the
  log-mel over all frames and over the active frames (within 6 nats of the clip's loudest bin), and the
  mean signed error over the active frames (the level bias: > 0 means decoded louder than the input);
- a 1 s harmonic tone at -6 and -26 dB placed in a 4 s and in a ``--seconds`` clip: the decoded peak
  (log-mel), which should not depend on the clip's length.

A "vocoder only" row renders the references' own mels (the ceiling for the probe column).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import random
import sys
import time
from pathlib import Path

import numpy as np
import torch


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default=None, help="pipeline folder (default: the shipped default model)")
    ap.add_argument("--probes", required=True, help="probe folder (probes.jsonl + refs/)")
    ap.add_argument("--corpus", required=True, help="corpus folder with manifest.jsonl")
    ap.add_argument("--seconds", type=int, default=10)
    ap.add_argument("--spans", default="0,24,32", help="decode_norm_columns values, comma-separated")
    ap.add_argument("--loudness", type=int, default=30)
    ap.add_argument("--items", type=int, default=40)
    ap.add_argument("--out", default=None, help="write the table (Markdown) here too")
    a = ap.parse_args()

    from vividsound.audio import MelSpectrogram, load_audio
    from vividsound.data.checkers import check
    from vividsound.data.manifest import read_manifest
    from vividsound.pipeline import TextToSound

    pipe = TextToSound.from_pretrained(a.model)
    vq, voc = pipe.vqgan.float().eval(), pipe.vocoder.float().eval()
    base = vq.config
    cfg = base.mel
    sr, t = cfg.sample_rate, vq.frames_per_column
    front = MelSpectrogram(cfg)
    spans = [int(s) for s in a.spans.split(",")]

    def mel_of(wav: np.ndarray, seconds: int) -> torch.Tensor:
        x = np.zeros(seconds * sr, np.float32)
        x[: min(wav.size, x.size)] = wav[: x.size]
        m = front(torch.from_numpy(x)[None])
        return m[..., : m.shape[-1] // t * t]

    probe_dir = Path(a.probes)
    probes = [json.loads(line) for line in (probe_dir / "probes.jsonl").read_text(encoding="utf-8").splitlines() if line]
    probes = [p for p in probes if p["type"] == "loudness"][: a.loudness]
    refs = [(p, mel_of(np.asarray(load_audio(probe_dir / p["reference"], sr), np.float32).reshape(-1), a.seconds))
            for p in probes]
    root = Path(a.corpus)
    test = read_manifest(root / "manifest.jsonl", split="test")
    random.Random(0).shuffle(test)
    half = a.items // 2
    chosen = [it for it in test if (it.duration or 0) >= 6][:half] + [it for it in test if (it.duration or 0) < 6][: a.items - half]
    mels = [mel_of(np.asarray(load_audio(it.audio_path(root), sr), np.float32).reshape(-1), a.seconds) for it in chosen]

    tone_t = np.arange(sr) / sr
    tone = sum(np.sin(2 * np.pi * 440 * k * tone_t) / k for k in range(1, 6)) * np.exp(-3 * tone_t)
    tone = (tone / np.abs(tone).max()).astype(np.float32)

    def tone_peak(seconds: int, gain_db: float) -> float:
        x = np.zeros(seconds * sr, np.float32)
        x[sr // 2: sr // 2 + sr] = tone * 10 ** (gain_db / 20)
        out = vq.decode_codes(vq.encode(mel_of(x, seconds)).indices)
        return float(out[..., sr // 2 // cfg.hop_length: 3 * sr // 2 // cfg.hop_length].max())

    rows = []
    t0 = time.time()
    with torch.no_grad():
        ceiling = np.mean([check(voc(m).float()[0].numpy(), sr, p) for p, m in refs])
        rows.append(["vocoder only (no codec)", f"{ceiling:.3f}", "–", "–", "–", "–"])
        codes_refs = [vq.encode(m).indices for _, m in refs]
        codes_items = [vq.encode(m).indices for m in mels]
        for span in spans:
            vq.config = dataclasses.replace(base, decode_norm_columns=span)
            ok = np.mean([check(voc(vq.decode_codes(c)).float()[0].numpy(), sr, p) for (p, _), c in zip(refs, codes_refs)])
            l1, l1a, bias = [], [], []
            for m, c in zip(mels, codes_items):
                d = vq.decode_codes(c) - m
                active = m > m.max() - 6
                l1.append(float(d.abs().mean()))
                l1a.append(float(d.abs()[active].mean()))
                bias.append(float(d[active].mean()))
            tones = " / ".join(f"{tone_peak(4, g):.2f} → {tone_peak(a.seconds, g):.2f}" for g in (-6, -26))
            rows.append([f"codec, decode_norm_columns {span}" + (" (whole grid)" if span == 0 else ""), f"{ok:.3f}",
                         f"{np.mean(l1):.3f}", f"{np.mean(l1a):.3f}", f"{np.mean(bias):+.3f}", tones])
            print(" | ".join(rows[-1]), flush=True)
    vq.config = base
    head = ["decoder", f"loudness probes passing ({len(refs)} refs)", "log-mel L1, all frames",
            "L1, active frames", "level bias, active (nats)", f"tone peak 4 s → {a.seconds} s (-6 dB / -26 dB)"]
    table = "\n".join(["| " + " | ".join(head) + " |", "|" + "---|" * len(head)] + ["| " + " | ".join(r) + " |" for r in rows])
    model = a.model or "the shipped default model"
    text = (f"# Codec round trips at {a.seconds} s\n\n`python {' '.join([Path(sys.argv[0]).as_posix()] + sys.argv[1:])}`"
            f"\n\nModel: {model} (its configured decode_norm_columns: {base.decode_norm_columns}); "
            f"{len(chosen)} test clips, {len(refs)} loudness references; {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, "
            f"{os.cpu_count()} CPUs, torch {torch.__version__}, {time.time() - t0:.0f} s.\n\n{table}\n")
    print(text)
    if a.out:
        Path(a.out).write_text(text, encoding="utf-8")


if __name__ == "__main__":
    main()
