"""How well the codebook can represent real sounds: VQGAN round trip (encode -> codes -> decode) of
reference clips, scored against the clips themselves.

    python scripts/vqgan_reconstruction.py --vqgan DIR --tagger DIR --corpus DIR [--split test]
                                           [--max-items 400 | --sample 400 [--sample-seed 0]] [--duration 5]
                                           [--out FILE.json]

``--sample`` takes the same seeded random subset as ``vividsound evaluate --sample`` (so the ceiling and
the generations are scored on the same clips); ``--max-items`` the first items of the split.

Reports PSNR of the reconstructed log-mels (the paper's way, vividsound.eval.metrics.psnr_per_item),
the Fréchet distance and MMKL on the tagger between reconstructions and references, and codebook usage
(distinct codes used, perplexity). This is the ceiling the GPT prior works under: a generation can be
no closer to real audio than the codebook's reconstructions are.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import torch


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--vqgan", required=True, help="VQGAN component folder (e.g. MODEL/vqgan)")
    ap.add_argument("--tagger", required=True, help="tagger component folder")
    ap.add_argument("--corpus", required=True, help="corpus folder with manifest.jsonl")
    ap.add_argument("--split", default="test")
    ap.add_argument("--max-items", type=int, default=None, help="the first N items (default 400 unless --sample)")
    ap.add_argument("--sample", type=int, default=None, help="a seeded random subset, as vividsound evaluate --sample")
    ap.add_argument("--sample-seed", type=int, default=0)
    ap.add_argument("--duration", type=float, default=5.0)
    ap.add_argument("--out", default=None)
    a = ap.parse_args()

    from vividsound.audio import MelSpectrogram, load_audio, num_frames
    from vividsound.checkpoint import load_component
    from vividsound.data.manifest import read_manifest
    from vividsound.eval import metrics as M

    vq = load_component(a.vqgan, expected="VQGAN").eval()
    tagger = load_component(a.tagger, expected="Tagger").eval()
    cfg = vq.config.mel
    if tagger.mel_config != cfg:
        raise SystemExit("the tagger and the VQGAN use different mel definitions")
    root = Path(a.corpus)
    from vividsound.eval.runner import EvalConfig, select_items

    if a.sample is None and a.max_items is None:
        a.max_items = 400
    items = select_items(read_manifest(root / "manifest.jsonl", split=a.split),
                         EvalConfig(split=a.split, max_items=a.max_items, sample=a.sample, sample_seed=a.sample_seed))
    front = MelSpectrogram(cfg)
    n = int(round(a.duration * cfg.sample_rate))
    frames = num_frames(n, cfg)
    psnr, ref_e, rec_e, ref_p, rec_p, codes = [], [], [], [], [], []
    with torch.no_grad():
        for it in items:
            w = load_audio(it.audio_path(root), cfg.sample_rate)
            w = np.pad(w, (0, max(0, n - len(w))))[:n]
            ref = front(torch.from_numpy(w)[None].float())
            q = vq.encode(vq.pad_mel(ref))
            rec = vq.decode_codes(q.indices)[..., :frames]
            ref = ref[..., :frames]
            codes.append(q.indices.flatten())
            psnr.append(M.psnr_per_item(rec.double().numpy(), ref.double().numpy()))
            ref_e.append(tagger.embed(ref).double().numpy()[0])
            rec_e.append(tagger.embed(rec).double().numpy()[0])
            ref_p.append(tagger.predict(ref).double().numpy()[0])
            rec_p.append(tagger.predict(rec).double().numpy()[0])
    c = torch.cat(codes)
    counts = torch.bincount(c, minlength=vq.config.quantizer.n_codes).double()
    p = counts / counts.sum()
    nz = p[p > 0]
    res = {
        "items": len(items), "split": a.split, "duration": a.duration, "sample": a.sample,
        "sample_seed": a.sample_seed if a.sample else None, "max_items": a.max_items,
        "psnr_db": float(np.concatenate(psnr).mean()),
        "fd_tagger": M.frechet_distance_features(np.stack(ref_e), np.stack(rec_e)),
        "mmkl": M.mmkl(np.stack(ref_p), np.stack(rec_p)[:, None]),
        "codes_used": int((counts > 0).sum()), "n_codes": int(vq.config.quantizer.n_codes),
        "code_perplexity": float(torch.exp(-(nz * nz.log()).sum())),
    }
    print(json.dumps(res, indent=2))
    if a.out:
        Path(a.out).write_text(json.dumps(res, indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
