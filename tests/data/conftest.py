"""Fixture sound sources made with numpy: tiny labelled clips, a corrupt file and an unlabelled one."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from vividsound.data.probes import synth_speech


def _burst(rng: np.random.Generator, seconds: float, sr: int, kind: str) -> np.ndarray:
    n = int(seconds * sr)
    t = np.arange(n) / sr
    env = np.sin(np.pi * t / seconds) ** 2  # one smooth event: a single active region
    if kind == "noise":
        x = rng.standard_normal(n)
    elif kind == "low":
        x = np.cumsum(rng.standard_normal(n))
        x -= np.convolve(x, np.ones(200) / 200, mode="same")
    else:
        x = np.sin(2 * np.pi * float(kind) * t)
    return (0.4 * env * x / (np.abs(x).max() + 1e-9)).astype(np.float32)


def make_fixture_sources(root: Path, seed: int = 0) -> Path:
    """Write the fixture folder: 4-8 files per family, at 16 kHz and 44.1 kHz (to exercise resampling)."""
    rng = np.random.default_rng(seed)
    root.mkdir(parents=True, exist_ok=True)
    spec = [("dog_bark_{:02d}.wav", 4, 0.35, "noise", 16000), ("thunder_{:02d}.wav", 4, 1.4, "low", 44100),
            ("rain_{:02d}.wav", 4, 4.0, "noise", 16000), ("bell_{:02d}.wav", 4, 0.6, "1500", 22050),
            ("knock_{:02d}.wav", 4, 0.2, "400", 22050)]
    for pattern, count, secs, kind, sr in spec:
        for i in range(count):
            sf.write(str(root / pattern.format(i)), _burst(rng, secs * (1 + 0.1 * i), sr, kind), sr)
    (root / "music").mkdir(exist_ok=True)
    for i in range(3):
        t = np.arange(int(12.5 * 22050)) / 22050
        sf.write(str(root / "music" / f"song_{i:02d}.wav"),
                 (0.2 * np.sin(2 * np.pi * (220 + 40 * i) * t) * (1 + 0.5 * np.sin(2 * np.pi * 2 * t))).astype(np.float32),
                 22050)
    (root / "speech").mkdir(exist_ok=True)
    for i in range(4):
        g = "woman" if i % 2 else "man"
        sf.write(str(root / "speech" / f"{g}_{i:02d}.wav"), synth_speech(rng, g, 1.5), 22050)
    (root / "dog_corrupt.wav").write_bytes(b"RIFF\x00\x00\x00\x00WAVEjunkjunkjunk" * 4)
    sf.write(str(root / "mystery_01.wav"), _burst(rng, 0.5, 22050, "noise"), 22050)
    return root


@pytest.fixture(scope="session")
def fixture_sources(tmp_path_factory) -> Path:
    return make_fixture_sources(tmp_path_factory.mktemp("fixture_sources") / "sounds")
