"""The probe set: seeded prompts with ground truth, reference renders and a signal checker per type.

Seven types, ``n_per_type`` probes each: ``count`` (1-5 events), ``order`` ("X, then Y" with timing),
``duration`` (short vs long), ``pitch`` (high vs low), ``loudness`` (quiet then loud, or the reverse),
``speech_then`` (speech then X, or X then speech) and ``silence_then`` (silence, then X).

References are deterministic synthetic renders, or, when a corpus is given, built from its *test*
split only (the event sounds of count / loudness / silence_then / speech_then); pitch, order and
duration always use renders, whose pitch and brightness are known exactly.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Callable

import numpy as np

from vividsound.data.captions import count_word

__all__ = ["SR", "SOUNDS", "synth_sound", "synth_speech", "build_probes", "PROBE_TYPES"]

SR = 22050
PROBE_TYPES = ("count", "order", "duration", "pitch", "loudness", "speech_then", "silence_then")


def _env(n: int, attack: float, decay: float) -> np.ndarray:
    t = np.arange(n) / SR
    return np.minimum(1.0, t / max(attack, 1e-4)) * np.exp(-t / decay)


def synth_sound(name: str, rng: np.random.Generator, seconds: float | None = None) -> np.ndarray:
    """A short synthetic event (peak ~0.5); ``seconds`` stretches sustained sounds."""
    if name == "beep":
        n = int((seconds or 0.25) * SR)
        f = 1000.0 * rng.uniform(0.95, 1.05)
        w = np.sin(2 * np.pi * f * np.arange(n) / SR) * np.minimum(1, np.minimum(np.arange(n), n - np.arange(n)) / 200)
    elif name == "whistle":
        n = int((seconds or 0.5) * SR)
        t = np.arange(n) / SR
        f = 2500 * rng.uniform(0.9, 1.1) * (1 + 0.01 * np.sin(2 * np.pi * 6 * t))
        w = np.sin(2 * np.pi * np.cumsum(f) / SR) * np.minimum(1, np.minimum(np.arange(n), n - np.arange(n)) / 400)
    elif name == "bell":
        n = int((seconds or 1.0) * SR)
        t = np.arange(n) / SR
        base = 1800 * rng.uniform(0.9, 1.1)
        w = sum(a * np.sin(2 * np.pi * base * r * t) for a, r in ((1, 1), (0.6, 2.76), (0.4, 5.4)))
        w = w * _env(n, 0.002, (seconds or 1.0) / 3)
    elif name == "clap":
        n = int(0.06 * SR)
        w = rng.standard_normal(n) * _env(n, 0.001, 0.012)
        w = np.diff(np.r_[0, w])  # tilt towards high frequencies
    elif name == "drum":
        n = int((seconds or 0.4) * SR)
        t = np.arange(n) / SR
        f = 60 + 90 * np.exp(-t / 0.04)
        w = np.sin(2 * np.pi * np.cumsum(f) / SR) * _env(n, 0.002, (seconds or 0.4) / 3)
    elif name == "hum":
        n = int((seconds or 1.0) * SR)
        t = np.arange(n) / SR
        f = 110 * rng.uniform(0.9, 1.1)
        w = sum(np.sin(2 * np.pi * f * k * t) / k for k in (1, 2, 3)) * np.minimum(
            1, np.minimum(np.arange(n), n - np.arange(n)) / 800)
    elif name == "knock":
        n = int(0.15 * SR)
        t = np.arange(n) / SR
        w = np.sin(2 * np.pi * 400 * t) * _env(n, 0.0005, 0.02)
    else:
        raise ValueError(f"unknown synthetic sound {name!r}")
    w = np.asarray(w, dtype=np.float64)
    return (0.5 * w / (np.abs(w).max() + 1e-9)).astype(np.float32)


def synth_tone(f0: float, seconds: float, rng: np.random.Generator) -> np.ndarray:
    """A harmonic instrument-like tone at ``f0`` (decaying harmonics, gentle attack)."""
    n = int(seconds * SR)
    t = np.arange(n) / SR
    amps = [1.0, 0.6, 0.4, 0.25, 0.15]
    w = sum(a * np.sin(2 * np.pi * f0 * (k + 1) * t + rng.uniform(0, 6.28)) for k, a in enumerate(amps)
            if f0 * (k + 1) < SR / 2 - 500)
    w = w * np.minimum(1, t / 0.02) * np.exp(-t / (seconds * 1.5))
    return (0.5 * w / (np.abs(w).max() + 1e-9)).astype(np.float32)


def synth_speech(rng: np.random.Generator, gender: str, seconds: float) -> np.ndarray:
    """Speech-like babble: harmonics of a moving pitch shaped by changing vowel formants, in 4-6 Hz
    syllables. Stands in for a voice when no corpus is given; the checker needs voicing with moving pitch."""
    n = int(seconds * SR)
    t = np.arange(n) / SR
    base = 120.0 if gender == "man" else 210.0
    syll = rng.uniform(4.0, 6.0)
    f0 = base * 2 ** ((np.sin(2 * np.pi * 0.7 * t + rng.uniform(0, 6)) * 3 + np.sin(2 * np.pi * syll * t) * 1.5) / 12)
    phase = 2 * np.pi * np.cumsum(f0) / SR
    vowels = np.array([(700, 1200), (300, 2300), (500, 900), (400, 2000)], dtype=np.float64)
    which = rng.integers(len(vowels), size=int(seconds * syll) + 2)[(t * syll).astype(int)]
    f1, f2 = vowels[which, 0], vowels[which, 1]
    out = np.zeros(n)
    for k in range(1, 30):
        fk = k * f0
        amp = 1.0 / (1 + ((fk - f1) / 90) ** 2) + 0.7 / (1 + ((fk - f2) / 130) ** 2) + 0.02
        out += np.where(fk < SR / 2 - 200, amp, 0.0) * np.sin(k * phase)
    out *= np.abs(np.sin(np.pi * t * syll)) ** 0.5  # syllable envelope
    return (0.5 * out / (np.abs(out).max() + 1e-9)).astype(np.float32)


SOUNDS = {"beep": ("a beep", "beeps", True), "whistle": ("a whistle", "a whistle blows", True),
          "bell": ("a bell", "a bell rings", True), "clap": ("a clap", "someone claps", True),
          "drum": ("a drum", "a drum booms", False), "hum": ("a low hum", "a low hum sounds", False),
          "knock": ("a knock", "someone knocks", False)}
_BRIGHT = [k for k, v in SOUNDS.items() if v[2]]
_DARK = [k for k, v in SOUNDS.items() if not v[2]]
_SHORT = ["beep", "clap", "drum", "knock"]


def _place(total: float, parts: list[tuple[float, np.ndarray]]) -> np.ndarray:
    out = np.zeros(int(total * SR), dtype=np.float32)
    for onset, w in parts:
        s = int(onset * SR)
        w = w[: max(0, out.size - s)]
        out[s:s + w.size] += w
    return out


def _probe(kind: str, i: int, rng: np.random.Generator, clip: Callable[[str, np.random.Generator], tuple[str, np.ndarray]]
           ) -> tuple[dict[str, Any], np.ndarray]:
    if kind == "count":
        k = int(i % 5) + 1
        label, w = clip("short", rng)
        gap = float(rng.uniform(0.35, 0.7))
        t, parts = float(rng.uniform(0.2, 0.5)), []
        for _ in range(k):
            parts.append((t, w))
            t += w.size / SR + gap
        return {"prompt": f"{label} {count_word(k)}", "truth": {"count": k}}, _place(t + 0.3, parts)
    if kind == "order":
        first_bright = bool(i % 2 == 0)
        a = _BRIGHT[int(rng.integers(len(_BRIGHT)))]
        b = _DARK[int(rng.integers(len(_DARK)))]
        x, y = (a, b) if first_bright else (b, a)
        wx, wy = synth_sound(x, rng), synth_sound(y, rng)
        t0 = float(rng.uniform(0.2, 0.6))
        t1 = t0 + wx.size / SR + float(rng.uniform(0.5, 1.5))
        prompt = f"{SOUNDS[x][1]}, then {SOUNDS[y][1]}"
        truth = {"first": x, "second": y, "first_brighter": first_bright, "second_onset": round(t1, 3)}
        return {"prompt": prompt, "truth": truth}, _place(t1 + wy.size / SR + 0.4, [(t0, wx), (t1, wy)])
    if kind == "duration":
        long = bool(i % 2 == 0)
        name = str(rng.choice(["beep", "whistle", "hum", "bell"]))
        secs = float(rng.uniform(4.0, 6.0)) if long else float(rng.uniform(0.3, 0.9))
        w = synth_sound(name, rng, secs)
        word = "long" if long else "short"
        truth = {"long": long, "threshold": 2.5, "seconds": round(secs, 2)}
        return {"prompt": f"a {word} {SOUNDS[name][0].removeprefix('a ')}", "truth": truth}, _place(secs + 1.0, [(0.3, w)])
    if kind == "pitch":
        high = bool(i % 2 == 0)
        f0 = float(rng.uniform(700, 1400)) if high else float(rng.uniform(80, 200))
        inst = str(rng.choice(["note", "tone", "melody note"]))
        word = "high-pitched" if high else "low-pitched"
        w = synth_tone(f0, float(rng.uniform(1.0, 2.5)), rng)
        return ({"prompt": f"a {word} {inst}", "truth": {"high": high, "f0": round(f0, 1), "split_hz": 350.0}},
                _place(w.size / SR + 0.6, [(0.3, w)]))
    if kind == "loudness":
        ql = bool(i % 2 == 0)
        label, w = clip("short", rng)
        q = float(rng.uniform(0.08, 0.15))
        g1, g2 = (q, 1.0) if ql else (1.0, q)
        t1 = 0.3 + w.size / SR + float(rng.uniform(0.5, 1.0))
        prompt = f"{label} quietly, then loudly" if ql else f"{label} loudly, then quietly"
        truth = {"order": "quiet_loud" if ql else "loud_quiet", "min_db": 6.0}
        return {"prompt": prompt, "truth": truth}, _place(t1 + w.size / SR + 0.4, [(0.3, w * g1), (t1, w * g2)])
    if kind == "speech_then":
        speech_first = bool(i % 4 != 3)  # mostly "speech then X", some "X then speech" as foils
        gender = "man" if i % 2 == 0 else "woman"
        slabel, s = clip(f"speech:{gender}", rng)
        label, x = clip("event", rng)
        a, b = (s, x) if speech_first else (x, s)
        t1 = 0.3 + a.size / SR + float(rng.uniform(0.6, 1.2))
        prompt = f"{slabel}, then {label}" if speech_first else f"{label}, then {slabel}"
        return ({"prompt": prompt, "truth": {"speech_first": speech_first, "gender": gender}},
                _place(t1 + b.size / SR + 0.4, [(0.3, a), (t1, b)]))
    if kind == "silence_then":
        onset = float(rng.uniform(1.5, 6.0))
        label, w = clip("event", rng)
        return ({"prompt": f"silence, then {label}", "truth": {"onset": round(onset, 3), "min_silence": 1.0}},
                _place(onset + w.size / SR + 0.5, [(onset, w)]))
    raise ValueError(f"unknown probe type {kind!r}")


def _rendered_clip(kind: str, rng: np.random.Generator) -> tuple[str, np.ndarray]:
    if kind.startswith("speech:"):
        g = kind.split(":")[1]
        return f"a {g} speaks", synth_speech(rng, g, float(rng.uniform(1.2, 2.2)))
    names = _SHORT if kind == "short" else ["beep", "bell", "clap", "drum", "knock", "whistle"]
    name = names[int(rng.integers(len(names)))]
    return SOUNDS[name][1], synth_sound(name, rng)


def build_probes(out: str | Path, seed: int = 0, n_per_type: int = 100,
                 clip_provider: Callable[[str, np.random.Generator], tuple[str, np.ndarray]] | None = None
                 ) -> list[dict[str, Any]]:
    """Write ``out/probes.jsonl`` and ``out/refs/*.wav``; returns the probes.

    ``clip_provider(kind, rng) -> (clause, wav)`` supplies event sounds for kinds "short", "event" and
    "speech:man" / "speech:woman" (e.g. from a corpus's test split); rendered sounds otherwise.
    """
    import soundfile as sf

    out = Path(out)
    (out / "refs").mkdir(parents=True, exist_ok=True)
    probes = []
    for kind in PROBE_TYPES:
        for i in range(n_per_type):
            rng = np.random.default_rng([seed, PROBE_TYPES.index(kind), i])
            provider = clip_provider if (clip_provider and kind in ("count", "loudness", "speech_then",
                                                                    "silence_then")) else _rendered_clip
            p, wav = _probe(kind, i, rng, provider)
            pid = f"{kind}-{i:04d}"
            ref = f"refs/{pid}.wav"
            sf.write(str(out / ref), np.clip(wav, -1, 1), SR, subtype="PCM_16")
            probes.append({"id": pid, "type": kind, "prompt": p["prompt"], "truth": p["truth"], "reference": ref,
                           "duration": round(wav.size / SR, 3), "seed": seed,
                           "sounds": "corpus-test" if provider is not _rendered_clip else "rendered"})
    from vividsound.checkpoint import atomic_write_text

    atomic_write_text(out / "probes.jsonl", "".join(json.dumps(p, ensure_ascii=False) + "\n" for p in probes))
    return probes
