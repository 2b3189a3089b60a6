"""The conditional GPT prior over codebook indices (Sec. 2.2 of the paper).

Text features (B, L, D) are projected to the model width and prepended as a prefix; code tokens follow
in column-major order. Learned absolute positions cover prefix + tokens. A condition is "null" for a
row whose feature mask is all False: that row uses a learned null prefix instead, which is what the
"No Feat" model always sees and what classifier-free guidance contrasts against.

Sampling draws one Gumbel noise tensor per sample from that sample's own seed before the loop, and
picks ``argmax(filtered_logits / temperature + gumbel)``: exactly a draw from the filtered softmax,
with no host synchronisation inside the loop, and a sample's tokens do not depend on the rest of the
batch. A static KV cache makes each new token cost one position of compute.

Fill in the middle (``GPTConfig.fim``): a row may be trained in the order left part, right part, middle
(Bavarian et al., 2022, "Efficient Training of Language Models to Fill in the Middle"), each token keeping
its own learned position. The input that predicts a token carries the position just before it (in
plain order that is the input token's own position, so a plain row is unchanged) and, where the predicted
token belongs to the right part or the middle, a learned segment vector; so the model always knows which
position it predicts next, across the jumps of the reordered sequence. Sampling with ``suffix_tokens``
reads the known left and right parts and writes the middle: inpainting that sees both sides.
"""

from __future__ import annotations

import math
import weakref
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
    fim: bool = False  # fill in the middle: two segment vectors (right part, middle); see the module docstring

    def __post_init__(self) -> None:
        if self.n_embd % self.n_head:
            raise ValueError(f"n_embd {self.n_embd} must be divisible by n_head {self.n_head}")
        if self.block_size % self.rows:
            raise ValueError(f"block_size {self.block_size} must be a multiple of rows {self.rows}")
        for name in ("vocab_size", "block_size", "rows", "cond_dim", "cond_len", "n_layer", "n_head", "n_embd"):
            if getattr(self, name) < 1:
                raise ValueError(f"{type(self).__name__}.{name} must be >= 1")

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
            # The mask's width says how many cached keys to read: the whole buffer, or (the CUDA-graph
            # loop) a prefix of it that covers ``pos``.
            cache.k[layer].index_copy_(2, pos.view(1), k)
            cache.v[layer].index_copy_(2, pos.view(1), v)
            n = mask.shape[-1]
            k, v = cache.k[layer][:, :, :n], cache.v[layer][:, :, :n]
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
    build_without_init = True  # checkpoint.load_component may skip the random init, then assign weights

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
        if c.fim:  # segment vectors of inputs that predict a right-part (0) or a middle (1) token; zero = plain
            self.fim_emb = nn.Parameter(torch.zeros(2, c.n_embd))
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

    def fim_layout(self, spans: torch.Tensor, n_tokens: int) -> tuple[torch.Tensor, torch.Tensor]:
        """The fill-in-the-middle order of rows with column spans ``spans`` (B, 2) = [a, b) (a < 0: a plain row).

        Returns ``order`` (B, T): the token positions in training order (left ``< a``, right ``>= b``, then
        the middle), and ``segment`` (B, T): 0 left / plain, 1 right, 2 middle, of each token in that order.
        A span needs a >= 1 (a left part) and b <= columns (the right part may be empty)."""
        R = self.config.rows
        B, dev = spans.shape[0], spans.device
        p = torch.arange(n_tokens, device=dev)[None].expand(B, -1)
        plain = spans[:, 0] < 0
        A = torch.where(plain, n_tokens, spans[:, 0] * R)[:, None]
        E = torch.where(plain, n_tokens, spans[:, 1] * R)[:, None]
        if bool(((A < R) | (E <= A) | (E > n_tokens))[~plain].any()):
            raise ValueError(f"fill-in-the-middle spans must satisfy 1 <= a < b <= {n_tokens // R} columns")
        key = torch.where(p < A, p, torch.where(p >= E, p - E + A, p + n_tokens - E))
        order = torch.empty_like(key).scatter_(1, key, p)
        seg_of = torch.where(p < A, 0, torch.where(p >= E, 1, 2))
        return order, seg_of.gather(1, order)

    def _segment_vectors(self, segment: torch.Tensor) -> torch.Tensor:
        """(…,) segment ids (0 plain, 1 right, 2 middle) -> (…, E) vectors added to the inputs."""
        vec = torch.cat([torch.zeros_like(self.fim_emb[:1]), self.fim_emb])
        return vec[segment]

    def forward(self, tokens: torch.Tensor, cond: torch.Tensor, cond_mask: torch.Tensor,
                spans: torch.Tensor | None = None) -> torch.Tensor:
        """Teacher-forced logits: tokens (B, T), features (B, L, D), mask (B, L) -> logits (B, T, V).

        Logit t predicts token t from the prefix and tokens[:, :t]. With ``spans`` (B, 2) (fill in the middle;
        see :meth:`fim_layout`) the rows are read in their fill-in-the-middle order and logit t predicts
        ``tokens.gather(1, order)[:, t]``.
        """
        c = self.config
        B, T = tokens.shape
        if T > c.block_size:
            raise ValueError(f"{T} tokens exceed block_size {c.block_size}")
        pre, pmask = self.prefix(cond, cond_mask)
        if spans is not None:
            if not c.fim:
                raise ValueError("this GPT was built without fill-in-the-middle (GPTConfig.fim)")
            order, segment = self.fim_layout(spans.to(tokens.device), T)
            tokens = tokens.gather(1, order)
        x = torch.cat([pre, self.tok_emb(tokens[:, :-1])], dim=1)  # (B, P + T - 1, E)
        S = x.shape[1]
        key_mask = torch.cat([pmask, torch.ones(B, T - 1, dtype=torch.bool, device=x.device)], dim=1)
        mask = self._attn_mask(key_mask, 0, S)
        if spans is None:
            x = self.drop(x + self.pos_emb[:S])
        else:
            # the input that predicts token order[t] sits at the position before it (plain order: its own)
            pos = torch.cat([torch.arange(c.cond_len, device=x.device)[None].expand(B, -1),
                             c.cond_len + order[:, 1:] - 1], dim=1)
            seg = torch.cat([torch.zeros(B, c.cond_len, dtype=torch.long, device=x.device), segment[:, 1:]], dim=1)
            x = self.drop(x + self.pos_emb[pos] + self._segment_vectors(seg).to(x.dtype))
        for blk in self.blocks:
            x = blk(x, mask)
        x = self.ln_f(x[:, c.cond_len - 1 :])  # (B, T, E)
        return self.head(x)

    @torch.no_grad()
    def token_log_likelihood(self, tokens: torch.Tensor, cond: torch.Tensor, cond_mask: torch.Tensor) -> torch.Tensor:
        """Teacher-forced log-probabilities (B, T) of ``tokens`` (B, T) under the conditional model.

        Entry t is ``log p(tokens[:, t] | prefix, tokens[:, :t])`` (no guidance, no filtering): the plain
        model's likelihood, which inpainting uses to rank candidates by how well the fixed codes after a
        span follow them."""
        logp = self.forward(tokens, cond, cond_mask).float().log_softmax(-1)  # (B, T, V)
        return logp.gather(-1, tokens.to(logp.device)[..., None].long())[..., 0]

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
        """(B, n_tokens, V) Gumbel noise, row b drawn from its own ``seeds[b]``.

        On a CUDA device each row is drawn there by its own CUDA generator (a few kernels, instead of
        drawing B x n_tokens x V numbers on the CPU and copying them over); elsewhere by a CPU generator.
        So a seed gives the same noise on every CPU and on every CUDA device, but not CPU vs CUDA."""
        device = torch.device(device)
        gen_device = device if device.type == "cuda" else torch.device("cpu")
        rows = []
        for s in seeds:
            g = torch.Generator(device=gen_device).manual_seed(int(s))
            rows.append(torch.rand(n_tokens, vocab, generator=g, dtype=torch.float32, device=gen_device))
        u = torch.stack(rows).clamp_(1e-10, 1.0 - 1e-7)
        return (-torch.log(-torch.log(u))).to(device)

    @staticmethod
    def _pick(logits: torch.Tensor, noise: torch.Tensor, top_k, top_p, temperature) -> torch.Tensor:
        return (ConditionalGPT.filter_logits(logits, top_k, top_p, temperature) + noise).argmax(-1)

    @torch.no_grad()
    def generate_iter(self, cond: torch.Tensor, cond_mask: torch.Tensor, n_tokens: int, *,
                      seeds: Sequence[int], top_k: int | None = None, top_p: float | None = None,
                      temperature: float = 1.0, cfg_scale: float = 1.0,
                      prompt_tokens: torch.Tensor | None = None, compile: bool = False,
                      uncond: tuple[torch.Tensor, torch.Tensor] | None = None,
                      force_tokens: torch.Tensor | None = None, force_mask: torch.Tensor | None = None,
                      suffix_tokens: torch.Tensor | None = None,
                      _replay_eagerly: bool = False) -> Iterator[torch.Tensor]:
        """Yield sampled tokens (B,) one position at a time, using a static KV cache.

        Args:
            cond, cond_mask: text features (B, L, D) and mask (B, L); an all-False row is unconditional.
            n_tokens: tokens to sample (a whole number of columns for audio).
            seeds: one seed per row; a row's tokens depend only on its seed and condition.
            cfg_scale: classifier-free guidance, logits = uncond + cfg_scale * (cond - uncond);
                1.0 disables it (no unconditional pass is run).
            prompt_tokens: (B, P) known leading tokens (audio continuation); they are not yielded.
            uncond: features (B, L', D) and mask (B, L') that guidance contrasts against instead of the
                null condition (negative prompts: logits = neg + cfg_scale * (cond - neg)); a row whose
                mask is all False still uses the null condition. Only read when ``cfg_scale != 1``.
            force_tokens, force_mask: (B, n_tokens) tokens and where to take them instead of sampling
                (variations keep a share of a clip's codes); the model still reads the forced tokens as
                context, and the noise of a forced position is drawn but not used, so the other
                positions' noise does not depend on the mask. Runs the eager loop (no CUDA graphs).
            compile: on a CUDA device, capture the whole per-token step (model, guidance, filtering,
                Gumbel-max pick, position update) in one CUDA graph and replay it for every token; the
                graph and its buffers are kept for the next call with the same shapes and settings, so
                only the first call pays the capture. Elsewhere, run the model step through
                ``torch.compile``. In fp32 the tokens are the same as without it; with bf16 weights
                rounding can differ (the graphs read the cache in 32-position buckets), so a row may
                take another, equally likely path after a near-tie.
            suffix_tokens: (B, Ts) known tokens that follow the sampled ones (fill in the middle: needs a GPT
                trained with ``fim`` and at least one prompt token); the model reads the prompt, then these,
                then writes the middle. Runs the eager loop.
            _replay_eagerly: (tests) the CUDA-graph code path on any device, each replay run eagerly.
        """
        c = self.config
        B = cond.shape[0]
        P = 0 if prompt_tokens is None else prompt_tokens.shape[1]
        Ts = 0 if suffix_tokens is None else suffix_tokens.shape[1]
        if suffix_tokens is not None:
            if not c.fim:
                raise ValueError("suffix_tokens need a GPT trained to fill in the middle (GPTConfig.fim)")
            if P < 1 or Ts < 1 or force_tokens is not None:
                raise ValueError("fill in the middle needs prompt_tokens and suffix_tokens (one or more each) "
                                 "and no force_tokens")
        if P + Ts + n_tokens > c.block_size:
            raise ValueError(f"{P + Ts + n_tokens} tokens exceed block_size {c.block_size}")
        if len(seeds) != B:
            raise ValueError(f"need one seed per row: {B} rows, {len(seeds)} seeds")
        device = self.head.weight.device
        noise = self.gumbel_noise(seeds, n_tokens, c.vocab_size, device)
        guided = cfg_scale != 1.0
        forced = force_tokens is not None
        if forced:
            if force_mask is None or force_tokens.shape != (B, n_tokens) or force_mask.shape != (B, n_tokens):
                raise ValueError(f"force_tokens and force_mask must both be ({B}, {n_tokens})")
            force_tokens, force_mask = force_tokens.to(device).long(), force_mask.to(device).bool()
        pre, pmask = self.prefix(cond.to(device), cond_mask.to(device))
        if guided:
            if uncond is None:
                ucond, umask = torch.zeros_like(cond), torch.zeros(cond_mask.shape, dtype=torch.bool)
            else:
                ucond, umask = uncond
                if ucond.shape[0] != B:
                    raise ValueError(f"uncond has {ucond.shape[0]} rows, cond has {B}")
            npre, nmask = self.prefix(ucond.to(device), umask.to(device))
            pre, pmask = torch.cat([pre, npre]), torch.cat([pmask, nmask])
        R = pre.shape[0]
        total = c.cond_len + P + Ts + n_tokens
        static = None
        if (compile and device.type == "cuda" or _replay_eagerly) and not forced and not Ts:
            static = self._static_decoder(B, R, total, n_tokens, pre.dtype, device, guided, cfg_scale, top_k,
                                          top_p, temperature, capture=not _replay_eagerly)
            cache = static.cache
            cache.length = 0  # a kept cache: the prefill writes from position 0 again
        else:
            cache = KVCache(c, R, total, device, pre.dtype)
        key_mask = torch.cat([pmask, torch.ones(R, total - c.cond_len, dtype=torch.bool, device=device)], 1)
        x = pre
        if P:
            pt = prompt_tokens.to(device)
            x = torch.cat([x, self.tok_emb(torch.cat([pt, pt]) if guided else pt)], dim=1)
        if Ts:
            st = suffix_tokens.to(device)
            x = torch.cat([x, self.tok_emb(torch.cat([st, st]) if guided else st)], dim=1)
        # Prefill: the prefix (and any prompt / suffix tokens) in one pass.
        L = x.shape[1]
        if Ts:  # each input carries the position before the token it predicts (see fim_layout)
            C0, gap = c.cond_len, P + n_tokens
            pos_ids = torch.cat([torch.arange(C0 + P - 1), torch.tensor([C0 + gap - 1]),
                                 torch.arange(C0 + gap, C0 + gap + Ts - 1), torch.tensor([C0 + P - 1])]).to(device)
            seg = torch.cat([torch.zeros(C0 + P - 1, dtype=torch.long), torch.ones(Ts, dtype=torch.long),
                             torch.tensor([2])]).to(device)
            h = x + self.pos_emb[pos_ids] + self._segment_vectors(seg).to(x.dtype)
        else:
            h = x + self.pos_emb[:L]
        mask = self._attn_mask(key_mask[:, :L], 0, L)
        for i, blk in enumerate(self.blocks):
            h = blk(h, mask, cache, i)
        cache.length = L
        logits = self.head(self.ln_f(h[:, -1]))  # (R, V)
        if static is not None:
            yield from static.run(logits, key_mask, noise, L)
            return
        step = self._compiled_step() if compile and not Ts else self._token_step
        fim_kw = {"emb_shift": Ts, "segment": 2} if Ts else {}
        pos = torch.full((), L, dtype=torch.long, device=device)
        for t in range(n_tokens):
            if t:
                logits = step(tok_in, pos, key_mask, cache, **fim_kw)
                pos += 1
            if guided:
                lc, lu = logits[:B], logits[B:]
                logits = lu + cfg_scale * (lc - lu)
            tok = self._pick(logits, noise[:, t], top_k, top_p, temperature)  # (B,)
            if forced:
                tok = torch.where(force_mask[:, t], force_tokens[:, t], tok)
            yield tok
            tok_in = torch.cat([tok, tok]) if guided else tok

    def _token_step(self, tok: torch.Tensor, pos: torch.Tensor, key_mask: torch.Tensor,
                    cache: KVCache, emb_shift: int = 0, segment: int = 0) -> torch.Tensor:
        """One decoding step with static shapes: token ids (R,) at position ``pos`` -> logits (R, V).

        Fill in the middle: the input's learned position is ``pos - emb_shift`` (the known right part sits
        before the middle in the cache but after it in time) and ``segment`` adds its segment vector."""
        h = self.tok_emb(tok) + self.pos_emb.index_select(0, (pos - emb_shift).view(1))
        if segment:
            h = h + self.fim_emb[segment - 1].to(h.dtype)
        h = h[:, None]  # (R, 1, E)
        kpos = torch.arange(key_mask.shape[1], device=key_mask.device)
        mask = ((kpos <= pos)[None] & key_mask)[:, None, None, :]  # (R, 1, 1, S)
        for i, blk in enumerate(self.blocks):
            h = blk(h, mask, cache, i, pos)
        return self.head(self.ln_f(h[:, 0]))

    def _static_decoder(self, B: int, R: int, total: int, n_tokens: int, dtype: torch.dtype, device: torch.device,
                        guided: bool, cfg_scale: float, top_k, top_p, temperature: float,
                        capture: bool) -> "_StaticDecoder":
        """The kept :class:`_StaticDecoder` for these shapes and settings (at most 2 are kept)."""
        # The graph reads the weights at their addresses: a moved or re-cast model gets a new one.
        fused = bool(getattr(self, "fused_step", False))
        key = (B, R, total, n_tokens, dtype, str(device), guided, float(cfg_scale), top_k, top_p, float(temperature),
               capture, fused, tuple(p.data_ptr() for p in self.parameters()))
        kept = _STATIC_DECODERS.setdefault(self, {})
        if key in kept:
            kept[key] = kept.pop(key)  # most recently used last
        else:
            while len(kept) >= 2:
                kept.pop(next(iter(kept)))
            kept[key] = _StaticDecoder(self, B, R, total, n_tokens, dtype, device, guided, cfg_scale, top_k, top_p,
                                       temperature, capture, fused)
        return kept[key]

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


KV_BUCKET = 32  # positions per key/value length bucket of the CUDA-graph loop
_STATIC_DECODERS: "weakref.WeakKeyDictionary[ConditionalGPT, dict]" = weakref.WeakKeyDictionary()


class _StaticDecoder:
    """Static buffers and CUDA graphs for the per-token loop of :meth:`ConditionalGPT.generate_iter`.

    One replay = one token for every row: the model step at ``pos``, classifier-free guidance, filtering,
    the Gumbel-max pick with ``noise[:, t]``, then ``tok_in``, ``pos`` and ``t`` advance on the device.
    Nothing in the loop synchronises with the host. Attention reads only the first ``kv_len`` cached
    positions, ``kv_len`` = the position rounded up to a multiple of :data:`KV_BUCKET`: one graph per
    bucket (all captured on first use, sharing one memory pool), and at large batches the key/value
    reads, which dominate there, fall to about half of reading the whole buffer every step. The host
    knows each step's position, so it picks the graph without looking at the device. With
    ``capture=False`` (tests, any device) a replay runs the same body eagerly, so the buffer and bucket
    logic is checked where no GPU is.
    """

    def __init__(self, gpt: ConditionalGPT, B: int, R: int, total: int, n_tokens: int, dtype: torch.dtype,
                 device: torch.device, guided: bool, cfg_scale: float, top_k, top_p, temperature: float,
                 capture: bool, fused: bool = False) -> None:
        self._gpt = weakref.ref(gpt)  # kept per model in a WeakKeyDictionary: no reference back to it
        self.B, self.guided, self.cfg_scale = B, guided, cfg_scale
        self.top_k, self.top_p, self.temperature, self.capture = top_k, top_p, temperature, capture
        self.cache = KVCache(gpt.config, R, total, device, dtype)
        self.key_mask = torch.zeros(R, total, dtype=torch.bool, device=device)
        self.noise = torch.zeros(B, n_tokens, gpt.config.vocab_size, device=device)
        self.tok_in = torch.zeros(R, dtype=torch.long, device=device)
        self.out = torch.zeros(B, dtype=torch.long, device=device)
        self.pos = torch.zeros((), dtype=torch.long, device=device)
        self.t = torch.zeros((), dtype=torch.long, device=device)
        self.total = total
        # fused (experimental, ``gpt.fused_step = True``): the step through torch.compile (inductor fuses
        # layer norms, bias, GELU and residual adds into fewer kernels) before it is captured; one graph
        # over the whole buffer, since every key/value length would be another compilation.
        self.step = torch.compile(ConditionalGPT._token_step, dynamic=False) if fused else ConditionalGPT._token_step
        self.fused = fused
        self.graphs: dict[int, "torch.cuda.CUDAGraph"] = {}

    def _pick(self, logits: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        if self.guided:
            lc, lu = logits[: self.B], logits[self.B :]
            logits = lu + self.cfg_scale * (lc - lu)
        noise = self.noise.index_select(1, t.view(1))[:, 0]
        return ConditionalGPT._pick(logits, noise, self.top_k, self.top_p, self.temperature)

    def kv_len(self, position: int) -> int:
        """Cached positions a step at ``position`` reads: a multiple of KV_BUCKET covering it (or all)."""
        return self.total if self.fused else min(self.total, -(-(position + 1) // KV_BUCKET) * KV_BUCKET)

    def _body(self, kv_len: int) -> None:
        logits = self.step(self._gpt(), self.tok_in, self.pos, self.key_mask[:, :kv_len], self.cache)
        tok = self._pick(logits, self.t)
        self.out.copy_(tok)
        self.tok_in.copy_(torch.cat([tok, tok]) if self.guided else tok)
        self.pos.add_(1)
        self.t.add_(1)

    def _set(self, tok: torch.Tensor, start: int) -> None:
        self.tok_in.copy_(torch.cat([tok, tok]) if self.guided else tok)
        self.pos.fill_(start)
        self.t.fill_(1)

    def run(self, logits: torch.Tensor, key_mask: torch.Tensor, noise: torch.Tensor, start: int) -> Iterator[torch.Tensor]:
        """Yield the tokens (B,) after the prefill: the first from its ``logits``, the rest by replays.

        The caller wrote the prefill into ``self.cache``; ``start`` is the position of the next token."""
        self.key_mask.copy_(key_mask)
        self.noise.copy_(noise)
        tok = self._pick(logits, torch.zeros((), dtype=torch.long, device=logits.device))
        yield tok
        n = self.noise.shape[1]
        if n == 1:
            return
        self._set(tok, start)
        lens = [self.kv_len(start + i - 1) for i in range(1, n)]  # replay i writes position start + i - 1
        if self.capture and not self.graphs:
            # Warm up each shape on a side stream (library workspaces, lazy inits) and put the state back
            # after each, then capture. A warm-up writes the cache at ``start`` only, which the first
            # replay writes again.
            dev = logits.device
            pool = torch.cuda.graph_pool_handle()
            for kv in sorted(set(lens)):
                side = torch.cuda.Stream(device=dev)
                side.wait_stream(torch.cuda.current_stream(dev))
                with torch.cuda.stream(side):
                    self._body(kv)
                torch.cuda.current_stream(dev).wait_stream(side)
                self._set(tok, start)
                graph = torch.cuda.CUDAGraph()
                with torch.cuda.graph(graph, pool=pool):
                    self._body(kv)
                self.graphs[kv] = graph
        for kv in lens:
            if self.capture:
                self.graphs[kv].replay()
            else:
                self._body(kv)
            yield self.out.clone()
