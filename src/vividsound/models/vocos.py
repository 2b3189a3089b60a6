"""A fast vocoder in the Vocos style (Siuzdak 2023): log-mel -> STFT magnitude and phase -> inverse STFT.

HiFi-GAN and MelGAN up-sample the mel frames to audio with transposed convolutions, so most of their
work runs at the sample rate (22,050 values per second per channel). :class:`Vocos` never leaves the
frame rate (86 frames per second): a ConvNeXt backbone (Liu et al. 2022; depth-wise convolution,
layer norm, a point-wise MLP, layer scale) maps each frame of the 80-band log-mel to the frame's
complex STFT (``n_fft // 2 + 1`` log-magnitudes and phases), and an inverse STFT with the mel's hop
overlap-adds the frames into the waveform. For a 10 s clip that is ~860 frames through 8 blocks instead
of 220,500 samples through HiFi-GAN's up-sampling stack.

The inverse STFT uses "same" padding: frame ``t`` covers the samples the mel front end's frame ``t``
covers (reflect padding of ``(n_fft - hop) / 2``, ``center=False``, see :mod:`vividsound.audio`), so
``T`` frames give exactly ``T * hop`` samples. Trained by ``vividsound train vocos``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
import torch.nn as nn
import torch.nn.functional as F

from vividsound.audio import MelConfig


@dataclass(frozen=True)
class VocosConfig:
    mel: MelConfig = field(default_factory=MelConfig)  # the mel the vocoder reads
    dim: int = 512  # backbone width
    intermediate: int = 1536  # point-wise MLP width of a ConvNeXt block
    n_layers: int = 8  # ConvNeXt blocks
    kernel_size: int = 7  # depth-wise convolution kernel (frames)
    n_fft: int = 1024  # inverse STFT size (Hann window of this length); hop = the mel's hop
    max_magnitude: float = 100.0  # the predicted STFT magnitude is clipped here (exp of the log-magnitude)
    norm_mean: float = -5.0  # input normalisation, as the VQGAN's
    norm_std: float = 2.5

    def __post_init__(self) -> None:
        if self.n_fft < self.mel.hop_length or (self.n_fft - self.mel.hop_length) % 2:
            raise ValueError(f"Vocos needs n_fft >= hop and n_fft - hop even, got n_fft {self.n_fft}, hop "
                             f"{self.mel.hop_length}")
        if self.kernel_size % 2 == 0:
            raise ValueError(f"Vocos kernel_size must be odd, got {self.kernel_size}")
        for name in ("dim", "intermediate", "n_layers"):
            if getattr(self, name) < 1:
                raise ValueError(f"VocosConfig.{name} must be >= 1")


class ConvNeXtBlock(nn.Module):
    """(B, C, T) -> (B, C, T): depth-wise conv, layer norm, point-wise MLP, layer scale, residual."""

    def __init__(self, dim: int, intermediate: int, kernel_size: int, layer_scale: float) -> None:
        super().__init__()
        self.dwconv = nn.Conv1d(dim, dim, kernel_size, padding=kernel_size // 2, groups=dim)
        self.norm = nn.LayerNorm(dim, eps=1e-6)
        self.pw1 = nn.Linear(dim, intermediate)
        self.pw2 = nn.Linear(intermediate, dim)
        self.gamma = nn.Parameter(torch.full((dim,), layer_scale))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.dwconv(x).transpose(1, 2)  # (B, T, C)
        y = self.pw2(F.gelu(self.pw1(self.norm(y))))
        return x + (self.gamma * y).transpose(1, 2)


def istft_same(spec: torch.Tensor, n_fft: int, hop: int, window: torch.Tensor) -> torch.Tensor:
    """Inverse STFT with "same" padding: complex (B, n_fft // 2 + 1, T) -> waveform (B, T * hop).

    Windowed inverse FFT of each frame, overlap-add, division by the summed squared window, and the
    ``(n_fft - hop) / 2`` samples the analysis padded on each side trimmed off again.
    """
    B, _, T = spec.shape
    pad = (n_fft - hop) // 2
    frames = torch.fft.irfft(spec, n=n_fft, dim=1) * window[None, :, None]  # (B, n_fft, T)
    length = (T - 1) * hop + n_fft
    y = F.fold(frames, output_size=(1, length), kernel_size=(1, n_fft), stride=(1, hop))[:, 0, 0]  # (B, length)
    env = F.fold(window.square()[None, :, None].expand(1, n_fft, T), output_size=(1, length),
                 kernel_size=(1, n_fft), stride=(1, hop))[0, 0, 0]  # (length,)
    y, env = y[:, pad : length - pad], env[pad : length - pad]
    return y / env.clamp(min=1e-11)


class Vocos(nn.Module):
    """Log-mel (B, n_mels, T) -> waveform (B, T * hop) through a ConvNeXt backbone and an iSTFT head."""

    config_class = VocosConfig

    def __init__(self, config: VocosConfig) -> None:
        super().__init__()
        self.config = c = config
        self.embed = nn.Conv1d(c.mel.n_mels, c.dim, c.kernel_size, padding=c.kernel_size // 2)
        self.norm = nn.LayerNorm(c.dim, eps=1e-6)
        self.blocks = nn.ModuleList(ConvNeXtBlock(c.dim, c.intermediate, c.kernel_size, 1.0 / c.n_layers)
                                    for _ in range(c.n_layers))
        self.final_norm = nn.LayerNorm(c.dim, eps=1e-6)
        self.head = nn.Linear(c.dim, c.n_fft + 2)  # log-magnitude and phase of n_fft // 2 + 1 bins
        self.register_buffer("window", torch.hann_window(c.n_fft), persistent=False)
        for m in self.modules():
            if isinstance(m, (nn.Conv1d, nn.Linear)):
                nn.init.trunc_normal_(m.weight, std=0.02)
                nn.init.zeros_(m.bias)

    @property
    def mel_config(self) -> MelConfig:
        return self.config.mel

    def spectrum(self, log_mel: torch.Tensor) -> torch.Tensor:
        """Log-mel (B, n_mels, T) -> complex STFT (B, n_fft // 2 + 1, T)."""
        from vividsound.models.vocoders import _check_mel_input

        c = self.config
        x = (_check_mel_input(log_mel, c.mel) - c.norm_mean) / c.norm_std
        x = self.norm(self.embed(x.to(self.embed.weight.dtype)).transpose(1, 2)).transpose(1, 2)
        for blk in self.blocks:
            x = blk(x)
        x = self.head(self.final_norm(x.transpose(1, 2))).transpose(1, 2).float()  # (B, n_fft + 2, T)
        log_mag, phase = x.chunk(2, dim=1)
        mag = log_mag.exp().clamp(max=c.max_magnitude)
        return torch.complex(mag * torch.cos(phase), mag * torch.sin(phase))

    def forward(self, log_mel: torch.Tensor) -> torch.Tensor:
        wav = istft_same(self.spectrum(log_mel), self.config.n_fft, self.config.mel.hop_length, self.window.float())
        return wav.clamp(-1.0, 1.0)
