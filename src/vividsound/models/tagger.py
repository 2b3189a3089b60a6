"""A multi-label audio tagger on log-mels (the paper's "Melception" role).

A small VGG-style CNN reads a normalised log-mel as a one-channel image. Its per-block feature maps are
the multi-scale features of the VQGAN's perceptual loss (the LPAPS role); the pooled embedding feeds the
Fréchet distance; the sigmoid outputs over the corpus tags feed MMKL and class relevance.
The CNN trunk (:class:`MelCNN`) is also the audio encoder of CLAP and of the captioner.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import torch
import torch.nn as nn
import torch.nn.functional as F

from vividsound.audio import MelConfig


@dataclass(frozen=True)
class MelCNNConfig:
    channels: tuple[int, ...] = (32, 64, 128, 256)  # width of each conv block (each halves both axes but the last)
    convs_per_block: int = 2  # 3x3 convolutions per block
    embed_dim: int = 256  # width of the pooled embedding
    dropout: float = 0.1  # dropout before the embedding projection
    norm_mean: float = -5.0  # log-mel normalisation: x = (log_mel - norm_mean) / norm_std
    norm_std: float = 2.5

    def __post_init__(self) -> None:
        if not self.channels or min(self.channels) < 1 or self.convs_per_block < 1 or self.embed_dim < 1:
            raise ValueError("MelCNN needs non-empty positive channels, convs_per_block >= 1, embed_dim >= 1")


def _gn(c: int) -> nn.GroupNorm:
    return nn.GroupNorm(math.gcd(8, c), c)


class MelCNN(nn.Module):
    """log-mel (B, n_mels, T) -> feature maps per block, a time sequence and a pooled embedding."""

    def __init__(self, cfg: MelCNNConfig, n_mels: int) -> None:
        super().__init__()
        self.cfg = cfg
        blocks = []
        c_in = 1
        for i, c in enumerate(cfg.channels):
            layers: list[nn.Module] = []
            for _ in range(cfg.convs_per_block):
                layers += [nn.Conv2d(c_in, c, 3, padding=1), _gn(c), nn.ReLU(inplace=True)]
                c_in = c
            blocks.append(nn.Sequential(*layers))
        self.blocks = nn.ModuleList(blocks)
        self.drop = nn.Dropout(cfg.dropout)
        self.proj = nn.Linear(2 * c_in, cfg.embed_dim)
        self.out_channels = c_in

    def features(self, log_mel: torch.Tensor) -> list[torch.Tensor]:
        """Feature maps after each block: list of (B, C_i, F_i, T_i), F and T halved per block but the last."""
        x = ((log_mel - self.cfg.norm_mean) / self.cfg.norm_std)[:, None]
        feats = []
        for i, blk in enumerate(self.blocks):
            x = blk(x)
            feats.append(x)
            if i < len(self.blocks) - 1:
                x = F.avg_pool2d(x, 2, ceil_mode=True)
        return feats

    def sequence(self, log_mel: torch.Tensor) -> torch.Tensor:
        """Time sequence (B, T', C): the last feature map averaged over frequency."""
        return self.features(log_mel)[-1].mean(dim=2).transpose(1, 2)

    @staticmethod
    def pool(seq: torch.Tensor) -> torch.Tensor:
        """(B, T', C) -> (B, 2C): mean and max over time."""
        return torch.cat([seq.mean(1), seq.amax(1)], dim=-1)

    def embed(self, log_mel: torch.Tensor) -> torch.Tensor:
        """Pooled embedding (B, embed_dim)."""
        return self.proj(self.drop(self.pool(self.sequence(log_mel))))


@dataclass(frozen=True)
class TaggerConfig:
    mel: MelConfig = field(default_factory=MelConfig)  # the spectrogram the tagger reads
    tags: tuple[str, ...] = ()  # output labels, in order (filled from the training manifest)
    cnn: MelCNNConfig = field(default_factory=MelCNNConfig)  # the CNN trunk


class Tagger(nn.Module):
    """Multi-label tagger: log-mel (B, n_mels, T) -> tag probabilities (B, n_tags).

    Attributes:
        tags: the label of each output.
    """

    config_class = TaggerConfig

    def __init__(self, config: TaggerConfig) -> None:
        super().__init__()
        if not config.tags:
            raise ValueError("a Tagger needs at least one tag (TaggerConfig.tags)")
        self.config = config
        self.cnn = MelCNN(config.cnn, config.mel.n_mels)
        self.head = nn.Linear(config.cnn.embed_dim, len(config.tags))

    @property
    def tags(self) -> list[str]:
        return list(self.config.tags)

    @property
    def mel_config(self) -> MelConfig:
        return self.config.mel

    def _check(self, log_mel: torch.Tensor) -> torch.Tensor:
        if log_mel.dim() == 2:
            log_mel = log_mel[None]
        if log_mel.dim() != 3 or log_mel.shape[1] != self.config.mel.n_mels:
            raise ValueError(f"Tagger expects log-mels (B, {self.config.mel.n_mels}, T), got {tuple(log_mel.shape)}")
        return log_mel.float()

    def features(self, log_mel: torch.Tensor) -> list[torch.Tensor]:
        """Multi-scale feature maps, list of (B, C_i, F_i, T_i) (the perceptual loss reads these)."""
        return self.cnn.features(self._check(log_mel))

    def embed(self, log_mel: torch.Tensor) -> torch.Tensor:
        """Clip embedding (B, D) (Fréchet distance features)."""
        return self.cnn.embed(self._check(log_mel))

    def logits(self, log_mel: torch.Tensor) -> torch.Tensor:
        """Pre-sigmoid scores (B, n_tags)."""
        return self.head(self.embed(log_mel))

    def predict(self, log_mel: torch.Tensor) -> torch.Tensor:
        """Tag probabilities (B, n_tags) in [0, 1]."""
        return torch.sigmoid(self.logits(log_mel))

    forward = logits
