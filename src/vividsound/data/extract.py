"""Turn one raw clip into corpus clips: decode, mono, 22,050 Hz, trim silence, cut into <= 10 s pieces.

Each output piece is a FLAC file plus a JSON sidecar (duration, level), both written atomically, so a
rerun skips pieces already done. Unreadable, empty or silent inputs come back as a ``("skip", reason)``
result, never as an exception: the builder lists them in its report.
"""

from __future__ import annotations

import hashlib
import io
import json
import re
from pathlib import Path
from typing import Any

import numpy as np

from vividsound.audio import save_audio
from vividsound.checkpoint import atomic_write_text
from vividsound.data.sources import RawClip, read_clip_bytes
from vividsound.errors import VividsoundError

__all__ = ["clip_stem", "extract_clip", "level_db", "decode", "reserved_hashes", "RESERVED_REASON"]

SR = 22050
MAX_SECONDS = 10.0
MIN_SECONDS = 0.05
MAX_PIECES = 6  # long files (music, ambiences) give at most this many 10 s pieces
# Files whose bytes are those of a sound in a source reserved for independent evaluation (other packages
# sometimes copy them verbatim) are skipped with this reason; the list ships with the package.
RESERVED_REASON = "reserved: its bytes match a file of a source reserved for independent evaluation"
_RESERVED_FILE = Path(__file__).with_name("reserved-sha256.txt")


def reserved_hashes(path: Path | None = None) -> frozenset[str]:
    """The sha256 digests (hex) of every audio file of the reserved evaluation sources."""
    p = path or _RESERVED_FILE
    lines = p.read_text(encoding="ascii").split()
    return frozenset(x.strip().lower() for x in lines if len(x.strip()) == 64)


_RESERVED: frozenset[str] | None = None


def clip_stem(clip: RawClip) -> str:
    """A file-system-safe, unique stem for a raw clip: ``source/sanitised_key``."""
    safe = re.sub(r"[^A-Za-z0-9._-]+", "_", clip.key).strip("_")
    return f"{clip.source}/{safe}"


def level_db(wav: np.ndarray) -> float:
    """RMS level in dBFS of the active part (frames within 30 dB of the loudest frame)."""
    if wav.size == 0:
        return -120.0
    n = 512
    frames = wav[: wav.size // n * n].reshape(-1, n) if wav.size >= n else wav[None]
    rms = np.sqrt((frames.astype(np.float64) ** 2).mean(axis=1) + 1e-12)
    active = rms[rms >= rms.max() * 10 ** (-30 / 20)]
    return float(20 * np.log10(np.sqrt((active ** 2).mean()) + 1e-12))


def decode(data: bytes, name: str) -> np.ndarray:
    """Decode encoded audio bytes to mono float32 at 22,050 Hz; raises VividsoundError when unreadable."""
    import soundfile as sf
    import soxr

    try:
        wav, sr = sf.read(io.BytesIO(data), dtype="float32", always_2d=True)
    except Exception as e:  # libsndfile raises several exception types
        raise VividsoundError(f"cannot decode {name}: {str(e).splitlines()[0][:120]}") from None
    if wav.shape[0] == 0:
        raise VividsoundError(f"{name} holds no samples")
    if not np.isfinite(wav).all():
        raise VividsoundError(f"{name} holds non-finite samples")
    wav = wav.mean(axis=1)
    if sr != SR:
        wav = soxr.resample(wav, sr, SR, quality="HQ").astype(np.float32)
    return np.ascontiguousarray(wav, dtype=np.float32)


def _trim(wav: np.ndarray, rel_db: float = -45.0) -> np.ndarray:
    """Drop leading and trailing audio quieter than ``rel_db`` below the peak (keeps 20 ms margins)."""
    peak = float(np.abs(wav).max())
    if peak <= 0:
        return wav[:0]
    loud = np.flatnonzero(np.abs(wav) >= peak * 10 ** (rel_db / 20))
    margin = int(0.02 * SR)
    return wav[max(0, loud[0] - margin): loud[-1] + margin + 1]


def _write_json(path: Path, obj: Any) -> None:
    atomic_write_text(path, json.dumps(obj, ensure_ascii=False, sort_keys=True))


def extract_clip(clip: RawClip, out: str, cache: str) -> tuple[str, Any]:
    """Process one raw clip; returns ("ok", [piece records]) or ("skip", reason).

    A piece record is ``{"stem", "audio", "duration", "level_db", "piece", "of"}``, ``audio`` relative to
    ``out``. Pieces already on disk with their sidecar are read back, not recomputed.
    """
    stem = clip_stem(clip)
    out_dir = Path(out) / "clips" / clip.source
    done = Path(out) / "clips" / (stem + ".json")
    if done.exists():
        return "ok", json.loads(done.read_text(encoding="utf-8"))
    global _RESERVED
    digest = ""
    try:
        if clip.loc[0] == "render":
            from vividsound.data.render import render

            wav = render(json.loads(clip.loc[1]), Path(cache))
        elif clip.loc[0] == "synth":
            from vividsound.data.synth import synthesise

            wav = synthesise(json.loads(clip.loc[1]))
        else:
            data = read_clip_bytes(clip.loc)
            if _RESERVED is None:
                _RESERVED = reserved_hashes()
            digest = hashlib.sha256(data).hexdigest()
            if digest in _RESERVED:
                return "skip", RESERVED_REASON
            wav = decode(data, f"{clip.source}:{clip.key}")
    except VividsoundError as e:
        return "skip", str(e)
    wav = _trim(wav)
    if wav.size < MIN_SECONDS * SR:
        return "skip", f"shorter than {MIN_SECONDS} s after trimming silence (silent or empty)"
    peak = float(np.abs(wav).max())
    if peak < 1e-3:
        return "skip", "silent (peak below -60 dBFS)"
    if peak > 0.99:
        wav = wav * (0.99 / peak)  # keep 16-bit output unclipped
    piece_len = int(MAX_SECONDS * SR)
    n_pieces = min(MAX_PIECES, int(np.ceil(wav.size / piece_len)))
    records = []
    out_dir.mkdir(parents=True, exist_ok=True)
    for i in range(n_pieces):
        seg = wav[i * piece_len:(i + 1) * piece_len]
        if seg.size < MIN_SECONDS * SR or (i > 0 and seg.size < 2 * SR):
            break  # a short tail of a long file adds nothing
        name = Path(stem).name + (f"__p{i}" if n_pieces > 1 else "") + ".flac"
        path = out_dir / name
        if not path.exists():
            save_audio(path, seg, SR)
        records.append({"stem": stem, "audio": f"clips/{clip.source}/{name}", "duration": round(seg.size / SR, 4),
                        "level_db": round(level_db(seg), 2), "piece": i, "of": n_pieces,
                        **({"sha256": digest} if digest else {})})
    _write_json(done, records)
    return "ok", records
