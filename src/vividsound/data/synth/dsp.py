"""Signal building blocks of the procedural sound recipes (mono float64 at 22,050 Hz).

Everything here is a pure function of its arguments and of the ``numpy.random.Generator`` passed in, so
a recipe drawn from a seeded generator is deterministic. Filters are SciPy second-order sections;
oscillators integrate a frequency track (so pitch may glide without clicks).
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
from scipy import signal

SR = 22050


def secs(n: int) -> np.ndarray:
    """Sample times (n,) in seconds."""
    return np.arange(n) / SR


def ns(seconds: float) -> int:
    """Number of samples in ``seconds``."""
    return max(1, int(round(seconds * SR)))


def noise(rng: np.random.Generator, n: int, color: str = "white") -> np.ndarray:
    """Unit-RMS noise (n,): white, pink (1/f power) or brown (1/f^2 power)."""
    x = rng.standard_normal(n)
    if color != "white":
        spec = np.fft.rfft(x)
        f = np.fft.rfftfreq(n, 1 / SR)
        f[0] = f[1] if n > 1 else 1.0
        spec /= f ** (0.5 if color == "pink" else 1.0)
        spec[0] = 0.0
        x = np.fft.irfft(spec, n)
    return x / (np.sqrt(np.mean(x ** 2)) + 1e-12)


def _sos(kind: str, freq: float | Sequence[float], order: int) -> np.ndarray:
    nyq = SR / 2
    if isinstance(freq, (list, tuple)):
        lo, hi = max(10.0, freq[0]), min(nyq * 0.98, freq[1])
        return signal.butter(order, [lo / nyq, max(lo * 1.01, hi) / nyq], btype="band", output="sos")
    return signal.butter(order, min(freq, nyq * 0.98) / nyq, btype=kind, output="sos")


def lowpass(x: np.ndarray, f: float, order: int = 2) -> np.ndarray:
    return signal.sosfilt(_sos("low", f, order), x)


def highpass(x: np.ndarray, f: float, order: int = 2) -> np.ndarray:
    return signal.sosfilt(_sos("high", f, order), x)


def bandpass(x: np.ndarray, lo: float, hi: float, order: int = 2) -> np.ndarray:
    return signal.sosfilt(_sos("band", (lo, hi), order), x)


def reson(x: np.ndarray, f: float, q: float) -> np.ndarray:
    """A resonant peak at ``f`` Hz with quality ``q`` (a cavity, a pipe, a panel)."""
    b, a = signal.iirpeak(min(f, SR / 2 * 0.95), q, fs=SR)
    return signal.lfilter(b, a, x)


def sweep_filter(x: np.ndarray, centre: np.ndarray, q: float = 2.0, block: int = 256) -> np.ndarray:
    """Band-pass whose centre frequency follows ``centre`` (n,) Hz, updated every ``block`` samples."""
    out = np.zeros_like(x)
    zi = np.zeros(2)
    for i in range(0, x.size, block):
        b, a = signal.iirpeak(float(np.clip(centre[i], 40, SR / 2 * 0.9)), q, fs=SR)
        out[i:i + block], zi = signal.lfilter(b, a, x[i:i + block], zi=zi)
    return out


def osc(freq: np.ndarray | float, n: int, shape: str = "sine", rng: np.random.Generator | None = None,
        harmonics: int = 12) -> np.ndarray:
    """An oscillator following ``freq`` (Hz, scalar or (n,)); shapes sine, square, saw, tri, pulse.

    Square / saw are built from band-limited harmonic sums so that high pitches do not alias."""
    f = np.broadcast_to(np.asarray(freq, dtype=np.float64), (n,))
    phase = 2 * np.pi * np.cumsum(f) / SR + (rng.uniform(0, 2 * np.pi) if rng is not None else 0.0)
    if shape == "sine":
        return np.sin(phase)
    out = np.zeros(n)
    fmax = float(np.max(f)) if n else 1.0
    for k in range(1, harmonics + 1):
        if k * fmax >= SR / 2 * 0.9:
            break
        if shape == "square" and k % 2 == 0:
            continue
        if shape == "tri" and k % 2 == 0:
            continue
        amp = {"square": 1 / k, "saw": 1 / k, "tri": 1 / k ** 2, "pulse": 1.0}[shape]
        out += amp * np.sin(k * phase)
    return out / (np.abs(out).max() + 1e-12)


def decay(n: int, tau: float) -> np.ndarray:
    """Exponential decay exp(-t / tau) (n,)."""
    return np.exp(-secs(n) / max(tau, 1e-4))


def adsr(n: int, a: float, r: float) -> np.ndarray:
    """A flat envelope with linear attack ``a`` s and release ``r`` s."""
    e = np.ones(n)
    na, nr = min(n, ns(a)), min(n, ns(r))
    e[:na] *= np.linspace(0, 1, na)
    e[n - nr:] *= np.linspace(1, 0, nr)
    return e


def fade(x: np.ndarray, a: float = 0.01, r: float = 0.05) -> np.ndarray:
    return x * adsr(x.size, a, r)


def modal(rng: np.random.Generator, freqs: Sequence[float], taus: Sequence[float], amps: Sequence[float],
          seconds: float, detune: float = 0.0) -> np.ndarray:
    """A struck object: a sum of damped sinusoids (its modes), each with a random phase."""
    n = ns(seconds)
    t = secs(n)
    out = np.zeros(n)
    for f, tau, a in zip(freqs, taus, amps):
        f = f * (1 + detune * rng.uniform(-1, 1))
        if f < SR / 2 * 0.95:
            out += a * np.exp(-t / tau) * np.sin(2 * np.pi * f * t + rng.uniform(0, 2 * np.pi))
    return out


def click(rng: np.random.Generator, seconds: float, lo: float, hi: float, tau: float) -> np.ndarray:
    """A short noise burst, band-limited to [lo, hi] Hz, decaying with ``tau`` s."""
    n = ns(seconds)
    return bandpass(noise(rng, n), lo, hi) * decay(n, tau)


def place(out: np.ndarray, x: np.ndarray, at: float, gain: float = 1.0) -> None:
    """Add ``x`` into ``out`` starting at ``at`` seconds (clipped to ``out``)."""
    i = int(at * SR)
    if i >= out.size or i + x.size <= 0:
        return
    j = min(out.size, i + x.size)
    out[max(0, i):j] += gain * x[max(0, -i): j - i]


def poisson_times(rng: np.random.Generator, rate: float, seconds: float) -> np.ndarray:
    """Event times of a Poisson process of ``rate`` per second over ``seconds``."""
    k = rng.poisson(rate * seconds)
    return np.sort(rng.uniform(0, seconds, k))


def reverb(rng: np.random.Generator, x: np.ndarray, rt60: float, wet: float) -> np.ndarray:
    """Mix in a diffuse tail: convolution with exponentially decaying, low-passed noise."""
    if wet <= 0 or rt60 <= 0:
        return x
    n = ns(rt60)
    ir = lowpass(noise(rng, n), 5000) * np.exp(-6.9 * secs(n) / rt60)
    ir /= np.sqrt(np.sum(ir ** 2)) + 1e-12
    tail = signal.fftconvolve(x, ir)[: x.size]
    return (1 - wet) * x + wet * tail


def doppler(src: np.ndarray, speed: float, dist: float, t_close: float, seconds: float) -> np.ndarray:
    """A source moving past a listener on a straight line: delay (pitch shift), 1/r level and air loss.

    Args:
        src: (m,) the source's own sound, at least ``seconds`` + 1 s long.
        speed: m/s; dist: closest distance (m); t_close: time of closest approach (s).
    """
    n = ns(seconds)
    t = secs(n)
    r = np.sqrt(dist ** 2 + (speed * (t - t_close)) ** 2)
    idx = (t - r / 343.0 + 1.0) * SR  # the source started 1 s early so the read index stays positive
    y = np.interp(idx, np.arange(src.size), src)
    dull = lowpass(y, 1500)
    w = np.clip((r - dist) / (6 * dist + 1e-9), 0, 1)  # far away: the high end is absorbed
    y = (1 - w) * y + w * dull
    return y * dist / r


def am(n: int, rate: float, depth: float, rng: np.random.Generator) -> np.ndarray:
    """Slow random amplitude wander (n,) around 1: smoothed noise at ~``rate`` Hz, +-``depth``."""
    k = max(4, int(n / SR * rate) + 4)
    pts = rng.uniform(-1, 1, k)
    curve = np.interp(np.linspace(0, k - 1, n), np.arange(k), pts)
    return np.clip(1 + depth * curve, 0, None)


def wander(n: int, rate: float, rng: np.random.Generator) -> np.ndarray:
    """Smooth random curve (n,) in [-1, 1] with ~``rate`` turning points per second."""
    k = max(4, int(n / SR * rate) + 4)
    pts = rng.uniform(-1, 1, k)
    xs = np.linspace(0, k - 1, n)
    # cosine interpolation between the points: smooth, no corners
    i = np.floor(xs).astype(int).clip(0, k - 2)
    fr = xs - i
    w = (1 - np.cos(np.pi * fr)) / 2
    return pts[i] * (1 - w) + pts[i + 1] * w


def normalise(x: np.ndarray, peak: float = 0.9) -> np.ndarray:
    """Scale to the given peak; float32 for writing."""
    m = float(np.abs(x).max()) if x.size else 0.0
    return (x * (peak / m)).astype(np.float32) if m > 0 else x.astype(np.float32)


def mix(*xs: np.ndarray) -> np.ndarray:
    """Sum of signals of different lengths (the shorter ones padded with silence)."""
    n = max(x.size for x in xs)
    out = np.zeros(n)
    for x in xs:
        out[: x.size] += x
    return out


def scatter(rng: np.random.Generator, seconds: float, rate: float, kernels: Sequence[np.ndarray],
            lo: float = 0.1, hi: float = 1.0, power: float = 1.0) -> np.ndarray:
    """Many short grains at Poisson times (rate per second), each one of ``kernels`` at a random gain.

    The fast way to make rain, crackle, grit and rustle: impulses convolved with each kernel."""
    n = ns(seconds)
    out = np.zeros(n)
    times = poisson_times(rng, rate, seconds)
    if times.size == 0:
        return out
    which = rng.integers(len(kernels), size=times.size)
    gains = rng.uniform(lo, hi, times.size) ** power
    idx = np.minimum((times * SR).astype(int), n - 1)
    for k, kern in enumerate(kernels):
        imp = np.zeros(n)
        m = which == k
        np.add.at(imp, idx[m], gains[m])
        if m.any():
            out += signal.fftconvolve(imp, kern)[:n]
    return out


def click_bank(rng: np.random.Generator, k: int, seconds: float, lo: float, hi: float, tau: tuple[float, float]
               ) -> list[np.ndarray]:
    """``k`` different clicks (band [lo, hi] Hz, decay drawn from ``tau``) for :func:`scatter`."""
    return [click(rng, seconds, lo * rng.uniform(1, 2), hi, rng.uniform(*tau)) for _ in range(k)]
