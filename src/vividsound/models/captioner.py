"""A small audio captioner for the paper's caption-back metrics: CNN encoder + transformer decoder over words.

The encoder is the tagger's CNN design read as a time sequence (frequency averaged); the decoder is a
pre-norm transformer decoder that cross-attends to it. The word vocabulary is built from the training
captions and stored in the config (ids 0-3 are ``<pad> <bos> <eos> <unk>``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import torch
import torch.nn as nn
import torch.nn.functional as F

from vividsound.audio import MelConfig
from vividsound.models.tagger import MelCNN, MelCNNConfig

SPECIALS = ("<pad>", "<bos>", "<eos>", "<unk>")
PAD, BOS, EOS, UNK = range(4)


def tokenize(text: str) -> list[str]:
    """Lower-case words (letters, digits, apostrophes)."""
    return re.findall(r"[a-z0-9']+", text.lower())


@dataclass(frozen=True)
class CaptionerConfig:
    mel: MelConfig = field(default_factory=MelConfig)  # the spectrogram the encoder reads
    vocab: tuple[str, ...] = ()  # words (filled from the training captions); specials are added in front
    cnn: MelCNNConfig = field(default_factory=MelCNNConfig)  # audio encoder
    d_model: int = 256  # decoder width
    n_layer: int = 3  # decoder layers
    n_head: int = 4  # attention heads
    max_len: int = 32  # longest caption in words
    dropout: float = 0.1  # decoder dropout

    def __post_init__(self) -> None:
        if self.d_model % self.n_head:
            raise ValueError(f"d_model {self.d_model} must be divisible by n_head {self.n_head}")


def _sinusoid(n: int, d: int, device: torch.device) -> torch.Tensor:
    pos = torch.arange(n, device=device, dtype=torch.float32)[:, None]
    i = torch.arange(0, d, 2, device=device, dtype=torch.float32)
    ang = pos / torch.pow(10000.0, i / d)
    pe = torch.zeros(n, d, device=device)
    pe[:, 0::2], pe[:, 1::2] = torch.sin(ang), torch.cos(ang[:, : d // 2])
    return pe


class Captioner(nn.Module):
    """log-mel (B, n_mels, T) -> captions: ``caption(log_mel, beam_size=1) -> list[str]``."""

    config_class = CaptionerConfig

    def __init__(self, config: CaptionerConfig) -> None:
        super().__init__()
        if not config.vocab:
            raise ValueError("a Captioner needs a vocabulary (CaptionerConfig.vocab)")
        self.config = config
        c = config
        self.words = list(SPECIALS) + list(c.vocab)
        self.index = {w: i for i, w in enumerate(self.words)}
        self.encoder = MelCNN(c.cnn, c.mel.n_mels)
        self.enc_proj = nn.Linear(self.encoder.out_channels, c.d_model)
        self.tok_emb = nn.Embedding(len(self.words), c.d_model)
        self.pos_emb = nn.Parameter(torch.randn(c.max_len + 2, c.d_model) * 0.02)
        layer = nn.TransformerDecoderLayer(c.d_model, c.n_head, 4 * c.d_model, c.dropout, batch_first=True,
                                           norm_first=True)
        self.decoder = nn.TransformerDecoder(layer, c.n_layer)
        self.ln = nn.LayerNorm(c.d_model)
        self.head = nn.Linear(c.d_model, len(self.words))

    @property
    def mel_config(self) -> MelConfig:
        return self.config.mel

    @property
    def vocab_size(self) -> int:
        return len(self.words)

    def encode_text(self, caption: str) -> list[int]:
        """Word ids with <bos> ... <eos>, truncated to ``max_len`` words."""
        ids = [self.index.get(w, UNK) for w in tokenize(caption)][: self.config.max_len]
        return [BOS] + ids + [EOS]

    def decode_ids(self, ids: list[int]) -> str:
        out = []
        for i in ids:
            if i == EOS:
                break
            if i > UNK:
                out.append(self.words[i])
        return " ".join(out)

    def encode(self, log_mel: torch.Tensor) -> torch.Tensor:
        """Audio memory (B, T', d_model)."""
        if log_mel.dim() == 2:
            log_mel = log_mel[None]
        if log_mel.dim() != 3 or log_mel.shape[1] != self.config.mel.n_mels:
            raise ValueError(f"Captioner expects log-mels (B, {self.config.mel.n_mels}, T), got {tuple(log_mel.shape)}")
        h = self.enc_proj(self.encoder.sequence(log_mel.float()))
        return h + _sinusoid(h.shape[1], h.shape[2], h.device)[None]

    def decode_step(self, memory: torch.Tensor, tokens: torch.Tensor) -> torch.Tensor:
        """Logits (B, L, V) for every position of ``tokens`` (B, L) (causal)."""
        L = tokens.shape[1]
        x = self.tok_emb(tokens) + self.pos_emb[:L][None]
        causal = torch.triu(torch.ones(L, L, dtype=torch.bool, device=tokens.device), 1)
        pad = tokens == PAD
        h = self.decoder(x, memory, tgt_mask=causal, tgt_key_padding_mask=pad, tgt_is_causal=True)
        return self.head(self.ln(h))

    def forward(self, log_mel: torch.Tensor, tokens: torch.Tensor) -> torch.Tensor:
        """Teacher forcing: log-mel (B, n_mels, T), tokens (B, L) starting with <bos> -> logits (B, L, V)."""
        return self.decode_step(self.encode(log_mel), tokens)

    @torch.no_grad()
    def caption(self, log_mel: torch.Tensor, beam_size: int = 1, max_len: int | None = None) -> list[str]:
        """Greedy (``beam_size=1``) or beam-search captions, one per log-mel (B, n_mels, T)."""
        if beam_size < 1:
            raise ValueError(f"beam_size must be >= 1, got {beam_size}")
        max_len = min(max_len or self.config.max_len, self.config.max_len) + 1
        memory = self.encode(log_mel)
        return [self._beam(memory[b : b + 1], beam_size, max_len) for b in range(memory.shape[0])]

    def _beam(self, memory: torch.Tensor, k: int, max_len: int) -> str:
        beams = [([BOS], 0.0)]
        done: list[tuple[list[int], float]] = []
        for _ in range(max_len):
            seqs = torch.tensor([s for s, _ in beams], device=memory.device)
            logp = F.log_softmax(self.decode_step(memory.expand(len(beams), -1, -1), seqs)[:, -1].float(), -1)
            cand = []
            for (seq, score), lp in zip(beams, logp):
                top = torch.topk(lp, k)
                cand += [(seq + [int(i)], score + float(v)) for v, i in zip(top.values, top.indices)]
            cand.sort(key=lambda c: c[1], reverse=True)
            beams = []
            for seq, score in cand:
                (done if seq[-1] == EOS else beams).append((seq, score))
                if len(beams) == k:
                    break
            if len(done) >= k or not beams:
                break
        pool = done or beams
        best = max(pool, key=lambda c: c[1] / max(1, len(c[0]) - 1))  # length-normalised log-probability
        return self.decode_ids(best[0][1:])
