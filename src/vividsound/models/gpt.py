"""The conditional GPT prior over codebook indices (Sec. 2.2 of the paper).

Text features (B, L, D) are projected to the model width and prepended as a prefix; code tokens follow
in column-major order. Learned absolute positions cover prefix + tokens. A condition is "null" for a
row whose feature mask is all False: that row uses a learned null prefix instead, which is what the
"No Feat" model always sees and what classifier-free guidance contrasts against.

Sampling draws one Gumbel noise tensor per sample from that sample's own seed before the loop, and
picks ``argmax(filtered_logits / temperature + gumbel)``: exactly a draw from the filtered softmax,
with no host synchronisation inside the loop, and a sample's tokens do not depend on the rest of the
batch. A static KV cache makes each new token cost one position of compute.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Iterator, Sequence

import torch
import torch.nn as nn
import torch.nn.functional as F


@dataclass(frozen=True)
class GPTConfig:
    vocab_size: int = 1024  # codebook size
    block_size: int = 270  # most code tokens in one sequence (rows x max columns)
    rows: int = 5  # code tokens per time column
    cond_dim: int = 384  # width of the text features
    cond_len: int = 30  # prefix length: 1 for pooled / none, up to 30 for sequence features
    n_layer: int = 24
    n_head: int = 16
    n_embd: int = 1024
    dropout: float = 0.0
    bias: bool = True

    def __post_init__(self) -> None:
        if self.n_embd % self.n_head:
            raise ValueError(f"n_embd {self.n_embd} must be divisible by n_head {self.n_head}")
        if self.block_size % self.rows:
            raise ValueError(f"block_size {self.block_size} must be a multiple of rows {self.rows}")
        for name in ("vocab_size", "block_size", "rows", "cond_dim", "cond_len", "n_layer", "n_head", "n_embd"):
            if getattr(self, name) < 1:
                raise ValueError(f"GPTConfig.{name} must be >= 1")

    @property
    def max_columns(self) -> int:
        return self.block_size // self.rows


class KVCache:
    """Static per-layer key/value buffers of shape (B, n_head, max_len, head_dim)."""

    def __init__(self, cfg: GPTConfig, batch: int, max_len: int, device: torch.device, dtype: torch.dtype):
        hd = cfg.n_embd // cfg.n_head
        self.k = torch.zeros(cfg.n_layer, batch, cfg.n_head, max_len, hd, device=device, dtype=dtype)
        self.v = torch.zeros_like(self.k)
        self.length = 0


class SelfAttention(nn.Module):
    def __init__(self, cfg: GPTConfig) -> None:
        super().__init__()
        self.n_head = cfg.n_head
        self.qkv = nn.Linear(cfg.n_embd, 3 * cfg.n_embd, bias=cfg.bias)
        self.proj = nn.Linear(cfg.n_embd, cfg.n_embd, bias=cfg.bias)
        self.dropout = cfg.dropout

    def forward(self, x: torch.Tensor, mask: torch.Tensor, cache: KVCache | None = None,
                layer: int = 0, pos: torch.Tensor | None = None) -> torch.Tensor:
        B, T, C = x.shape
        q, k, v = self.qkv(x).view(B, T, 3, self.n_head, C // self.n_head).permute(2, 0, 3, 1, 4)  # (B, H, T, hd)
        if cache is not None and pos is not None:
            # Static-shape decoding: write at ``pos`` (a device tensor) and attend over the whole
            # buffer under ``mask``; no Python-side lengths, so the step can be captured in a graph.
            cache.k[layer].index_copy_(2, pos.view(1), k)
            cache.v[layer].index_copy_(2, pos.view(1), v)
            k, v = cache.k[layer], cache.v[layer]
        elif cache is not None:
            s = cache.length
            cache.k[layer, :, :, s : s + T] = k
            cache.v[layer, :, :, s : s + T] = v
            k = cache.k[layer, :, :, : s + T]
            v = cache.v[layer, :, :, : s + T]
        y = F.scaled_dot_product_attention(q, k, v, attn_mask=mask,
                                           dropout_p=self.dropout if self.training else 0.0)
        return self.proj(y.transpose(1, 2).reshape(B, T, C))


class Block(nn.Module):
    def __init__(self, cfg: GPTConfig) -> None:
        super().__init__()
        self.ln1 = nn.LayerNorm(cfg.n_embd)
        self.attn = SelfAttention(cfg)
        self.ln2 = nn.LayerNorm(cfg.n_embd)
        self.mlp = nn.Sequential(nn.Linear(cfg.n_embd, 4 * cfg.n_embd, bias=cfg.bias), nn.GELU(),
                                 nn.Linear(4 * cfg.n_embd, cfg.n_embd, bias=cfg.bias), nn.Dropout(cfg.dropout))
        self.drop = nn.Dropout(cfg.dropout)

    def forward(self, x: torch.Tensor, mask: torch.Tensor, cache: KVCache | None = None, layer: int = 0,
                pos: torch.Tensor | None = None):
        x = x + self.drop(self.attn(self.ln1(x), mask, cache, layer, pos))
        return x + self.mlp(self.ln2(x))


class ConditionalGPT(nn.Module):
    """GPT-2 style decoder over code tokens with a text-feature prefix."""

    config_class = GPTConfig

    def __init__(self, config: GPTConfig) -> None:
        super().__init__()
        self.config = config
        c = config
        self.cond_proj = nn.Linear(c.cond_dim, c.n_embd)
        self.null_prefix = nn.Parameter(torch.zeros(c.cond_len, c.n_embd))
        self.tok_emb = nn.Embedding(c.vocab_size, c.n_embd)
        self.pos_emb = nn.Parameter(torch.zeros(c.cond_len + c.block_size, c.n_embd))
        self.drop = nn.Dropout(c.dropout)
        self.blocks = nn.ModuleList(Block(c) for _ in range(c.n_layer))
        self.ln_f = nn.LayerNorm(c.n_embd)
        self.head = nn.Linear(c.n_embd, c.vocab_size, bias=False)
        self.apply(self._init)
        for name, p in self.named_parameters():  # GPT-2's scaled init of residual projections
            if name.endswith("attn.proj.weight") or name.endswith("mlp.2.weight"):
                nn.init.normal_(p, 0.0, 0.02 / math.sqrt(2 * c.n_layer))
        nn.init.normal_(self.pos_emb, 0.0, 0.02)
        nn.init.normal_(self.null_prefix, 0.0, 0.02)

    @staticmethod
    def _init(m: nn.Module) -> None:
        if isinstance(m, nn.Linear):
            nn.init.normal_(m.weight, 0.0, 0.02)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.Embedding):
            nn.init.normal_(m.weight, 0.0, 0.02)

    # ---------------------------------------------------------------------------------------------
    def prefix(self, cond: torch.Tensor, cond_mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Project features (B, L, D) with mask (B, L) to the prefix (B, cond_len, E) and its key mask.

        Rows whose mask is all False are null conditions and get the learned null prefix (all visible).
        """
        c = self.config
        B, L, D = cond.shape
        if D != c.cond_dim:
            raise ValueError(f"text features have width {D}, this GPT expects {c.cond_dim}")
        if L > c.cond_len:
            raise ValueError(f"{L} text features exceed this GPT's prefix length {c.cond_len}")
        mask = cond_mask.bool()
        if L < c.cond_len:
            cond = F.pad(cond, (0, 0, 0, c.cond_len - L))
            mask = F.pad(mask, (0, c.cond_len - L), value=False)
        # Padded positions carry no feature (their projection is the bias alone): the last prefix
        # position, which predicts the first token, may be padding for a short prompt.
        x = self.cond_proj((cond * mask[..., None]).to(self.cond_proj.weight.dtype))
        null = ~mask.any(dim=1)  # (B,)
        x = torch.where(null[:, None, None], self.null_prefix[None].to(x.dtype), x)
        mask = torch.where(null[:, None], torch.ones_like(mask), mask)
        return x, mask

    def _attn_mask(self, key_mask: torch.Tensor, q_start: int, q_len: int) -> torch.Tensor:
        """Boolean (B, 1, q_len, K) mask: causal, prefix keys only where ``key_mask``; self always."""
        K = key_mask.shape[1]
        qpos = torch.arange(q_start, q_start + q_len, device=key_mask.device)[:, None]
        kpos = torch.arange(K, device=key_mask.device)[None]
        causal = kpos <= qpos  # (q, K)
        m = causal[None] & key_mask[:, None, :]
        m = m | (kpos == qpos)[None]
        return m[:, None]

    def forward(self, tokens: torch.Tensor, cond: torch.Tensor, cond_mask: torch.Tensor) -> torch.Tensor:
        """Teacher-forced logits: tokens (B, T), features (B, L, D), mask (B, L) -> logits (B, T, V).

        Logit t predicts token t from the prefix and tokens[:, :t].
        """
        c = self.config
        B, T = tokens.shape
        if T > c.block_size:
            raise ValueError(f"{T} tokens exceed block_size {c.block_size}")
        pre, pmask = self.prefix(cond, cond_mask)
        x = torch.cat([pre, self.tok_emb(tokens[:, :-1])], dim=1)  # (B, P + T - 1, E)
        S = x.shape[1]
        key_mask = torch.cat([pmask, torch.ones(B, T - 1, dtype=torch.bool, device=x.device)], dim=1)
        mask = self._attn_mask(key_mask, 0, S)
        x = self.drop(x + self.pos_emb[:S])
        for blk in self.blocks:
            x = blk(x, mask)
        x = self.ln_f(x[:, c.cond_len - 1 :])  # (B, T, E)
        return self.head(x)

    # ---------------------------------------------------------------------------------------------
    @staticmethod
    def filter_logits(logits: torch.Tensor, top_k: int | None, top_p: float | None,
                      temperature: float) -> torch.Tensor:
        """Temperature, then top-k, then top-p (nucleus) filtering; filtered entries become -inf."""
        logits = logits.float() / temperature
        if top_k is not None and top_k < logits.shape[-1]:
            kth = torch.topk(logits, top_k, dim=-1).values[..., -1:]
            logits = logits.masked_fill(logits < kth, float("-inf"))
        if top_p is not None and top_p < 1.0:
            sorted_logits, order = torch.sort(logits, dim=-1, descending=True)
            probs = sorted_logits.softmax(-1)
            # drop a token when the mass before it already reaches top_p (the first always stays)
            drop_sorted = (probs.cumsum(-1) - probs) >= top_p
            drop = torch.zeros_like(drop_sorted).scatter(-1, order, drop_sorted)
            logits = logits.masked_fill(drop, float("-inf"))
        return logits

    @staticmethod
    def gumbel_noise(seeds: Sequence[int], n_tokens: int, vocab: int, device: torch.device) -> torch.Tensor:
        """(B, n_tokens, V) Gumbel noise, row b drawn from its own ``seeds[b]`` (CPU generator)."""
        rows = []
        for s in seeds:
            g = torch.Generator(device="cpu").manual_seed(int(s))
            u = torch.rand(n_tokens, vocab, generator=g, dtype=torch.float32)
            rows.append(-torch.log(-torch.log(u.clamp(1e-10, 1.0 - 1e-7))))
        return torch.stack(rows).to(device)

    def _pick(self, logits: torch.Tensor, noise: torch.Tensor, top_k, top_p, temperature) -> torch.Tensor:
        return (self.filter_logits(logits, top_k, top_p, temperature) + noise).argmax(-1)

    @torch.no_grad()
    def generate_iter(self, cond: torch.Tensor, cond_mask: torch.Tensor, n_tokens: int, *,
                      seeds: Sequence[int], top_k: int | None = None, top_p: float | None = None,
                      temperature: float = 1.0, cfg_scale: float = 1.0,
                      prompt_tokens: torch.Tensor | None = None, compile: bool = False) -> Iterator[torch.Tensor]:
        """Yield sampled tokens (B,) one position at a time, using a static KV cache.

        Args:
            cond, cond_mask: text features (B, L, D) and mask (B, L); an all-False row is unconditional.
            n_tokens: tokens to sample (a whole number of columns for audio).
            seeds: one seed per row; a row's tokens depend only on its seed and condition.
            cfg_scale: classifier-free guidance, logits = uncond + cfg_scale * (cond - uncond);
                1.0 disables it (no unconditional pass is run).
            prompt_tokens: (B, P) known leading tokens (audio continuation); they are not yielded.
            compile: run the per-token step through ``torch.compile`` (CUDA graphs on a GPU); the first
                call pays the compilation.
        """
        c = self.config
        B = cond.shape[0]
        P = 0 if prompt_tokens is None else prompt_tokens.shape[1]
        if P + n_tokens > c.block_size:
            raise ValueError(f"{P + n_tokens} tokens exceed block_size {c.block_size}")
        if len(seeds) != B:
            raise ValueError(f"need one seed per row: {B} rows, {len(seeds)} seeds")
        device = self.head.weight.device
        noise = self.gumbel_noise(seeds, n_tokens, c.vocab_size, device)
        guided = cfg_scale != 1.0
        pre, pmask = self.prefix(cond.to(device), cond_mask.to(device))
        if guided:
            npre, nmask = self.prefix(torch.zeros_like(cond).to(device),
                                      torch.zeros(cond_mask.shape, dtype=torch.bool, device=device))
            pre, pmask = torch.cat([pre, npre]), torch.cat([pmask, nmask])
        R = pre.shape[0]
        total = c.cond_len + P + n_tokens
        cache = KVCache(c, R, total, device, pre.dtype)
        key_mask = torch.cat([pmask, torch.ones(R, total - c.cond_len, dtype=torch.bool, device=device)], 1)
        x = pre
        if P:
            pt = prompt_tokens.to(device)
            x = torch.cat([x, self.tok_emb(torch.cat([pt, pt]) if guided else pt)], dim=1)
        # Prefill: the prefix (and any prompt tokens) in one pass.
        L = x.shape[1]
        h = x + self.pos_emb[:L]
        mask = self._attn_mask(key_mask[:, :L], 0, L)
        for i, blk in enumerate(self.blocks):
            h = blk(h, mask, cache, i)
        cache.length = L
        logits = self.head(self.ln_f(h[:, -1]))  # (R, V)
        step = self._compiled_step() if compile else self._token_step
        pos = torch.full((), L, dtype=torch.long, device=device)
        for t in range(n_tokens):
            if t:
                logits = step(tok_in, pos, key_mask, cache)
                pos += 1
            if guided:
                lc, lu = logits[:B], logits[B:]
                logits = lu + cfg_scale * (lc - lu)
            tok = self._pick(logits, noise[:, t], top_k, top_p, temperature)  # (B,)
            yield tok
            tok_in = torch.cat([tok, tok]) if guided else tok

    def _token_step(self, tok: torch.Tensor, pos: torch.Tensor, key_mask: torch.Tensor,
                    cache: KVCache) -> torch.Tensor:
        """One decoding step with static shapes: token ids (R,) at position ``pos`` -> logits (R, V)."""
        h = (self.tok_emb(tok) + self.pos_emb.index_select(0, pos.view(1)))[:, None]  # (R, 1, E)
        kpos = torch.arange(key_mask.shape[1], device=key_mask.device)
        mask = ((kpos <= pos)[None] & key_mask)[:, None, None, :]  # (R, 1, 1, S)
        for i, blk in enumerate(self.blocks):
            h = blk(h, mask, cache, i, pos)
        return self.head(self.ln_f(h[:, 0]))

    def _compiled_step(self):
        """``torch.compile`` of the decoding step (CUDA graphs on GPU via 'reduce-overhead')."""
        if getattr(self, "_step_fn", None) is None:
            mode = "reduce-overhead" if self.head.weight.is_cuda else "default"
            self._step_fn = torch.compile(self._token_step, mode=mode, dynamic=False)
        return self._step_fn

    @torch.no_grad()
    def generate(self, cond: torch.Tensor, cond_mask: torch.Tensor, n_tokens: int, **kw) -> torch.Tensor:
        """Sample (B, n_tokens) tokens with the KV cache (see :meth:`generate_iter` for arguments)."""
        toks = list(self.generate_iter(cond, cond_mask, n_tokens, **kw))
        return torch.stack(toks, dim=1)

    @torch.no_grad()
    def generate_uncached(self, cond: torch.Tensor, cond_mask: torch.Tensor, n_tokens: int, *,
                          seeds: Sequence[int], top_k: int | None = None, top_p: float | None = None,
                          temperature: float = 1.0, cfg_scale: float = 1.0) -> torch.Tensor:
        """Reference sampler that recomputes the whole sequence for every token (SpecVQGAN's loop).

        Same noise and filtering as :meth:`generate`, so it returns the same tokens; kept for tests
        and as the benchmark baseline.
        """
        B = cond.shape[0]
        device = self.head.weight.device
        noise = self.gumbel_noise(seeds, n_tokens, self.config.vocab_size, device)
        null_c = torch.zeros_like(cond)
        null_m = torch.zeros(cond_mask.shape, dtype=torch.bool)
        toks = torch.zeros(B, 0, dtype=torch.long, device=device)
        for t in range(n_tokens):
            dummy = torch.zeros(B, 1, dtype=torch.long, device=device)  # its own logit is never used
            inp = torch.cat([toks, dummy], dim=1)
            logits = self.forward(inp, cond.to(device), cond_mask.to(device))[:, -1]
            if cfg_scale != 1.0:
                lu = self.forward(inp, null_c.to(device), null_m.to(device))[:, -1]
                logits = lu + cfg_scale * (logits - lu)
            tok = self._pick(logits, noise[:, t], top_k, top_p, temperature)
            toks = torch.cat([toks, tok[:, None]], dim=1)
        return toks
