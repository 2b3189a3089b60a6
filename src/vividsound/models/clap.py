"""Contrastive audio-text model (CLAP role): an audio CNN on log-mels and a text tower on frozen MiniLM.

The text tower is a :class:`~vividsound.models.text.TextEncoder` in ``pooled`` mode with its trainable
``adapter='mlp'`` (a residual MLP on the frozen backbone's mean-pooled features) followed by a projection.
Only the adapter is trained on the text side, so the text encoder exported for the GPT (option ``clap``)
ships a few hundred kilobytes instead of a copy of MiniLM. Both towers end in l2-normalised embeddings
in one joint space; ``logit_scale`` is the learned inverse temperature of the symmetric InfoNCE loss.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Literal, Sequence

import torch
import torch.nn as nn
import torch.nn.functional as F

from vividsound.audio import MelConfig
from vividsound.models.tagger import MelCNN, MelCNNConfig
from vividsound.models.text import TextEncoder, TextEncoderConfig


@dataclass(frozen=True)
class CLAPTextConfig:
    backbone: Literal["minilm", "mpnet", "hf"] = "minilm"  # frozen pretrained text model
    path: str = ""  # model folder (needed for backbone "hf"; overrides minilm/mpnet's default location)
    dim: int = 384  # the backbone's feature width

    def encoder_config(self, mode: str = "pooled", max_tokens: int = 30) -> TextEncoderConfig:
        """The TextEncoder config of this tower: frozen backbone + trained mlp adapter."""
        return TextEncoderConfig(backbone=self.backbone, path=self.path, mode=mode, max_tokens=max_tokens,
                                 dim=self.dim, adapter="mlp")


@dataclass(frozen=True)
class CLAPConfig:
    mel: MelConfig = field(default_factory=MelConfig)  # the spectrogram the audio tower reads
    audio: MelCNNConfig = field(default_factory=MelCNNConfig)  # audio tower (the tagger's CNN design)
    text: CLAPTextConfig = field(default_factory=CLAPTextConfig)  # frozen backbone (+ a trained mlp adapter)
    embed_dim: int = 256  # width of the joint embedding space
    init_temperature: float = 0.07  # initial softmax temperature of the InfoNCE logits
    max_logit_scale: float = 100.0  # cap of the learned inverse temperature

    def __post_init__(self) -> None:
        if not 0 < self.init_temperature < 1:
            raise ValueError(f"init_temperature must be in (0, 1), got {self.init_temperature}")


class CLAP(nn.Module):
    """Audio and text embeddings in one space: ``embed_audio(log_mel)``, ``embed_text(prompts)``."""

    config_class = CLAPConfig

    def __init__(self, config: CLAPConfig, load_text_backbone: bool = True) -> None:
        super().__init__()
        self.config = config
        self.audio = MelCNN(config.audio, config.mel.n_mels)
        self.audio_proj = nn.Linear(config.audio.embed_dim, config.embed_dim)
        self.text = TextEncoder(config.text.encoder_config("pooled"), load_backbone=load_text_backbone)
        self.text_proj = nn.Linear(config.text.dim, config.embed_dim)
        self.logit_scale = nn.Parameter(torch.tensor(math.log(1.0 / config.init_temperature)))

    @property
    def mel_config(self) -> MelConfig:
        return self.config.mel

    @property
    def scale(self) -> torch.Tensor:
        """The inverse temperature exp(logit_scale), capped."""
        return self.logit_scale.exp().clamp(max=self.config.max_logit_scale)

    def embed_audio(self, log_mel: torch.Tensor) -> torch.Tensor:
        """log-mel (B, n_mels, T) -> unit embeddings (B, embed_dim)."""
        if log_mel.dim() == 2:
            log_mel = log_mel[None]
        if log_mel.dim() != 3 or log_mel.shape[1] != self.config.mel.n_mels:
            raise ValueError(f"CLAP expects log-mels (B, {self.config.mel.n_mels}, T), got {tuple(log_mel.shape)}")
        return F.normalize(self.audio_proj(self.audio.embed(log_mel.float())), dim=-1)

    def embed_text_features(self, pooled: torch.Tensor) -> torch.Tensor:
        """Frozen backbone pooled features (B, D) -> unit embeddings (B, embed_dim) (adapter + projection)."""
        feat = pooled + self.text.adapter(pooled)
        return F.normalize(self.text_proj(feat), dim=-1)

    def embed_text(self, prompts: str | Sequence[str]) -> torch.Tensor:
        """Prompts -> unit embeddings (B, embed_dim)."""
        feat = self.text(prompts).features[:, 0]  # (B, D): backbone + adapter, as in embed_text_features
        return F.normalize(self.text_proj(feat), dim=-1)

    def forward(self, log_mel: torch.Tensor, pooled: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(audio embeddings (B, E), text embeddings (B, E), inverse temperature) for the InfoNCE loss."""
        return self.embed_audio(log_mel), self.embed_text_features(pooled), self.scale

    def text_encoder(self, mode: str = "pooled", max_tokens: int = 30) -> TextEncoder:
        """A standalone :class:`TextEncoder` with this model's trained adapter (the GPT's ``clap`` option)."""
        enc = TextEncoder(self.config.text.encoder_config(mode, max_tokens), load_backbone=False)
        enc.load_state_dict(self.text.state_dict(), strict=True)
        return enc


def info_nce(audio: torch.Tensor, text: torch.Tensor, scale: torch.Tensor) -> torch.Tensor:
    """Symmetric InfoNCE over a batch of matching pairs (B, E) x (B, E): row i matches column i."""
    logits = scale * audio.float() @ text.float().t()
    labels = torch.arange(audio.shape[0], device=audio.device)
    return 0.5 * (F.cross_entropy(logits, labels) + F.cross_entropy(logits.t(), labels))
