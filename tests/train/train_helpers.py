"""Helpers of the training tests: tiny data written with numpy (tones, chirps, noise) and tiny model settings."""

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


def write_corpus(folder: Path, n_train: int = 16, n_val: int = 4, seconds: float = 1.0, seed: int = 0,
                 relations: dict[str, str] | None = None) -> Path:
    """A manifest with ``n_train`` + ``n_val`` clips (cycling through the kinds); returns its path.
    ``relations`` maps a kind to the ``meta.relation`` its items get (as the corpus builder's mixtures have)."""
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
                      "split": "train" if i < n_train else "val", "source": "test", "licence": "CC0-1.0",
                      **({"meta": {"relation": relations[kind]}} if kind in (relations or {}) else {})})
    path = folder / "manifest.jsonl"
    path.write_text("".join(json.dumps(x) + "\n" for x in lines))
    return path


@pytest.fixture(scope="session")
def corpus(tmp_path_factory) -> Path:
    return write_corpus(tmp_path_factory.mktemp("corpus"), relations={"chirp": "sweep"})


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


def tiny_overrides(manifest: Path, cache: Path, steps: int = 4, **train) -> list[str]:
    return base_overrides(manifest, cache, steps, threads=1, **train)


TINY_VQ = ["model.ch=8", "model.ch_mult=[1,1,2,2,2]", "model.num_res_blocks=1", "model.downsample=[16,4]",
           "model.quantizer.n_codes=32", "model.quantizer.code_dim=16", "model.quantizer.dead_after=3",
           "discriminator.ndf=8", "discriminator.n_layers=2", "loss.revive_every=2"]
TINY_GPT = ["model.n_layer=2", "model.n_head=2", "model.n_embd=32", "model.max_columns=32", "crop_columns=8",
            "sample_columns=2", "export.vocoder=griffinlim", "text.encoder=hf", "text.dim=32", "text.max_tokens=8"]


@pytest.fixture(scope="session")
def one_batch(tmp_path_factory) -> Path:
    """4 training clips (one batch of 4, every step the same items) and 2 validation clips."""
    return write_corpus(tmp_path_factory.mktemp("one"), n_train=4, n_val=2)


@pytest.fixture(scope="session")
def tagger_dir(tmp_path_factory, corpus, shared_cache) -> Path:
    """A tiny trained tagger component folder (export/tagger of a short run)."""
    from vividsound.train import train

    run = tmp_path_factory.mktemp("runs") / "tagger"
    train("tagger", None, run, overrides=tiny_overrides(corpus, shared_cache, steps=6) + TINY_CNN)
    return run / "export" / "tagger"


@pytest.fixture(scope="session")
def vqgan_dir(tmp_path_factory, corpus, shared_cache, tagger_dir) -> Path:
    from vividsound.train import train

    run = tmp_path_factory.mktemp("runs") / "vqgan"
    train("vqgan", None, run, overrides=tiny_overrides(corpus, shared_cache, steps=4) + TINY_VQ +
          [f"loss.tagger={tagger_dir}", "loss.disc_start=2"])
    return run / "export" / "vqgan"


def metrics(run: Path, kind: str = "train") -> list[dict]:
    return [d for d in map(json.loads, (run / "metrics.jsonl").read_text().splitlines()) if d["kind"] == kind]


def tiny_clap(bert: Path) -> list[str]:
    return TINY_CNN_CLAP + ["model.text.backbone=hf", f"model.text.path={bert}", "model.text.dim=32",
                            "model.embed_dim=16"]


TINY_CNN_CLAP = ["model.audio.channels=[8,16]", "model.audio.embed_dim=16", "model.audio.dropout=0.0"]
