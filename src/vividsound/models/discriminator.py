"""Patch discriminator for the spectrogram VQGAN (pix2pix / taming-transformers' PatchGAN design).

It scores overlapping patches of a normalised log-mel as real or generated; the VQGAN's adversarial
loss averages over patches. GroupNorm replaces BatchNorm so that its output does not depend on what
else is in the batch (and needs no synchronisation under DDP).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn as nn


@dataclass(frozen=True)
class DiscriminatorConfig:
    ndf: int = 64  # width of the first layer
    n_layers: int = 3  # stride-2 layers (each halves both axes)
    in_channels: int = 1  # a log-mel is a one-channel image


class PatchDiscriminator(nn.Module):
    """Normalised log-mel (B, 1, F, T) -> patch logits (B, 1, F', T')."""

    config_class = DiscriminatorConfig

    def __init__(self, config: DiscriminatorConfig) -> None:
        super().__init__()
        self.config = config
        ndf = config.ndf
        layers: list[nn.Module] = [nn.Conv2d(config.in_channels, ndf, 4, 2, 1), nn.LeakyReLU(0.2, True)]
        c = ndf
        for n in range(1, config.n_layers + 1):
            c_out = ndf * min(2**n, 8)
            stride = 2 if n < config.n_layers else 1
            layers += [nn.Conv2d(c, c_out, 4, stride, 1, bias=False),
                       nn.GroupNorm(math.gcd(32, c_out), c_out), nn.LeakyReLU(0.2, True)]
            c = c_out
        layers.append(nn.Conv2d(c, 1, 4, 1, 1))
        self.net = nn.Sequential(*layers)
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.normal_(m.weight, 0.0, 0.02)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() == 3:
            x = x[:, None]
        return self.net(x)
