"""The offline corpus builder: fetch -> extract -> split -> singles -> mixtures -> manifest.

Every stage is idempotent: fetched packages carry a stamp, each extracted clip and each mixture is a file
written atomically (plus a sidecar for clips), and a rerun skips what exists. Because recipes are drawn
from a seeded generator over the (deterministic) clip list, an interrupted build resumed later ends with
the same manifest as an uninterrupted one. A first build publishes the manifest of single clips as soon
as they exist; the full manifest replaces it (atomically) at the end. A rerun keeps the old manifest in
place until the new one is complete.
"""

from __future__ import annotations

import hashlib
import json
import multiprocessing as mp
import shutil
import time
import zlib
from collections import Counter
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np
from tqdm import tqdm

from vividsound.audio import load_audio, read_audio_metadata, save_audio
from vividsound.checkpoint import atomic_write_text
from vividsound.data.captions import clip_info, single_captions
from vividsound.data.extract import RESERVED_REASON, extract_clip
from vividsound.data.manifest import ManifestItem, write_manifest
from vividsound.data.mixtures import Pool, draw_recipe, render_mixture
from vividsound.data.sources import RawClip, Source, SourceError

__all__ = ["BuildConfig", "build_corpus", "assign_splits"]

SR = 22050


@dataclass(frozen=True)
class BuildConfig:
    """Settings of one corpus build."""

    out: str  # corpus folder (manifest.jsonl, clips/, mixtures/, SOURCES.md, report.json)
    cache: str = ""  # download/unpack cache; default OUT/cache
    seed: int = 0  # seed of splits, captions, renders and mixtures
    workers: int = 2  # worker processes for extraction and mixing
    max_items: int = 0  # >0: at most this many raw clips per source and mixtures per split (quick builds)
    train_mixtures: int = 46000  # mixtures drawn from the train split
    eval_mixtures: int = 1500  # mixtures drawn from each of val and test
    heldout_triples: int = 16  # (A, relation, B) combinations kept out of train
    split_fractions: tuple[float, float] = (0.05, 0.05)  # val, test share of source files per family
    relation_weights: tuple[tuple[str, float], ...] = (
        ("background", 0.18), ("then", 0.2), ("then_and", 0.12), ("k_times", 0.14), ("over_music", 0.1),
        ("speech_then", 0.12), ("quiet_loud", 0.14))  # how often each relation is drawn
    # train-only mixtures added after the ones above, from their own seeds (so every other item stays as
    # it was): per relation, a share of train_mixtures. Added 2026-11-27: the main draw has loudness
    # only as "A quietly, then B loudly", never louder-first and never one sound at two levels.
    supplement: tuple[tuple[str, float], ...] = (
        ("loud_quiet", 0.04), ("quiet_loud_same", 0.03), ("loud_quiet_same", 0.03))
    # train-only items of sounds that go on, drawn after the supplement from their own seeds (seed, 4, k, i):
    # "continuous" (one sound looped to 5-10 s) and "repeated" (a short sound again and again across 5-10 s),
    # so that a request for rain or a barking dog learns to fill the time asked. Shares of train_mixtures.
    fill: tuple[tuple[str, float], ...] = (("continuous", 0.08), ("repeated", 0.04))
    progress: bool = True  # show tqdm bars


def _h(*parts: Any) -> int:
    return zlib.crc32("\x1f".join(map(str, parts)).encode())


def assign_splits(units: dict[str, str], seed: int, fractions: tuple[float, float] = (0.05, 0.05)
                  ) -> dict[str, str]:
    """Assign each source file (unit -> family) to train/val/test, stratified by family.

    Within a family the units are ordered by a seeded hash; the first ``round(n * test)`` go to test
    (at least one when the family has 3 or more files), the next ones to val, the rest to train.
    """
    by_fam: dict[str, list[str]] = {}
    for unit, fam in units.items():
        by_fam.setdefault(fam, []).append(unit)
    out: dict[str, str] = {}
    for fam, us in sorted(by_fam.items()):
        us = sorted(us, key=lambda u: (_h(seed, "split", u), u))
        n = len(us)
        n_val = max(1 if n >= 3 else 0, round(n * fractions[0]))
        n_test = max(1 if n >= 3 else 0, round(n * fractions[1]))
        for i, u in enumerate(us):
            out[u] = "test" if i < n_test else "val" if i < n_test + n_val else "train"
    return out


def _imap(fn: Callable, jobs: Sequence[Any], workers: int, desc: str, show: bool,
          log: Callable[[str], None] | None = None, every: float = 60.0) -> list[Any]:
    """Map ``fn`` over ``jobs`` (in order); a tqdm bar when ``show``, and a log line with done / total
    and an ETA every ``every`` seconds when ``log`` is given (for logs of unattended builds)."""
    bar = tqdm(total=len(jobs), desc=desc, disable=not show, mininterval=5.0, smoothing=0.05)
    results: list[Any] = []
    t0 = last = time.time()

    def tick() -> None:
        nonlocal last
        bar.update()
        now = time.time()
        if log is not None and now - last >= every:
            last = now
            done = len(results)
            eta = (now - t0) / done * (len(jobs) - done)
            log(f"[{desc}] {done}/{len(jobs)} ({100 * done / len(jobs):.0f} %), ETA {eta / 60:.0f} min")

    if workers <= 1:
        for j in jobs:
            results.append(fn(j))
            tick()
    else:
        with mp.get_context("fork").Pool(workers) as pool:
            for r in pool.imap(fn, jobs, chunksize=8):
                results.append(r)
                tick()
    bar.close()
    return results


class _Extract:
    def __init__(self, out: str, cache: str) -> None:
        self.out, self.cache = out, cache

    def __call__(self, clip: RawClip) -> tuple[str, Any]:
        try:
            return extract_clip(clip, self.out, self.cache)
        except Exception as e:  # noqa: BLE001 - a bad file must never stop the build; it is reported
            return "skip", f"{type(e).__name__}: {str(e)[:200]}"


class _Mix:
    _cache: dict[str, np.ndarray] = {}

    def __init__(self, out: str) -> None:
        self.out = Path(out)

    def _load(self, rel: str) -> np.ndarray:
        if rel not in self._cache:
            if len(self._cache) > 6000:
                self._cache.clear()
            self._cache[rel] = load_audio(self.out / rel, SR)
        return self._cache[rel]

    def __call__(self, job: tuple[str, dict[str, Any]]) -> float:
        rel, recipe = job
        path = self.out / rel
        digest = recipe_digest(recipe)
        if path.exists():
            meta = read_audio_metadata(path)
            if meta.get("recipe") == digest:  # done by an earlier run with the same recipe
                return float(meta.get("mix_gain_db", 0.0))
        path.parent.mkdir(parents=True, exist_ok=True)
        wav, gain = render_mixture(recipe, self._load)
        save_audio(path, wav, SR, {"mix_gain_db": gain, "relation": recipe["relation"], "recipe": digest})
        return gain


def recipe_digest(recipe: dict[str, Any]) -> str:
    """A short hash of what a mixture's audio depends on (clips, placement, gains, length)."""
    parts = [recipe["duration"], [[e["clip"], e["onset"], e["duration"], e["gain_db"], e["role"]]
                                  for e in recipe["events"]]]
    if "room_db" in recipe:  # only then, so that every other recipe keeps its digest
        parts.append(recipe["room_db"])
    key = json.dumps(parts, sort_keys=True)
    return hashlib.sha1(key.encode()).hexdigest()[:16]


def build_corpus(cfg: BuildConfig, sources: Sequence[Source], log: Callable[[str], None] = print) -> dict[str, Any]:
    """Build (or resume) the corpus described by ``cfg`` from ``sources``; returns the summary dict."""
    t_start = time.time()
    user_log = log

    def log(msg: str) -> None:  # noqa: F811 - every line carries the elapsed time (stage timings)
        user_log(f"{msg} (+{time.time() - t_start:.0f} s)")

    out = Path(cfg.out)
    cache = Path(cfg.cache) if cfg.cache else out / "cache"
    out.mkdir(parents=True, exist_ok=True)
    cache.mkdir(parents=True, exist_ok=True)
    report: dict[str, Any] = {"unlabelled": [], "corrupt": [], "failed_sources": [], "reserved": [], "duplicates": []}
    raw: list[RawClip] = []
    used: list[Source] = []
    for src in sources:
        log(f"[fetch] {src.name}")
        try:
            src.fetch(cache)
            clips, skipped = src.clips(cache)
        except SourceError as e:
            log(f"[fetch] {src.name} FAILED: {e}")
            report["failed_sources"].append({"source": src.name, "reason": str(e)})
            continue
        if cfg.max_items:  # an even spread over the (sorted) clip list, for quick builds
            clips = clips[:: max(1, len(clips) // cfg.max_items)][: cfg.max_items]
        raw.extend(clips)
        used.append(src)
        for i, lic in enumerate(src.licence_files(cache)):
            (out / "licenses").mkdir(exist_ok=True)
            shutil.copyfile(lic, out / "licenses" / f"{src.name}{'' if i == 0 else f'-{i}'}.copyright")
        report["unlabelled"] += [{"source": src.name, "path": k, "reason": r} for k, r in skipped]
        log(f"[fetch] {src.name}: {len(clips)} labelled clips, {len(skipped)} without a label")
        missing = Counter(r for _, r in skipped if "not installed" in r)
        for reason, n in sorted(missing.items()):  # a tool is missing: the corpus is smaller than it should be
            log(f"[fetch] WARNING {src.name}: {n} clips skipped: {reason}")
    results = _imap(_Extract(str(out), str(cache)), raw, cfg.workers, "extract", cfg.progress, log)
    pieces: list[dict[str, Any]] = []
    src_of = {s.name: s for s in used}
    seen: dict[str, str] = {}  # sha256 of a source file -> the first file with those bytes
    for clip, (status, val) in zip(raw, results):
        if status != "ok":
            kind = "reserved" if val == RESERVED_REASON else "corrupt"
            report[kind].append({"source": clip.source, "path": clip.key, "reason": val})
            continue
        digest = val[0].get("sha256", "") if val else ""
        if digest:  # games ship one file under several names (one per map): keep the first copy only
            first = seen.setdefault(digest, f"{clip.source}:{clip.key}")
            if first != f"{clip.source}:{clip.key}":
                report["duplicates"].append({"source": clip.source, "path": clip.key, "reason": f"same bytes as {first}"})
                continue
        info = clip_info(clip.event, clip.family, clip.attrs)
        attrs = {k: v for k, v in clip.attrs.items() if k in ("speaker", "language", "text")}
        spec = clip.attrs.get("spec", {})
        if spec.get("kind") == "speech":  # rendered speech: who says what, from the render spec
            attrs = {"speaker": spec["gender"], "language": spec["language"], "text": spec["text"],
                     "engine": spec["engine"]}
        synthetic = bool(clip.attrs.get("synthetic"))
        for rec in val:
            pieces.append({**rec, "info": info, "source": clip.source, "family": clip.family, "attrs": attrs,
                           "synthetic": synthetic})
    log(f"[extract] {len(pieces)} clips from {len(raw)} files; {len(report['corrupt'])} skipped as unreadable; "
        f"{len(report['reserved'])} skipped as reserved for evaluation (sha256 match); "
        f"{len(report['duplicates'])} skipped as byte-identical duplicates")
    splits = assign_splits({p["stem"]: p["family"] for p in pieces}, cfg.seed, cfg.split_fractions)
    singles = [_single_item(p, splits[p["stem"]], src_of[p["source"]], cfg.seed) for p in pieces]
    if not (out / "manifest.jsonl").exists():  # a first build: publish the single clips early
        write_manifest(out / "manifest.jsonl", singles)
        log(f"[manifest] {len(singles)} single clips written (mixtures follow)")
    pools = {s: Pool([p for p in pieces if splits[p["stem"]] == s]) for s in ("train", "val", "test")}
    heldout = _heldout(pools, cfg)
    recipes = _all_recipes(pools, heldout, cfg)
    jobs = [(r["audio"], r["recipe"]) for r in recipes]
    gains = _imap(_Mix(str(out)), jobs, cfg.workers, "mix", cfg.progress, log)
    mixes = [_mixture_item(r, g, src_of) for r, g in zip(recipes, gains)]
    items = singles + mixes
    write_manifest(out / "manifest.jsonl", items)
    summary = _summary(items, used, heldout, cfg, time.time() - t_start)
    _write_json(out / "report.json", report)
    _write_json(out / "corpus.json", summary)
    _write_sources(out / "SOURCES.md", used, summary)
    log(f"[done] {len(items)} items ({summary['counts']['train']} train) in {summary['build_seconds']:.0f} s")
    return summary


def _single_item(p: dict[str, Any], split: str, src: Source, seed: int) -> ManifestItem:
    rng = np.random.default_rng(_h(seed, "cap", p["audio"]))
    info = p["info"]
    caps = single_captions(info, p["duration"], p["level_db"], rng)
    ev = {"label": info.event, "onset": 0.0, "duration": p["duration"], "level_db": p["level_db"]}
    meta = {"events": [ev], "family": info.family, "kind": "single", "source_file": p["stem"],
            "piece": p["piece"], "attribution": src.attribution, **({"speech": p["attrs"]} if p["attrs"] else {}),
            **({"synthetic": True} if p.get("synthetic") else {}),
            **({"continuing": True} if info.extra.get("continuing") else {})}
    return ManifestItem(id=p["audio"].removeprefix("clips/").rsplit(".", 1)[0].replace("/", "-"), audio=p["audio"],
                        captions=caps, split=split, tags=list(info.tags), source=p["source"], licence=src.licence,
                        duration=p["duration"], meta=meta)


def _heldout(pools: dict[str, Pool], cfg: BuildConfig) -> list[tuple[str, str, str]]:
    """(A, relation, B) triples whose events exist in train and test; they are drawn only outside train."""
    rng = np.random.default_rng(_h(cfg.seed, "heldout"))
    tr = {c["info"].event for c in pools["train"].events}
    te = sorted({c["info"].event for c in pools["test"].events} & tr)
    bg = sorted({c["info"].event for c in pools["test"].bg} & {c["info"].event for c in pools["train"].bg})
    out: list[tuple[str, str, str]] = []
    for _ in range(cfg.heldout_triples * 10):
        if len(out) >= cfg.heldout_triples or len(te) < 2:
            break
        rel = ("then", "background")[len(out) % 2]
        b_pool = bg if rel == "background" else te
        if not b_pool:
            continue
        a, b = te[int(rng.integers(len(te)))], b_pool[int(rng.integers(len(b_pool)))]
        if a != b and (a, rel, b) not in out:
            out.append((a, rel, b))
    return out


def _all_recipes(pools: dict[str, Pool], heldout: list[tuple[str, str, str]], cfg: BuildConfig) -> list[dict]:
    rels = [r for r, _ in cfg.relation_weights]
    w = np.array([x for _, x in cfg.relation_weights], dtype=float)
    w /= w.sum()
    forbidden = set(heldout)
    out = []
    for split in ("train", "val", "test"):
        n = cfg.train_mixtures if split == "train" else cfg.eval_mixtures
        if cfg.max_items:
            n = min(n, cfg.max_items)
        pool = pools[split]
        for i in range(n):
            rng = np.random.default_rng([cfg.seed, ("train", "val", "test").index(split), i])
            force = None
            if split == "test" and heldout and i % 10 == 0:
                force = heldout[(i // 10) % len(heldout)]
            rec = None
            for _ in range(10):
                rel = force[1] if force else str(rng.choice(rels, p=w))
                rec = draw_recipe(pool, rel, rng, forbidden if split == "train" else frozenset(), force)
                if rec is not None:
                    break
                force = None
            if rec is None:
                continue
            mid = f"mix-{split}-{i:06d}"
            out.append({"id": mid, "split": split, "audio": f"mixtures/{split}/{i // 1000:03d}/{mid}.flac",
                        "recipe": rec})
    return (out + _supplement_recipes(pools["train"], forbidden, cfg, cfg.supplement, 3)
            + _supplement_recipes(pools["train"], forbidden, cfg, cfg.fill, 4))


def _supplement_recipes(pool: Pool, forbidden: set, cfg: BuildConfig, shares: tuple[tuple[str, float], ...],
                        tag_seed: int) -> list[dict]:
    """Train mixtures of ``shares`` (relation, share of train_mixtures): relation k's i-th from the seed
    (seed, tag_seed, k, i), so that adding one group changes no item of another."""
    out = []
    for k, (rel, share) in enumerate(shares):
        n = round(cfg.train_mixtures * share)
        if cfg.max_items:
            n = min(n, cfg.max_items)
        tag = rel.replace("_", "-")
        for i in range(n):
            rng = np.random.default_rng([cfg.seed, tag_seed, k, i])
            rec = None
            for _ in range(10):
                rec = draw_recipe(pool, rel, rng, forbidden)
                if rec is not None:
                    break
            if rec is None:
                continue
            mid = f"mix-train-{tag}-{i:06d}"
            out.append({"id": mid, "split": "train", "audio": f"mixtures/train-{tag}/{i // 1000:03d}/{mid}.flac",
                        "recipe": rec})
    return out


def _mixture_item(r: dict[str, Any], gain: float, src_of: dict[str, Source]) -> ManifestItem:
    rec = r["recipe"]
    events = [{"label": e["label"], "onset": e["onset"], "duration": e["duration"],
               "level_db": round(e["level_db"] + gain, 2), "role": e["role"], "clip": e["clip"]}
              for e in rec["events"]]
    srcs = sorted({e["clip"].split("/")[1] for e in rec["events"]})
    meta = {"events": events, "relation": rec["relation"], "kind": "mixture",
            "source_files": sorted({e["src"] for e in rec["events"]}),
            "attribution": " | ".join(src_of[s].attribution for s in srcs if s in src_of)}
    if rec["relation"] == "k_times":
        meta["count"] = rec["k"]
    if "synth" in srcs:  # some of its audio is synthesised
        meta["synthetic"] = True
    return ManifestItem(id=r["id"], audio=r["audio"], captions=rec["captions"], split=r["split"], tags=rec["tags"],
                        source="+".join(srcs), licence=" AND ".join(src_of[s].licence for s in srcs if s in src_of),
                        duration=rec["duration"], meta=meta)


def _summary(items: list[ManifestItem], used: Sequence[Source], heldout: list, cfg: BuildConfig,
             seconds: float) -> dict[str, Any]:
    counts: dict[str, int] = {s: 0 for s in ("train", "val", "test")}
    hours: dict[str, float] = {s: 0.0 for s in counts}
    fam: dict[str, int] = {}
    per_src: dict[str, int] = {}
    rel: dict[str, int] = {}
    for it in items:
        counts[it.split] += 1
        hours[it.split] += (it.duration or 0) / 3600
        if it.meta.get("kind") == "single":
            fam[it.meta["family"]] = fam.get(it.meta["family"], 0) + 1
            per_src[it.source] = per_src.get(it.source, 0) + 1
        else:
            rel[it.meta["relation"]] = rel.get(it.meta["relation"], 0) + 1
    return {"config": asdict(cfg), "counts": counts, "hours": {k: round(v, 2) for k, v in hours.items()},
            "single_clips_per_family": dict(sorted(fam.items())), "single_clips_per_source": per_src,
            "mixtures_per_relation": rel, "heldout_combinations": [list(t) for t in heldout],
            "sources": [{"name": s.name, "licence": s.licence, "attribution": s.attribution} for s in used],
            "build_seconds": round(seconds, 1), "sample_rate": SR}


def _write_json(path: Path, obj: Any) -> None:
    atomic_write_text(path, json.dumps(obj, indent=1, ensure_ascii=False, default=str))


def _write_sources(path: Path, used: Sequence[Source], summary: dict[str, Any]) -> None:
    lines = ["# Sources and attribution", "", "Every clip's licence and credit is also in its manifest item",
             "(`licence`, `meta.attribution`). Mixtures carry the licences of all their parts. The full",
             "copyright statement of each Debian package is in `licenses/<source>.copyright`.", "",
             "| source | clips | licence | attribution |", "|---|---|---|---|"]
    for s in used:
        n = summary["single_clips_per_source"].get(s.name, 0)
        lines.append(f"| {s.name} | {n} | {s.licence} | {s.attribution} |")
    atomic_write_text(path, "\n".join(lines) + "\n")



