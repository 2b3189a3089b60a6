"""Compare VQGAN decoders on real clips, with no GPT in the way: each test clip's log-mel is coded and
decoded by every VQGAN given, rendered by HiFi-GAN, and scored against the clip itself.

    python experiments/decoder_detail.py --vqgan NAME=DIR [--vqgan NAME=DIR ...] --corpus DIR [--sample 100]
                                     [--duration 5] [--out FILE.md]

Per decoder (and for the reference log-mels rendered by the same vocoder, the vocoder's own ceiling):
log-mel PSNR against the reference; "detail", the mean absolute difference between neighbouring frames
(time) and neighbouring bands (frequency) of the decoded log-mel over the reference's active frames
(within 6 nats of its peak), as a ratio to the reference's own (1 = as detailed, < 1 = smoother); the
level bias on those frames (nats); and, on the HiFi-GAN audio, the Fréchet distance and mean KL of the
aiSFX embedder against the reference audio (the evaluator's ``fd_aisfx`` / ``kl_aisfx``).
The encoders must share their codes (as a decoder fine-tune's do) for the rows to compare decoders only.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import torch


def detail(rec: torch.Tensor, ref: torch.Tensor) -> tuple[float, float, float]:
    """(time detail ratio, frequency detail ratio, level bias in nats) of a decoded log-mel ``rec`` against
    the reference ``ref`` (both (1, n_mels, T)), over the reference's active bins (within 6 nats of its peak)."""
    act = ref[0] >= ref[0].max() - 6.0
    cols = act.any(dim=0)

    def dt(x: torch.Tensor) -> torch.Tensor:
        return (x[0, :, 1:] - x[0, :, :-1]).abs()[:, cols[1:]].mean()

    def df(x: torch.Tensor) -> torch.Tensor:
        return (x[0, 1:, :] - x[0, :-1, :]).abs()[:, cols].mean()

    return float(dt(rec) / dt(ref)), float(df(rec) / df(ref)), float((rec[0] - ref[0])[act].mean())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--vqgan", action="append", required=True, metavar="NAME=DIR", help="a VQGAN component folder")
    ap.add_argument("--corpus", required=True, help="corpus folder with manifest.jsonl")
    ap.add_argument("--split", default="test")
    ap.add_argument("--sample", type=int, default=100, help="a seeded random subset, as vividsound evaluate --sample")
    ap.add_argument("--sample-seed", type=int, default=0)
    ap.add_argument("--duration", type=float, default=5.0)
    ap.add_argument("--out", default=None, help="also write the table here")
    a = ap.parse_args()

    from vividsound.audio import MelSpectrogram, load_audio, num_frames
    from vividsound.checkpoint import load_component
    from vividsound.data.manifest import read_manifest
    from vividsound.eval import metrics as M
    from vividsound.eval.aisfx import load_aisfx
    from vividsound.eval.runner import EvalConfig, select_items
    from vividsound.models.vocoders import build_vocoder

    vqs = {}
    for spec in a.vqgan:
        name, _, path = spec.partition("=")
        if not path:
            raise SystemExit(f"--vqgan {spec!r}: write NAME=DIR")
        vqs[name] = load_component(path, expected="VQGAN").eval()
    cfg = next(iter(vqs.values())).config.mel
    if any(v.config.mel != cfg for v in vqs.values()):
        raise SystemExit("the VQGANs use different mel definitions")
    root = Path(a.corpus)
    items = select_items(read_manifest(root / "manifest.jsonl", split=a.split),
                         EvalConfig(split=a.split, sample=a.sample, sample_seed=a.sample_seed))
    front, vocoder, aisfx = MelSpectrogram(cfg), build_vocoder("hifigan", cfg).eval(), load_aisfx()
    head = EvalConfig().aisfx_head  # the evaluator's head for kl_aisfx
    n = int(round(a.duration * cfg.sample_rate))
    frames = num_frames(n, cfg)
    rows = {"vocoder only (reference log-mel)": None, **{k: v for k, v in vqs.items()}}
    acc = {k: {"psnr": [], "dt": [], "df": [], "bias": [], "emb": [], "kl": []} for k in rows}
    ref_emb = []
    with torch.no_grad():
        for it in items:
            w = load_audio(it.audio_path(root), cfg.sample_rate)
            w = np.pad(w, (0, max(0, n - len(w))))[:n]
            wt = torch.from_numpy(w).float()
            ref = front(wt[None])[..., :frames]
            r = aisfx.embed_audio(wt[None], cfg.sample_rate)
            ref_emb.append(r.embedding[0].double().numpy())
            ref_p = r.probs[head][0].double().numpy()
            for name, vq in rows.items():
                rec = ref if vq is None else vq.decode_codes(vq.encode(vq.pad_mel(ref)).indices)[..., :frames]
                d = acc[name]
                d["psnr"].append(float(M.psnr_per_item(rec.double().numpy(), ref.double().numpy()).mean()))
                for k, v in zip(("dt", "df", "bias"), detail(rec, ref)):
                    d[k].append(v)
                audio = vocoder(rec).reshape(1, -1)[:, :n].float()
                g = aisfx.embed_audio(audio, cfg.sample_rate)
                d["emb"].append(g.embedding[0].double().numpy())
                gp = g.probs[head][0].double().numpy()
                d["kl"].append(float(M.categorical_kl(ref_p[None], gp[None])))
    ref_emb = np.stack(ref_emb)
    lines = [f"{len(items)} {a.split} clips (--sample {a.sample}, seed {a.sample_seed}), {a.duration:g} s, HiFi-GAN audio",
             "", "| decoder | log-mel PSNR (dB) | detail, time | detail, frequency | level bias (nats) | FD aisfx | KL aisfx |",
             "|---|---|---|---|---|---|---|"]
    for name, d in acc.items():
        fd = M.frechet_distance_features(ref_emb, np.stack(d["emb"]))
        psnr = "–" if rows[name] is None else f"{np.mean(d['psnr']):.2f}"
        lines.append(f"| {name} | {psnr} | {np.mean(d['dt']):.3f} | {np.mean(d['df']):.3f} | "
                     f"{np.mean(d['bias']):+.3f} | {fd:.1f} | {np.mean(d['kl']):.3f} |")
    text = "\n".join(lines)
    print(text)
    if a.out:
        Path(a.out).write_text(text + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
