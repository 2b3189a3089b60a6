"""The discriminators Vocos trains against: multi-period (HiFi-GAN) and multi-resolution (UnivNet).

- Multi-period (Kong et al. 2020, Sec. 2.2): for each period ``p`` the waveform is folded into a
  (N / p, p) image and read by 2-D convolutions with (k, 1) kernels, so each discriminator sees the
  samples ``p`` apart (periodic structure: pitch, harmonics).
- Multi-resolution (Jang et al. 2021, UnivNet Sec. 2.3): the linear STFT magnitude at several
  (n_fft, hop) resolutions, read by 2-D convolutions (spectral detail, over-smoothing).

Every discriminator returns its layer outputs (the last is the logit map), as the MelGAN discriminator
does, so the hinge and feature-matching losses of :mod:`vividsound.losses.gan` apply unchanged.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn as nn
import torch.nn.functional as F


@dataclass(frozen=True)
class VocosDiscriminatorConfig:
    periods: tuple[int, ...] = (2, 3, 5, 7, 11)  # multi-period discriminators (HiFi-GAN's)
    period_channels: tuple[int, ...] = (32, 128, 512, 1024)  # widths of a period discriminator's strided layers
    resolutions: tuple[tuple[int, int], ...] = ((512, 128), (1024, 256), (2048, 512))  # (n_fft, hop) per STFT one
    resolution_channels: int = 32  # width of a resolution discriminator

    def __post_init__(self) -> None:
        if not self.periods and not self.resolutions:
            raise ValueError("VocosDiscriminator needs at least one period or one resolution")
        if any(p < 1 for p in self.periods) or any(n < h or h < 1 for n, h in self.resolutions):
            raise ValueError("periods must be >= 1 and each resolution (n_fft, hop) needs n_fft >= hop >= 1")


class _PeriodDiscriminator(nn.Module):
    def __init__(self, period: int, channels: tuple[int, ...]) -> None:
        super().__init__()
        self.period = period
        layers, c_in = [], 1
        for c in channels:
            layers.append(nn.Conv2d(c_in, c, (5, 1), (3, 1), padding=(2, 0)))
            c_in = c
        layers.append(nn.Conv2d(c_in, c_in, (5, 1), 1, padding=(2, 0)))
        self.convs = nn.ModuleList(layers)
        self.post = nn.Conv2d(c_in, 1, (3, 1), 1, padding=(1, 0))

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        B, N = x.shape
        if N % self.period:
            x = F.pad(x, (0, self.period - N % self.period), mode="reflect")
        x = x.view(B, 1, -1, self.period)  # (B, 1, N / p, p)
        feats = []
        for conv in self.convs:
            x = F.leaky_relu(conv(x), 0.1)
            feats.append(x)
        feats.append(self.post(x))
        return feats


class _ResolutionDiscriminator(nn.Module):
    def __init__(self, n_fft: int, hop: int, ch: int) -> None:
        super().__init__()
        self.n_fft, self.hop = n_fft, hop
        self.register_buffer("window", torch.hann_window(n_fft), persistent=False)
        self.convs = nn.ModuleList([
            nn.Conv2d(1, ch, (3, 9), padding=(1, 4)),
            nn.Conv2d(ch, ch, (3, 9), stride=(1, 2), padding=(1, 4)),
            nn.Conv2d(ch, ch, (3, 9), stride=(1, 2), padding=(1, 4)),
            nn.Conv2d(ch, ch, (3, 9), stride=(1, 2), padding=(1, 4)),
            nn.Conv2d(ch, ch, (3, 3), padding=(1, 1)),
        ])
        self.post = nn.Conv2d(ch, 1, (3, 3), padding=(1, 1))

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        spec = torch.stft(x.float(), self.n_fft, self.hop, window=self.window, center=True, return_complex=True)
        x = spec.abs()[:, None].transpose(2, 3)  # (B, 1, frames, bins)
        feats = []
        for conv in self.convs:
            x = F.leaky_relu(conv(x), 0.1)
            feats.append(x)
        feats.append(self.post(x))
        return feats


class VocosDiscriminator(nn.Module):
    """Waveform (B, N) -> (period outputs, resolution outputs): per discriminator, its layer outputs."""

    config_class = VocosDiscriminatorConfig

    def __init__(self, config: VocosDiscriminatorConfig) -> None:
        super().__init__()
        self.config = config
        self.periods = nn.ModuleList(_PeriodDiscriminator(p, config.period_channels) for p in config.periods)
        self.resolutions = nn.ModuleList(_ResolutionDiscriminator(n, h, config.resolution_channels)
                                         for n, h in config.resolutions)

    def forward(self, wav: torch.Tensor) -> tuple[list[list[torch.Tensor]], list[list[torch.Tensor]]]:
        x = wav[:, 0] if wav.dim() == 3 else wav
        return [d(x) for d in self.periods], [d(x) for d in self.resolutions]
