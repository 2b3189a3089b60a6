"""The user's clips for ``vividsound finetune``: where they are, their captions, which are usable.

``DATA`` can be

* a folder with ``metadata.csv`` (or ``metadata.jsonl``): the audiofolder convention of Hugging Face
  datasets, a ``file_name`` column (paths relative to the folder) and a ``caption`` column (``text`` is
  accepted too); a row with an empty caption, or a table without a caption column, takes its caption
  from the file name;
* a folder of audio files without metadata: every audio file under it, captioned by its file name
  (``door_creak_03.wav`` -> "door creak"; a name without words takes its folder's name);
* a manifest (``.jsonl``, the form ``vividsound corpus import`` writes; every split is used);
* with ``--format audiocaps|clotho|macs|folder --captions FILE``: the audio folder of a dataset in one
  of the formats ``vividsound corpus import`` reads.

Clips that cannot be used are skipped and reported by reason and name (unreadable, silent, shorter
than one code column, listed but missing, no caption); none usable is an :class:`InputError`.
"""

from __future__ import annotations

import csv
import hashlib
import json
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from vividsound.audio import AudioError, load_audio
from vividsound.data.manifest import ManifestError, read_manifest
from vividsound.data.readers import READERS, _AUDIO
from vividsound.errors import InputError
from vividsound.models.text import MAX_PROMPT_CHARS

SILENT_PEAK = 1e-3  # a clip whose peak stays below -60 dBFS is treated as silent
METADATA_NAMES = ("metadata.csv", "metadata.jsonl")
CAPTION_COLUMNS = ("caption", "text")


@dataclass
class Clip:
    """One training clip."""

    name: str  # as the user's data names it (path relative to DATA where there is one)
    path: Path
    captions: list[str]  # one or more non-empty captions
    caption_from: str = "metadata"  # metadata | file name
    sha256: str = ""  # of the file's bytes (filled when read)
    seconds: float = 0.0  # length of the part used (filled when read)


@dataclass
class Skipped:
    """Clips left out, by reason."""

    by_reason: dict[str, list[str]] = field(default_factory=dict)

    def add(self, reason: str, name: str) -> None:
        self.by_reason.setdefault(reason, []).append(name)

    @property
    def count(self) -> int:
        return sum(len(v) for v in self.by_reason.values())

    def lines(self, show: int = 5) -> list[str]:
        out = []
        for reason, names in self.by_reason.items():
            more = f" and {len(names) - show} more" if len(names) > show else ""
            out.append(f"skipped {len(names)} clip(s), {reason}: {', '.join(names[:show])}{more}")
        return out

    def to_dict(self) -> dict[str, list[str]]:
        return {k: list(v) for k, v in self.by_reason.items()}


def caption_from_name(rel: str) -> str:
    """A caption from a file's name: words of the stem, else of its folders ("" when none has words).

    ``Door_Creak-03.wav`` -> "door creak"; ``kennel/001.wav`` -> "kennel"."""
    parts = Path(rel).with_suffix("").parts
    for part in reversed(parts):
        words = _words(part)
        if words:
            return words
    return ""


def _words(text: str) -> str:
    text = re.sub(r"([a-z])([A-Z])", r"\1 \2", text)  # camelCase -> camel Case
    tokens = re.split(r"[\s_\-.+,;()\[\]]+", text.lower())
    # Numbering ("03", "v2", "take3") is not part of what a sound is.
    keep = [t for t in tokens if t and re.search(r"[^\W\d_]", t) and not re.fullmatch(r"(v|take|var)?\d+[a-z]?", t)]
    return " ".join(keep)


def _audio_files(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*") if p.is_file() and p.suffix.lower() in _AUDIO
                  and not any(part.startswith(".") for part in p.relative_to(root).parts))


def _metadata_rows(path: Path) -> list[dict[str, str]]:
    if path.suffix == ".jsonl":
        rows = []
        for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if line.strip():
                try:
                    row = json.loads(line)
                except json.JSONDecodeError as e:
                    raise InputError(f"{path}:{n}: invalid JSON ({e.msg})") from None
                if not isinstance(row, dict):
                    raise InputError(f"{path}:{n}: expected a JSON object with file_name and caption")
                rows.append({str(k): "" if v is None else str(v) for k, v in row.items()})
        return rows
    try:
        with path.open(newline="", encoding="utf-8-sig") as f:
            return [{(k or "").strip(): (v or "").strip() for k, v in r.items()} for r in csv.DictReader(f)]
    except (UnicodeDecodeError, csv.Error) as e:
        raise InputError(f"{path} is not a readable CSV file ({e})") from None


def _from_metadata(root: Path, meta: Path, skipped: Skipped) -> list[Clip]:
    rows = _metadata_rows(meta)
    if not rows:
        raise InputError(f"{meta} lists no clips (it needs a header line with file_name and caption, then one row "
                         f"per clip)")
    cols = list(rows[0])
    if "file_name" not in cols:
        raise InputError(f"{meta} has no 'file_name' column (found {cols}); the audiofolder convention is "
                         f"file_name,caption")
    cap_col = next((c for c in CAPTION_COLUMNS if c in cols), None)
    groups: dict[str, list[str]] = {}
    for r in rows:
        name = r.get("file_name", "").strip()
        if not name:
            continue
        caps = groups.setdefault(name, [])
        cap = " ".join((r.get(cap_col) or "").split()) if cap_col else ""
        if cap:
            caps.append(cap)
    clips = []
    for name, caps in groups.items():
        path = (root / name)
        if not path.is_file():
            skipped.add("listed in metadata but not found", name)
            continue
        source = "metadata"
        if not caps:
            auto = caption_from_name(name)
            if not auto:
                skipped.add("no caption (empty in metadata, no words in the file name)", name)
                continue
            caps, source = [auto], "file name"
        clips.append(Clip(name, path, caps, source))
    return clips


def _from_folder(root: Path, skipped: Skipped) -> list[Clip]:
    files = _audio_files(root)
    if not files:
        raise InputError(f"DATA={root} holds no audio files ({', '.join(_AUDIO)}) and no metadata.csv")
    clips = []
    for p in files:
        rel = p.relative_to(root).as_posix()
        cap = caption_from_name(rel)
        if not cap:
            skipped.add("no caption (no words in the file or folder name)", rel)
            continue
        clips.append(Clip(rel, p, [cap], "file name"))
    return clips


def _from_items(items, skipped: Skipped, missing: list[str]) -> list[Clip]:
    for m in missing:
        skipped.add("listed but not found", m)
    return [Clip(it.id, Path(it.audio), list(it.captions)) for it in items]


def find_clips(data: str | Path, fmt: str | None = None, captions: str | Path | None = None) -> tuple[list[Clip], Skipped]:
    """The clips named by ``data`` (see the module docstring) and those skipped so far; nothing is read yet.

    Raises:
        InputError: ``data`` missing or empty, a malformed metadata file, or no clip with a caption.
    """
    root = Path(data)
    skipped = Skipped()
    if fmt is not None:
        if fmt not in READERS:
            raise InputError(f"--format {fmt!r}; allowed: {', '.join(sorted(READERS))}")
        if not captions:
            raise InputError(f"--format {fmt} needs --captions FILE (the dataset's caption file)")
        if not root.is_dir():
            raise InputError(f"DATA={root} is not a folder (with --format, DATA is the dataset's audio folder)")
        items, missing = READERS[fmt](captions, root)
        clips = _from_items(items, skipped, missing)
    elif root.is_file():
        if root.suffix.lower() != ".jsonl":
            raise InputError(f"DATA={root} is a file; allowed: a folder of clips (with metadata.csv or not) or a "
                             f"manifest .jsonl")
        try:
            items = read_manifest(root)
        except ManifestError as e:
            raise InputError(str(e)) from None
        for it in items:
            it.audio = str(it.audio_path(root.parent))
        clips = _from_items(items, skipped, [])
    elif root.is_dir():
        meta = next((root / n for n in METADATA_NAMES if (root / n).is_file()), None)
        clips = _from_metadata(root, meta, skipped) if meta else _from_folder(root, skipped)
    else:
        raise InputError(f"DATA={root} does not exist; allowed: a folder of clips or a manifest .jsonl")
    clips = _drop_long_captions(clips, skipped)
    if not clips:
        raise InputError(f"no usable clip in DATA={root}: " + "; ".join(skipped.lines()) if skipped.count else
                         f"no clip listed in DATA={root}")
    return clips, skipped


def _drop_long_captions(clips: list[Clip], skipped: Skipped) -> list[Clip]:
    """Captions a prompt could not be (over MAX_PROMPT_CHARS) are dropped; a clip left without one is skipped."""
    kept = []
    for c in clips:
        c.captions = [" ".join(cap.split()) for cap in c.captions if len(cap) <= MAX_PROMPT_CHARS]
        if c.captions:
            kept.append(c)
        else:
            skipped.add(f"every caption longer than {MAX_PROMPT_CHARS} characters", c.name)
    return kept


def file_sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def read_clips(clips: list[Clip], sample_rate: int, min_samples: int, max_seconds: float, skipped: Skipped,
               progress: bool = False) -> tuple[list[Clip], list[np.ndarray]]:
    """Read every clip (mono, ``sample_rate``, at most ``max_seconds``); keep those that are usable.

    A clip is skipped (and named in ``skipped``) when it cannot be read, is silent (peak below -60 dBFS)
    or is shorter than ``min_samples`` (one code column). Returns the kept clips (``sha256`` and
    ``seconds`` filled) and their waveforms (N,) float32."""
    kept, waves = [], []
    it = clips
    if progress:
        from tqdm.auto import tqdm

        it = tqdm(clips, desc="reading clips", unit="clip", dynamic_ncols=True)
    for c in it:
        try:
            wav = load_audio(c.path, sample_rate, max_seconds=max_seconds)
        except AudioError:
            skipped.add("unreadable", c.name)
            continue
        if wav.shape[0] < min_samples:
            skipped.add(f"shorter than one code column ({min_samples / sample_rate:.3f} s)", c.name)
            continue
        if float(np.abs(wav).max()) < SILENT_PEAK:
            skipped.add("silent (peak below -60 dBFS)", c.name)
            continue
        c.sha256 = file_sha256(c.path)
        c.seconds = round(wav.shape[0] / sample_rate, 3)
        kept.append(c)
        waves.append(wav)
    return kept, waves
