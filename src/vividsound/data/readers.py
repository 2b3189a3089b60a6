"""Readers that turn real dataset formats into the one manifest form.

* **AudioCaps** CSV: ``audiocap_id, youtube_id, start_time, caption``; rows sharing a ``youtube_id``
  (and start time) become one item with several captions. The clip is found in the audio folder by
  ``youtube_id`` (``ID.wav``, ``YID.wav``, ``ID_START.wav``, ``ID_START000.wav``...) or by ``audiocap_id``.
* **Clotho** CSV: ``file_name, caption_1 .. caption_5``.
* **MACS** YAML: ``files: [{filename, annotations: [{sentence, tags}]}]``; the tags of all annotators
  are merged.
* **folder**: a CSV (columns ``file``/``filename``/``audio``/``path`` and ``caption``/``text``, optional
  ``tags`` separated by ``;`` or ``,``) or a JSONL (``{"file": ..., "caption" or "captions": ..., "tags": [...]}``).

Missing audio is reported by name: an error by default, or skipped and listed with ``allow_missing``.
"""

from __future__ import annotations

import csv
import json
import re
from pathlib import Path
from typing import Any, Iterable

from vividsound.data.manifest import ManifestItem, write_manifest
from vividsound.errors import InputError

__all__ = ["read_audiocaps", "read_clotho", "read_macs", "read_folder", "import_dataset", "READERS"]

_AUDIO = (".wav", ".flac", ".ogg", ".mp3", ".m4a", ".opus")


def _index(folder: str | Path) -> dict[str, Path]:
    """Map file name and stem (both lower-case) -> path for every audio file under ``folder``."""
    root = Path(folder)
    if not root.is_dir():
        raise InputError(f"audio folder not found: {root}")
    idx: dict[str, Path] = {}
    for p in sorted(root.rglob("*")):
        if p.is_file() and p.suffix.lower() in _AUDIO:
            idx.setdefault(p.name.lower(), p)
            idx.setdefault(p.stem.lower(), p)
    return idx


def _read_csv(path: str | Path, required: Iterable[str]) -> list[dict[str, str]]:
    p = Path(path)
    if not p.is_file():
        raise InputError(f"caption file not found: {p}")
    with p.open(newline="", encoding="utf-8-sig") as f:
        rows = list(csv.DictReader(f))
        fields = [h.strip() for h in (rows[0].keys() if rows else [])]
    missing = [c for c in required if c not in fields]
    if rows and missing:
        raise InputError(f"{p}: missing column(s) {missing}; found {fields}")
    return [{k.strip(): (v or "").strip() for k, v in r.items() if k} for r in rows]


def _duration(path: Path) -> float | None:
    import soundfile as sf

    try:
        info = sf.info(str(path))
        return round(info.frames / info.samplerate, 4)
    except Exception:  # noqa: BLE001 - an unreadable file still gets an item; loading reports it
        return None


def _item(prefix: str, key: str, path: Path, captions: list[str], split: str, tags: list[str],
          source: str, licence: str, meta: dict[str, Any]) -> ManifestItem:
    safe = re.sub(r"[^A-Za-z0-9._-]+", "_", key)
    return ManifestItem(id=f"{prefix}-{safe}", audio=str(path.resolve()), captions=captions, split=split,
                        tags=sorted(set(tags)), source=source, licence=licence, duration=_duration(path), meta=meta)


def read_audiocaps(csv_path: str | Path, audio_dir: str | Path, split: str = "train"
                   ) -> tuple[list[ManifestItem], list[str]]:
    """AudioCaps CSV -> (items, missing clip ids)."""
    rows = _read_csv(csv_path, ("youtube_id", "caption"))
    idx = _index(audio_dir)
    groups: dict[tuple[str, str], dict[str, Any]] = {}
    for r in rows:
        key = (r["youtube_id"], r.get("start_time", ""))
        g = groups.setdefault(key, {"captions": [], "ids": []})
        if r["caption"]:
            g["captions"].append(r["caption"])
        g["ids"].append(r.get("audiocap_id", ""))
    items, missing = [], []
    for (yid, start), g in groups.items():
        st = start.split(".")[0] if start else ""
        cands = [yid, f"y{yid}", f"{yid}_{st}", f"y{yid}_{st}", f"{yid}_{st}000", f"{yid}_{st}.000"] + g["ids"]
        path = next((idx[c.lower()] for c in cands if c and c.lower() in idx), None)
        if path is None:
            missing.append(yid)
            continue
        items.append(_item("audiocaps", f"{yid}_{st}", path, g["captions"], split, [], "AudioCaps",
                           "see AudioCaps/YouTube terms", {"youtube_id": yid, "start_time": start,
                                                          "audiocap_ids": g["ids"]}))
    return items, missing


def read_clotho(csv_path: str | Path, audio_dir: str | Path, split: str = "train"
                ) -> tuple[list[ManifestItem], list[str]]:
    """Clotho captions CSV (file_name, caption_1..caption_5) -> (items, missing file names)."""
    rows = _read_csv(csv_path, ("file_name", "caption_1"))
    idx = _index(audio_dir)
    items, missing = [], []
    for r in rows:
        caps = [r[f"caption_{i}"] for i in range(1, 6) if r.get(f"caption_{i}")]
        path = idx.get(r["file_name"].lower())
        if path is None:
            missing.append(r["file_name"])
            continue
        items.append(_item("clotho", Path(r["file_name"]).stem, path, caps, split, [], "Clotho",
                           "CC-BY (per file, see Clotho metadata)", {"file_name": r["file_name"]}))
    return items, missing


def read_macs(yaml_path: str | Path, audio_dir: str | Path, split: str = "train"
              ) -> tuple[list[ManifestItem], list[str]]:
    """MACS YAML -> (items, missing file names); annotators' tags are merged."""
    import yaml

    p = Path(yaml_path)
    if not p.is_file():
        raise InputError(f"caption file not found: {p}")
    try:
        doc = yaml.safe_load(p.read_text(encoding="utf-8"))
    except yaml.YAMLError as e:
        raise InputError(f"{p}: invalid YAML ({str(e).splitlines()[0]})") from None
    if not isinstance(doc, dict) or not isinstance(doc.get("files"), list):
        raise InputError(f"{p}: expected a top-level 'files' list (MACS format)")
    idx = _index(audio_dir)
    items, missing = [], []
    for n, f in enumerate(doc["files"]):
        if not isinstance(f, dict) or "filename" not in f:
            raise InputError(f"{p}: files[{n}] has no 'filename'")
        anns = f.get("annotations") or []
        caps = [a["sentence"].strip() for a in anns if isinstance(a, dict) and a.get("sentence")]
        tags = [t for a in anns if isinstance(a, dict) for t in (a.get("tags") or [])]
        path = idx.get(str(f["filename"]).lower())
        if path is None:
            missing.append(str(f["filename"]))
            continue
        if not caps:
            continue
        items.append(_item("macs", Path(f["filename"]).stem, path, caps, split, tags, "MACS",
                           "see MACS / TAU Urban Acoustic Scenes 2019 terms", {"file_name": f["filename"]}))
    return items, missing


_FILE_COLS = ("file", "filename", "file_name", "audio", "path")
_CAP_COLS = ("caption", "captions", "text", "sentence")


def read_folder(caption_path: str | Path, audio_dir: str | Path, split: str = "train"
                ) -> tuple[list[ManifestItem], list[str]]:
    """A folder of clips with a CSV or JSONL of captions -> (items, missing file names)."""
    p = Path(caption_path)
    if not p.is_file():
        raise InputError(f"caption file not found: {p}")
    rows: list[dict[str, Any]] = []
    if p.suffix.lower() in (".jsonl", ".json"):
        for n, line in enumerate(p.read_text(encoding="utf-8").splitlines(), 1):
            if line.strip():
                try:
                    rows.append(json.loads(line))
                except json.JSONDecodeError as e:
                    raise InputError(f"{p}:{n}: invalid JSON ({e.msg})") from None
    else:
        rows = _read_csv(p, ())
    groups: dict[str, dict[str, Any]] = {}
    for n, r in enumerate(rows, 1):
        fcol = next((c for c in _FILE_COLS if r.get(c)), None)
        ccol = next((c for c in _CAP_COLS if r.get(c)), None)
        if fcol is None or ccol is None:
            raise InputError(f"{p}: row {n} needs a file column {list(_FILE_COLS)} and a caption column "
                             f"{list(_CAP_COLS)}")
        caps = r[ccol] if isinstance(r[ccol], list) else [r[ccol]]
        tags = r.get("tags") or []
        if isinstance(tags, str):
            tags = [t.strip() for t in re.split(r"[;,]", tags) if t.strip()]
        g = groups.setdefault(str(r[fcol]), {"captions": [], "tags": []})
        g["captions"] += [str(c).strip() for c in caps if str(c).strip()]
        g["tags"] += tags
    idx = _index(audio_dir)
    items, missing = [], []
    for name, g in groups.items():
        path = idx.get(Path(name).name.lower()) or idx.get(Path(name).stem.lower())
        cand = Path(audio_dir) / name
        if cand.is_file():
            path = cand
        if path is None:
            missing.append(name)
            continue
        items.append(_item("folder", Path(name).stem, path, g["captions"], split, g["tags"], "folder", "", {}))
    return items, missing


READERS = {"audiocaps": read_audiocaps, "clotho": read_clotho, "macs": read_macs, "folder": read_folder}


def import_dataset(fmt: str, captions: str | Path, audio_dir: str | Path, out: str | Path, split: str = "train",
                   allow_missing: bool = False) -> tuple[int, list[str]]:
    """Read a dataset with the reader for ``fmt`` and write a manifest; returns (items, missing)."""
    if fmt not in READERS:
        raise InputError(f"--format {fmt!r} is not one of {sorted(READERS)}")
    items, missing = READERS[fmt](captions, audio_dir, split)
    if missing and not allow_missing:
        shown = ", ".join(missing[:5]) + (" ..." if len(missing) > 5 else "")
        raise InputError(f"{len(missing)} audio file(s) listed in {captions} are missing from {audio_dir}: {shown} "
                         f"(pass --allow-missing to skip them)")
    if not items:
        raise InputError(f"no items with audio found for {captions} in {audio_dir}")
    write_manifest(out, items)
    return len(items), missing
