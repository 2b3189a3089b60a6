"""Perceptual loss over multi-scale tagger features (the LPAPS role of SpecVQGAN, Iashin & Rahtu 2021).

SpecVQGAN's released code silently trained without its perceptual network (its weights failed to load,
issue 13). Here building the loss needs a trained tagger component folder: a missing folder, missing
weights or a tagger that was never trained is a :class:`PerceptualWeightsError`, never a silent zero.

The distance follows LPIPS without learned channel weights: each feature map is unit-normalised over
channels at every position, and the squared difference is averaged over channels and positions, then
summed over scales with ``layer_weights``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Sequence

import torch
import torch.nn as nn

from vividsound.audio import MelConfig
from vividsound.errors import CheckpointError, VividsoundError


class PerceptualWeightsError(VividsoundError):
    """The perceptual loss cannot run: its tagger weights are missing or untrained."""


def _unit(x: torch.Tensor) -> torch.Tensor:
    return x / (x.pow(2).sum(dim=1, keepdim=True).sqrt() + 1e-10)


class PerceptualLoss(nn.Module):
    """Frozen tagger features -> distance between two log-mels (B, n_mels, T); returns a scalar."""

    def __init__(self, tagger: nn.Module, layer_weights: Sequence[float] | None = None) -> None:
        super().__init__()
        self.tagger = tagger.eval().requires_grad_(False)
        n = len(tagger.cnn.blocks)
        self.layer_weights = list(layer_weights) if layer_weights else [1.0] * n
        if len(self.layer_weights) != n:
            raise ValueError(f"perceptual layer_weights has {len(self.layer_weights)} entries, the tagger has {n} "
                             "feature scales")

    @classmethod
    def from_folder(cls, folder: str | Path, mel: MelConfig, layer_weights: Sequence[float] | None = None
                    ) -> "PerceptualLoss":
        """Load the tagger component at ``folder``; refuse loudly when it is not there or not trained."""
        from vividsound.checkpoint import load_component

        hint = "train it first (vividsound train tagger ...) and set loss.tagger to its export/tagger folder"
        if not str(folder):
            raise PerceptualWeightsError(f"the perceptual loss needs tagger weights but loss.tagger is empty; {hint}")
        folder = Path(folder)
        if not (folder / "config.json").is_file():
            raise PerceptualWeightsError(f"the perceptual loss needs tagger weights, none at {folder}; {hint}")
        if not (folder / "model.safetensors").is_file():
            raise PerceptualWeightsError(f"the perceptual loss needs tagger weights: {folder} has no "
                                         f"model.safetensors; {hint}")
        meta = json.loads((folder / "config.json").read_text(encoding="utf-8"))
        if not (meta.get("extra") or {}).get("trained_steps"):
            raise PerceptualWeightsError(f"the tagger at {folder} was never trained (no trained_steps in its "
                                         f"config.json); {hint}")
        try:
            tagger = load_component(folder, "Tagger")
        except CheckpointError as e:
            raise PerceptualWeightsError(f"the perceptual loss cannot load its tagger: {e}") from None
        if tagger.mel_config != mel:
            raise PerceptualWeightsError(f"the tagger at {folder} reads another mel definition than the VQGAN")
        return cls(tagger, layer_weights)

    def train(self, mode: bool = True) -> "PerceptualLoss":  # the tagger always stays in eval mode
        super().train(mode)
        self.tagger.eval()
        return self

    def forward(self, log_mel: torch.Tensor, recon: torch.Tensor) -> torch.Tensor:
        fa = self.tagger.features(log_mel)
        fb = self.tagger.features(recon)
        total = log_mel.new_zeros((), dtype=torch.float32)
        for w, a, b in zip(self.layer_weights, fa, fb):
            total = total + w * (_unit(a.float()) - _unit(b.float())).pow(2).sum(1).mean()
        return total
