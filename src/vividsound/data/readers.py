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
One bad entry never aborts an import (issue 26): audio files whose names are not valid UTF-8 and audio
that cannot be read are skipped, each with its reason (``import_dataset`` writes them to
``<out>.skipped.json`` and returns them); a caption file that is not UTF-8 is read as Latin-1, and the
import says so.
"""

from __future__ import annotations

import csv
import io
import json
import re
from pathlib import Path
from typing import Any, Iterable

from vividsound.data.manifest import ManifestItem, write_manifest
from vividsound.errors import InputError

__all__ = ["read_audiocaps", "read_clotho", "read_macs", "read_folder", "import_dataset", "READERS"]

_AUDIO = (".wav", ".flac", ".ogg", ".mp3", ".m4a", ".opus")


def _utf8(text: str) -> bool:
    """False for names holding bytes that were not UTF-8 (Python keeps them as lone surrogates)."""
    try:
        text.encode("utf-8")
        return True
    except UnicodeEncodeError:
        return False


def _index(folder: str | Path, skipped: list[dict[str, str]] | None = None) -> dict[str, Path]:
    """Map file name and stem (both lower-case) -> path for every audio file under ``folder``.

    Files (or folders) whose names are not valid UTF-8 cannot go into a UTF-8 manifest: they are left
    out and recorded in ``skipped``."""
    root = Path(folder)
    if not root.is_dir():
        raise InputError(f"audio folder not found: {root}")
    idx: dict[str, Path] = {}
    for p in sorted(root.rglob("*")):
        if p.is_file() and p.suffix.lower() in _AUDIO:
            if not _utf8(str(p)):
                if skipped is not None:
                    skipped.append({"file": str(p).encode("utf-8", "backslashreplace").decode("utf-8"),
                                    "reason": "the file or folder name is not valid UTF-8"})
                continue
            idx.setdefault(p.name.lower(), p)
            idx.setdefault(p.stem.lower(), p)
    return idx


def _read_text(p: Path, notes: list[str] | None = None) -> str:
    """A caption file's text: UTF-8 (a BOM is allowed); otherwise read as Latin-1, with a note saying so
    (spreadsheet programs often save CSV in a legacy 8-bit encoding)."""
    data = p.read_bytes()
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        line = data[: e.start].count(b"\n") + 1
        if notes is not None:
            notes.append(f"{p} is not UTF-8 (line {line}); it was read as Latin-1: check accented captions")
        return data.decode("latin-1")


def _read_csv(path: str | Path, required: Iterable[str], notes: list[str] | None = None) -> list[dict[str, str]]:
    p = Path(path)
    if not p.is_file():
        raise InputError(f"caption file not found: {p}")
    with io.StringIO(_read_text(p, notes), newline="") as f:
        rows = list(csv.DictReader(f))
        fields = [h.strip() for h in (rows[0].keys() if rows else [])]
    missing = [c for c in required if c not in fields]
    if rows and missing:
        raise InputError(f"{p}: missing column(s) {missing}; found {fields}")
    return [{k.strip(): (v or "").strip() for k, v in r.items() if k} for r in rows]


def _duration(path: Path) -> float | str:
    """Seconds of audio in ``path``, or the reason it cannot be read (a string)."""
    import soundfile as sf

    try:
        info = sf.info(str(path))
    except Exception as e:  # noqa: BLE001 - libsndfile raises several types; the reason is kept
        return f"unreadable audio ({' '.join(str(e).split())[:120]})"
    if info.frames <= 0 or info.samplerate <= 0:
        return "the audio file holds no samples"
    return round(info.frames / info.samplerate, 4)


def _item(prefix: str, key: str, path: Path, captions: list[str], split: str, tags: list[str],
          source: str, licence: str, meta: dict[str, Any], skipped: list[dict[str, str]] | None = None
          ) -> ManifestItem | None:
    """The manifest item, or None (recorded in ``skipped``) when its audio cannot be read."""
    duration = _duration(path)
    if isinstance(duration, str):
        if skipped is not None:
            skipped.append({"file": str(path), "reason": duration})
        return None
    safe = re.sub(r"[^A-Za-z0-9._-]+", "_", key)
    return ManifestItem(id=f"{prefix}-{safe}", audio=str(path.resolve()), captions=captions, split=split,
                        tags=sorted(set(tags)), source=source, licence=licence, duration=duration, meta=meta)


def read_audiocaps(csv_path: str | Path, audio_dir: str | Path, split: str = "train", *,
                   skipped: list[dict[str, str]] | None = None, notes: list[str] | None = None
                   ) -> tuple[list[ManifestItem], list[str]]:
    """AudioCaps CSV -> (items, missing clip ids); unreadable or badly named audio goes to ``skipped``."""
    rows = _read_csv(csv_path, ("youtube_id", "caption"), notes)
    idx = _index(audio_dir, skipped)
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
                                                          "audiocap_ids": g["ids"]}, skipped))
    return [it for it in items if it is not None], missing


def read_clotho(csv_path: str | Path, audio_dir: str | Path, split: str = "train", *,
                skipped: list[dict[str, str]] | None = None, notes: list[str] | None = None
                ) -> tuple[list[ManifestItem], list[str]]:
    """Clotho captions CSV (file_name, caption_1..caption_5) -> (items, missing file names)."""
    rows = _read_csv(csv_path, ("file_name", "caption_1"), notes)
    idx = _index(audio_dir, skipped)
    items, missing = [], []
    for r in rows:
        caps = [r[f"caption_{i}"] for i in range(1, 6) if r.get(f"caption_{i}")]
        path = idx.get(r["file_name"].lower())
        if path is None:
            missing.append(r["file_name"])
            continue
        items.append(_item("clotho", Path(r["file_name"]).stem, path, caps, split, [], "Clotho",
                           "CC-BY (per file, see Clotho metadata)", {"file_name": r["file_name"]}, skipped))
    return [it for it in items if it is not None], missing


def read_macs(yaml_path: str | Path, audio_dir: str | Path, split: str = "train", *,
              skipped: list[dict[str, str]] | None = None, notes: list[str] | None = None
              ) -> tuple[list[ManifestItem], list[str]]:
    """MACS YAML -> (items, missing file names); annotators' tags are merged."""
    import yaml

    p = Path(yaml_path)
    if not p.is_file():
        raise InputError(f"caption file not found: {p}")
    try:
        doc = yaml.safe_load(_read_text(p, notes))
    except yaml.YAMLError as e:
        raise InputError(f"{p}: invalid YAML ({str(e).splitlines()[0]})") from None
    if not isinstance(doc, dict) or not isinstance(doc.get("files"), list):
        raise InputError(f"{p}: expected a top-level 'files' list (MACS format)")
    idx = _index(audio_dir, skipped)
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
                           "see MACS / TAU Urban Acoustic Scenes 2019 terms", {"file_name": f["filename"]},
                           skipped))
    return [it for it in items if it is not None], missing


_FILE_COLS = ("file", "filename", "file_name", "audio", "path")
_CAP_COLS = ("caption", "captions", "text", "sentence")


def read_folder(caption_path: str | Path, audio_dir: str | Path, split: str = "train", *,
                skipped: list[dict[str, str]] | None = None, notes: list[str] | None = None
                ) -> tuple[list[ManifestItem], list[str]]:
    """A folder of clips with a CSV or JSONL of captions -> (items, missing file names)."""
    p = Path(caption_path)
    if not p.is_file():
        raise InputError(f"caption file not found: {p}")
    rows: list[dict[str, Any]] = []
    if p.suffix.lower() in (".jsonl", ".json"):
        for n, line in enumerate(_read_text(p, notes).splitlines(), 1):
            if line.strip():
                try:
                    row = json.loads(line)
                except (json.JSONDecodeError, RecursionError) as e:
                    raise InputError(f"{p}:{n}: invalid JSON ({getattr(e, 'msg', type(e).__name__)})") from None
                if not isinstance(row, dict):
                    raise InputError(f"{p}:{n}: each line must be a JSON object like "
                                     f'{{"file": "a.wav", "caption": "..."}}, got {type(row).__name__}')
                rows.append(row)
    else:
        rows = _read_csv(p, (), notes)
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
    idx = _index(audio_dir, skipped)
    items, missing = [], []
    for name, g in groups.items():
        path = idx.get(Path(name).name.lower()) or idx.get(Path(name).stem.lower())
        cand = Path(audio_dir) / name
        if cand.is_file():
            path = cand
        if path is None:
            missing.append(name)
            continue
        items.append(_item("folder", Path(name).stem, path, g["captions"], split, g["tags"], "folder", "", {},
                           skipped))
    return [it for it in items if it is not None], missing


READERS = {"audiocaps": read_audiocaps, "clotho": read_clotho, "macs": read_macs, "folder": read_folder}


def import_dataset(fmt: str, captions: str | Path, audio_dir: str | Path, out: str | Path, split: str = "train",
                   allow_missing: bool = False) -> tuple[int, list[str], list[dict[str, str]], list[str]]:
    """Read a dataset with the reader for ``fmt`` and write a manifest.

    Returns:
        (items written, missing audio names, skipped files with their reasons, notes such as an encoding
        fallback). The skipped files are also written to ``<out>.skipped.json``.
    """
    if fmt not in READERS:
        raise InputError(f"--format {fmt!r} is not one of {sorted(READERS)}")
    skipped: list[dict[str, str]] = []
    notes: list[str] = []
    items, missing = READERS[fmt](captions, audio_dir, split, skipped=skipped, notes=notes)
    if missing and not allow_missing:
        shown = ", ".join(missing[:5]) + (" ..." if len(missing) > 5 else "")
        raise InputError(f"{len(missing)} audio file(s) listed in {captions} are missing from {audio_dir}: {shown} "
                         f"(pass --allow-missing to skip them)")
    if not items:
        raise InputError(f"no items with audio found for {captions} in {audio_dir}")
    from vividsound.checkpoint import atomic_write_files

    out = Path(out)
    report = out.with_name(out.stem + ".skipped.json")
    body = json.dumps({"skipped": skipped, "notes": notes}, indent=1, ensure_ascii=True) + "\n"
    atomic_write_files([(out, lambda tmp: write_manifest(tmp, items)),
                        (report, lambda tmp: tmp.write_text(body, encoding="utf-8"))])
    return len(items), missing, skipped, notes
