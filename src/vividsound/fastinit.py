"""Build modules without initialising their weights, for weights that are loaded right after.

``nn.Linear(...)`` and friends fill their parameters with random numbers as they are built; when a
checkpoint overwrites every one of them next, that work is wasted (a few tenths of a second per process
for the GPT and HiFi-GAN). Building on the meta device avoids it too, but an in-place random fill of a
meta tensor imports ``torch._dynamo`` (seconds); so instead :func:`no_init` lets the modules allocate
real, uninitialised memory and turns the in-place fills that initialisers use into no-ops.

Only for code that then loads *every* parameter and buffer strictly (``load_state_dict(strict=True)``):
anything left unloaded would hold whatever the memory held.
"""

from __future__ import annotations

import contextlib
from typing import Any, Iterator

import torch
from torch.overrides import TorchFunctionMode

# The in-place fills behind torch.nn.init (normal_, uniform_, kaiming_*, xavier_*, trunc_normal_, zeros_,
# ones_, constant_) and behind the layers' reset_parameters.
# The initialisers are listed themselves too: those that dispatch through __torch_function__ reach the
# mode as one call, inside which the tensor methods they use are no longer seen by it.
_INIT = torch.nn.init
_FILLS = {torch.Tensor.normal_, torch.Tensor.uniform_, torch.Tensor.zero_, torch.Tensor.fill_,
          torch.Tensor.erfinv_, torch.Tensor.clamp_, _INIT.normal_, _INIT.uniform_, _INIT.trunc_normal_,
          _INIT.kaiming_uniform_, _INIT.kaiming_normal_, _INIT.xavier_uniform_, _INIT.xavier_normal_,
          _INIT.zeros_, _INIT.ones_, _INIT.constant_}


class _NoInit(TorchFunctionMode):
    def __torch_function__(self, func: Any, types: Any, args: tuple = (), kwargs: dict | None = None) -> Any:
        kwargs = kwargs or {}
        if func in _FILLS:  # the tensor comes first, or as tensor= (torch.nn.init's keyword)
            return args[0] if args else kwargs.get("tensor", kwargs.get("self"))
        return func(*args, **kwargs)


@contextlib.contextmanager
def no_init() -> Iterator[None]:
    """Within the block, initialisers leave tensors as allocated (uninitialised). Per thread."""
    with _NoInit():
        yield


def has_non_persistent_buffers(model: torch.nn.Module) -> bool:
    """Whether ``model`` has buffers that a state dict does not carry (they must be computed, not loaded)."""
    persistent = set(model.state_dict())
    return any(name not in persistent for name, _ in model.named_buffers())
