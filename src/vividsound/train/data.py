"""Training data: manifest checks, a resumable fp16 log-mel / waveform cache, crops and batch order.

The cache is deliberately simple (one ``.npy`` per item, keyed by item id and the mel definition) so that
it can later be swapped for the corpus' sharded cache. Every value a batch needs that involves chance
(crop starts, the caption picked, condition dropout) comes from a NumPy generator seeded by
``(seed, rank, step, micro_batch)``, so a resumed run draws exactly what an uninterrupted one draws.
"""

from __future__ import annotations

import dataclasses
import io
import hashlib
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Sequence

import numpy as np
import torch

from vividsound.checkpoint import atomic_torch_save, atomic_write_bytes, atomic_write_text
from vividsound.audio import AudioError, MelConfig, MelSpectrogram, load_audio
from vividsound.data.manifest import ManifestError, ManifestItem, read_manifest
from vividsound.errors import VividsoundError


class DataError(VividsoundError):
    """Training data is missing, empty or does not fit the run."""


@dataclass(frozen=True)
class DataConfig:
    manifest: str = ""  # JSONL manifest (vividsound.data.manifest); audio paths relative to its folder
    cache_dir: str = ""  # where cached mels/waveforms go ("" = RUN_DIR/cache)
    train_split: str = "train"  # split trained on
    val_split: str = "val"  # split validated on (best-checkpoint selection)
    max_seconds: float = 10.0  # clips are read up to this length
    crop_frames: int = 256  # frames per training example (random crop; shorter clips padded with silence)
    val_items: int = 256  # at most this many validation items (the first ones, in manifest order)
    preload: bool = True  # keep cached arrays in memory after first use
    check_audio: bool = True  # check that every audio file exists before training starts
    precompute: bool = False  # cache every item before training (else each item is cached on first use)

    def __post_init__(self) -> None:
        if self.max_seconds <= 0 or self.crop_frames < 1 or self.val_items < 1:
            raise ValueError("data.max_seconds, data.crop_frames and data.val_items must be positive")


def load_items(cfg: DataConfig, split: str, *, limit: int | None = None,
               require_captions: bool = False) -> tuple[list[ManifestItem], Path]:
    """Items of one split, checked: the manifest reads, the split is non-empty, audio files exist.

    Raises:
        DataError: one line naming the manifest, split or first missing file.
    """
    if not cfg.manifest:
        raise DataError("data.manifest is not set (pass --set data.manifest=PATH/manifest.jsonl)")
    path = Path(cfg.manifest)
    try:
        items = read_manifest(path, split)
    except ManifestError as e:
        raise DataError(str(e)) from None
    if not items:
        raise DataError(f"manifest {path} has no items in split {split!r}")
    if limit is not None:
        items = items[:limit]
    root = path.parent
    if cfg.check_audio:
        missing = [it.audio_path(root) for it in items if not it.audio_path(root).is_file()]
        if missing:
            raise DataError(f"manifest {path}: {len(missing)} audio file(s) of split {split!r} are missing, "
                            f"e.g. {missing[0]}")
    return items, root


def _key(item_id: str) -> str:
    safe = re.sub(r"[^A-Za-z0-9_.-]", "_", item_id)[:48]
    return f"{safe}-{hashlib.sha1(item_id.encode()).hexdigest()[:10]}"


def _atomic_npy(path: Path, arr: np.ndarray) -> None:
    buf = io.BytesIO()
    np.save(buf, arr)
    atomic_write_bytes(path, buf.getvalue())


def cached_caption_features(item: ManifestItem, caption: str, folder: Path, memory: dict[str, torch.Tensor],
                            encode: Callable[[list[str]], dict[str, torch.Tensor]], keep: bool) -> torch.Tensor:
    """The feature of one of ``item``'s captions, from ``memory``, the disk cache in ``folder``, or ``encode``.

    A caption is encoded alone (``encode([caption]) -> {caption: feature}``) the first time it is needed
    and saved as its own file, so a feature never depends on which other captions share a batch (exact
    resume), and a run that visits each item once or twice does not pay for all of its captions (with
    a large text tower this is most of a step's time). Older caches that hold all of an item's captions
    in one file are still read. ``keep`` adds features to ``memory``.
    """
    if caption in memory:
        return memory[caption]
    whole = folder / f"{_key(item.id)}.pt"
    if whole.is_file():
        got = torch.load(whole, weights_only=True)
        if caption in got:
            if keep:
                memory.update(got)
            return got[caption]
    path = folder / f"{_key(item.id)}-{hashlib.sha1(caption.encode()).hexdigest()[:10]}.pt"
    if path.is_file():
        got = torch.load(path, weights_only=True)
    else:
        with torch.no_grad():
            got = encode([caption])
        atomic_torch_save(got, path)
    if keep:
        memory.update(got)
    return got[caption]


class FeatureCache:
    """Per-item fp16 log-mels (n_mels, T) or int16 waveforms (N,), computed once and kept on disk.

    Args:
        root: cache folder; a sub-folder per (kind, mel definition, max_seconds) keeps caches apart.
        kind: ``"mel"`` or ``"wave"``.
    """

    def __init__(self, root: str | Path, mel: MelConfig, max_seconds: float, kind: str = "mel",
                 preload: bool = True) -> None:
        if kind not in ("mel", "wave"):
            raise ValueError(f"cache kind must be 'mel' or 'wave', got {kind!r}")
        self.mel, self.max_seconds, self.kind, self.preload = mel, max_seconds, kind, preload
        spec = json.dumps({"mel": dataclasses.asdict(mel), "max_seconds": max_seconds, "kind": kind}, sort_keys=True)
        self.dir = Path(root) / f"{kind}-{hashlib.sha1(spec.encode()).hexdigest()[:12]}"
        self.dir.mkdir(parents=True, exist_ok=True)
        atomic_write_text(self.dir / "spec.json", spec + "\n")
        self._mem: dict[str, np.ndarray] = {}
        self._front: MelSpectrogram | None = None
        self._items: dict[str, tuple[ManifestItem, Path]] = {}

    def register(self, items: Sequence[ManifestItem], root: Path) -> None:
        """Make ``items`` (audio relative to ``root``) computable on first use."""
        for it in items:
            self._items[it.id] = (it, Path(root))

    def path(self, item_id: str) -> Path:
        return self.dir / f"{_key(item_id)}.npy"

    def _compute(self, item: ManifestItem, root: Path) -> np.ndarray:
        try:
            wav = load_audio(item.audio_path(root), self.mel.sample_rate, max_seconds=self.max_seconds)
        except AudioError as e:
            raise DataError(str(e)) from None
        if self.kind == "wave":
            return (np.clip(wav, -1, 1) * 32767).astype(np.int16)
        if self._front is None:
            self._front = MelSpectrogram(self.mel)
        with torch.no_grad():
            m = self._front(torch.from_numpy(wav))[0]
        return m.numpy().astype(np.float16)

    def prepare(self, items: Sequence[ManifestItem], root: Path, *, rank: int = 0, world: int = 1,
                progress: bool = True) -> int:
        """Compute what is not cached yet (this rank's share); returns how many were computed."""
        todo = [it for i, it in enumerate(items) if i % world == rank and not self.path(it.id).is_file()]
        if not todo:
            return 0
        it_ = todo
        if progress:
            from tqdm.auto import tqdm

            it_ = tqdm(todo, desc=f"caching {self.kind}s", unit="clip", leave=False)
        for item in it_:
            _atomic_npy(self.path(item.id), self._compute(item, root))
        return len(todo)

    def get(self, item_id: str) -> np.ndarray:
        """The cached array of one item, computed and stored now if it is not cached yet."""
        if item_id in self._mem:
            return self._mem[item_id]
        p = self.path(item_id)
        if p.is_file():
            arr = np.load(p)
        elif item_id in self._items:
            arr = self._compute(*self._items[item_id])
            _atomic_npy(p, arr)
        else:
            raise DataError(f"no cached {self.kind} for item {item_id!r} in {self.dir}")
        if self.preload:
            self._mem[item_id] = arr
        return arr

    def get_float(self, item_id: str) -> np.ndarray:
        arr = self.get(item_id)
        return arr.astype(np.float32) / 32767.0 if self.kind == "wave" else arr.astype(np.float32)


def crop(arr: np.ndarray, length: int, rng: np.random.Generator | None, pad_value: float,
         multiple: int = 1) -> np.ndarray:
    """Crop (..., T) to ``length`` along the last axis (random start from ``rng``, else 0).

    Shorter arrays are padded on the right with ``pad_value``. Starts are multiples of ``multiple``.
    """
    T = arr.shape[-1]
    if T < length:
        pad = [(0, 0)] * (arr.ndim - 1) + [(0, length - T)]
        return np.pad(arr, pad, constant_values=pad_value)
    n_starts = (T - length) // multiple + 1
    start = 0 if rng is None else int(rng.integers(0, n_starts)) * multiple
    return arr[..., start : start + length]


def batch_rng(seed: int, rank: int, step: int, micro: int) -> np.random.Generator:
    """The generator for one micro-batch: a pure function of its coordinates (exact resume)."""
    return np.random.default_rng([seed, rank, step, micro])


class BatchOrder:
    """An endless, seeded, per-rank stream of item indices with a one-integer state.

    Epoch ``e`` is a permutation of all items drawn from ``seed + e``; rank ``r`` of ``world`` reads
    positions ``r, r + world, ...`` of it (each epoch truncated to a multiple of ``world``).
    """

    def __init__(self, n: int, seed: int, rank: int = 0, world: int = 1) -> None:
        if n < 1:
            raise DataError("no training items")
        self.n, self.seed, self.rank, self.world = n, seed, rank, world
        self.per_rank = max(1, n // world)
        self.pos = 0
        self._perm_epoch, self._perm = -1, np.arange(0)

    def _index(self, p: int) -> int:
        epoch, i = divmod(p, self.per_rank)
        if epoch != self._perm_epoch:
            g = torch.Generator().manual_seed(self.seed * 1_000_003 + epoch)
            self._perm = torch.randperm(self.n, generator=g).numpy()
            self._perm_epoch = epoch
        return int(self._perm[(i * self.world + self.rank) % self.n])

    def next(self, batch_size: int) -> list[int]:
        out = [self._index(self.pos + k) for k in range(batch_size)]
        self.pos += batch_size
        return out

    def state_dict(self) -> dict[str, int]:
        return {"pos": self.pos, "n": self.n, "world": self.world}

    def load_state_dict(self, d: dict[str, int]) -> None:
        if d.get("n") != self.n or d.get("world") != self.world:
            raise DataError(f"cannot resume: the checkpoint was made with {d.get('n')} items on {d.get('world')} "
                            f"process(es), this run has {self.n} items on {self.world}")
        self.pos = int(d["pos"])


def tag_vocabulary(items: Iterable[ManifestItem], min_count: int = 1) -> list[str]:
    """Sorted tags that occur in at least ``min_count`` items."""
    counts: dict[str, int] = {}
    for it in items:
        for t in set(it.tags):
            counts[t] = counts.get(t, 0) + 1
    return sorted(t for t, c in counts.items() if c >= min_count)


def tag_targets(items: Sequence[ManifestItem], tags: Sequence[str]) -> torch.Tensor:
    """Multi-hot targets (N, n_tags) float32."""
    index = {t: i for i, t in enumerate(tags)}
    y = torch.zeros(len(items), len(tags))
    for n, it in enumerate(items):
        for t in it.tags:
            if t in index:
                y[n, index[t]] = 1.0
    return y


def prepare_cache(cfg: DataConfig, run_dir: Path, mel: MelConfig, items: Sequence[ManifestItem], root: Path, *,
                  kind: str = "mel", rank: int = 0, world: int = 1, progress: bool = True,
                  barrier: Any = None) -> FeatureCache:
    """The cache for ``items``; with ``data.precompute`` every rank computes its share now, then all wait."""
    cache = FeatureCache(Path(cfg.cache_dir) if cfg.cache_dir else run_dir / "cache", mel, cfg.max_seconds,
                         kind, cfg.preload)
    cache.register(items, root)
    if cfg.precompute:
        cache.prepare(items, root, rank=rank, world=world, progress=progress and rank == 0)
        if barrier is not None:
            barrier()
    return cache


@dataclass
class MelBatch:
    """A batch of log-mel crops and the items they come from."""

    mel: torch.Tensor  # (B, n_mels, frames) float32
    items: list[ManifestItem] = field(default_factory=list)


def mel_batch(cache: FeatureCache, items: Sequence[ManifestItem], frames: int, mel: MelConfig,
              rng: np.random.Generator | None, multiple: int = 1) -> MelBatch:
    """Crop each item's cached log-mel to ``frames`` (random when ``rng`` is given)."""
    arrs = [crop(cache.get_float(it.id), frames, rng, mel.silence_db, multiple) for it in items]
    return MelBatch(torch.from_numpy(np.stack(arrs)), list(items))
