"""Training: one module per stage (tagger, vqgan, clap, gpt, melgan, vocos, captioner) on a shared loop.

``vividsound train STAGE --config FILE --out RUN_DIR`` or, in Python::

    from vividsound.train import train
    train("tagger", "configs/default/tagger.yaml", "runs/tagger", overrides=["train.steps=100"])
"""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Any, Sequence

from vividsound.config import apply_overrides, from_dict, load_config_file
from vividsound.errors import ConfigError

# stage name -> "module:Stage class" (a registry, never dotted strings in config files)
STAGES: dict[str, str] = {
    "tagger": "vividsound.train.tagger:TaggerStage",
    "vqgan": "vividsound.train.vqgan:VQGANStage",
    "clap": "vividsound.train.clap:CLAPStage",
    "gpt": "vividsound.train.gpt:GPTStage",
    "melgan": "vividsound.train.melgan:MelGANStage",
    "vocos": "vividsound.train.vocos:VocosStage",
    "captioner": "vividsound.train.captioner:CaptionerStage",
}

__all__ = ["STAGES", "stage_class", "load_stage_config", "train", "write_codes_pack", "write_pack"]


def stage_class(name: str) -> type:
    if name not in STAGES:
        raise ConfigError(f"unknown stage {name!r}; choose one of {', '.join(STAGES)}")
    module, attr = STAGES[name].split(":")
    return getattr(importlib.import_module(module), attr)


def load_stage_config(stage: str, config: str | Path | dict | None = None, overrides: Sequence[str] = ()) -> Any:
    """The stage's frozen config from a YAML/JSON file (or a dict, or ``RECIPE.yaml#STAGE``: a recipe stage's
    config, :mod:`vividsound.train.recipe`) plus ``key=value`` overrides.

    Unknown keys and wrong types raise :class:`~vividsound.errors.ConfigError` (one line).
    """
    cls = stage_class(stage).config_class
    if isinstance(config, (str, Path)) and "#" in str(config):  # RECIPE.yaml#STAGE: that stage's config
        from vividsound.train.recipe import load_recipe

        path, _, name = str(config).rpartition("#")
        recipe = load_recipe(path)
        if recipe.stage(name).trainer != stage:
            raise ConfigError(f"--config {config}: stage {name} is trained by {recipe.stage(name).trainer}, not {stage}")
        config = recipe.stage_config(name)
    data = {} if config is None else (dict(config) if isinstance(config, dict) else load_config_file(config))
    return from_dict(cls, apply_overrides(data, list(overrides)))


def train(stage: str, config: str | Path | dict | None, out: str | Path, *, overrides: Sequence[str] = (),
          resume: bool = False) -> Path:
    """Train (or resume) one stage; returns ``out/export``."""
    from vividsound.train.loop import run_stage

    cfg = load_stage_config(stage, config, overrides)
    return run_stage(stage_class(stage), cfg, out, resume=resume)


def write_codes_pack(stage: str, config: str | Path | dict | None, out: str | Path, path: str | Path, *,
                     overrides: Sequence[str] = ()) -> Path:
    """Code the GPT stage's train split and validation items and write a codes pack to ``path``
    (:mod:`vividsound.train.codepack`); ``out`` holds the mel and code caches. For the ``vocos`` stage: a
    waveform pack (:func:`vividsound.train.vocos.write_wave_pack`)."""
    if stage not in ("gpt", "vocos"):
        raise ConfigError(f"--write-pack is for the gpt stage (codes) and the vocos stage (waveforms), not {stage!r}")
    from vividsound.train.loop import init_dist

    if stage == "vocos":  # a waveform pack (vividsound.train.vocos.write_wave_pack)
        from vividsound.train.vocos import VocosStage

        cfg = load_stage_config(stage, config, overrides)
        st = VocosStage(cfg, Path(out), init_dist(cfg.train.device))
        st.setup()
        return st.write_pack(path)
    from vividsound.train.gpt import GPTStage

    cfg = load_stage_config(stage, config, list(overrides) + ["resident=false"])
    st = GPTStage(cfg, Path(out), init_dist(cfg.train.device))
    st.setup()
    return st.write_pack(path, progress=cfg.train.progress)


def write_pack(stage: str, config: str | Path | dict | None, out: str | Path, path: str | Path, *,
               overrides: Sequence[str] = (), budget_mb: float = 56.0) -> Path:
    """A pack of what ``stage`` reads, to train it on a machine without the corpus: a codes pack for the
    GPT and a waveform pack for Vocos (:func:`write_codes_pack`), a mel pack of at most ``budget_mb`` MB for
    the VQGAN (:mod:`vividsound.train.melpack`)."""
    if stage in ("gpt", "vocos"):
        return write_codes_pack(stage, config, out, path, overrides=overrides)
    if stage != "vqgan":
        raise ConfigError(f"--write-pack is for the gpt, vqgan and vocos stages, not {stage!r}")
    from tqdm import tqdm

    from vividsound.train.data import load_items
    from vividsound.train.melpack import write_mel_pack

    cfg = load_stage_config(stage, config, overrides)
    if cfg.pack:
        raise ConfigError("--write-pack reads the corpus: unset pack")
    train_items, root = load_items(cfg.data, cfg.data.train_split)
    val_items, _ = load_items(cfg.data, cfg.data.val_split, limit=cfg.data.val_items)
    return write_mel_pack(path, train_items, val_items, root, cfg.model.mel, budget_mb=budget_mb,
                          max_frames=cfg.data.crop_frames, max_seconds=cfg.data.max_seconds, seed=cfg.train.seed,
                          progress=(lambda xs: tqdm(xs, desc="mel pack", unit="clip")) if cfg.train.progress
                          else (lambda xs: xs))
