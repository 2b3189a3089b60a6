"""Recipes: crowds of people talking, mixed from many espeak-ng voices (needs ``espeak-ng``)."""

from __future__ import annotations

import os
import subprocess
import tempfile

import numpy as np

from vividsound.data.synth.dsp import SR, adsr, bandpass, lowpass, noise, ns, place, reverb
from vividsound.data.synth.registry import Ctx, recipe

# Syllables to build nonsense words from: a crowd's words are not meant to be understood.
_SYL = ("ba be bi bo da de di do ka ke ko la le li lo ma me mi mo na ne no pa pe po ra re ri ro "
        "sa se si so ta te ti to va ve vi wa we ya yo za").split()
_LANGS = ("en", "en-us", "de", "fr", "es", "it", "nl", "pt")


def _say(text: str, voice: str, rate: int, pitch: int) -> np.ndarray:
    """One espeak-ng utterance at 22,050 Hz (espeak-ng writes 22,050 Hz mono)."""
    import soundfile as sf

    fd, tmp = tempfile.mkstemp(suffix=".wav")
    os.close(fd)
    try:
        res = subprocess.run(["espeak-ng", "-v", voice, "-s", str(rate), "-p", str(pitch), "-w", tmp, text],
                             capture_output=True, text=True)
        if res.returncode != 0:
            raise RuntimeError(f"espeak-ng failed: {res.stderr.strip()[:120]}")
        wav, sr = sf.read(tmp, dtype="float64", always_2d=True)
    finally:
        os.unlink(tmp)
    wav = wav.mean(axis=1)
    if sr != SR:
        import soxr

        wav = soxr.resample(wav, sr, SR)
    return wav


def _babble(c: Ctx, seconds: float, people: int) -> np.ndarray:
    out = np.zeros(ns(seconds))
    for _ in range(people):
        words = " ".join("".join(c.pick(_SYL) for _ in range(c.i(1, 3))) for _ in range(c.i(12, 30)))
        variant = f"+m{c.i(1, 7)}" if c.chance(0.5) else f"+f{c.i(1, 4)}"
        v = _say(words, c.pick(_LANGS) + variant, c.i(140, 200), c.i(20, 80))
        v = v / (np.sqrt(np.mean(v ** 2)) + 1e-9) * c.u(0.3, 1.0)
        place(out, v, c.u(-2, seconds * 0.3))
    return out


@recipe("crowd_babble", "crowd", "a crowd of people talks|many people chatter at once|people talk over each other in a busy room",
        "crowd chatter|the babble of many voices|a room full of people talking", cont=True, tags="crowd,speech")
def crowd_babble(c: Ctx) -> np.ndarray:
    s = c.long()
    x = _babble(c, s, c.i(8, 20))
    x = lowpass(x, c.u(3000, 6000)) + 0.05 * np.std(x) * noise(c.rng, x.size, "pink")
    return reverb(c.rng, x * adsr(x.size, 0.3, 0.3), c.u(0.8, 2.0), c.u(0.3, 0.6))


@recipe("restaurant_chatter", "crowd", "people chat in a restaurant while cutlery clinks|diners talk in a busy cafe",
        "restaurant chatter|the murmur of a busy cafe", cont=True, tags="crowd,speech,kitchen")
def restaurant_chatter(c: Ctx) -> np.ndarray:
    s = c.long()
    x = lowpass(_babble(c, s, c.i(5, 12)), 4000)
    from vividsound.data.synth.dsp import modal

    for t in np.sort(c.rng.uniform(0, s - 0.3, c.i(4, 15))):
        f = c.u(2000, 5000)
        place(x, modal(c.rng, [f, f * 2.5], [0.15, 0.06], [1, 0.4], 0.3) * np.std(x) * c.u(1, 4), t)
    return reverb(c.rng, x, c.u(0.6, 1.5), 0.4)


@recipe("distant_murmur", "crowd", "people murmur quietly in a large hall|a crowd murmurs in the distance",
        "a distant murmur of voices|a quiet crowd murmuring", cont=True, tags="crowd,speech")
def distant_murmur(c: Ctx) -> np.ndarray:
    s = c.long()
    x = lowpass(_babble(c, s, c.i(10, 20)), c.u(800, 1500))
    return reverb(c.rng, bandpass(x, 100, 2000), c.u(2.0, 3.5), 0.6)
