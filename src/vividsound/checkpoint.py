"""One checkpoint format: a component is a folder with ``config.json`` and ``model.safetensors``.

``config.json`` holds the format version, the component's class name, the library version and the
component's config (which embeds its :class:`~vividsound.audio.MelConfig` where it has one). Loading
is strict: a missing file, an unknown format version or class, a missing or unexpected tensor, or a
shape mismatch is a :class:`~vividsound.errors.CheckpointError` with a one-line message.

Folders are written atomically: into a temporary sibling, then renamed into place, so an interrupted
save never leaves a half-written component where a good one was.
"""

from __future__ import annotations

import importlib
import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any, Callable

import torch

from vividsound import __version__
from vividsound.config import from_dict, to_dict
from vividsound.errors import CheckpointError, ConfigError

FORMAT_VERSION = 1
CONFIG_NAME = "config.json"
WEIGHTS_NAME = "model.safetensors"

# Class name -> "module:attribute". Config files name classes, never import paths; this table is the
# only place that maps one to the other.
_COMPONENTS: dict[str, str] = {
    "VQGAN": "vividsound.models.vqgan:VQGAN",
    "PatchDiscriminator": "vividsound.models.discriminator:PatchDiscriminator",
    "ConditionalGPT": "vividsound.models.gpt:ConditionalGPT",
    "ColumnGPT": "vividsound.models.gpt_columns:ColumnGPT",
    "TextEncoder": "vividsound.models.text:TextEncoder",
    "HiFiGAN": "vividsound.models.vocoders:HiFiGAN",
    "MelGAN": "vividsound.models.vocoders:MelGAN",
    "GriffinLim": "vividsound.models.vocoders:GriffinLim",
    "Vocos": "vividsound.models.vocos:Vocos",
    "Tagger": "vividsound.models.tagger:Tagger",
    "CLAP": "vividsound.models.clap:CLAP",
    "Captioner": "vividsound.models.captioner:Captioner",
    "MultiScaleDiscriminator": "vividsound.models.melgan_discriminator:MultiScaleDiscriminator",
    "VocosDiscriminator": "vividsound.models.vocos_discriminator:VocosDiscriminator",
}


def register_component(name: str, target: str) -> None:
    """Make class ``name`` loadable from ``"module:attribute"`` (for extensions)."""
    _COMPONENTS[name] = target


def component_class(name: str) -> type:
    if name not in _COMPONENTS:
        raise CheckpointError(f"unknown component class {name!r}; known: {', '.join(sorted(_COMPONENTS))}")
    module, attr = _COMPONENTS[name].split(":")
    return getattr(importlib.import_module(module), attr)


def atomic_write_dir(final: Path, write: Callable[[Path], None]) -> Path:
    """Call ``write(tmp_dir)`` then move ``tmp_dir`` to ``final``, replacing it only on success."""
    final = Path(final)
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{final.name}.tmp-", dir=str(final.parent)))
    try:
        write(tmp)
        _fix_modes(tmp)
        old = None
        if final.exists():
            old = final.parent / f".{final.name}.old-{os.getpid()}"
            if old.exists():
                shutil.rmtree(old)
            os.replace(final, old)
        os.replace(tmp, final)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return final


def _read_umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


UMASK = _read_umask()  # read once at import: changing the umask to read it is not thread-safe
FILE_MODE = 0o666 & ~UMASK  # the usual mode of a new file (mkstemp makes 0600 ones)


def _fix_modes(root: Path) -> None:
    """mkdtemp/mkstemp create private (0700/0600) entries; give them the usual umask-based modes."""
    os.chmod(root, 0o777 & ~UMASK)
    for p in root.rglob("*"):
        os.chmod(p, (0o777 if p.is_dir() else 0o666) & ~UMASK)


def atomic_write_bytes(path: Path, data: bytes) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.tmp-", dir=str(path.parent))
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, FILE_MODE)  # mkstemp makes 0600 files; keep the usual umask mode
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def atomic_torch_save(obj: Any, path: Path) -> None:
    """``torch.save`` to a temporary name, then rename (for training state used only by --resume)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.tmp-", dir=str(path.parent))
    os.close(fd)
    try:
        torch.save(obj, tmp)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def _state_to_save(model: torch.nn.Module, dtype: torch.dtype | None) -> dict[str, torch.Tensor]:
    out = {}
    for k, v in model.state_dict().items():
        v = v.detach().cpu()
        if dtype is not None and v.is_floating_point():
            v = v.to(dtype)
        out[k] = v.contiguous().clone()
    return out


def save_component(model: torch.nn.Module, folder: str | Path, *, dtype: torch.dtype | None = None,
                   extra: dict[str, Any] | None = None) -> Path:
    """Save ``model`` (which has ``.config``, a dataclass) as a component folder, atomically.

    Args:
        dtype: store floating tensors in this dtype (e.g. ``torch.float16`` for shipped weights).
        extra: JSON-ready facts stored beside the config (training data, metrics, ...).
    """
    from safetensors.torch import save_file

    cls_name = type(model).__name__
    if cls_name not in _COMPONENTS:
        raise CheckpointError(f"{cls_name} is not a registered component class")
    meta = {
        "format_version": FORMAT_VERSION,
        "class": cls_name,
        "library_version": __version__,
        "config": to_dict(model.config),
    }
    if extra:
        meta["extra"] = extra
    # Components whose weights come from an installed package (HiFi-GAN universal, the frozen text
    # backbone) store only what is theirs.
    state = {} if getattr(model, "weights_external", False) else _state_to_save(model, dtype)

    def write(tmp: Path) -> None:
        (tmp / CONFIG_NAME).write_text(json.dumps(meta, indent=2) + "\n", encoding="utf-8")
        if state:
            save_file(state, str(tmp / WEIGHTS_NAME), metadata={"format_version": str(FORMAT_VERSION)})

    return atomic_write_dir(Path(folder), write)


def read_versioned_json(folder: Path, name: str, what: str) -> dict[str, Any]:
    """Read ``folder/name``, a JSON object whose ``format_version`` must be ours."""
    if not folder.is_dir():
        raise CheckpointError(f"{what} folder not found: {folder}")
    path = folder / name
    if not path.is_file():
        raise CheckpointError(f"{folder} is not a vividsound {what} (no {name})")
    try:
        meta = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise CheckpointError(f"{path} is not valid JSON ({e})") from None
    if not isinstance(meta, dict):
        raise CheckpointError(f"{path} must hold a JSON object")
    version = meta.get("format_version")
    if version != FORMAT_VERSION:
        raise CheckpointError(f"{path} has format version {version!r}; this vividsound reads version "
                              f"{FORMAT_VERSION}")
    return meta


def read_component_config(folder: str | Path) -> dict[str, Any]:
    """Read and check a component's ``config.json`` (format version, class)."""
    meta = read_versioned_json(Path(folder), CONFIG_NAME, "checkpoint")
    if "class" not in meta or "config" not in meta:
        raise CheckpointError(f"{Path(folder) / CONFIG_NAME} lacks 'class' or 'config'")
    return meta


def load_state(folder: Path, model: torch.nn.Module, assign: bool = False) -> None:
    """Load ``model.safetensors`` into ``model`` strictly (keys and shapes).

    Args:
        assign: make the loaded tensors the model's parameters instead of copying into them (for a
            model built without initialisation, see :func:`load_component`).
    """
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    expected = model.state_dict()
    path = folder / WEIGHTS_NAME
    if not expected or getattr(model, "weights_external", False):
        return
    if not path.is_file():
        raise CheckpointError(f"checkpoint {folder} has no {WEIGHTS_NAME}")
    try:
        state = load_file(str(path))
    except (SafetensorError, OSError, ValueError, RuntimeError) as e:
        raise CheckpointError(f"cannot read {path} (truncated or corrupt?): {e}") from None
    missing = sorted(set(expected) - set(state))
    unexpected = sorted(set(state) - set(expected))
    if missing or unexpected:
        parts = []
        if missing:
            parts.append(f"missing {len(missing)} tensor(s) e.g. {missing[0]!r}")
        if unexpected:
            parts.append(f"unexpected {len(unexpected)} tensor(s) e.g. {unexpected[0]!r}")
        raise CheckpointError(f"{path} does not fit {type(model).__name__}: {'; '.join(parts)}")
    for k, v in expected.items():
        if tuple(state[k].shape) != tuple(v.shape):
            raise CheckpointError(f"{path}: tensor {k!r} has shape {tuple(state[k].shape)}, the model "
                                  f"expects {tuple(v.shape)}")
        state[k] = state[k].to(v.dtype)
    model.load_state_dict(state, strict=True, assign=assign)


def _build_without_init(cls: type, config: Any, folder: Path) -> torch.nn.Module | None:
    """Build ``cls(config)`` without random initialisation and assign the folder's weights: the
    initialisation that the checkpoint overwrites anyway is a measurable part of a process's start.

    Only for classes that say ``build_without_init = True`` (their ``__init__`` only makes layers: a class
    that loads something while it is built, like the text encoder's backbone, is built the ordinary way).
    Returns ``None`` where skipping the initialisation could leave a tensor unset: a model whose weights
    come from elsewhere, one with non-persistent buffers (computed, not loaded), or no weights file.
    """
    from vividsound.fastinit import has_non_persistent_buffers, no_init

    if not getattr(cls, "build_without_init", False) or not (folder / WEIGHTS_NAME).is_file():
        return None
    with no_init():
        model = cls(config)
    if getattr(model, "weights_external", False) or has_non_persistent_buffers(model):
        return None
    load_state(folder, model, assign=True)  # strict: every parameter and buffer is replaced
    return model


def load_component(folder: str | Path, expected: str | tuple[str, ...] | None = None,
                   map_location: str | torch.device = "cpu") -> torch.nn.Module:
    """Build the component saved in ``folder`` and load its weights strictly.

    Args:
        expected: class name(s) the caller accepts; another class is an error.
    """
    folder = Path(folder)
    meta = read_component_config(folder)
    name = meta["class"]
    if expected is not None:
        allowed = (expected,) if isinstance(expected, str) else expected
        if name not in allowed:
            raise CheckpointError(f"{folder} holds a {name}, expected {' or '.join(allowed)}")
    cls = component_class(name)
    try:
        config = from_dict(cls.config_class, meta["config"])
    except ConfigError as e:
        raise CheckpointError(f"{folder}/{CONFIG_NAME}: {e}") from None
    model = _build_without_init(cls, config, folder)
    if model is None:
        model = cls(config)
        load_state(folder, model)
    model.eval()
    return model.to(map_location)
