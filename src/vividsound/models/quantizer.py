"""Vector quantiser of the spectrogram VQGAN (van den Oord et al. 2017; Esser et al. 2021).

Two update rules: ``straight_through`` (codebook and commitment losses, gradients reach the codebook)
and ``ema`` (codebook as exponential moving averages of the assigned latents; only the commitment loss
trains the encoder). Both use the straight-through estimator for the encoder. Codebook usage and
perplexity are reported on every call, and :meth:`VectorQuantizer.revive_dead_codes` replaces codes
that have not been used for a while with random recent latents (the usual cure for collapse).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import torch
import torch.nn as nn
import torch.nn.functional as F


@dataclass(frozen=True)
class QuantizerConfig:
    n_codes: int = 1024  # codebook size (the paper: 1024)
    code_dim: int = 256  # code vector width (the paper: 256)
    beta: float = 0.25  # commitment weight (VQ-VAE's beta)
    update: Literal["straight_through", "ema"] = "ema"  # codebook update rule
    ema_decay: float = 0.99  # EMA decay of cluster sizes and sums
    l2_normalize: bool = False  # cosine-similarity lookup on l2-normalised codes and latents
    dead_after: int = 200  # a code unused for this many training calls may be revived

    def __post_init__(self) -> None:
        if self.n_codes < 2 or self.code_dim < 1:
            raise ValueError(f"quantizer needs n_codes >= 2 and code_dim >= 1, got {self.n_codes}, {self.code_dim}")
        if not 0.0 < self.ema_decay < 1.0:
            raise ValueError(f"ema_decay must be in (0, 1), got {self.ema_decay}")


@dataclass
class QuantizerOutput:
    z_q: torch.Tensor  # (B, C, H, W) quantised latents (straight-through in training)
    indices: torch.Tensor  # (B, H, W) int64 code indices
    loss: torch.Tensor  # scalar codebook + beta * commitment loss
    perplexity: torch.Tensor  # scalar exp(entropy) of this batch's code histogram
    usage: torch.Tensor  # scalar fraction of codes used in this batch


class VectorQuantizer(nn.Module):
    """Nearest-neighbour quantisation of (B, C, H, W) latents against a (n_codes, C) codebook."""

    def __init__(self, cfg: QuantizerConfig) -> None:
        super().__init__()
        self.cfg = cfg
        embed = torch.randn(cfg.n_codes, cfg.code_dim) / cfg.code_dim**0.5
        if cfg.update == "ema":
            self.register_buffer("codebook", embed)
            self.register_buffer("ema_size", torch.ones(cfg.n_codes))
            self.register_buffer("ema_sum", embed.clone())
        else:
            self.codebook = nn.Parameter(embed)
        self.register_buffer("last_used", torch.zeros(cfg.n_codes, dtype=torch.long))
        self.register_buffer("calls", torch.zeros((), dtype=torch.long))

    def _codes(self) -> torch.Tensor:
        cb = self.codebook
        return F.normalize(cb, dim=-1) if self.cfg.l2_normalize else cb

    def nearest(self, flat: torch.Tensor) -> torch.Tensor:
        """Indices (N,) of the nearest code for each row of ``flat`` (N, C)."""
        cb = self._codes()
        if self.cfg.l2_normalize:
            flat = F.normalize(flat, dim=-1)
        d = flat.pow(2).sum(1, keepdim=True) - 2 * flat @ cb.t() + cb.pow(2).sum(1)[None]
        return d.argmin(dim=1)

    def lookup(self, indices: torch.Tensor) -> torch.Tensor:
        """Code vectors for ``indices`` (B, H, W) as latents (B, C, H, W)."""
        if indices.min() < 0 or indices.max() >= self.cfg.n_codes:
            raise ValueError(f"code indices must be in [0, {self.cfg.n_codes}), got "
                             f"[{int(indices.min())}, {int(indices.max())}]")
        return F.embedding(indices, self._codes()).permute(0, 3, 1, 2).contiguous()

    def forward(self, z: torch.Tensor) -> QuantizerOutput:
        B, C, H, W = z.shape
        flat = z.permute(0, 2, 3, 1).reshape(-1, C).float()  # (B*H*W, C)
        idx = self.nearest(flat)
        codes = self._codes()
        zq_flat = codes[idx]
        if self.cfg.l2_normalize:
            flat_n = F.normalize(flat, dim=-1)
        else:
            flat_n = flat
        commit = F.mse_loss(flat_n, zq_flat.detach())
        if self.cfg.update == "ema":
            loss = self.cfg.beta * commit
            if self.training:
                self._ema_update(flat_n.detach(), idx)
        else:
            loss = F.mse_loss(zq_flat, flat_n.detach()) + self.cfg.beta * commit
        # Straight-through: forward uses codes, backward passes the gradient to the encoder output.
        zq_flat = flat_n + (zq_flat - flat_n).detach()
        z_q = zq_flat.view(B, H, W, C).permute(0, 3, 1, 2).contiguous().to(z.dtype)
        counts = torch.bincount(idx, minlength=self.cfg.n_codes).float()
        probs = counts / counts.sum()
        perplexity = torch.exp(-(probs * torch.log(probs.clamp_min(1e-10))).sum())
        usage = (counts > 0).float().mean()
        if self.training:
            self.calls += 1
            self.last_used[counts > 0] = self.calls
        return QuantizerOutput(z_q, idx.view(B, H, W), loss, perplexity, usage)

    @torch.no_grad()
    def _ema_update(self, flat: torch.Tensor, idx: torch.Tensor) -> None:
        d = self.cfg.ema_decay
        onehot_sum = torch.zeros_like(self.ema_sum).index_add_(0, idx, flat)
        size = torch.bincount(idx, minlength=self.cfg.n_codes).float()
        self.ema_size.mul_(d).add_(size, alpha=1 - d)
        self.ema_sum.mul_(d).add_(onehot_sum, alpha=1 - d)
        n = self.ema_size.sum()
        eps = 1e-5
        smoothed = (self.ema_size + eps) / (n + self.cfg.n_codes * eps) * n  # Laplace smoothing
        self.codebook.copy_(self.ema_sum / smoothed[:, None])

    @torch.no_grad()
    def revive_dead_codes(self, latents: torch.Tensor, generator: torch.Generator | None = None) -> int:
        """Replace codes unused for ``dead_after`` calls with random rows of ``latents`` (N, C).

        Returns the number of revived codes.
        """
        dead = (self.calls - self.last_used) >= self.cfg.dead_after
        n_dead = int(dead.sum())
        if n_dead == 0 or latents.numel() == 0:
            return 0
        latents = latents.detach().float().to(self.codebook.device)
        pick = torch.randint(0, latents.shape[0], (n_dead,), generator=generator).to(latents.device)
        new = latents[pick] + 1e-3 * torch.randn_like(latents[pick])
        self.codebook.data[dead] = new.to(self.codebook.dtype)
        if self.cfg.update == "ema":
            self.ema_sum[dead] = new
            self.ema_size[dead] = 1.0
        self.last_used[dead] = self.calls
        return n_dead
