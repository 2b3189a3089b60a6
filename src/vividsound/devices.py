"""Checks of the ``device`` and ``threads`` options, shared by the CLI, the server and the Python API."""

from __future__ import annotations

import os
from typing import Any

from vividsound.errors import InputError

MAX_DEFAULT_THREADS = 8  # beyond this, small-batch inference gains little and a shared machine loses a lot


def check_device(device: Any) -> str:
    """``device`` as a torch device string, or :class:`InputError` when it names none this torch can use.

    Refuses unknown names (``bogus``), CUDA on a build or machine without it, and GPU indices that do
    not exist, before anything slow starts."""
    import torch

    name = str(device).strip() if device is not None else "cpu"
    try:
        d = torch.device(name)
    except (RuntimeError, TypeError, ValueError):
        raise InputError(f"device {name!r} is not a torch device; allowed: cpu, cuda, cuda:N, mps") from None
    if d.type == "cuda":
        if not torch.cuda.is_available():
            why = "this torch build has no CUDA" if torch.version.cuda is None else "no CUDA GPU is visible"
            raise InputError(f"device {name!r}: {why}; use device cpu")
        if d.index is not None and d.index >= torch.cuda.device_count():
            raise InputError(f"device {name!r}: there are {torch.cuda.device_count()} CUDA device(s), "
                             f"numbered 0..{torch.cuda.device_count() - 1}")
    elif d.type == "mps":
        if not (getattr(torch.backends, "mps", None) and torch.backends.mps.is_available()):
            raise InputError(f"device {name!r}: MPS is not available here; use device cpu")
    elif d.type != "cpu":
        raise InputError(f"device {name!r} is not supported; allowed: cpu, cuda, cuda:N, mps")
    return name


def default_threads() -> int:
    """The CPUs this process may run on (its affinity mask), at most :data:`MAX_DEFAULT_THREADS`."""
    try:
        n = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        n = os.cpu_count() or 1
    return max(1, min(MAX_DEFAULT_THREADS, n))


def check_threads(threads: Any) -> int:
    """``threads`` (None = :func:`default_threads`) checked: an integer from 1 to 256."""
    if threads is None:
        return default_threads()
    if isinstance(threads, bool) or not isinstance(threads, int) or not 1 <= threads <= 256:
        raise InputError(f"threads is {threads!r}; allowed: an integer from 1 to 256")
    return threads


def set_threads(threads: Any) -> int:
    """Set torch's CPU thread count (see :func:`check_threads`); returns it.

    On a machine shared with other work, fewer threads are often faster (threads wait for each other
    when cores are taken): try ``--threads 1``."""
    n = check_threads(threads)
    import torch

    torch.set_num_threads(n)
    return n
