"""Signal checkers for the probe set: pure functions ``check(audio, sr, probe) -> bool``.

Each checker reads only the waveform and the probe's ground truth (``probe["truth"]``). They use an
energy envelope (20 ms frames, smoothed) to find events, the spectral centroid to tell a bright sound
from a dark one, and YIN (de Cheveigné & Kawahara 2002) for pitch, because plain autocorrelation picks
octave errors.
"""

from __future__ import annotations

from collections import Counter
from typing import Any, Callable

import numpy as np

__all__ = ["envelope_db", "segments", "yin", "spectral_centroid", "CHECKERS", "check", "truth_class",
           "prompt_blind_bound"]

HOP_S = 0.01
WIN_S = 0.02


def envelope_db(audio: np.ndarray, sr: int) -> np.ndarray:
    """Frame RMS in dB (10 ms hop, 20 ms window)."""
    hop, win = int(sr * HOP_S), int(sr * WIN_S)
    x = np.asarray(audio, dtype=np.float64).reshape(-1)
    if x.size < win:
        x = np.pad(x, (0, win - x.size))
    n = 1 + (x.size - win) // hop
    idx = np.arange(win)[None, :] + hop * np.arange(n)[:, None]
    rms = np.sqrt((x[idx] ** 2).mean(axis=1) + 1e-12)
    return 20 * np.log10(rms)


def segments(audio: np.ndarray, sr: int, rel_db: float = 25.0, min_gap: float = 0.12,
             min_len: float = 0.03) -> list[tuple[float, float]]:
    """Active regions (start, end) in seconds: frames within ``rel_db`` of the loudest frame.

    Gaps shorter than ``min_gap`` are bridged and regions shorter than ``min_len`` dropped.
    """
    env = envelope_db(audio, sr)
    on = env > env.max() - rel_db
    on &= env > -70.0
    regions: list[list[float]] = []
    for i in np.flatnonzero(np.diff(np.r_[0, on.astype(np.int8), 0]) != 0).reshape(-1, 2):
        s, e = i[0] * HOP_S, i[1] * HOP_S + WIN_S
        if regions and s - regions[-1][1] < min_gap:
            regions[-1][1] = e
        else:
            regions.append([s, e])
    return [(s, e) for s, e in regions if e - s >= min_len]


def spectral_centroid(audio: np.ndarray, sr: int) -> float:
    """Power-weighted mean frequency (Hz) of a waveform."""
    x = np.asarray(audio, dtype=np.float64)
    if x.size < 16:
        return 0.0
    spec = np.abs(np.fft.rfft(x * np.hanning(x.size))) ** 2
    f = np.fft.rfftfreq(x.size, 1.0 / sr)
    return float((spec * f).sum() / (spec.sum() + 1e-12))


def yin(audio: np.ndarray, sr: int, fmin: float = 60.0, fmax: float = 2000.0, frame: int = 2048,
        hop: int = 512, threshold: float = 0.15) -> tuple[np.ndarray, np.ndarray]:
    """YIN f0 track: (f0 in Hz per frame, 0 where unvoiced; aperiodicity per frame)."""
    x = np.asarray(audio, dtype=np.float64)
    tau_min, tau_max = max(2, int(sr / fmax)), min(frame - 1, int(sr / fmin))
    f0s, aps = [], []
    for start in range(0, max(1, x.size - frame), hop):
        w = x[start:start + frame]
        if w.size < frame:
            break
        if np.sqrt((w ** 2).mean()) < 1e-4:
            f0s.append(0.0)
            aps.append(1.0)
            continue
        # difference function d(tau) = sum (x_t - x_{t+tau})^2 over half the frame, via FFT correlation
        half = frame // 2
        a = w[:half]
        fa = np.fft.rfft(w, 2 * frame)
        fb = np.fft.rfft(a[::-1], 2 * frame)
        corr = np.fft.irfft(fa * fb)[half - 1: half - 1 + half]  # sum_t w[t+tau] a[t], tau = 0..half-1
        energy = np.cumsum(np.r_[0.0, w ** 2])
        e_a = energy[half]
        e_shift = energy[np.arange(half) + half] - energy[np.arange(half)]
        d = e_a + e_shift - 2 * corr
        d[0] = 0.0
        cmnd = np.ones_like(d)
        cs = np.cumsum(d[1:])
        cmnd[1:] = d[1:] * np.arange(1, half) / np.maximum(cs, 1e-12)
        band = cmnd[tau_min:tau_max]
        below = np.flatnonzero(band < threshold)
        if below.size:
            t = below[0]
            while t + 1 < band.size and band[t + 1] < band[t]:
                t += 1
        else:
            t = int(np.argmin(band))
        tau = t + tau_min
        ap = float(cmnd[tau])
        if 1 <= tau < half - 1:  # parabolic interpolation
            y0, y1, y2 = cmnd[tau - 1], cmnd[tau], cmnd[tau + 1]
            den = y0 - 2 * y1 + y2
            tau = tau + (0.5 * (y0 - y2) / den if abs(den) > 1e-12 else 0.0)
        f0s.append(sr / tau if ap < 0.35 else 0.0)
        aps.append(ap)
    return np.array(f0s), np.array(aps)


def _two_segments(audio: np.ndarray, sr: int) -> tuple[tuple[float, float], tuple[float, float]] | None:
    segs = segments(audio, sr, min_gap=0.2)
    if len(segs) < 2:
        return None
    # the two longest-separated groups: split at the widest gap
    gaps = [segs[i + 1][0] - segs[i][1] for i in range(len(segs) - 1)]
    k = int(np.argmax(gaps))
    return (segs[0][0], segs[k][1]), (segs[k + 1][0], segs[-1][1])


def _cut(audio: np.ndarray, sr: int, seg: tuple[float, float]) -> np.ndarray:
    return np.asarray(audio)[int(seg[0] * sr): int(seg[1] * sr)]


def check_count(audio: np.ndarray, sr: int, probe: dict[str, Any]) -> bool:
    """Number of separate events equals ``truth.count``."""
    return len(segments(audio, sr)) == probe["truth"]["count"]


def check_order(audio: np.ndarray, sr: int, probe: dict[str, Any]) -> bool:
    """Two events; the first is brighter (spectral centroid) iff ``truth.first_brighter``.

    The reference's timing (``truth.second_onset``) is not checked: the prompt ("X, then Y") does not
    state it, so no generator could know it."""
    two = _two_segments(audio, sr)
    if two is None:
        return False
    c1, c2 = (spectral_centroid(_cut(audio, sr, s), sr) for s in two)
    return (c1 > c2) == probe["truth"]["first_brighter"]


def check_duration(audio: np.ndarray, sr: int, probe: dict[str, Any]) -> bool:
    """Active span (first onset to last offset) is long (> ``truth.threshold`` s) iff ``truth.long``."""
    segs = segments(audio, sr, min_gap=0.3)
    if not segs:
        return False
    span = segs[-1][1] - segs[0][0]
    return (span > probe["truth"].get("threshold", 2.5)) == probe["truth"]["long"]


def check_pitch(audio: np.ndarray, sr: int, probe: dict[str, Any]) -> bool:
    """Median YIN f0 of voiced frames is above ``truth.split_hz`` iff ``truth.high``."""
    f0, _ = yin(audio, sr)
    voiced = f0[f0 > 0]
    if voiced.size < 3:
        return False
    return (float(np.median(voiced)) > probe["truth"].get("split_hz", 350.0)) == probe["truth"]["high"]


def check_loudness(audio: np.ndarray, sr: int, probe: dict[str, Any]) -> bool:
    """Two events; the second is louder by >= ``truth.min_db`` iff ``truth.order == "quiet_loud"``."""
    segs = segments(audio, sr, rel_db=45.0, min_gap=0.2)
    if len(segs) < 2:
        return False
    gaps = [segs[i + 1][0] - segs[i][1] for i in range(len(segs) - 1)]
    k = int(np.argmax(gaps))
    a, b = (segs[0][0], segs[k][1]), (segs[k + 1][0], segs[-1][1])
    la, lb = (float(envelope_db(_cut(audio, sr, s), sr).max()) for s in (a, b))
    diff = lb - la
    need = probe["truth"].get("min_db", 6.0)
    return diff >= need if probe["truth"]["order"] == "quiet_loud" else -diff >= need


def speechiness(audio: np.ndarray, sr: int) -> float:
    """How speech-like a segment is, in [0, 1]: the share of frames voiced with an f0 in the speech range
    (70-400 Hz, aperiodicity < 0.2, YIN searched up to 2 kHz so whistles and beeps are not mistaken for subharmonics) times
    how much that pitch moves (interquartile range in semitones, saturating at 1). Steady tones, noises and
    short hits score near 0."""
    f0, ap = yin(audio, sr, fmin=60.0, fmax=2000.0, frame=1024, hop=256)
    if f0.size == 0:
        return 0.0
    speech = f0[(f0 >= 70.0) & (f0 <= 400.0) & (ap < 0.2)]  # clearly periodic frames only
    if speech.size * 256 < 0.25 * sr:  # less than a quarter second of voiced speech-range pitch
        return 0.0
    semis = 12 * np.log2(speech / np.median(speech))
    q75, q25 = np.percentile(semis, [75, 25])  # robust spread: one stray frame must not count as intonation
    return (speech.size / f0.size) * min(1.0, float(q75 - q25))


def check_speech_then(audio: np.ndarray, sr: int, probe: dict[str, Any]) -> bool:
    """Two events; the first is more speech-like (voicing with moving pitch) than the second iff
    ``truth.speech_first``."""
    two = _two_segments(audio, sr)
    if two is None:
        return False
    s1, s2 = (speechiness(_cut(audio, sr, s), sr) for s in two)
    return (s1 > s2) == probe["truth"]["speech_first"]


def check_silence_then(audio: np.ndarray, sr: int, probe: dict[str, Any]) -> bool:
    """At least ``truth.min_silence`` s (default 1.0) of silence (50 dB below the peak), then an event.

    The reference's onset (``truth.onset``) is not checked: "silence, then X" does not say how long the
    silence lasts. 50 dB, not less: slowly swelling sounds (a whoosh) start long before their loud part,
    and the corpus trims clips at 45 dB below their peak."""
    segs = segments(audio, sr, rel_db=50.0)
    if not segs:
        return False
    return segs[0][0] >= float(probe["truth"].get("min_silence", 1.0))


CHECKERS: dict[str, Callable[[np.ndarray, int, dict[str, Any]], bool]] = {
    "count": check_count, "order": check_order, "duration": check_duration, "pitch": check_pitch,
    "loudness": check_loudness, "speech_then": check_speech_then, "silence_then": check_silence_then,
}


_CLASS_KEY = {"count": "count", "order": "first_brighter", "duration": "long", "pitch": "high",
              "loudness": "order", "speech_then": "speech_first", "silence_then": None}


def truth_class(probe: dict[str, Any]) -> Any:
    """The probe's answer class: the truth field its prompt decides (None for ``silence_then``, whose
    probes all ask the same thing). For every type, audio that passes one class fails all the others."""
    key = _CLASS_KEY.get(probe["type"], "?")
    if key == "?":
        raise ValueError(f"unknown probe type {probe.get('type')!r}; known: {sorted(CHECKERS)}")
    return None if key is None else probe["truth"][key]


def prompt_blind_bound(probes: list[dict[str, Any]]) -> dict[str, float]:
    """Per type, the most a generator that ignores the prompt can score in expectation: the share of the
    commonest answer class. (Its audio cannot depend on the class, and passing one class fails the others,
    so its pass rate is a mix of per-class pass rates weighted by the class shares.)"""
    by_type: dict[str, list[Any]] = {}
    for p in probes:
        by_type.setdefault(str(p["type"]), []).append(truth_class(p))
    return {t: max(Counter(classes).values()) / len(classes) for t, classes in sorted(by_type.items())}


def check(audio: np.ndarray, sr: int, probe: dict[str, Any]) -> bool:
    """Run the checker of ``probe["type"]``."""
    try:
        fn = CHECKERS[probe["type"]]
    except KeyError:
        raise ValueError(f"unknown probe type {probe.get('type')!r}; known: {sorted(CHECKERS)}") from None
    return bool(fn(np.asarray(audio, dtype=np.float32).reshape(-1), int(sr), probe))
