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

__all__ = ["STAGES", "stage_class", "load_stage_config", "train", "write_codes_pack"]


def stage_class(name: str) -> type:
    if name not in STAGES:
        raise ConfigError(f"unknown stage {name!r}; choose one of {', '.join(STAGES)}")
    module, attr = STAGES[name].split(":")
    return getattr(importlib.import_module(module), attr)


def load_stage_config(stage: str, config: str | Path | dict | None = None, overrides: Sequence[str] = ()) -> Any:
    """The stage's frozen config from a YAML/JSON file (or a dict) plus ``key=value`` overrides.

    Unknown keys and wrong types raise :class:`~vividsound.errors.ConfigError` (one line).
    """
    cls = stage_class(stage).config_class
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
