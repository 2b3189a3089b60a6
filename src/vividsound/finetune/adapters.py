"""A fine-tuned model on disk: adapters plus a hash-checked reference to the base pipeline they fit.

::

    my-doors/
      pipeline.json                       {"format_version": 1, "name": ..., "base": {...}, "adapters": {...},
                                           "defaults": {...}, "mel": {...}, "finetune": {what it was trained on}}
      adapters-<sha256[:12]>.safetensors   the LoRA tensors ("gpt.blocks.0.attn.qkv.lora_a", ...)

``base.model`` is ``"default"`` (the model bundled with the package) or a pipeline folder (a relative
path is read from the fine-tuned folder); ``base.sha256`` is the sha256 over the base's weight files,
each by its own sha256, and loading refuses a base whose files differ. The adapters file is named by
its own hash and ``pipeline.json`` is replaced last, so a crash while saving never leaves a folder
whose ``pipeline.json`` names adapters that are not there. :meth:`TextToSound.from_pretrained` loads
such a folder like any other: it loads the base, adds the adapters into its weights (``W += B A``) and
takes this folder's name and sampling defaults.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

import torch

from vividsound import __version__
from vividsound.checkpoint import FORMAT_VERSION, WEIGHTS_NAME, atomic_write_bytes, read_versioned_json
from vividsound.errors import CheckpointError, InputError
from vividsound.finetune.lora import merge

PIPELINE_NAME = "pipeline.json"
ADAPTED = ("gpt", "text_encoder")  # components adapters may change
DEFAULT_BASE = "default"


def resolve_base(model: str | os.PathLike | None, relative_to: Path | None = None) -> tuple[str, Path]:
    """(the name recorded for the base, its folder): ``None``/"default" is the bundled model."""
    from vividsound.pipeline import DEFAULT_MODEL_DIR

    if model is None or str(model) == DEFAULT_BASE:
        return DEFAULT_BASE, DEFAULT_MODEL_DIR
    p = Path(model)
    if not p.is_absolute() and relative_to is not None:
        p = relative_to / p
    return str(model), p


def is_finetuned(meta: dict[str, Any]) -> bool:
    return "base" in meta


def base_files(root: Path) -> dict[str, str]:
    """``{"gpt/model.safetensors": sha256, ...}``: every weight file of a full pipeline folder.

    Raises:
        CheckpointError: ``root`` is not a pipeline folder, or is itself a fine-tuned one.
    """
    meta = read_versioned_json(root, PIPELINE_NAME, "model")
    if is_finetuned(meta):
        raise CheckpointError(f"{root} is a fine-tuned model (adapters on {meta['base'].get('model')!r}); a base must "
                              f"be a full pipeline: fine-tune that base instead")
    out = {}
    for comp, sub in sorted(meta.get("components", {}).items()):
        f = root / sub / WEIGHTS_NAME
        if f.is_file():
            out[f"{comp}/{WEIGHTS_NAME}"] = _sha256(f)
    return out


def combined_hash(files: dict[str, str]) -> str:
    """One sha256 over ``name:sha256`` lines of the weight files, sorted by name."""
    return hashlib.sha256("".join(f"{k}:{v}\n" for k, v in sorted(files.items())).encode()).hexdigest()


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def save_finetuned(folder: Path, *, name: str, base_name: str, base_files_: dict[str, str],
                   base_meta: dict[str, Any], tensors: dict[str, torch.Tensor], lora: dict[str, Any],
                   record: dict[str, Any]) -> Path:
    """Write (or replace) the fine-tuned model in ``folder``: adapters file first, ``pipeline.json`` last.

    Args:
        base_meta: the base's ``pipeline.json`` (its defaults, mel and edge context are kept).
        tensors: adapter tensors keyed ``component.path.lora_a`` / ``.lora_b``.
        lora: ``{"rank", "alpha"}`` of the adapters.
        record: what the model was trained on (clips, captions, settings), stored as ``finetune``.
    """
    from safetensors.torch import save

    folder.mkdir(parents=True, exist_ok=True)
    data = save({k: v.contiguous() for k, v in sorted(tensors.items())},
                metadata={"format_version": str(FORMAT_VERSION)})
    digest = hashlib.sha256(data).hexdigest()
    fname = f"adapters-{digest[:12]}.safetensors"
    atomic_write_bytes(folder / fname, data)
    meta = {
        "format_version": FORMAT_VERSION,
        "library_version": __version__,
        "name": name,
        "base": {"model": base_name, "sha256": combined_hash(base_files_), "files": base_files_},
        "adapters": {"file": fname, "sha256": digest, "rank": lora["rank"], "alpha": lora["alpha"],
                     "layers": sorted({k.rsplit(".", 1)[0] for k in tensors})},
        "defaults": base_meta.get("defaults", {}),
        "mel": base_meta.get("mel", {}),
        **({"edge_context": base_meta["edge_context"]} if base_meta.get("edge_context") else {}),
        "finetune": record,
    }
    atomic_write_bytes(folder / PIPELINE_NAME, (json.dumps(meta, indent=2) + "\n").encode("utf-8"))
    for old in folder.glob("adapters-*.safetensors"):  # earlier saves of this folder
        if old.name != fname:
            old.unlink()
    return folder


def checked_base(root: Path, base: dict[str, Any]) -> Path:
    """The folder of a fine-tuned model's base, after checking it exists and its weights hash to ``base.sha256``."""
    where = root / PIPELINE_NAME
    if not isinstance(base, dict) or not isinstance(base.get("sha256"), str):
        raise CheckpointError(f"{where}: base must be an object with model and sha256")
    base_name, base_dir = resolve_base(base.get("model"), root)
    if not (base_dir / PIPELINE_NAME).is_file():
        raise CheckpointError(f"{root}: its base model {base_name!r} is not found at {base_dir} (the adapters need the "
                              f"base with sha256 {base['sha256'][:12]}; edit base.model in {where} to point at it)")
    got = combined_hash(base_files(base_dir))
    if got != base["sha256"]:
        raise CheckpointError(f"{root}: adapters were trained on a base with sha256 {base['sha256'][:12]}, but "
                              f"{base_name!r} ({base_dir}) has sha256 {got[:12]}; load them with the base they were "
                              f"made from")
    return base_dir


def load_finetuned(cls, root: Path, meta: dict[str, Any], *, vocoder=None, compile: bool = False):
    """Build the :class:`~vividsound.pipeline.TextToSound` of a fine-tuned folder (on the CPU).

    Raises:
        CheckpointError: the base is missing or its weights differ from those the adapters were trained on,
            the adapters file is missing or corrupt, or an adapter does not fit the base's layers.
    """
    from safetensors import SafetensorError
    from safetensors.torch import load as load_bytes

    where = root / PIPELINE_NAME
    base, ad = meta.get("base"), meta.get("adapters")
    if not isinstance(base, dict) or not isinstance(ad, dict) or "sha256" not in base or "file" not in ad:
        raise CheckpointError(f"{where}: a fine-tuned model needs 'base' (model, sha256) and 'adapters' (file, sha256)")
    base_dir = checked_base(root, base)
    path = root / ad["file"]
    if not path.is_file():
        raise CheckpointError(f"{where} names adapters {ad['file']} that are not in {root}")
    data = path.read_bytes()
    if hashlib.sha256(data).hexdigest() != ad["sha256"]:
        raise CheckpointError(f"{path} does not match the sha256 in {where} (truncated or changed?)")
    try:
        tensors = load_bytes(data)
    except (SafetensorError, ValueError, RuntimeError) as e:
        raise CheckpointError(f"cannot read {path}: {e}") from None
    pipe = cls.from_pretrained(base_dir, vocoder=vocoder, compile=compile)
    scale = float(ad["alpha"]) / int(ad["rank"])
    parts = {"gpt": pipe.gpt, "text_encoder": pipe.text_encoder}
    for comp, module in parts.items():
        own = {k[len(comp) + 1:]: v for k, v in tensors.items() if k.startswith(comp + ".")}
        if own:
            merge(module, own, scale, str(path))
    unknown = sorted({k.split(".", 1)[0] for k in tensors} - set(ADAPTED))
    if unknown:
        raise CheckpointError(f"{path}: adapters for {unknown}; allowed components: {list(ADAPTED)}")
    try:
        from vividsound.pipeline import SamplingDefaults

        pipe.defaults = SamplingDefaults(**meta.get("defaults", {}))
    except TypeError as e:
        raise CheckpointError(f"{where}: bad defaults ({e})") from None
    pipe.name = str(meta.get("name", root.name))
    return pipe


def check_output(out: Path, resume: bool, overwrite: bool, state_dir: Path) -> None:
    """Refuse an ``--out`` that would lose something, before any slow work (one-line :class:`InputError`)."""
    if out.exists() and not out.is_dir():
        raise InputError(f"--out {out} is a file; allowed: a new folder, or one this command wrote")
    has_state = (state_dir / "state.pt").is_file()
    has_model = (out / PIPELINE_NAME).is_file()
    if resume:
        if not has_state:
            raise InputError(f"--resume: {out} holds no unfinished fine-tune to resume (no {state_dir.name}/state.pt)")
        return
    if overwrite:
        if has_model:
            try:
                meta = json.loads((out / PIPELINE_NAME).read_text(encoding="utf-8"))
            except (json.JSONDecodeError, UnicodeDecodeError):
                meta = {}
            if not isinstance(meta, dict) or not is_finetuned(meta):
                raise InputError(f"--out {out} holds a full pipeline, not a fine-tuned model; --overwrite only "
                                 f"replaces what `vividsound finetune` wrote")
        return
    if has_state:
        raise InputError(f"--out {out} holds an unfinished fine-tune; pass --resume to continue it or --overwrite to "
                         f"start again")
    if has_model:
        raise InputError(f"--out {out} already holds a model; choose a new folder or pass --overwrite")
    if out.is_dir() and any(p.name != state_dir.name for p in out.iterdir()):
        raise InputError(f"--out {out} is a folder with other files in it; allowed: a new or empty folder")
