"""MelGAN's multi-scale waveform discriminator (Kumar et al. 2019, Sec. 2.2).

``scales`` identical discriminators read the waveform at 1x, 1/2x, 1/4x ... (average pooling between
them). Each is a stack of strided, grouped 1-D convolutions; every layer's output is returned so that
the generator can be trained with feature matching as well as the hinge loss.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn as nn


@dataclass(frozen=True)
class MultiScaleDiscriminatorConfig:
    scales: int = 3  # discriminators, each at half the previous sample rate
    ndf: int = 16  # width of the first layer
    n_layers: int = 4  # strided grouped layers (stride 4 each)
    max_channels: int = 1024  # channel cap

    def __post_init__(self) -> None:
        if self.scales < 1 or self.ndf < 4 or self.ndf % 4 or self.n_layers < 1:
            raise ValueError("MultiScaleDiscriminator needs scales >= 1, n_layers >= 1 and ndf a multiple of 4")


class _WaveDiscriminator(nn.Module):
    def __init__(self, cfg: MultiScaleDiscriminatorConfig) -> None:
        super().__init__()
        act = lambda: nn.LeakyReLU(0.2)  # noqa: E731
        layers = [nn.Sequential(nn.ReflectionPad1d(7), nn.Conv1d(1, cfg.ndf, 15), act())]
        c = cfg.ndf
        for _ in range(cfg.n_layers):
            c_out = min(c * 4, cfg.max_channels)
            layers.append(nn.Sequential(nn.Conv1d(c, c_out, 41, stride=4, padding=20, groups=c // 4), act()))
            c = c_out
        c_out = min(c * 2, cfg.max_channels)
        layers.append(nn.Sequential(nn.Conv1d(c, c_out, 5, padding=2), act()))
        layers.append(nn.Conv1d(c_out, 1, 3, padding=1))
        self.layers = nn.ModuleList(layers)

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        feats = []
        for layer in self.layers:
            x = layer(x)
            feats.append(x)
        return feats


class MultiScaleDiscriminator(nn.Module):
    """Waveform (B, N) -> per scale, the list of layer outputs (the last one is the logit map)."""

    config_class = MultiScaleDiscriminatorConfig

    def __init__(self, config: MultiScaleDiscriminatorConfig) -> None:
        super().__init__()
        self.config = config
        self.discs = nn.ModuleList(_WaveDiscriminator(config) for _ in range(config.scales))
        self.pool = nn.AvgPool1d(4, stride=2, padding=1, count_include_pad=False)

    def forward(self, wav: torch.Tensor) -> list[list[torch.Tensor]]:
        x = wav[:, None] if wav.dim() == 2 else wav  # (B, 1, N)
        out = []
        for i, d in enumerate(self.discs):
            if i:
                x = self.pool(x)
            out.append(d(x))
        return out
