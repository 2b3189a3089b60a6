"""Low-rank adapters (LoRA; Hu et al. 2021) wrapped around a model's ``nn.Linear`` layers.

A wrapped layer computes ``base(x) + scale * B(A(x))`` with ``A`` (rank, in) drawn at random, ``B``
(out, rank) zero at the start (so a fresh adapter leaves the model unchanged) and ``scale = alpha / rank``.
Only ``A`` and ``B`` are trained. For inference the product is merged into the base weight once
(``W += scale * B @ A``), so a fine-tuned model samples exactly as fast as its base, and int8 mode and
the CUDA-graph loop see plain ``nn.Linear`` layers.

The layers are wrapped from outside (``attach``), so the model classes need not know about adapters.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn as nn
import torch.nn.functional as F

from vividsound.errors import CheckpointError

# Which Linear layers of each component get adapters, by module path pattern ("*" = every block).
GPT_TARGETS = ("blocks.*.attn.qkv", "blocks.*.attn.proj", "blocks.*.mlp.0", "blocks.*.mlp.2")
GPT_COND_TARGETS = ("cond_proj",)  # the text-feature -> prefix projection: new captions reach the GPT here
TEXT_TARGETS = ("adapter.1", "adapter.3")  # the text encoder's trained residual MLP (when it has one)


@dataclass(frozen=True)
class LoRAConfig:
    rank: int = 8  # inner width of each adapter
    alpha: float = 16.0  # the update is scaled by alpha / rank
    targets: tuple[str, ...] = ()  # module paths ("gpt.blocks.0.attn.qkv", ...) that carry an adapter

    def __post_init__(self) -> None:
        if not isinstance(self.rank, int) or self.rank < 1:
            raise ValueError(f"LoRA rank must be an integer >= 1, got {self.rank!r}")
        if not self.alpha > 0:
            raise ValueError(f"LoRA alpha must be > 0, got {self.alpha!r}")

    @property
    def scale(self) -> float:
        return self.alpha / self.rank


class LoRALinear(nn.Module):
    """``base(x) + scale * x A^T B^T``; the base layer is frozen, ``lora_a`` and ``lora_b`` train."""

    def __init__(self, base: nn.Linear, rank: int, alpha: float, generator: torch.Generator | None = None) -> None:
        super().__init__()
        self.base = base.requires_grad_(False)
        self.rank, self.scale = rank, alpha / rank
        a = torch.empty(rank, base.in_features)
        # Kaiming-uniform like nn.Linear's own init (the LoRA paper's choice for A), from a seeded generator.
        bound = 1.0 / math.sqrt(base.in_features)
        a.uniform_(-bound, bound, generator=generator)
        self.lora_a = nn.Parameter(a.to(base.weight.device))
        self.lora_b = nn.Parameter(torch.zeros(base.out_features, rank, device=base.weight.device))

    @property
    def weight(self) -> torch.Tensor:  # code that reads a layer's weight (its dtype, its device) still can
        return self.base.weight

    @property
    def bias(self) -> torch.Tensor | None:
        return self.base.bias

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (..., in) -> (..., out)
        return self.base(x) + F.linear(F.linear(x, self.lora_a), self.lora_b) * self.scale

    def delta(self) -> torch.Tensor:
        """The weight update (out, in) this adapter adds."""
        return (self.lora_b @ self.lora_a) * self.scale


def expand_targets(model: nn.Module, patterns: tuple[str, ...]) -> list[str]:
    """Module paths of ``model`` matching ``patterns`` ("blocks.*.mlp.0": every block); each must be a Linear."""
    names = dict(model.named_modules())
    out = []
    for pat in patterns:
        parts = pat.split(".")
        found = [n for n in names if _match(n.split("."), parts)]
        for n in found:
            if not isinstance(names[n], nn.Linear):
                raise CheckpointError(f"adapter target {n!r} is a {type(names[n]).__name__}, not a Linear layer")
        out += found
    return out


def _match(name: list[str], pattern: list[str]) -> bool:
    return len(name) == len(pattern) and all(p == "*" or p == n for n, p in zip(name, pattern))


def _parent(model: nn.Module, path: str) -> tuple[nn.Module, str]:
    *head, leaf = path.split(".")
    parent = model.get_submodule(".".join(head)) if head else model
    return parent, leaf


def attach(model: nn.Module, paths: list[str], rank: int, alpha: float, seed: int) -> dict[str, LoRALinear]:
    """Wrap each Linear at ``paths`` in a :class:`LoRALinear` (in place); returns path -> wrapper.

    ``A`` of the adapter at position ``i`` is drawn from ``seed`` and ``i``, so the same paths and seed
    give the same adapters whatever else runs in the process."""
    out = {}
    for i, path in enumerate(paths):
        parent, leaf = _parent(model, path)
        layer = getattr(parent, leaf)
        if not isinstance(layer, nn.Linear):
            raise CheckpointError(f"adapter target {path!r} is a {type(layer).__name__}, not a Linear layer")
        g = torch.Generator().manual_seed(seed * 1_000_003 + i)
        wrapped = LoRALinear(layer, rank, alpha, g)
        setattr(parent, leaf, wrapped)
        out[path] = wrapped
    return out


def detach(model: nn.Module, adapters: dict[str, LoRALinear]) -> None:
    """Put the plain base layers back (the adapters' updates are dropped, not merged)."""
    for path, wrapped in adapters.items():
        parent, leaf = _parent(model, path)
        setattr(parent, leaf, wrapped.base)


def adapter_state(adapters: dict[str, LoRALinear], prefix: str = "") -> dict[str, torch.Tensor]:
    """``{prefix + path + ".lora_a"/".lora_b": tensor}`` (CPU copies): all that a fine-tune saves."""
    out = {}
    for path, m in adapters.items():
        out[f"{prefix}{path}.lora_a"] = m.lora_a.detach().cpu().clone()
        out[f"{prefix}{path}.lora_b"] = m.lora_b.detach().cpu().clone()
    return out


def load_adapter_state(adapters: dict[str, LoRALinear], state: dict[str, torch.Tensor], prefix: str = "") -> None:
    """Copy saved ``lora_a`` / ``lora_b`` tensors into attached adapters (strict: every key, every shape)."""
    for path, m in adapters.items():
        for name in ("lora_a", "lora_b"):
            key = f"{prefix}{path}.{name}"
            if key not in state:
                raise CheckpointError(f"adapter state lacks {key!r}")
            p = getattr(m, name)
            if tuple(state[key].shape) != tuple(p.shape):
                raise CheckpointError(f"adapter {key!r} has shape {tuple(state[key].shape)}, expected {tuple(p.shape)}")
            with torch.no_grad():
                p.copy_(state[key].to(p.dtype))


@torch.no_grad()
def merge(model: nn.Module, state: dict[str, torch.Tensor], scale: float, where: str) -> int:
    """Add ``scale * B @ A`` of every adapter in ``state`` (keys ``path.lora_a`` / ``path.lora_b``) into the
    Linear at ``path`` of ``model``; returns how many layers changed. Strict: a key whose layer does not
    exist or whose shapes do not fit is a :class:`CheckpointError` naming ``where``."""
    paths = sorted({k.rsplit(".", 1)[0] for k in state})
    for path in paths:
        a, b = state.get(f"{path}.lora_a"), state.get(f"{path}.lora_b")
        if a is None or b is None:
            raise CheckpointError(f"{where}: adapter {path!r} lacks lora_a or lora_b")
        try:
            layer = model.get_submodule(path)
        except AttributeError:
            raise CheckpointError(f"{where}: adapter {path!r} names no layer of the base model") from None
        if not isinstance(layer, nn.Linear):
            raise CheckpointError(f"{where}: adapter {path!r} is on a {type(layer).__name__}, not a Linear layer")
        w = layer.weight
        if a.dim() != 2 or b.dim() != 2 or a.shape[0] != b.shape[1] or (b.shape[0], a.shape[1]) != tuple(w.shape):
            raise CheckpointError(f"{where}: adapter {path!r} ({tuple(b.shape)} x {tuple(a.shape)}) does not fit the "
                                  f"base layer's weight {tuple(w.shape)}")
        w.add_((b.float() @ a.float() * scale).to(w.dtype))
    return len(paths)
