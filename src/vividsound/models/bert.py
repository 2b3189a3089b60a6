"""A BERT encoder in plain torch, loaded straight from a Hugging Face folder (fast start, no transformers).

Building MiniLM through ``transformers.AutoModel`` costs seconds per process (importing transformers,
its auto-class machinery, random initialisation of every weight before the checkpoint overwrites it).
This module reads the same folder (``config.json``, ``tokenizer.json``, ``model.safetensors``) directly:
the modules are built without random initialisation and the safetensors tensors are assigned to
them, and the tokenizer is the ``tokenizers`` library's own, configured as ``transformers`` calls it
(pad to the longest prompt, truncate at ``max_length``).

The forward pass repeats the operations of ``transformers``' ``BertModel`` with its default ``sdpa``
attention in the same order (embeddings word + token type, then + position; post-norm layers; exact
GELU; a boolean key mask, or none when no prompt is padded), so the features are bitwise those of the
``transformers`` model on the same machine; ``tests/models/test_bert.py`` checks this.

Only what the text encoder reads is built: the last hidden state (no pooler, no dropout at inference).
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import torch
import torch.nn as nn
import torch.nn.functional as F

from vividsound.errors import CheckpointError
from vividsound.fastinit import no_init

WEIGHTS = "model.safetensors"
TOKENIZER = "tokenizer.json"


@dataclass(frozen=True)
class BertConfig:
    """The fields of a Hugging Face ``config.json`` that a BERT encoder's forward pass reads."""

    vocab_size: int
    hidden_size: int
    num_hidden_layers: int
    num_attention_heads: int
    intermediate_size: int
    max_position_embeddings: int
    type_vocab_size: int
    layer_norm_eps: float

    @classmethod
    def from_folder(cls, folder: Path) -> "BertConfig | None":
        """The config of a plain BERT folder, or ``None`` if the folder holds anything else.

        ``None`` (not an error) for other model types, relative position embeddings, another activation
        or missing files: the caller then falls back to ``transformers``.
        """
        try:
            raw = json.loads((folder / "config.json").read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        if not isinstance(raw, dict) or raw.get("model_type") != "bert":
            return None
        if raw.get("position_embedding_type", "absolute") != "absolute" or raw.get("hidden_act", "gelu") != "gelu":
            return None
        if raw.get("is_decoder") or raw.get("add_cross_attention"):
            return None
        if not (folder / WEIGHTS).is_file() or not (folder / TOKENIZER).is_file():
            return None
        try:
            return cls(vocab_size=int(raw["vocab_size"]), hidden_size=int(raw["hidden_size"]),
                       num_hidden_layers=int(raw["num_hidden_layers"]),
                       num_attention_heads=int(raw["num_attention_heads"]),
                       intermediate_size=int(raw["intermediate_size"]),
                       max_position_embeddings=int(raw.get("max_position_embeddings", 512)),
                       type_vocab_size=int(raw.get("type_vocab_size", 2)),
                       layer_norm_eps=float(raw.get("layer_norm_eps", 1e-12)))
        except (KeyError, TypeError, ValueError):
            return None


@dataclass
class BertOutput:
    last_hidden_state: torch.Tensor  # (B, T, D)
    pooler_output: None = None  # not built (the text encoder mean-pools BERT features itself)


class _Embeddings(nn.Module):
    def __init__(self, c: BertConfig) -> None:
        super().__init__()
        self.word_embeddings = nn.Embedding(c.vocab_size, c.hidden_size)
        self.position_embeddings = nn.Embedding(c.max_position_embeddings, c.hidden_size)
        self.token_type_embeddings = nn.Embedding(c.type_vocab_size, c.hidden_size)
        self.LayerNorm = nn.LayerNorm(c.hidden_size, eps=c.layer_norm_eps)

    def forward(self, input_ids: torch.Tensor, token_type_ids: torch.Tensor) -> torch.Tensor:
        T = input_ids.shape[1]
        pos = torch.arange(T, device=input_ids.device)[None]  # (1, T)
        # The order of the two additions is transformers' (float addition is not associative).
        x = self.word_embeddings(input_ids) + self.token_type_embeddings(token_type_ids)
        x = x + self.position_embeddings(pos)
        return self.LayerNorm(x)  # (B, T, D)


class _Layer(nn.Module):
    def __init__(self, c: BertConfig) -> None:
        super().__init__()
        D, H = c.hidden_size, c.num_attention_heads
        if D % H:
            raise CheckpointError(f"BERT hidden size {D} is not a multiple of its {H} heads")
        self.n_head, self.head_dim = H, D // H
        self.query, self.key, self.value = nn.Linear(D, D), nn.Linear(D, D), nn.Linear(D, D)
        self.attn_out = nn.Linear(D, D)
        self.attn_norm = nn.LayerNorm(D, eps=c.layer_norm_eps)
        self.inter = nn.Linear(D, c.intermediate_size)
        self.out = nn.Linear(c.intermediate_size, D)
        self.out_norm = nn.LayerNorm(D, eps=c.layer_norm_eps)

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
        B, T, D = x.shape
        shape = (B, T, self.n_head, self.head_dim)
        q = self.query(x).view(shape).transpose(1, 2)  # (B, H, T, hd)
        k = self.key(x).view(shape).transpose(1, 2)
        v = self.value(x).view(shape).transpose(1, 2)
        a = F.scaled_dot_product_attention(q, k, v, attn_mask=mask, dropout_p=0.0, scale=self.head_dim ** -0.5,
                                           is_causal=False)
        a = a.transpose(1, 2).contiguous().reshape(B, T, D).contiguous()
        x = self.attn_norm(self.attn_out(a) + x)
        return self.out_norm(self.out(F.gelu(self.inter(x))) + x)


# Our parameter names -> the Hugging Face checkpoint's, per layer.
_LAYER_KEYS = {
    "query": "attention.self.query", "key": "attention.self.key", "value": "attention.self.value",
    "attn_out": "attention.output.dense", "attn_norm": "attention.output.LayerNorm",
    "inter": "intermediate.dense", "out": "output.dense", "out_norm": "output.LayerNorm",
}


class BertEncoder(nn.Module):
    """BERT token features: ``model(input_ids=..., attention_mask=..., token_type_ids=...)`` -> (B, T, D)."""

    def __init__(self, config: BertConfig) -> None:
        super().__init__()
        self.config = config
        self.embeddings = _Embeddings(config)
        self.layers = nn.ModuleList(_Layer(config) for _ in range(config.num_hidden_layers))

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor | None = None,
                token_type_ids: torch.Tensor | None = None) -> BertOutput:
        """Args: input_ids (B, T) long; attention_mask (B, T) 1 for real tokens; token_type_ids (B, T)."""
        if token_type_ids is None:
            token_type_ids = torch.zeros_like(input_ids)
        x = self.embeddings(input_ids, token_type_ids)
        mask = None
        # Like transformers: no mask when nothing is padded, else a boolean (B, 1, T, T) key mask.
        if attention_mask is not None and not bool(attention_mask.all()):
            B, T = input_ids.shape
            mask = attention_mask.bool()[:, None, None, :].expand(B, 1, T, T)
        for layer in self.layers:
            x = layer(x, mask)
        return BertOutput(x)

    @classmethod
    def from_folder(cls, folder: str | Path, config: BertConfig | None = None) -> "BertEncoder":
        """Build without random initialisation and assign the folder's safetensors weights.

        Raises:
            CheckpointError: the folder is not a plain BERT, or a weight is missing or has another shape.
        """
        from safetensors.torch import load_file

        folder = Path(folder)
        config = config or BertConfig.from_folder(folder)
        if config is None:
            raise CheckpointError(f"{folder} is not a plain BERT model folder")
        with no_init():  # every weight is assigned below
            model = cls(config)
        raw = load_file(str(folder / WEIGHTS))
        # Checkpoints saved from BertModel have no prefix; some (e.g. BertForMaskedLM) have "bert.".
        if not any(k.startswith("embeddings.") for k in raw):
            raw = {k[5:]: v for k, v in raw.items() if k.startswith("bert.")}
        state: dict[str, torch.Tensor] = {}
        for name in model.state_dict():
            if name.startswith("embeddings."):
                src = name
            else:
                _, i, sub, leaf = name.split(".")  # layers.{i}.{sub}.{weight|bias}
                src = f"encoder.layer.{i}.{_LAYER_KEYS[sub]}.{leaf}"
            if src not in raw:
                raise CheckpointError(f"{folder / WEIGHTS} has no tensor {src!r} (not a BERT checkpoint?)")
            state[name] = raw[src].float()
        model.load_state_dict(state, strict=True, assign=True)
        return model.eval().requires_grad_(False)


class BertTokenizer:
    """The folder's ``tokenizer.json`` through the ``tokenizers`` library, called like transformers' tokenizer.

    ``tok(texts, padding=True, truncation=True, max_length=128, return_tensors="pt")`` gives
    ``input_ids``, ``token_type_ids`` and ``attention_mask`` (B, T) padded to the longest text.
    """

    def __init__(self, folder: str | Path) -> None:
        from tokenizers import Tokenizer

        self._tok = Tokenizer.from_file(str(Path(folder) / TOKENIZER))
        self._tok.no_padding()  # the file may fix padding at 128; we pad per call
        self._tok.no_truncation()
        pad = self._tok.token_to_id("[PAD]")
        self._pad_id = 0 if pad is None else pad
        self._lock = threading.Lock()  # padding/truncation are settings of the shared Tokenizer object

    def __getstate__(self) -> dict[str, Any]:  # copy.deepcopy / pickle: a lock is not copied, a new one is made
        state = dict(self.__dict__)
        del state["_lock"]
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._lock = threading.Lock()

    def __call__(self, texts: str | Sequence[str], padding: bool = True, truncation: bool = True,
                 max_length: int = 512, return_tensors: str | None = None) -> dict[str, Any]:
        single = isinstance(texts, str)
        batch = [texts] if single else list(texts)
        with self._lock:
            if truncation:
                self._tok.enable_truncation(max_length)
            else:
                self._tok.no_truncation()
            if padding:
                self._tok.enable_padding(pad_id=self._pad_id, pad_token="[PAD]")
            else:
                self._tok.no_padding()
            enc = self._tok.encode_batch(batch)
        out = {"input_ids": [e.ids for e in enc], "token_type_ids": [e.type_ids for e in enc],
               "attention_mask": [e.attention_mask for e in enc]}
        if return_tensors == "pt":
            return {k: torch.tensor(v, dtype=torch.long) for k, v in out.items()}
        return {k: v[0] for k, v in out.items()} if single else out
