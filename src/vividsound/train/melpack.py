"""Mel packs: log-mels of a seeded subset of a corpus in one small file, for training the VQGAN elsewhere.

A GPU machine that cannot hold a corpus's audio (gigabytes) can still train the codec from a pack: each
item's log-mel (the run's ``MelConfig``) stored as 8-bit codes over a fixed range in nats, so that a pack of
tens of megabytes holds a few hours of spectrogram. The quantisation step (0.06 nats over -11.5..4 nats) is
far below the codec's own error (a trained VQGAN's mean absolute log-mel error is ~0.2 nats and more).

    vividsound train vqgan --config configs/default/recipe.yaml#vqgan_decoder --set data.manifest=corpus/manifest.jsonl \
        --out runs/melpack --write-pack mels.npz --pack-mb 56
    vividsound train vqgan --config configs/default/recipe.yaml#vqgan_decoder --set pack=mels.npz ... --out runs/dec

Which items: every validation item the run would validate on (``data.val_items``, in manifest order), then
training items in a seeded random order until the budget is spent; items longer than ``data.crop_frames``
keep a seeded window of that length (the stage crops to at most that anyway). The file is a NumPy ``.npz``
(no pickles): ``meta`` (UTF-8 JSON: format, version, mel config, range, items with split, frame offset in
the pack and start frame in the clip)
and ``mels`` (n_mels, total frames) uint8.
"""

from __future__ import annotations

import io
import json
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np
import torch

from vividsound.audio import MelConfig, MelSpectrogram, load_audio
from vividsound.checkpoint import atomic_write_bytes
from vividsound.data.manifest import ManifestItem
from vividsound.train.data import DataError

__all__ = ["MelPack", "write_mel_pack", "PACK_FORMAT", "LOW", "HIGH"]

PACK_FORMAT = "vividsound-mel-pack"
PACK_VERSION = 1
LOW, HIGH = -11.5129, 4.0  # nats: log(1e-5) (the mel floor) .. above any real log-mel peak


def quantise(mel: np.ndarray) -> np.ndarray:
    """Log-mel (nats) -> uint8 codes over [LOW, HIGH] (values outside are clipped)."""
    q = np.rint((np.clip(mel, LOW, HIGH) - LOW) / (HIGH - LOW) * 255.0)
    return q.astype(np.uint8)


def dequantise(q: np.ndarray) -> np.ndarray:
    return (q.astype(np.float32) * np.float32((HIGH - LOW) / 255.0) + np.float32(LOW)).astype(np.float32)


@dataclass
class MelPack:
    """A read mel pack; stands in for the stage's feature cache (``get_float``) and item lists."""

    meta: dict[str, Any]
    mels: np.ndarray  # (n_mels, total frames) uint8
    items: list[ManifestItem]
    path: str = ""

    def __post_init__(self) -> None:
        rows = self.meta["items"]
        self._span = {m["id"]: (int(m["offset"]), int(m["offset"]) + int(m["frames"])) for m in rows}

    @classmethod
    def read(cls, path: str | Path) -> "MelPack":
        """Read and check a pack; a missing, corrupt or foreign file raises one :class:`DataError` line."""
        p = Path(path)
        if not p.is_file():
            raise DataError(f"mel pack {p} does not exist")
        try:
            with np.load(p, allow_pickle=False) as z:
                meta = json.loads(bytes(z["meta"]).decode("utf-8")) if "meta" in z.files else None
                if not isinstance(meta, dict) or meta.get("format") != PACK_FORMAT:
                    raise DataError(f"{p} is not a vividsound mel pack")
                if meta.get("version") != PACK_VERSION:
                    raise DataError(f"mel pack {p} has version {meta.get('version')}; this vividsound reads "
                                    f"{PACK_VERSION}")
                mels = z["mels"]
        except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile, UnicodeDecodeError) as e:
            raise DataError(f"mel pack {p} is unreadable or corrupt: {str(e).splitlines()[0] if str(e) else e!r}") \
                from None
        rows = meta.get("items") or []
        total = sum(int(m["frames"]) for m in rows)
        if mels.dtype != np.uint8 or mels.ndim != 2 or mels.shape != (meta.get("n_mels"), total) or not rows:
            raise DataError(f"mel pack {p} is inconsistent (mels {mels.shape} {mels.dtype}, {len(rows)} items, "
                            f"{total} frames)")
        items = [ManifestItem(id=m["id"], audio="", captions=list(m.get("captions", [])), split=m["split"])
                 for m in rows]
        return cls(meta, mels, items, str(p))

    def split(self, name: str, limit: int | None = None) -> list[ManifestItem]:
        out = [it for it in self.items if it.split == name]
        return out[:limit] if limit is not None else out

    def get_float(self, item_id: str) -> np.ndarray:
        """The item's log-mel (n_mels, frames) float32, as the feature cache gives it."""
        try:
            a, b = self._span[item_id]
        except KeyError:
            raise DataError(f"mel pack {self.path} holds no item {item_id!r}") from None
        return dequantise(self.mels[:, a:b])

    def check_mel(self, mel: MelConfig) -> None:
        if self.meta.get("mel") != mel.to_dict():
            raise DataError(f"mel pack {self.path} was written with another mel definition than this run's "
                            f"(write a new pack with this config)")


def _window(n: int, frames: int, seed: int, item_id: str) -> tuple[int, int]:
    if n <= frames:
        return 0, n
    rng = np.random.default_rng([seed, int.from_bytes(item_id.encode("utf-8")[:8].ljust(8, b"\0"), "little")])
    a = int(rng.integers(0, n - frames + 1))
    return a, a + frames


def write_mel_pack(path: str | Path, train: Sequence[ManifestItem], val: Sequence[ManifestItem], root: str | Path,
                   mel: MelConfig, *, budget_mb: float, max_frames: int, max_seconds: float = 10.0, seed: int = 0,
                   progress: Callable[[Any], Any] = lambda x: x) -> Path:
    """Compute and write a mel pack of ``val`` (all) and as many seeded-random ``train`` items as fit.

    Args:
        budget_mb: size of the spectrogram data in MB before compression (1e6 bytes: one byte per mel bin
            per frame); the file is smaller.
        max_frames: longer items keep a seeded window of this many frames.

    Raises:
        DataError: an empty split, a budget too small for the validation items, unreadable audio.
    """
    if not train or not val:
        raise DataError("a mel pack needs training and validation items")
    if not budget_mb > 0:
        raise DataError(f"--pack-mb is {budget_mb}; allowed: > 0")
    front = MelSpectrogram(mel)
    budget = int(budget_mb * 1e6) // mel.n_mels  # frames
    order = [val[i] for i in range(len(val))] + [train[i] for i in np.random.default_rng(seed).permutation(len(train))]
    parts, rows, used = [], [], 0
    for k, it in enumerate(progress(order)):
        if used >= budget:
            break
        try:
            wav = load_audio(it.audio_path(root), mel.sample_rate)[: int(max_seconds * mel.sample_rate)]
        except Exception as e:  # noqa: BLE001 - one line naming the file, whatever the decoder raised
            raise DataError(f"cannot read {it.audio_path(root)}: {str(e).splitlines()[0] if str(e) else e!r}") \
                from None
        with torch.no_grad():
            m = front(torch.from_numpy(np.ascontiguousarray(wav))[None].float())[0].numpy()
        a, b = _window(m.shape[1], max_frames, seed, it.id)
        b = min(b, a + budget - used) if k >= len(val) else b
        if b <= a:
            break
        parts.append(quantise(m[:, a:b]))
        rows.append({"id": it.id, "split": it.split, "frames": b - a, "offset": used, "start": a,
                     "captions": list(it.captions)})
        used += b - a
    if len(rows) <= len(val):
        raise DataError(f"--pack-mb {budget_mb}: the budget holds no training item after the {len(val)} "
                        "validation items")
    meta = {"format": PACK_FORMAT, "version": PACK_VERSION, "n_mels": mel.n_mels, "mel": mel.to_dict(),
            "low": LOW, "high": HIGH, "seed": seed, "max_frames": max_frames, "items": rows}
    buf = io.BytesIO()
    np.savez_compressed(buf, meta=np.frombuffer(json.dumps(meta).encode("utf-8"), dtype=np.uint8),
                        mels=np.concatenate(parts, axis=1))
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(p, buf.getvalue())
    return p
