"""Reading a pipeline folder without its weights: ``pipeline.json`` checked field by field, and a
description of the model built on the meta device (``vividsound info`` in about a second).

``pipeline.json`` is user-editable and may be damaged; every field is checked for its type and range
here, so a wrong one is a one-line :class:`~vividsound.errors.CheckpointError` naming the file and the
field, never a traceback from deep inside the loader (issue 26).
"""

from __future__ import annotations

import json
import math
import struct
from pathlib import Path
from typing import Any

from vividsound.errors import CheckpointError

PIPELINE_NAME = "pipeline.json"
COMPONENTS = ("text_encoder", "gpt", "vqgan", "vocoder")
DEFAULT_KEYS = ("duration", "top_k", "top_p", "temperature", "cfg_scale")


def _bad(path: Path, field: str, value: Any, allowed: str) -> CheckpointError:
    return CheckpointError(f"{path}: {field} is {json.dumps(value)[:60]}; allowed: {allowed}")


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def check_defaults(path: Path, defaults: Any) -> dict[str, Any]:
    """The ``defaults`` object of ``pipeline.json``, each value checked (absent keys keep the library's)."""
    if defaults is None:
        return {}
    if not isinstance(defaults, dict):
        raise _bad(path, "defaults", defaults, "an object with " + ", ".join(DEFAULT_KEYS))
    unknown = sorted(set(defaults) - set(DEFAULT_KEYS))
    if unknown:
        raise CheckpointError(f"{path}: unknown defaults key(s) {', '.join(unknown)}; known: {', '.join(DEFAULT_KEYS)}")
    d = defaults
    if "duration" in d and not (_number(d["duration"]) and d["duration"] > 0):
        raise _bad(path, "defaults.duration", d["duration"], "a number of seconds > 0")
    if d.get("top_k") is not None and not (isinstance(d["top_k"], int) and not isinstance(d["top_k"], bool)
                                           and d["top_k"] >= 1):
        raise _bad(path, "defaults.top_k", d["top_k"], "null or an integer >= 1")
    if d.get("top_p") is not None and not (_number(d["top_p"]) and 0 < d["top_p"] <= 1):
        raise _bad(path, "defaults.top_p", d["top_p"], "null or a number in (0, 1]")
    if "temperature" in d and not (_number(d["temperature"]) and 0 < d["temperature"] <= 100):
        raise _bad(path, "defaults.temperature", d["temperature"], "a number in (0, 100]")
    if "cfg_scale" in d and not (_number(d["cfg_scale"]) and 0 <= d["cfg_scale"] <= 100):
        raise _bad(path, "defaults.cfg_scale", d["cfg_scale"], "a number in [0, 100]")
    return dict(d)


def read_pipeline_meta(root: Path) -> tuple[dict[str, Any], dict[str, Path]]:
    """``pipeline.json`` of ``root`` checked, and the folder of each component.

    Returns:
        (meta with ``defaults`` checked, {component: folder}).
    """
    from vividsound.checkpoint import read_versioned_json

    root = Path(root)
    meta = read_versioned_json(root, PIPELINE_NAME, "model")
    path = root / PIPELINE_NAME
    comps = meta.get("components")
    if not isinstance(comps, dict):
        raise _bad(path, "components", comps, "an object naming the folder of " + ", ".join(COMPONENTS))
    missing = [c for c in COMPONENTS if c not in comps]
    if missing:
        raise CheckpointError(f"{path} lists no {', '.join(missing)} component")
    folders = {}
    for c in COMPONENTS:
        name = comps[c]
        if not isinstance(name, str) or not name.strip():
            raise _bad(path, f"components.{c}", name, "a folder name inside the model folder")
        folders[c] = root / name
    meta["defaults"] = check_defaults(path, meta.get("defaults"))
    if "name" in meta and not isinstance(meta["name"], str):
        raise _bad(path, "name", meta["name"], "a string")
    return meta, folders


def model_limits(path: str | Path | None = None) -> dict[str, Any]:
    """The limits the sampler options are checked against, from the config files only (milliseconds):
    ``{"defaults", "vocab_size", "max_duration"}`` (see :meth:`TextToSound.max_duration`)."""
    from vividsound.checkpoint import CONFIG_NAME, read_component_config
    from vividsound.config import ConfigError, from_dict
    from vividsound.models.gpt import GPTConfig
    from vividsound.models.vqgan import VQGANConfig
    from vividsound.pipeline import DEFAULT_MODEL_DIR

    root = Path(path) if path is not None else DEFAULT_MODEL_DIR
    if path is None and not (root / PIPELINE_NAME).is_file():
        raise CheckpointError("no default model is installed yet in this version of vividsound; pass --model DIR")
    from vividsound.checkpoint import read_versioned_json

    base = read_versioned_json(root, PIPELINE_NAME, "model").get("base")
    if base is not None:  # a fine-tuned model samples with its base's limits (vividsound.finetune)
        from vividsound.finetune.adapters import checked_base

        return model_limits(checked_base(root, base))
    meta, folders = read_pipeline_meta(root)
    configs = {}
    for name, cls in (("gpt", GPTConfig), ("vqgan", VQGANConfig)):
        c = read_component_config(folders[name])
        try:
            configs[name] = from_dict(cls, c["config"])
        except (ConfigError, ValueError, TypeError) as e:
            raise CheckpointError(f"{folders[name] / CONFIG_NAME}: {e}") from None
    g, q = configs["gpt"], configs["vqgan"]
    if g.rows <= 0 or q.downsample[1] <= 0 or q.mel.sample_rate <= 0:
        raise CheckpointError(f"{folders['gpt']}: rows, downsample and sample rate must be positive")
    seconds_per_column = q.downsample[1] * q.mel.hop_length / q.mel.sample_rate
    return {"defaults": meta["defaults"], "vocab_size": g.vocab_size, "max_duration": g.max_columns * seconds_per_column}


def _safetensors_elements(path: Path) -> int:
    """Number of values stored in a safetensors file, read from its header (no tensor is loaded)."""
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        if n > 100_000_000:
            raise CheckpointError(f"{path}: safetensors header of {n} bytes; the file is corrupt")
        header = json.loads(f.read(n))
    # Hugging Face BERT exports may store their position/token-type id tables, buffers rather than weights.
    return sum(math.prod(v["shape"]) for k, v in header.items()
               if k != "__metadata__" and not k.endswith(("position_ids", "token_type_ids")))


def describe(path: str | Path | None = None) -> dict[str, Any]:
    """What :meth:`TextToSound.info` reports, from the configs alone (no weights read, no text backbone
    or vocoder package loaded): the components are built on the meta device, which allocates nothing."""
    from vividsound.pipeline import DEFAULT_MODEL_DIR, TextToSound

    root = Path(path) if path is not None else DEFAULT_MODEL_DIR
    if path is None and not (root / PIPELINE_NAME).is_file():
        raise CheckpointError("no default model is installed yet in this version of vividsound; pass --model DIR")
    from vividsound.checkpoint import read_versioned_json

    meta = read_versioned_json(root, PIPELINE_NAME, "model")
    if meta.get("base") is not None:  # a fine-tuned model: its base's description plus what the adapters are
        from vividsound.finetune.adapters import checked_base

        info = describe(checked_base(root, meta["base"]))
        info["name"] = str(meta.get("name", root.name))
        info["finetuned"] = {"base": meta["base"], "adapters": meta.get("adapters")}
        return info
    tts = TextToSound._from_folder(root, weights=False)
    info = tts.info()
    text = tts.text_encoder
    if text.config.mode != "none":
        weights = Path(text._resolve_path()) / "model.safetensors"
        info["components"]["text_encoder"]["backbone_parameters"] = (
            _safetensors_elements(weights) if weights.is_file() else None)
    return info
