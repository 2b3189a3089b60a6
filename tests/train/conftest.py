"""Tiny training data written with numpy: tones, chirps and noise with tags and captions."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

SR = 22050
KINDS = {
    "low": (["tone", "low"], ["a low tone hums", "a deep steady hum"]),
    "high": (["tone", "high"], ["a high tone beeps", "a shrill whistle"]),
    "noise": (["noise"], ["white noise hisses", "static noise"]),
    "chirp": (["chirp", "high"], ["a rising chirp sweeps", "a bird like chirp"]),
}


def _clip(kind: str, rng: np.random.Generator, seconds: float) -> np.ndarray:
    t = np.arange(int(SR * seconds)) / SR
    if kind == "low":
        x = np.sin(2 * np.pi * rng.uniform(110, 220) * t)
    elif kind == "high":
        x = np.sin(2 * np.pi * rng.uniform(2000, 4000) * t)
    elif kind == "noise":
        x = rng.standard_normal(len(t)) * 0.5
    else:
        f0 = rng.uniform(500, 1000)
        x = np.sin(2 * np.pi * (f0 * t + 1500 * t**2))
    return (0.3 * x).astype(np.float32)


def write_corpus(folder: Path, n_train: int = 16, n_val: int = 4, seconds: float = 1.0, seed: int = 0) -> Path:
    """A manifest with ``n_train`` + ``n_val`` clips (cycling through the kinds); returns its path."""
    rng = np.random.default_rng(seed)
    (folder / "audio").mkdir(parents=True, exist_ok=True)
    lines = []
    kinds = list(KINDS)
    for i in range(n_train + n_val):
        kind = kinds[i % len(kinds)]
        rel = f"audio/{kind}_{i}.flac"
        sf.write(folder / rel, _clip(kind, rng, seconds * rng.uniform(0.7, 1.3)), SR)
        tags, caps = KINDS[kind]
        lines.append({"id": f"{kind}_{i}", "audio": rel, "captions": caps, "tags": tags,
                      "split": "train" if i < n_train else "val", "source": "test", "licence": "CC0-1.0"})
    path = folder / "manifest.jsonl"
    path.write_text("".join(json.dumps(x) + "\n" for x in lines))
    return path


@pytest.fixture(scope="session")
def corpus(tmp_path_factory) -> Path:
    return write_corpus(tmp_path_factory.mktemp("corpus"))


@pytest.fixture(scope="session")
def shared_cache(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("cache")


def base_overrides(manifest: Path, cache: Path, steps: int = 4, **train) -> list[str]:
    """Small, fast, quiet settings for a stage run."""
    o = [f"data.manifest={manifest}", f"data.cache_dir={cache}", "data.crop_frames=32", f"train.steps={steps}",
         "train.batch_size=4", "train.warmup_steps=1", "train.log_every=1", "train.val_every=0",
         "train.ckpt_every=0", "train.progress=false", "train.tensorboard=false", "train.device=cpu"]
    o += [f"train.{k}={v}" for k, v in train.items()]
    return o


TINY_CNN = ["model.cnn.channels=[8,16]", "model.cnn.embed_dim=16", "model.cnn.dropout=0.0"]
