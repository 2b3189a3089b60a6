"""Does each synthesis recipe sound like its class? An honesty check with an independent judge (aiSFX).

aiSFX (Ma & Lerch, ISMIR 2022; weights CC BY 4.0) was trained on sound-effect libraries and never saw this
project's data. For every recipe we embed a few of its clips from a built corpus, and compare them with the
recorded clips of the corpus's real classes:

* **nearest real classes**: the recorded classes whose mean embedding is closest (cosine) to the recipe's;
* **rank of its counterpart**: where the recorded class of the same kind (``rain_heavy`` -> ``rain``) ranks
  among all recorded classes (1 = nearest), next to the same rank for recorded clips held out of their own
  class's mean (what a real recording reaches);
* **UCS head**: the recipe clips' most frequent top category of aiSFX's 69-way UCS head. The head's class
  names do not ship with the weights, so a category is named by the recorded classes whose clips most
  often land in it.

Usage::

    python -m benchmarks.synth_aisfx --corpus /path/to/corpus-with-synth [--real-corpus DIR --real-cache DIR]
        [--per-recipe 6] [--per-class 30] [--out benchmarks/results/synth-aisfx-DATE]
"""

from __future__ import annotations

import argparse
import json
import time
from collections import Counter, defaultdict
from pathlib import Path

import numpy as np
import torch

from vividsound.audio import load_audio
from vividsound.data.labels import EVENTS
from vividsound.data.sources import DEFAULT_SOURCES, SourceError
from vividsound.data.extract import clip_stem
from vividsound.eval.aisfx import ATTRIBUTION, DEFAULT_HEAD, load_aisfx

SKIP_FAMILIES = {"speech", "music", "instruments", "drums", "voice"}
# recipe -> recorded class of the same kind, where the names differ
COUNTERPART = {
    "rain_light": "rain", "rain_heavy": "rain", "rain_on_roof": "rain", "rain_on_window": "rain",
    "storm_rain_thunder": "storm", "wind_gusts": "wind", "wind_howling": "wind", "breeze": "wind",
    "leaves_rustling": "wind_leaves", "campfire": "fire", "fireplace": "fire", "bonfire_roar": "fire",
    "stream": "river", "tap_running": "river", "boiling_water": "bubbles", "car_idle": "car", "car_revving": "car",
    "car_passing": "car", "car_start": "car", "truck_passing": "car", "motorbike": "car", "motorbike_passing": "car",
    "siren_wail": "siren", "siren_yelp": "siren", "siren_hilo": "siren", "siren_passing": "siren",
    "church_bell": "bell", "hand_bell": "bell", "school_bell": "bell", "phone_ring_old": "bell", "ship_bell": "bell",
    "glass_breaking": "glass_breaking", "door_slam": "door", "door_creak": "door_creak", "hammering_nail": "hammer",
    "hand_saw": "saw", "circular_saw": "saw", "chainsaw": "saw", "electric_drill": "drill",
    "footsteps_concrete": "footsteps", "footsteps_leaves": "footsteps", "footsteps_mud": "footsteps",
    "high_heels": "footsteps", "stairs_climbing": "footsteps", "helicopter": "helicopter", "jet_plane": "plane",
    "propeller_plane": "plane", "train": "train", "subway_train": "train", "crowd_babble": "applause",
    "thunder": "thunder", "waves": "waves", "splash": "splash", "dripping": "drip", "fountain": "fountain",
    "crickets": "crickets", "birds": "birds", "owl": "owl", "frog": "frog", "bee": "bee", "mosquito": "mosquito",
    "applause": "applause", "heartbeat": "heartbeat", "clock": "clock", "knock": "knock", "truck_idle": "truck_idle",
    "electric_hum": "electric_hum", "electric_spark": "electric_spark", "steam_hiss": "steam_hiss",
    "tv_static": "tv_static", "electric_fan": "electric_fan", "kettle": "kettle", "glass": "glass",
}


def _embed(model, clips: list) -> tuple[np.ndarray, np.ndarray]:
    """Unit-norm embeddings (n, 512) and UCS-head top categories (n,) of clips (paths or 22,050 Hz arrays)."""
    embs, tops = [], []
    for p in clips:
        wav = torch.from_numpy(np.asarray(p, dtype=np.float32) if isinstance(p, np.ndarray) else load_audio(p, 22050))
        out = model.embed_audio([wav], 22050)
        e = out.embedding[0].numpy()
        embs.append(e / (np.linalg.norm(e) + 1e-9))
        tops.append(int(out.probs[DEFAULT_HEAD][0].argmax()))
    return np.stack(embs), np.array(tops)


def real_clips(corpora: list[Path], caches: list[Path], per_class: int, seed: int) -> dict[str, list[Path]]:
    """Recorded clips per event (non-speech, non-music), found through each source's label table."""
    by: dict[str, list[Path]] = defaultdict(list)
    for src in DEFAULT_SOURCES.values():
        for cache in caches:
            try:
                clips, _ = src.clips(cache)
            except (SourceError, OSError, FileNotFoundError):
                continue
            for c in clips:
                if c.family in SKIP_FAMILIES:
                    continue
                for corpus in corpora:
                    side = corpus / "clips" / (clip_stem(c) + ".json")
                    if side.is_file():
                        recs = json.loads(side.read_text(encoding="utf-8"))
                        if recs:
                            by[c.event].append(corpus / recs[0]["audio"])
                        break
    rng = np.random.default_rng(seed)
    return {k: [v[i] for i in sorted(rng.permutation(len(v))[:per_class])] for k, v in sorted(by.items())
            if len(set(v)) >= 3}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--corpus", default=None, help="a built corpus with synth clips (clips/synth/...)")
    ap.add_argument("--seed", type=int, default=0, help="without --corpus: synthesise clips 0.. of this build seed")
    ap.add_argument("--real-corpus", action="append", default=[], help="corpora holding recorded clips")
    ap.add_argument("--real-cache", action="append", default=[], help="their download caches (for the labels)")
    ap.add_argument("--per-recipe", type=int, default=6)
    ap.add_argument("--per-class", type=int, default=30)
    ap.add_argument("--out", default=f"benchmarks/results/synth-aisfx-{time.strftime('%Y-%m-%d')}")
    args = ap.parse_args(argv)
    t0 = time.time()
    torch.set_num_threads(1)
    model = load_aisfx()
    corpus = Path(args.corpus) if args.corpus else None
    corpora = [Path(p) for p in args.real_corpus] + ([corpus] if corpus else [])
    caches = [Path(p) for p in args.real_cache] + ([corpus / "cache"] if corpus else [])
    real = real_clips(corpora, caches, args.per_class, 0)
    names = sorted(real)
    r_emb, r_top, r_lab = [], [], []
    for k in names:
        e, t = _embed(model, real[k])
        r_emb.append(e)
        r_top.append(t)
        r_lab += [k] * len(e)
    R = np.concatenate(r_emb)
    T = np.concatenate(r_top)
    lab = np.array(r_lab)
    cent = np.stack([R[lab == k].mean(axis=0) for k in names])
    cent /= np.linalg.norm(cent, axis=1, keepdims=True)
    # what a recording reaches: each real clip against centroids with itself left out of its own class
    real_ranks = []
    sums = {k: R[lab == k].sum(axis=0) for k in names}
    for i in range(len(R)):
        k = names.index(lab[i])
        own = (sums[lab[i]] - R[i]) / max((lab == lab[i]).sum() - 1, 1)
        c2 = cent.copy()
        c2[k] = own / (np.linalg.norm(own) + 1e-9)
        sims = c2 @ R[i]
        real_ranks.append(int((sims > sims[k]).sum()) + 1)
    # name the UCS head's categories by the recorded classes that land in them
    cat_names = {c: [k for k, _ in Counter(lab[T == c]).most_common(2)] for c in np.unique(T)}
    rows = []
    from vividsound.data.synth import RECIPES, synthesise

    synth_dir = corpus / "clips" / "synth" if corpus else None
    for r in sorted(RECIPES):
        if synth_dir is not None:  # the corpus's clips/synth/<recipe>_<i>.flac
            files = sorted(synth_dir.glob(f"{r}_[0-9][0-9][0-9].flac"))[: args.per_recipe]
        else:  # the same audio, made here (the corpus's clips are these, trimmed and 16-bit)
            files = [synthesise({"recipe": r, "index": i, "seed": args.seed}) for i in range(args.per_recipe)]
        if not files:
            continue
        e, t = _embed(model, files)
        m = e.mean(axis=0)
        m /= np.linalg.norm(m)
        sims = cent @ m
        order = np.argsort(-sims)
        cp = r if r in real else COUNTERPART.get(r)
        rank = int(np.flatnonzero(np.array(names)[order] == cp)[0]) + 1 if cp in real else None
        top = Counter(t.tolist()).most_common(1)[0][0]
        rows.append({"recipe": r, "nearest": [names[i] for i in order[:3]], "counterpart": cp if cp in real else None,
                     "rank": rank, "ucs_top": top, "ucs_top_share": round(Counter(t.tolist())[top] / len(t), 2),
                     "ucs_named": cat_names.get(top, [])})
    ranked = [x["rank"] for x in rows if x["rank"] is not None]
    summary = {"recipes": len(rows), "with_counterpart": len(ranked), "real_classes": len(names),
               "real_clips": int(len(R)),
               "synth_counterpart_top1": round(float(np.mean([x == 1 for x in ranked])), 3) if ranked else None,
               "synth_counterpart_top5": round(float(np.mean([x <= 5 for x in ranked])), 3) if ranked else None,
               "synth_counterpart_median_rank": float(np.median(ranked)) if ranked else None,
               "real_heldout_top1": round(float(np.mean([x == 1 for x in real_ranks])), 3),
               "real_heldout_top5": round(float(np.mean([x <= 5 for x in real_ranks])), 3),
               "real_heldout_median_rank": float(np.median(real_ranks)), "seconds": round(time.time() - t0),
               "attribution": ATTRIBUTION}
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "synth_aisfx.json").write_text(json.dumps({"summary": summary, "rows": rows}, indent=1))
    lines = ["| recipe | nearest recorded classes (aiSFX) | counterpart: rank | UCS top category (named by recorded classes) |",
             "|---|---|---|---|"]
    for x in rows:
        cp = f"{x['counterpart']}: {x['rank']}" if x["rank"] else "-"
        lines.append(f"| {x['recipe']} | {', '.join(x['nearest'])} | {cp} | #{x['ucs_top']} "
                     f"({'/'.join(x['ucs_named']) or 'no recorded class'}), {x['ucs_top_share']:.0%} of clips |")
    (out / "synth_aisfx.md").write_text("\n".join(lines) + "\n\n" + json.dumps(summary, indent=1) + "\n")
    print(json.dumps(summary, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
