"""The spectrogram VQGAN (Sec. 2.1 of the paper; the SpecVQGAN / taming-transformers design).

A log-mel (B, n_mels, T) is treated as a one-channel image, normalised, encoded by a convolutional
encoder that down-samples frequency and time by ``downsample`` = (f, t), quantised against a codebook
(:mod:`vividsound.models.quantizer`) and decoded back. The grid of codes is (rows, cols) =
(n_mels / f, T / t). For the GPT the grid is read column-major: all ``rows`` codes of one time column,
then the next column (:meth:`VQGAN.codes_to_sequence`), so a clip is a whole number of columns.
"""

from __future__ import annotations

import contextlib
import math
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field

import torch
import torch.nn as nn
import torch.nn.functional as F

from vividsound.audio import MelConfig
from vividsound.models.quantizer import QuantizerConfig, QuantizerOutput, VectorQuantizer


@dataclass(frozen=True)
class VQGANConfig:
    mel: MelConfig = field(default_factory=MelConfig)  # the spectrogram this codec reads and writes
    ch: int = 64  # base channel width
    ch_mult: tuple[int, ...] = (1, 1, 2, 2, 4)  # width multiplier per level; len-1 down-sampling stages
    num_res_blocks: int = 2  # residual blocks per level
    attn_levels: tuple[int, ...] = ()  # levels (0 = full resolution) that get a self-attention block
    mid_attn: bool = True  # self-attention in the bottleneck
    downsample: tuple[int, int] = (16, 16)  # (frequency, time) down-sampling, powers of two
    quantizer: QuantizerConfig = field(default_factory=QuantizerConfig)
    norm_mean: float = -5.0  # log-mel normalisation: x = (log_mel - norm_mean) / norm_std
    norm_std: float = 2.5
    dropout: float = 0.0
    # The decoder's group norms take their statistics over the whole grid; on a grid several times longer
    # than its training crops that makes the decoder drift louder (in a 10 s clip a sound came out ~25 dB
    # louder than in a 4 s one, from a decoder trained on 1.5 s crops). decode_norm_columns > 0 gives them
    # a sliding span of that many code columns instead whenever a grid to decode is longer: each time step
    # is normalised as in a grid of that length (except in spans quieter than the whole grid, which keep its
    # statistics; see SpanGroupNorm). Decoding only (decode_latents / decode_codes): training's forward()
    # keeps whole-input statistics.
    decode_norm_columns: int = 0  # 0: whole-grid statistics at every length

    def __post_init__(self) -> None:
        v = self.decode_norm_columns
        if not isinstance(v, int) or isinstance(v, bool) or v < 0:
            raise ValueError(f"VQGAN decode_norm_columns must be an integer >= 0, got {v!r}")
        stages = len(self.ch_mult) - 1
        for axis, f in zip(("frequency", "time"), self.downsample):
            if f < 1 or f & (f - 1):
                raise ValueError(f"VQGAN {axis} down-sampling must be a power of two, got {f}")
            if int(math.log2(f)) > stages:
                raise ValueError(f"VQGAN {axis} down-sampling {f} needs >= {int(math.log2(f))} stages; "
                                 f"ch_mult {self.ch_mult} gives {stages}")
        if self.mel.n_mels % self.downsample[0]:
            raise ValueError(f"n_mels {self.mel.n_mels} is not divisible by the frequency down-sampling "
                             f"{self.downsample[0]}")

    @property
    def rows(self) -> int:
        """Code rows per time column."""
        return self.mel.n_mels // self.downsample[0]

    def strides(self) -> list[tuple[int, int]]:
        """(freq, time) stride of each down-sampling stage."""
        lf, lt = int(math.log2(self.downsample[0])), int(math.log2(self.downsample[1]))
        return [(2 if i < lf else 1, 2 if i < lt else 1) for i in range(len(self.ch_mult) - 1)]


class SpanGroupNorm(nn.GroupNorm):
    """``nn.GroupNorm`` (same parameters) whose statistics can come from a sliding span of time steps.

    Only a decoder's norms (``follows_decode_span``) use a span, and only while :meth:`VQGAN.decode_latents`
    decodes a long grid in the current thread; the span is then that share of the input's last axis.
    Each time step is normalised by the mean and variance of the span centred on it (shifted inwards at
    the edges so that every span has the same length), unless that span varies less than the whole input:
    then by the whole input's, as plain group norm would."""

    def __init__(self, num_groups: int, num_channels: int, eps: float = 1e-5) -> None:
        super().__init__(num_groups, num_channels, eps=eps)
        self.follows_decode_span = False  # set on a Decoder's norms

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        steps = x.shape[-1]
        n = round(getattr(_DECODE_SPAN, "fraction", 0.0) * steps) if self.follows_decode_span else 0
        if n <= 0 or n >= steps:
            return super().forward(x)
        b, c = x.shape[:2]
        g = x.float().reshape(b, self.num_groups, -1, steps)  # (B, groups, C/groups * H, T)
        sums = [F.pad(g.mean(2).double().cumsum(-1), (1, 0)), F.pad(g.pow(2).mean(2).double().cumsum(-1), (1, 0))]
        start = (torch.arange(steps, device=x.device) - n // 2).clamp(0, steps - n)
        mean, sq = ((s[..., start + n] - s[..., start]) / n for s in sums)
        var = (sq - mean * mean).clamp_min(0.0)
        # a span quieter than the whole input keeps the whole input's statistics: normalising a stretch of
        # silence by its own small variance turns it into a noise floor (measured: ~30 dB louder silence)
        whole_mean = sums[0][..., -1:] / steps
        whole_var = (sums[1][..., -1:] / steps - whole_mean * whole_mean).clamp_min(0.0)
        quiet = var < whole_var
        mean = torch.where(quiet, whole_mean.expand_as(mean), mean)
        var = torch.where(quiet, whole_var.expand_as(var), var)
        y = (g - mean.float()[:, :, None]) * torch.rsqrt(var.float()[:, :, None] + self.eps)
        y = y.reshape(x.shape).to(x.dtype)
        return y * self.weight.view(1, c, *([1] * (x.dim() - 2))) + self.bias.view(1, c, *([1] * (x.dim() - 2)))


_DECODE_SPAN = threading.local()  # per thread: two threads may decode grids of different lengths at once


@contextlib.contextmanager
def _decode_span(fraction: float) -> Iterator[None]:
    before = getattr(_DECODE_SPAN, "fraction", 0.0)
    _DECODE_SPAN.fraction = fraction
    try:
        yield
    finally:
        _DECODE_SPAN.fraction = before


def _norm(c: int) -> nn.GroupNorm:
    return SpanGroupNorm(math.gcd(32, c), c, eps=1e-6)


class ResBlock(nn.Module):
    def __init__(self, c_in: int, c_out: int, dropout: float) -> None:
        super().__init__()
        self.norm1, self.conv1 = _norm(c_in), nn.Conv2d(c_in, c_out, 3, padding=1)
        self.norm2, self.conv2 = _norm(c_out), nn.Conv2d(c_out, c_out, 3, padding=1)
        self.drop = nn.Dropout(dropout)
        self.skip = nn.Conv2d(c_in, c_out, 1) if c_in != c_out else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.conv1(F.silu(self.norm1(x)))
        h = self.conv2(self.drop(F.silu(self.norm2(h))))
        return self.skip(x) + h


class AttnBlock(nn.Module):
    """Single-head self-attention over all (H * W) positions."""

    def __init__(self, c: int) -> None:
        super().__init__()
        self.norm = _norm(c)
        self.qkv = nn.Conv2d(c, 3 * c, 1)
        self.proj = nn.Conv2d(c, c, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        B, C, H, W = x.shape
        q, k, v = self.qkv(self.norm(x)).reshape(B, 3, C, H * W).transpose(-1, -2).unbind(1)  # (B, HW, C)
        h = F.scaled_dot_product_attention(q[:, None], k[:, None], v[:, None])[:, 0]  # (B, HW, C)
        return x + self.proj(h.transpose(1, 2).reshape(B, C, H, W))


class Encoder(nn.Module):
    def __init__(self, cfg: VQGANConfig) -> None:
        super().__init__()
        chs = [cfg.ch * m for m in cfg.ch_mult]
        self.conv_in = nn.Conv2d(1, chs[0], 3, padding=1)
        self.levels = nn.ModuleList()
        strides = cfg.strides()
        c = chs[0]
        for i, c_out in enumerate(chs):
            blocks: list[nn.Module] = []
            for _ in range(cfg.num_res_blocks):
                blocks.append(ResBlock(c, c_out, cfg.dropout))
                c = c_out
                if i in cfg.attn_levels:
                    blocks.append(AttnBlock(c))
            if i < len(strides):
                sf, st = strides[i]
                blocks.append(nn.Conv2d(c, c, (3, 3), stride=(sf, st), padding=1))
            self.levels.append(nn.Sequential(*blocks))
        self.mid = nn.Sequential(ResBlock(c, c, cfg.dropout), AttnBlock(c) if cfg.mid_attn else nn.Identity(),
                                 ResBlock(c, c, cfg.dropout))
        self.norm_out = _norm(c)
        self.conv_out = nn.Conv2d(c, cfg.quantizer.code_dim, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (B, 1, F, T) -> (B, C, F/f, T/t)
        h = self.conv_in(x)
        for level in self.levels:
            h = level(h)
        h = self.mid(h)
        return self.conv_out(F.silu(self.norm_out(h)))


class Upsample(nn.Module):
    def __init__(self, c: int, scale: tuple[int, int]) -> None:
        super().__init__()
        self.scale = scale
        self.conv = nn.Conv2d(c, c, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(F.interpolate(x, scale_factor=self.scale, mode="nearest"))


class Decoder(nn.Module):
    def __init__(self, cfg: VQGANConfig) -> None:
        super().__init__()
        chs = [cfg.ch * m for m in cfg.ch_mult]
        strides = cfg.strides()
        c = chs[-1]
        self.conv_in = nn.Conv2d(cfg.quantizer.code_dim, c, 3, padding=1)
        self.mid = nn.Sequential(ResBlock(c, c, cfg.dropout), AttnBlock(c) if cfg.mid_attn else nn.Identity(),
                                 ResBlock(c, c, cfg.dropout))
        self.levels = nn.ModuleList()
        for i in reversed(range(len(chs))):
            blocks: list[nn.Module] = []
            for _ in range(cfg.num_res_blocks + 1):
                blocks.append(ResBlock(c, chs[i], cfg.dropout))
                c = chs[i]
                if i in cfg.attn_levels:
                    blocks.append(AttnBlock(c))
            if i > 0:
                blocks.append(Upsample(c, strides[i - 1]))
            self.levels.append(nn.Sequential(*blocks))
        self.norm_out = _norm(c)
        self.conv_out = nn.Conv2d(c, 1, 3, padding=1)
        for m in self.modules():
            if isinstance(m, SpanGroupNorm):
                m.follows_decode_span = True

    def forward(self, z: torch.Tensor) -> torch.Tensor:  # (B, C, h, w) -> (B, 1, F, T)
        h = self.mid(self.conv_in(z))
        for level in self.levels:
            h = level(h)
        return self.conv_out(F.silu(self.norm_out(h)))


@dataclass
class VQGANOutput:
    recon: torch.Tensor  # (B, n_mels, T) reconstructed log-mel
    quant: QuantizerOutput


class VQGAN(nn.Module):
    """Spectrogram VQGAN: log-mel (B, n_mels, T) <-> code grid (B, rows, cols)."""

    config_class = VQGANConfig
    build_without_init = True  # checkpoint.load_component may skip the random init, then assign weights

    def __init__(self, config: VQGANConfig) -> None:
        super().__init__()
        self.config = config
        self.encoder = Encoder(config)
        self.quantizer = VectorQuantizer(config.quantizer)
        self.decoder = Decoder(config)

    @property
    def mel_config(self) -> MelConfig:
        return self.config.mel

    @property
    def frames_per_column(self) -> int:
        return self.config.downsample[1]

    def normalize(self, log_mel: torch.Tensor) -> torch.Tensor:
        return (log_mel - self.config.norm_mean) / self.config.norm_std

    def denormalize(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.config.norm_std + self.config.norm_mean

    def _check_mel(self, log_mel: torch.Tensor) -> None:
        if log_mel.dim() != 3 or log_mel.shape[1] != self.config.mel.n_mels:
            raise ValueError(f"VQGAN expects log-mels (B, {self.config.mel.n_mels}, T), got {tuple(log_mel.shape)}")
        if log_mel.shape[2] % self.frames_per_column:
            raise ValueError(f"log-mel length {log_mel.shape[2]} is not a multiple of {self.frames_per_column} "
                             "frames (pad it with the silence level first)")

    def encode(self, log_mel: torch.Tensor) -> QuantizerOutput:
        """log-mel (B, n_mels, T) -> quantiser output with indices (B, rows, T / t)."""
        self._check_mel(log_mel)
        return self.quantizer(self.encoder(self.normalize(log_mel)[:, None]))

    def decode_latents(self, z_q: torch.Tensor) -> torch.Tensor:
        """Quantised latents (B, C, rows, cols) -> log-mel (B, n_mels, cols * t).

        A grid longer than ``config.decode_norm_columns`` (when set) is decoded with sliding-span norms."""
        span, cols = self.config.decode_norm_columns, z_q.shape[-1]
        with _decode_span(span / cols) if 0 < span < cols else contextlib.nullcontext():
            return self._decoder_mel(z_q)

    def _decoder_mel(self, z_q: torch.Tensor) -> torch.Tensor:
        return self.denormalize(self.decoder(z_q)[:, 0])

    def decode_codes(self, indices: torch.Tensor, context: int = 0) -> torch.Tensor:
        """Code grid (B, rows, cols) -> log-mel (B, n_mels, cols * t).

        ``context`` > 0 decodes the grid between that many columns of silence codes on each side and cuts
        them off again, so the decoder's zero padding falls on silence, not on the sound's first and last
        columns (use it for grids coded with :meth:`encode_in_silence` and the same context)."""
        if context <= 0:
            return self.decode_latents(self.quantizer.lookup(indices))
        sil = self.silence_column().to(indices.device)[None, :, None].expand(indices.shape[0], -1, context)
        mel = self.decode_latents(self.quantizer.lookup(torch.cat([sil, indices.long(), sil], dim=2)))
        t = self.frames_per_column
        return mel[:, :, context * t : mel.shape[-1] - context * t]

    def encode_in_silence(self, log_mel: torch.Tensor, context: int) -> torch.Tensor:
        """Code grid (B, rows, T / t) of a log-mel coded with ``context`` columns of silence on each side.

        The encoder's zero padding reads as a loud edge: without context the first and last few columns
        get edge-only codes (for the default VQGAN, 3 columns on each side of a silent clip differ from its
        middle), which a GPT then learns to produce and the decoder turns into clicks."""
        self._check_mel(log_mel)
        if context <= 0:
            return self.encode(log_mel).indices
        t = self.frames_per_column
        padded = F.pad(log_mel, (context * t, context * t), value=self.config.mel.silence_db)
        return self.encode(padded).indices[:, :, context : padded.shape[-1] // t - context]

    @torch.no_grad()
    def silence_column(self) -> torch.Tensor:
        """The code column (rows,) of silence far from any edge: the middle column of a coded 16-column
        silent log-mel (the encoder's edge effect reaches 3 columns in for the default VQGAN)."""
        w = self.decoder.conv_out.weight
        mel = torch.full((1, self.config.mel.n_mels, 16 * self.frames_per_column), self.config.mel.silence_db,
                         device=w.device, dtype=torch.float32)
        was = self.training
        self.eval()
        try:
            return self.encode(mel).indices[0, :, 8].long()
        finally:
            self.train(was)

    def forward(self, log_mel: torch.Tensor) -> VQGANOutput:
        """Training's round trip: whole-input norm statistics (``decode_norm_columns`` is for decoding)."""
        q = self.encode(log_mel)
        return VQGANOutput(self._decoder_mel(q.z_q), q)

    @property
    def last_layer(self) -> torch.Tensor:
        """The decoder's last weight, for the adaptive GAN weight (taming-transformers eq. 7)."""
        return self.decoder.conv_out.weight

    def pad_mel(self, log_mel: torch.Tensor) -> torch.Tensor:
        """Pad a log-mel's time axis with the silence level to a whole number of columns."""
        t = self.frames_per_column
        extra = (-log_mel.shape[-1]) % t
        if extra:
            log_mel = F.pad(log_mel, (0, extra), value=self.config.mel.silence_db)
        return log_mel

    def codes_to_sequence(self, indices: torch.Tensor) -> torch.Tensor:
        """(B, rows, cols) -> (B, cols * rows), column-major: one time column after another."""
        return indices.transpose(1, 2).reshape(indices.shape[0], -1)

    def sequence_to_codes(self, seq: torch.Tensor) -> torch.Tensor:
        """(B, cols * rows) column-major -> (B, rows, cols)."""
        rows = self.config.rows
        if seq.shape[1] % rows:
            raise ValueError(f"token sequence length {seq.shape[1]} is not a multiple of {rows} rows")
        return seq.reshape(seq.shape[0], -1, rows).transpose(1, 2).contiguous()
