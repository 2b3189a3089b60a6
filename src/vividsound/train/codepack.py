"""Codes packs: everything the GPT stage reads from a corpus, in one compressed file.

A pack holds, for every training item and the validation items, the VQGAN code grid the GPT stage would
compute from the audio, the item's captions, its length in mel frames, its ``meta.relation`` when the
manifest gives one (for ``train_subset``), and (when the config uses
``lead_silence``) one leading-silence variant of the grid, coded from the shifted log-mel. With
``pack=FILE`` the GPT stage needs no manifest, audio or mel cache: the file can be carried to a GPU
machine that has none of them (the default corpus packs into about 10 MB; its audio is 6 GB).

    vividsound train gpt --config configs/default/recipe.yaml#gpt_full --out runs/pack --write-pack codes.npz
    vividsound train gpt --config configs/default/recipe.yaml#gpt_full --set pack=codes.npz --set resident=true ...

The file is a NumPy ``.npz`` (no pickles): ``meta`` (UTF-8 JSON), ``codes`` (rows, total columns) uint16
and ``offsets`` (2N + 1,) int64, the column where each item's plain grid and lead grid start.
"""

from __future__ import annotations

import io
import json
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from vividsound.checkpoint import atomic_write_bytes
from vividsound.data.manifest import ManifestItem
from vividsound.train.data import DataError

PACK_FORMAT = "vividsound-codes-pack"
PACK_VERSION = 1


@dataclass
class CodePack:
    """A read pack: items (train and validation splits), their grids and frame counts."""

    meta: dict[str, Any]
    codes: np.ndarray  # (rows, total columns) uint16
    offsets: np.ndarray  # (2N + 1,) int64
    items: list[ManifestItem]
    path: str = ""

    def __post_init__(self) -> None:
        self.index = {it.id: i for i, it in enumerate(self.items)}
        self.frames = [int(m["frames"]) for m in self.meta["items"]]
        self.leads = [int(m.get("lead", 0)) for m in self.meta["items"]]

    @classmethod
    def read(cls, path: str | Path) -> "CodePack":
        """Read and check a pack; a missing, corrupt or foreign file raises one :class:`DataError` line."""
        p = Path(path)
        if not p.is_file():
            raise DataError(f"codes pack {p} does not exist")
        try:
            with np.load(p, allow_pickle=False) as z:
                meta = json.loads(bytes(z["meta"]).decode("utf-8")) if "meta" in z.files else None
                if not isinstance(meta, dict) or meta.get("format") != PACK_FORMAT:
                    raise DataError(f"{p} is not a vividsound codes pack")
                if meta.get("version") != PACK_VERSION:
                    raise DataError(f"codes pack {p} has version {meta.get('version')}; this vividsound reads "
                                    f"{PACK_VERSION}")
                codes, offsets = z["codes"], z["offsets"]
        except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile, UnicodeDecodeError) as e:
            raise DataError(f"codes pack {p} is unreadable or corrupt: {str(e).splitlines()[0] if str(e) else e!r}") \
                from None
        rows = meta.get("items", [])
        if codes.ndim != 2 or codes.shape[0] != meta.get("rows") or offsets.shape != (2 * len(rows) + 1,) \
                or int(offsets[-1]) != codes.shape[1] or np.any(np.diff(offsets) < 0):
            raise DataError(f"codes pack {p} is inconsistent (codes {codes.shape}, {len(rows)} items, "
                            f"{offsets.shape[0]} offsets)")
        items = [ManifestItem(id=m["id"], audio="", captions=list(m["captions"]), split=m["split"],
                              meta={"relation": m["relation"]} if "relation" in m else {}) for m in rows]
        return cls(meta, codes, offsets, items, str(p))

    def lead(self, item_id: str) -> int:
        """Columns of the item's leading-silence variant (0: it has none)."""
        return self.leads[self.index[item_id]]

    def split(self, name: str, limit: int | None = None) -> list[ManifestItem]:
        out = [it for it in self.items if it.split == name]
        return out[:limit] if limit is not None else out

    def grid(self, item_id: str, lead: bool = False) -> torch.Tensor:
        """The plain (or leading-silence) code grid (rows, cols) int16 of one item."""
        i = self.index[item_id]
        a, b = int(self.offsets[2 * i + int(lead)]), int(self.offsets[2 * i + int(lead) + 1])
        if b == a:
            raise DataError(f"codes pack {self.path} has no {'lead ' if lead else ''}grid for item {item_id!r}")
        return torch.from_numpy(self.codes[:, a:b].astype(np.int16))

    def check(self, expect: dict[str, Any]) -> None:
        """One line naming the first setting where the pack differs from this run (VQGAN, rows, ...)."""
        for k, v in expect.items():
            if self.meta.get(k) != v:
                raise DataError(f"codes pack {self.path} was written with {k}={self.meta.get(k)!r}; this run has "
                                f"{k}={v!r} (write a new pack with this config)")


def write_pack(path: str | Path, meta: dict[str, Any], items: list[ManifestItem], frames: list[int],
               grids: list[torch.Tensor], lead_grids: list[tuple[int, torch.Tensor | None]]) -> Path:
    """Write a pack atomically (a crash leaves no half-written file)."""
    if not items:
        raise DataError("a codes pack needs at least one item")
    parts, offsets, rows_meta = [], [0], []
    for it, n, g, (lead, lg) in zip(items, frames, grids, lead_grids):
        parts.append(g.numpy())
        offsets.append(offsets[-1] + g.shape[1])
        if lg is not None:
            parts.append(lg.numpy())
        offsets.append(offsets[-1] + (lg.shape[1] if lg is not None else 0))
        relation = (it.meta or {}).get("relation")
        rows_meta.append({"id": it.id, "split": it.split, "captions": list(it.captions), "frames": int(n),
                          **({"lead": int(lead)} if lg is not None else {}),
                          **({"relation": str(relation)} if relation else {})})
    codes = np.concatenate(parts, axis=1)
    if codes.min() < 0 or codes.max() > np.iinfo(np.uint16).max:
        raise DataError("codes out of the uint16 range")
    full = {"format": PACK_FORMAT, "version": PACK_VERSION, **meta, "items": rows_meta}
    buf = io.BytesIO()
    np.savez_compressed(buf, meta=np.frombuffer(json.dumps(full).encode("utf-8"), dtype=np.uint8),
                        codes=codes.astype(np.uint16), offsets=np.asarray(offsets, dtype=np.int64))
    p = Path(path)
    if p.parent and not p.parent.exists():
        p.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(p, buf.getvalue())
    return p
