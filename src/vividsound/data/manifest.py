"""The one manifest form: JSON Lines, one caption–audio item per line.

Every dataset reader (the offline corpus, AudioCaps, Clotho, MACS, a folder of clips) writes this form,
and every training stage and the evaluator read it.

A line::

    {"id": "0ad-river_fast_01", "audio": "audio/0ad/river_fast_01.flac",
     "captions": ["a fast river rushes", "water rushes past rocks"], "tags": ["water", "river"],
     "source": "0ad-data", "licence": "CC-BY-SA-3.0", "split": "train", "duration": 4.2,
     "meta": {"events": [{"label": "river", "onset": 0.0, "duration": 4.2, "level_db": -12.0}]}}

``audio`` is relative to the manifest's folder unless absolute.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Iterable, Iterator

from vividsound.errors import VividsoundError

SPLITS = ("train", "val", "test")

__all__ = ["ManifestItem", "ManifestError", "read_manifest", "write_manifest", "iter_manifest", "SPLITS"]


class ManifestError(VividsoundError):
    """A manifest file or line is malformed."""


@dataclass
class ManifestItem:
    """One caption–audio pair (with several captions when the dataset has them)."""

    id: str  # unique within the manifest
    audio: str  # path to the clip, relative to the manifest folder unless absolute
    captions: list[str]  # one or more natural-language descriptions
    split: str = "train"  # train | val | test
    tags: list[str] = field(default_factory=list)  # multi-label tags (tagger, MMKL)
    source: str = ""  # where the audio comes from (package or dataset name)
    licence: str = ""  # SPDX-like licence id of the audio
    duration: float | None = None  # seconds, when known
    meta: dict[str, Any] = field(default_factory=dict)  # structured metadata (events, attribution, ...)

    def audio_path(self, root: str | Path) -> Path:
        p = Path(self.audio)
        return p if p.is_absolute() else Path(root) / p

    def to_json(self) -> str:
        return json.dumps(asdict(self), ensure_ascii=False, sort_keys=False)

    @classmethod
    def from_dict(cls, d: dict[str, Any], where: str = "") -> "ManifestItem":
        if not isinstance(d, dict):
            raise ManifestError(f"{where}: expected a JSON object (one item per line), got {type(d).__name__}")
        for key in ("id", "audio", "captions"):
            if key not in d:
                raise ManifestError(f"{where}: missing field {key!r}")
        known = set(cls.__dataclass_fields__)
        unknown = set(d) - known
        if unknown:
            raise ManifestError(f"{where}: unknown field(s) {sorted(unknown)}")
        caps = d["captions"]
        if isinstance(caps, str):
            caps = [caps]
        if not isinstance(caps, list) or not caps or not all(isinstance(c, str) and c.strip() for c in caps):
            raise ManifestError(f"{where}: 'captions' must be a non-empty list of non-empty strings")
        split = d.get("split", "train")
        if not isinstance(split, str) or split not in SPLITS:
            raise ManifestError(f"{where}: split {split!r} is not one of {list(SPLITS)}")
        item = cls(**{**d, "captions": caps})
        if not isinstance(item.id, str) or not item.id:
            raise ManifestError(f"{where}: 'id' must be a non-empty string")
        if not isinstance(item.audio, str) or not item.audio:
            raise ManifestError(f"{where}: 'audio' must be a non-empty string")
        return item


def iter_manifest(path: str | Path) -> Iterator[ManifestItem]:
    p = Path(path)
    if not p.is_file():
        raise ManifestError(f"manifest not found: {p}")
    with p.open("rb") as f:
        for n, raw in enumerate(f, 1):
            try:
                line = raw.decode("utf-8").strip()
            except UnicodeDecodeError:
                raise ManifestError(f"{p}:{n}: not UTF-8 text; manifests are UTF-8 JSON lines") from None
            if not line:
                continue
            try:
                d = json.loads(line)
            except (json.JSONDecodeError, RecursionError) as e:
                raise ManifestError(f"{p}:{n}: invalid JSON ({getattr(e, 'msg', 'nested too deeply')})") from None
            yield ManifestItem.from_dict(d, where=f"{p}:{n}")


def read_manifest(path: str | Path, split: str | None = None) -> list[ManifestItem]:
    """All items of a manifest (of one split when ``split`` is given); ids must be unique."""
    if split is not None and split not in SPLITS:
        raise ManifestError(f"split {split!r} is not one of {list(SPLITS)}")
    items = list(iter_manifest(path))
    seen: set[str] = set()
    for it in items:
        if it.id in seen:
            raise ManifestError(f"{path}: duplicate id {it.id!r}")
        seen.add(it.id)
    if split is not None:
        items = [it for it in items if it.split == split]
    return items


def write_manifest(path: str | Path, items: Iterable[ManifestItem]) -> Path:
    """Write items as JSONL atomically (temp file, then rename)."""
    from vividsound.checkpoint import atomic_write_file  # checkpoint imports torch; manifests need not

    def write(tmp: Path) -> None:
        with open(tmp, "w", encoding="utf-8") as f:
            for it in items:
                f.write(it.to_json() + "\n")

    return atomic_write_file(path, write)
