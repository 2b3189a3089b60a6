"""Opt-in int8 inference on the CPU (issue 7): the GPT's transformer Linear layers in int8.

``TextToSound.from_pretrained(path, quantize="int8")`` (``vividsound generate --int8``) replaces every
``nn.Linear`` inside the GPT's transformer blocks (attention qkv / output projection, both MLP layers:
about 96 % of the GPT's weights) by :class:`Int8Linear`:

- weights: int8, symmetric, one scale per output channel, quantised once at load time;
- activations: int8, symmetric, one scale per token (row of the input), computed on the fly
  ("dynamic" quantisation);
- the product: an exact int8 x int8 -> int32 matrix multiply (``torch._int_mm``), rescaled to fp32.

Why not ``torch.ao.quantization.quantize_dynamic``: in torch 2.13 it warns that ``torch.ao.quantization``
is deprecated (to be replaced by torchao's ``quantize_``), and its activation scale is one per *tensor*:
every row of a batch shares it, so a sound's tokens would depend on which other prompts were sampled
in the same batch, breaking the pipeline's promise that ``batch_size`` never changes the audio. One
scale per token makes each row's result independent of the others (exactly, since the integer product
is exact); it is the recipe of torchao's ``Int8DynamicActivationInt8WeightConfig`` (per-token activations,
per-channel weights) without the dependency. ``quantize_dynamic`` was somewhat faster at batch 1 in
ad-hoc tests (fused C++ quantisation) but gives up that guarantee; see ``benchmarks/README.md``.

Kept in fp32, measured or reasoned:

- the GPT's text projection (runs once per clip) and output head (4 % of the weights);
  ``ConditionalGPT`` also reads ``head.weight`` / ``cond_proj.weight`` for the device and dtype;
- the text encoder (MiniLM): one forward pass per prompt, a small part of a clip's time;
- the VQGAN decoder and the vocoders: convolutions, which dynamic int8 quantisation does not cover.

Trade-off: int8 tokens are not fp32 tokens. The same seed still gives the same audio (on the same
machine), batch composition still does not change a sample and streaming yields the same codes, but
a given seed may give other tokens, hence another sound, than without ``--int8`` (its quality has not
been evaluated separately). The output settings record ``quantize: "int8"``.
"""

from __future__ import annotations

from typing import Any, Callable

import torch
import torch.nn as nn

from vividsound.errors import InputError

QUANTIZE_MODES = ("int8",)


def check_quantize(quantize: str | None, device: str | torch.device | None = None) -> str | None:
    """Validate a ``quantize`` argument for ``device``; raises a one-line :class:`InputError`."""
    if quantize is None:
        return None
    if quantize not in QUANTIZE_MODES:
        raise InputError(f"quantize is {quantize!r}; allowed: None or {', '.join(map(repr, QUANTIZE_MODES))}")
    try:
        kind = torch.device(device).type if device is not None else "cpu"
    except (RuntimeError, TypeError, ValueError):
        kind = "cpu"  # not a device name at all: check_device says so in its own words
    if kind != "cpu":
        raise InputError(f"quantize={quantize!r} runs on the CPU only, got device {str(device)!r}; "
                         "use device='cpu' or drop quantize (--int8)")
    return quantize


class Int8Linear(nn.Module):
    """``nn.Linear`` with int8 per-output-channel weights and per-token dynamic int8 activations (CPU).

    Input (..., in_features) float -> output (..., out_features) float32. Each row (token) of the input
    is quantised with its own scale, so a row's output does not depend on the other rows.
    """

    def __init__(self, in_features: int, out_features: int, bias: bool = True) -> None:
        super().__init__()
        self.in_features, self.out_features = in_features, out_features
        # (out, in) row-major, passed to _int_mm as its (in, out) transpose view: at one token per call
        # that column-major operand is ~3x faster on x86 than a contiguous (in, out) copy (measured)
        self.register_buffer("weight_int8", torch.zeros(out_features, in_features, dtype=torch.int8))
        self.register_buffer("weight_scale", torch.ones(out_features))  # (out,)
        self.register_buffer("bias", torch.zeros(out_features) if bias else None)

    @classmethod
    @torch.no_grad()
    def from_linear(cls, lin: nn.Linear) -> "Int8Linear":
        if lin.weight.device.type != "cpu":
            raise InputError(f"int8 quantisation runs on the CPU only; this Linear is on {lin.weight.device}")
        q = cls(lin.in_features, lin.out_features, bias=lin.bias is not None)
        w = lin.weight.detach().float()  # (out, in)
        scale = (w.abs().amax(dim=1) / 127.0).clamp(min=1e-12)
        q.weight_int8.copy_(torch.round(w / scale[:, None]).clamp(-127, 127).to(torch.int8))
        q.weight_scale.copy_(scale)
        if lin.bias is not None:
            q.bias.copy_(lin.bias.detach().float())
        return q

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        shape = x.shape
        x2 = x.reshape(-1, shape[-1]).float()  # (N, in)
        # per-token symmetric scale: max |x| of the row maps to 127 (ops chosen for few kernel launches:
        # at batch 1 a decoding step is bound by per-op overhead, not by arithmetic)
        sx = torch.linalg.vector_norm(x2, float("inf"), dim=-1, keepdim=True).clamp_(min=1e-12).mul_(1 / 127)
        xq = torch.div(x2, sx).round_().to(torch.int8)  # (N, in), values in [-127, 127]
        y = torch._int_mm(xq, self.weight_int8.t()).float().mul_(sx)  # (N, out), exact int32 accumulation
        y = torch.addcmul(self.bias, y, self.weight_scale) if self.bias is not None else y.mul_(self.weight_scale)
        return y.view(*shape[:-1], self.out_features)

    def _apply(self, fn: Callable, *args: Any, **kwargs: Any) -> "Int8Linear":
        # ``.to("cuda")`` would otherwise move the buffers and fail later inside ``_int_mm``
        probe = fn(torch.zeros(0, dtype=torch.int8))
        if probe.device.type != "cpu":
            raise InputError(f"int8-quantised layers run on the CPU only; cannot move them to {probe.device}")
        return super()._apply(fn, *args, **kwargs)

    def extra_repr(self) -> str:
        return f"in_features={self.in_features}, out_features={self.out_features}, bias={self.bias is not None}, int8"


def quantize_linears(module: nn.Module) -> int:
    """Replace every ``nn.Linear`` inside ``module`` (in place) by :class:`Int8Linear`; returns the count."""
    n = 0
    for name, child in module.named_children():
        if type(child) is nn.Linear:
            setattr(module, name, Int8Linear.from_linear(child))
            n += 1
        else:
            n += quantize_linears(child)
    return n


def quantize_gpt_int8(gpt: nn.Module) -> int:
    """Quantise the Linear layers of ``gpt.blocks`` in place (text projection and head stay fp32)."""
    return quantize_linears(gpt.blocks)


def quantize_pipeline(pipe: Any, quantize: str | None) -> Any:
    """Apply ``quantize`` (``None`` or ``"int8"``) to a CPU :class:`~vividsound.pipeline.TextToSound`.

    Sets ``pipe.quantize`` and ``pipe.quantize_info`` (reported by ``info()`` and in output settings).
    """
    if check_quantize(quantize, pipe.device) is None:
        return pipe
    if getattr(pipe, "quantize", None) is not None:
        raise InputError(f"this pipeline is already quantised ({pipe.quantize})")
    n = quantize_gpt_int8(pipe.gpt)
    pipe.quantize = quantize
    pipe.quantize_info = {"mode": quantize, "gpt_linear_layers": n,
                          "weights": "int8, one scale per output channel",
                          "activations": "int8, one scale per token (dynamic)",
                          "fp32": "text encoder, GPT text projection and head, VQGAN decoder, vocoder"}
    return pipe
