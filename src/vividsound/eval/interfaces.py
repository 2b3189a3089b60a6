"""What the evaluator needs from the generator and the trained helper models (duck-typed).

The evaluator never imports the model classes; anything with these attributes works, which is how the
tests run it on small fakes. Every component that reads spectrograms carries the ``MelConfig`` it was
trained on; the evaluator computes its input from the *waveform* with that config, so generated and
reference audio always go through the same front end.
"""

from __future__ import annotations

from typing import Any, Protocol, Sequence, runtime_checkable

import torch

from vividsound.audio import MelConfig

__all__ = ["AudioOutputLike", "Generator", "Tagger", "Captioner", "Clap", "ProbeChecker"]


@runtime_checkable
class AudioOutputLike(Protocol):
    """The generator's result for ``len(prompts) * num_samples`` clips, prompt-major.

    Clip ``i * num_samples + s`` is sample ``s`` of prompt ``i``.
    """

    waveform: torch.Tensor  # (B, N) float in [-1, 1]
    sample_rate: int  # Hz of ``waveform``
    mel: torch.Tensor | None  # (B, n_mels, T) log-mel the VQGAN decoded, in the generator's MelConfig
    prompts: Sequence[str]  # the B prompts, one per clip


@runtime_checkable
class Generator(Protocol):
    """``vividsound.pipeline.TextToSound``: text in, audio out."""

    mel_config: MelConfig

    def __call__(self, prompts: list[str], *, duration: float, seed: int, num_samples: int,
                 top_k: int | None, top_p: float | None, temperature: float,
                 cfg_scale: float) -> AudioOutputLike:
        ...


@runtime_checkable
class Tagger(Protocol):
    """The multi-label audio tagger (FD features, MMKL, Inception score, class relevance)."""

    tags: list[str]  # class names, C of them
    mel_config: MelConfig

    def embed(self, log_mel: torch.Tensor) -> torch.Tensor:  # (B, n_mels, T) -> (B, D)
        ...

    def predict(self, log_mel: torch.Tensor) -> torch.Tensor:  # (B, n_mels, T) -> (B, C) sigmoid probs
        ...


@runtime_checkable
class Captioner(Protocol):
    """Audio captioner for caption-back scores (CIDEr-D, SPICE). ``mel_config`` as for the tagger."""

    mel_config: MelConfig

    def caption(self, log_mel: torch.Tensor) -> list[str]:  # (B, n_mels, T) -> B captions
        ...


@runtime_checkable
class Clap(Protocol):
    """Contrastive audio-text model for the CLAP score."""

    mel_config: MelConfig

    def embed_audio(self, log_mel: torch.Tensor) -> torch.Tensor:  # (B, n_mels, T) -> (B, D)
        ...

    def embed_text(self, texts: list[str]) -> torch.Tensor:  # B texts -> (B, D)
        ...


class ProbeChecker(Protocol):
    """``vividsound.data.checkers.check``: does this audio satisfy the probe's checkable truth?"""

    def __call__(self, audio: Any, sr: int, probe: dict[str, Any]) -> bool:  # audio: (N,) float numpy
        ...
