"""Scorers for best-of-N sampling: rate how well a sound fits its prompt with a model that is not the GPT.

The scorer is a CLAP component (:class:`~vividsound.models.clap.CLAP`, exported by the recipe's ``clap``
stage as ``clap/``): the score of a (sound, prompt) pair is the cosine similarity of their embeddings,
from -1 to 1. Using a model other than the sampler's own GPT matters: the GPT's likelihood favours its own
most typical (often dull) samples, and a judge should stand apart from what it judges.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import torch

from vividsound.errors import CheckpointError, InputError

SCORE_ROWS = 16  # sounds embedded per CLAP call


class ClapScorer:
    """Cosine similarity of CLAP audio and text embeddings. Build with :meth:`load` or from a CLAP model."""

    def __init__(self, clap: torch.nn.Module, name: str = "clap") -> None:
        from vividsound.audio import MelSpectrogram

        self.clap = clap.eval()
        self.name = name
        self.mel = MelSpectrogram(clap.mel_config)

    @classmethod
    def load(cls, folder: str | os.PathLike, device: str | torch.device = "cpu") -> "ClapScorer":
        """Load a CLAP component folder; a missing or wrong folder is a one-line :class:`InputError`."""
        from vividsound.checkpoint import load_component

        p = Path(folder)
        if not (p / "config.json").is_file():
            raise InputError(f"scorer folder {p} has no config.json; allowed: a CLAP component folder "
                             "(the recipe's clap stage exports one as clap/)")
        try:
            clap = load_component(p, "CLAP")
        except CheckpointError as e:
            raise InputError(f"scorer {p}: {e}") from None
        return cls(clap.to(device), name=f"clap:{p.resolve().name if p.name in ('', '.') else p.name}")

    @property
    def device(self) -> torch.device:
        return next(self.clap.parameters()).device

    @torch.no_grad()
    def score(self, waveform: torch.Tensor, sample_rate: int, prompts: Sequence[str]) -> torch.Tensor:
        """Scores (B,) of waveforms (B, N) at ``sample_rate`` against their prompts (B of them)."""
        if waveform.shape[0] != len(prompts):
            raise ValueError(f"{waveform.shape[0]} sounds but {len(prompts)} prompts")
        wav = waveform.detach().float().cpu()
        rate = self.clap.mel_config.sample_rate
        if sample_rate != rate:
            import soxr

            wav = torch.from_numpy(np.stack([soxr.resample(w.numpy(), sample_rate, rate, quality="HQ")
                                             for w in wav]).astype(np.float32))
        front = self.mel.to(self.device)
        return torch.cat([self._scores(front(wav[i : i + SCORE_ROWS].to(self.device)), prompts[i : i + SCORE_ROWS])
                          for i in range(0, wav.shape[0], SCORE_ROWS)])

    def _scores(self, log_mel: torch.Tensor, prompts: Sequence[str]) -> torch.Tensor:
        """Cosine of the CLAP embeddings of log-mels (b, n_mels, frames) and their prompts: (b,) on the CPU."""
        a = self.clap.embed_audio(log_mel)
        t = self.clap.embed_text(list(prompts)).to(a.device)
        return (a * t).sum(-1).float().cpu()

    def reads_mel(self, mel_config: Any) -> bool:
        """Whether this scorer's CLAP reads log-mels made with ``mel_config`` (then :meth:`score_mel` can score
        a model's decoded spectrograms without a vocoder)."""
        return self.clap.mel_config == mel_config

    @torch.no_grad()
    def score_mel(self, mel: torch.Tensor, prompts: Sequence[str]) -> torch.Tensor:
        """Scores (B,) of log-mels (B, n_mels, frames) in this CLAP's mel settings against their prompts."""
        if mel.shape[0] != len(prompts):
            raise ValueError(f"{mel.shape[0]} spectrograms but {len(prompts)} prompts")
        return torch.cat([self._scores(mel[i : i + SCORE_ROWS].float().to(self.device), prompts[i : i + SCORE_ROWS])
                          for i in range(0, mel.shape[0], SCORE_ROWS)])
