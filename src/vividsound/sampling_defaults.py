"""The library's sampling defaults: the one place they are written down.

A saved pipeline carries its own defaults in ``pipeline.json`` (``defaults``); these are what a pipeline
gets when it states none, what a training run's export writes unless its config says otherwise, and
what the bundled model ships with. ``vividsound info MODEL`` prints a model's defaults; every call,
command and HTTP request can override them. This module imports nothing heavy.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["SamplingDefaults"]


@dataclass(frozen=True)
class SamplingDefaults:
    """Sampler settings a model ships with.

    The paper samples with top-k 512 of 1024 codes (its config is ``configs/paper/gpt.yaml``); the
    smaller default recipe samples among 256 (a quarter of its 1024 codes), which is also the library
    default here.
    """

    duration: float = 5.0  # seconds per clip
    top_k: int | None = 256  # sample among the k most likely codes (None: all; capped at the codebook size)
    top_p: float | None = None  # nucleus sampling mass (None: off)
    temperature: float = 1.0  # softmax temperature
    cfg_scale: float = 1.0  # classifier-free guidance scale (1: off)
