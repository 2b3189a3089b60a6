"""The server's output folder: generated sounds, their metadata and spectrogram images.

Files are named only by ids this module makes (``secrets.token_hex``), so no request can choose a
path: an id from a URL is checked against ``^[0-9a-f]{32}$`` before it touches the file system, and
the resolved path must still lie inside the folder. The folder keeps the newest ``max_results``
results; older ones are deleted when new ones are written.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from vividsound.audio import save_audio
from vividsound.checkpoint import atomic_write_file
from vividsound.server.config import prepare_output_dir

ID_RE = re.compile(r"^[0-9a-f]{32}$")
AUDIO_SUFFIXES = (".wav", ".flac")
META_SUFFIX = ".json"
MEL_SUFFIX = ".mel.npy"
PNG_SUFFIX = ".png"
PNG_MIN_WIDTH = 640  # spectrogram images are stretched to at least this many pixels
PNG_HEIGHT = 160


@dataclass(frozen=True)
class StoredResult:
    """Where one result's files are."""

    id: str
    audio: Path
    meta: dict[str, Any]


def valid_id(result_id: str) -> bool:
    return bool(ID_RE.fullmatch(result_id))


class ResultStore:
    """Writes and finds results inside one folder (created if missing)."""

    def __init__(self, root: str | os.PathLike, max_results: int = 500) -> None:
        self.root = prepare_output_dir(root)  # ConfigError (one line) when it cannot be written
        self.max_results = max_results
        self._lock = threading.Lock()

    def _path(self, result_id: str, suffix: str) -> Path:
        if not valid_id(result_id):
            raise KeyError(result_id)
        p = (self.root / f"{result_id}{suffix}").resolve()
        if p.parent != self.root:  # belt and braces: the regex already excludes separators and dots
            raise KeyError(result_id)
        return p

    # ------------------------------------------------------------------------------------------ write
    def save(self, wav: torch.Tensor, mel: torch.Tensor, sample_rate: int, fmt: str,
             metadata: dict[str, Any]) -> StoredResult:
        """Write one sound (mono waveform (samples,), log-mel (n_mels, frames)) and its metadata."""
        result_id = secrets.token_hex(16)
        audio = self._path(result_id, "." + fmt)
        save_audio(audio, wav, sample_rate, metadata)
        # The mel is kept (float16, a few kB) so the spectrogram PNG is drawn only if someone asks.
        self._atomic_write(self._path(result_id, MEL_SUFFIX),
                           lambda f: np.save(f, mel.detach().cpu().numpy().astype(np.float16)))
        meta = {**metadata, "id": result_id, "format": fmt, "sample_rate": sample_rate,
                "created": time.time()}
        text = json.dumps(meta, ensure_ascii=True, sort_keys=True, default=str).encode()
        self._atomic_write(self._path(result_id, META_SUFFIX), lambda f: f.write(text))
        return StoredResult(result_id, audio, meta)

    def _atomic_write(self, path: Path, write) -> None:
        def to_file(tmp: Path) -> None:
            with open(tmp, "wb") as f:
                write(f)

        atomic_write_file(path, to_file)

    def prune(self) -> int:
        """Delete the oldest results beyond ``max_results``; returns how many were deleted."""
        with self._lock:
            # Only finished results: another request's atomic write keeps a hidden temporary name (which may
            # also end in .json) until it is renamed, and can vanish between listing and stat.
            dated = []
            for p in self.root.glob("*" + META_SUFFIX):
                if p.name.startswith(".") or not valid_id(p.name[: -len(META_SUFFIX)]):
                    continue
                try:
                    dated.append((p.stat().st_mtime, p))
                except FileNotFoundError:  # pruned or replaced meanwhile
                    continue
            metas = [p for _, p in sorted(dated)]
            extra = metas[: max(0, len(metas) - self.max_results)]
            for m in extra:
                rid = m.name[: -len(META_SUFFIX)]
                if not valid_id(rid):
                    continue
                for suffix in (*AUDIO_SUFFIXES, MEL_SUFFIX, PNG_SUFFIX, META_SUFFIX):
                    self._path(rid, suffix).unlink(missing_ok=True)
            return len(extra)

    # ------------------------------------------------------------------------------------------ read
    def get(self, result_id: str) -> StoredResult:
        """The stored result ``result_id``; raises KeyError when the id is malformed or unknown."""
        meta_path = self._path(result_id, META_SUFFIX)
        if not meta_path.is_file():
            raise KeyError(result_id)
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
        fmt = meta.get("format")
        if "." + str(fmt) not in AUDIO_SUFFIXES:
            raise KeyError(result_id)
        audio = self._path(result_id, "." + fmt)
        if not audio.is_file():
            raise KeyError(result_id)
        return StoredResult(result_id, audio, meta)

    def spectrogram(self, result_id: str) -> Path:
        """The PNG of a result's log-mel, drawn on first request and kept."""
        png = self._path(result_id, PNG_SUFFIX)
        if png.is_file():
            return png
        mel_path = self._path(result_id, MEL_SUFFIX)
        if not mel_path.is_file():
            raise KeyError(result_id)
        mel = np.load(mel_path, allow_pickle=False).astype(np.float32)
        self._atomic_write(png, lambda f: render_png(mel, f))
        return png


def render_png(mel: np.ndarray, fileobj) -> None:
    """Draw a log-mel (n_mels, frames) as a colour image, low frequencies at the bottom, no axes."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import cm
    from matplotlib.image import imsave

    img = np.asarray(mel, dtype=np.float32)[::-1]  # row 0 = highest mel band, drawn at the top
    lo, hi = np.percentile(img, 2), np.percentile(img, 99.5)
    img = np.clip((img - lo) / max(hi - lo, 1e-6), 0.0, 1.0)
    # Nearest-neighbour stretch to a readable size, so browsers need not upscale a tiny image.
    sx = max(1, -(-PNG_MIN_WIDTH // img.shape[1]))
    sy = max(1, -(-PNG_HEIGHT // img.shape[0]))
    img = np.repeat(np.repeat(img, sy, axis=0), sx, axis=1)
    imsave(fileobj, img, cmap=cm.magma, vmin=0.0, vmax=1.0, format="png")
