"""A sharded fp16 log-mel cache of a manifest, and the :class:`MelCache` reader training uses.

Layout of a cache folder::

    cache.json            format version, the MelConfig, the manifest path, shard size, item count
    shard-00000.npy       fp16 array (n_mels, total_frames): the items' log-mels side by side in time
    shard-00000.json      {"entries": [{"item": <manifest item>, "start": frame, "frames": T}, ...],
                           "skipped": [{"id", "reason"}, ...]} for that shard
    skipped.json          all unreadable items (every shard's "skipped")

Shards are written atomically and in a fixed order, so an interrupted run resumes at the first missing
shard. A cache records the MelConfig it was made with; building into or reading from it with another
config is an error.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import torch
from tqdm import tqdm

from vividsound.checkpoint import atomic_write_file
from vividsound.audio import AudioError, MelConfig, MelSpectrogram, load_audio
from vividsound.data.manifest import ManifestItem, read_manifest
from vividsound.errors import VividsoundError

__all__ = ["MelCacheError", "MelCache", "build_mel_cache", "CACHE_FORMAT"]

CACHE_FORMAT = 1


class MelCacheError(VividsoundError):
    """A mel cache is missing, incomplete, or was made with another MelConfig."""


def _manifest_path(corpus: str | Path) -> Path:
    p = Path(corpus)
    return p / "manifest.jsonl" if p.is_dir() else p


def _atomic_save(path: Path, write: Any) -> None:
    atomic_write_file(path, lambda tmp: write(str(tmp)))


def _write_shard(job: tuple[int, list[ManifestItem], Path, Path, MelConfig]) -> tuple[int, list[dict[str, str]]]:
    """Compute and atomically write one shard; returns (items cached, skipped items)."""
    s, items, root, out, mel = job
    torch.set_num_threads(1)  # one shard per process; threads would only contend
    front = MelSpectrogram(mel)
    mels, entries, start, bad = [], [], 0, []
    for it in items:
        try:
            wav = load_audio(it.audio_path(root), mel.sample_rate)
        except AudioError as e:
            bad.append({"id": it.id, "reason": str(e)})
            continue
        with torch.no_grad():
            m = front(torch.from_numpy(wav))[0].numpy().astype(np.float16)  # (n_mels, T)
        mels.append(m)
        entries.append({"item": json.loads(it.to_json()), "start": start, "frames": int(m.shape[1])})
        start += m.shape[1]
    arr = np.concatenate(mels, axis=1) if mels else np.zeros((mel.n_mels, 0), np.float16)
    _atomic_save(out / f"shard-{s:05d}.npy", lambda t: np.save(open(t, "wb"), arr))
    _atomic_save(out / f"shard-{s:05d}.json", lambda t: Path(t).write_text(
        json.dumps({"entries": entries, "skipped": bad}, ensure_ascii=False)))
    return len(entries), bad


def build_mel_cache(corpus: str | Path, out: str | Path, mel: MelConfig, split: str | None = None,
                    shard_size: int = 2000, progress: bool = True, workers: int = 1) -> int:
    """Compute log-mels of every (readable) item of a manifest into ``out``; returns the cached count.

    Shards already written are kept (resume); ``workers`` processes compute missing shards in
    parallel. Unreadable audio is skipped and listed in ``out/skipped.json``.
    """
    man = _manifest_path(corpus)
    items = read_manifest(man, split=split)
    root = man.parent
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    head = {"format": CACHE_FORMAT, "mel": mel.to_dict(), "manifest": str(man.resolve()), "split": split,
            "shard_size": shard_size}
    meta_path = out / "cache.json"
    if meta_path.exists():
        old = json.loads(meta_path.read_text(encoding="utf-8"))
        if old.get("mel") != mel.to_dict():
            raise MelCacheError(f"cache {out} was made with another MelConfig; use a new folder")
        if {k: old.get(k) for k in ("manifest", "split", "shard_size")} != \
                {k: head[k] for k in ("manifest", "split", "shard_size")}:
            raise MelCacheError(f"cache {out} was made from another manifest, split or shard size")
    _atomic_save(meta_path, lambda t: Path(t).write_text(json.dumps({**head, "complete": False}, indent=1)))
    n_shards = (len(items) + shard_size - 1) // shard_size
    total, skipped, jobs = 0, [], []
    for s in range(n_shards):
        idx = out / f"shard-{s:05d}.json"
        if (out / f"shard-{s:05d}.npy").exists() and idx.exists():
            done = json.loads(idx.read_text(encoding="utf-8"))
            total += len(done["entries"])
            skipped += done["skipped"]
        else:
            jobs.append((s, items[s * shard_size:(s + 1) * shard_size], root, out, mel))
    bar = tqdm(total=len(jobs), desc="mel shards", disable=not progress)
    if workers > 1 and len(jobs) > 1:
        import multiprocessing as mp

        with mp.get_context("fork").Pool(workers) as pool:
            results = []
            for r in pool.imap(_write_shard, jobs):
                results.append(r)
                bar.update()
    else:
        threads = torch.get_num_threads()
        results = []
        for j in jobs:
            results.append(_write_shard(j))
            bar.update()
        torch.set_num_threads(threads)
    bar.close()
    for n, bad in results:
        total += n
        skipped += bad
    _atomic_save(out / "skipped.json", lambda t: Path(t).write_text(json.dumps(skipped, indent=1)))
    _atomic_save(meta_path, lambda t: Path(t).write_text(json.dumps({**head, "complete": True, "items": total,
                                                                     "shards": n_shards}, indent=1)))
    return total


class MelCache:
    """Random access to a built mel cache: ``cache[i] -> (mel (n_mels, T) fp16 tensor, ManifestItem)``.

    Args:
        path: the cache folder.
        mel: when given, the MelConfig the caller expects; a cache made with another one is refused.
    """

    def __init__(self, path: str | Path, mel: MelConfig | None = None) -> None:
        self.path = Path(path)
        meta_path = self.path / "cache.json"
        if not meta_path.is_file():
            raise MelCacheError(f"not a mel cache (no cache.json): {self.path}")
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
        if meta.get("format") != CACHE_FORMAT:
            raise MelCacheError(f"{self.path}: cache format {meta.get('format')} is not {CACHE_FORMAT}")
        if not meta.get("complete"):
            raise MelCacheError(f"{self.path}: cache is incomplete; rerun 'vividsound corpus cache' to finish it")
        self.mel_config = MelConfig.from_dict(meta["mel"])
        if mel is not None and mel != self.mel_config:
            raise MelCacheError(f"{self.path}: cache MelConfig {self.mel_config} differs from the requested {mel}")
        self._index: list[tuple[int, int, int]] = []
        self._items: list[dict[str, Any]] = []
        self._shards: dict[int, np.ndarray] = {}
        for s in range(meta["shards"]):
            for e in json.loads((self.path / f"shard-{s:05d}.json").read_text(encoding="utf-8"))["entries"]:
                self._index.append((s, e["start"], e["frames"]))
                self._items.append(e["item"])

    def __len__(self) -> int:
        return len(self._index)

    def item(self, i: int) -> ManifestItem:
        """The manifest item of entry ``i`` (no mel loaded)."""
        return ManifestItem.from_dict(self._items[i], where=f"{self.path}[{i}]")

    def __getitem__(self, i: int) -> tuple[torch.Tensor, ManifestItem]:
        if not -len(self) <= i < len(self):
            raise IndexError(f"mel cache index {i} out of range for {len(self)} items")
        s, start, frames = self._index[i]
        if s not in self._shards:
            self._shards[s] = np.load(self.path / f"shard-{s:05d}.npy", mmap_mode="r")
        mel = torch.from_numpy(np.array(self._shards[s][:, start:start + frames]))
        return mel, self.item(i)
