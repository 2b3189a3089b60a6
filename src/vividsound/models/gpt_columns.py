"""A column-parallel GPT prior: one sequential step per time column, not per token (issue 22).

The flat :class:`~vividsound.models.gpt.ConditionalGPT` samples a 10 s clip (54 columns x 5 rows) in 270
sequential steps. :class:`ColumnGPT` runs its transformer over *steps* instead of tokens and predicts all
``rows`` codes of a step at once, with MusicGen's delay pattern (Copet et al. 2023, Sec. 2.2): row ``r``
is shifted right by ``r`` steps, so step ``s`` holds row 0 of column ``s``, row 1 of column ``s - 1``, ...
row ``R - 1`` of column ``s - R + 1``. A clip of ``C`` columns takes ``C + R - 1`` steps (58 for 10 s).

Why the delay pattern rather than independent parallel heads or a per-row depth decoder:

- parallel heads with no delay would sample the rows of one column independently given the past, and the
  rows of one column (neighbouring mel bands at the same time) are the most strongly dependent tokens;
  with the delay, row ``r`` of a column is sampled after rows ``0 .. r - 1`` of that column are known;
- a depth decoder (RQ-Transformer, SoundStorm's per-level loop) keeps the exact per-column factorisation
  but adds ``R`` small sequential steps per column (270 in all again, each cheap but each a round of
  kernel launches on a GPU); the delay pattern keeps every step one pass of the same transformer;
- the training loss is the same per-token cross-entropy over the same tokens as the flat GPT's, so the
  validation losses of the two designs compare directly.

A step's input embedding is the sum of its rows' code embeddings (one table per row; an extra "empty"
entry per row for the delay pattern's padding) plus the step's learned position. The text prefix, its
null-condition handling, classifier-free guidance, the per-row Gumbel noise (drawn exactly as the flat
GPT draws it, indexed by the token's column-major position) and top-k / top-p / temperature filtering are
those of the flat GPT; :meth:`ColumnGPT.generate_iter` yields tokens one at a time in column-major order
(a column once its last row is sampled, i.e. ``R - 1`` steps late), so streaming and ``TextToSound`` work
unchanged. ``forward`` returns logits in the flat GPT's token layout, so training code is shared.

One step-loop body serves the CPU and the GPU: it reads and writes only device buffers (the delayed code
grid, a step counter), so with ``compile=True`` on a CUDA device it is captured once in a CUDA graph and
replayed per step; elsewhere the same body runs eagerly.
"""

from __future__ import annotations

import math
import weakref
from dataclasses import dataclass
from typing import Iterator, Sequence

import torch
import torch.nn as nn

from vividsound.models.gpt import Block, ConditionalGPT, GPTConfig, KVCache


@dataclass(frozen=True)
class ColumnGPTConfig(GPTConfig):
    """The flat GPT's fields (same meanings and checks); the column model adds the delay pattern's steps."""

    def steps(self, columns: int) -> int:
        """Sequential steps for ``columns`` time columns (the delay pattern adds ``rows - 1``)."""
        return columns + self.rows - 1

    @property
    def max_steps(self) -> int:
        return self.steps(self.max_columns)


def delay(grid: torch.Tensor, pad: int) -> torch.Tensor:
    """Code grid (B, R, C) -> delayed grid (B, R, C + R - 1): out[:, r, s] = grid[:, r, s - r], else ``pad``."""
    B, R, C = grid.shape
    out = grid.new_full((B, R, C + R - 1), pad)
    for r in range(R):
        out[:, r, r : r + C] = grid[:, r]
    return out


def undelay(steps: torch.Tensor, columns: int) -> torch.Tensor:
    """Per-step outputs (B, S, R, ...) -> per-column outputs (B, columns, R, ...): out[:, c, r] = steps[:, c + r, r]."""
    R = steps.shape[2]
    return torch.stack([steps[:, r : r + columns, r] for r in range(R)], dim=2)


class ColumnGPT(nn.Module):
    """GPT over time columns with a text-feature prefix; all rows of a step predicted at once (delay pattern)."""

    config_class = ColumnGPTConfig

    def __init__(self, config: ColumnGPTConfig) -> None:
        super().__init__()
        self.config = config
        c = config
        self.cond_proj = nn.Linear(c.cond_dim, c.n_embd)
        self.null_prefix = nn.Parameter(torch.zeros(c.cond_len, c.n_embd))
        # one table per row, each with an extra "empty" entry (index vocab_size) for the delay padding
        self.tok_emb = nn.Embedding(c.rows * (c.vocab_size + 1), c.n_embd)
        self.pos_emb = nn.Parameter(torch.zeros(c.cond_len + c.max_steps, c.n_embd))
        self.drop = nn.Dropout(c.dropout)
        self.blocks = nn.ModuleList(Block(c) for _ in range(c.n_layer))
        self.ln_f = nn.LayerNorm(c.n_embd)
        self.head = nn.Linear(c.n_embd, c.rows * c.vocab_size, bias=False)  # all rows of a step
        self.register_buffer("row_offset", torch.arange(c.rows) * (c.vocab_size + 1), persistent=False)
        self.apply(ConditionalGPT._init)
        for name, p in self.named_parameters():  # GPT-2's scaled init of residual projections
            if name.endswith("attn.proj.weight") or name.endswith("mlp.2.weight"):
                nn.init.normal_(p, 0.0, 0.02 / math.sqrt(2 * c.n_layer))
        nn.init.normal_(self.pos_emb, 0.0, 0.02)
        nn.init.normal_(self.null_prefix, 0.0, 0.02)

    @property
    def pad(self) -> int:
        """The "empty" code of the delay pattern's padding."""
        return self.config.vocab_size

    # ---------------------------------------------------------------------------------------------
    def prefix(self, cond: torch.Tensor, cond_mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The text prefix (B, cond_len, E) and its key mask, exactly as the flat GPT builds them."""
        return ConditionalGPT.prefix(self, cond, cond_mask)

    def embed_steps(self, steps: torch.Tensor) -> torch.Tensor:
        """Delayed codes (B, R, n) -> step input embeddings (B, n, E): the sum of the rows' embeddings."""
        return self.tok_emb(steps + self.row_offset[None, :, None]).sum(1)

    def _run(self, pre: torch.Tensor, pmask: torch.Tensor, steps: torch.Tensor) -> torch.Tensor:
        """Prefix (B, P, E) + delayed input steps (B, R, n) -> step logits (B, n + 1, R, V) without a cache.

        Output i predicts delayed step i from the prefix and steps[:, :, :i]."""
        c = self.config
        B, n = steps.shape[0], steps.shape[2]
        x = torch.cat([pre, self.embed_steps(steps)], dim=1)  # (B, P + n, E)
        S = x.shape[1]
        key_mask = torch.cat([pmask, torch.ones(B, n, dtype=torch.bool, device=x.device)], dim=1)
        mask = ConditionalGPT._attn_mask(self, key_mask, 0, S)
        x = self.drop(x + self.pos_emb[:S])
        for blk in self.blocks:
            x = blk(x, mask)
        x = self.ln_f(x[:, c.cond_len - 1 :])  # (B, n + 1, E)
        return self.head(x).view(B, n + 1, c.rows, c.vocab_size)

    def forward(self, tokens: torch.Tensor, cond: torch.Tensor, cond_mask: torch.Tensor) -> torch.Tensor:
        """Teacher-forced logits in the flat GPT's layout: tokens (B, T) column-major -> logits (B, T, V).

        Logit t predicts token t (row r of column c) from the prefix, every column before c and rows
        0 .. r - 1 of column c (and rows < r of the next columns up to c + r - 1: the delay pattern).
        """
        c = self.config
        B, T = tokens.shape
        if T > c.block_size:
            raise ValueError(f"{T} tokens exceed block_size {c.block_size}")
        if T % c.rows:
            raise ValueError(f"{T} tokens are not a whole number of {c.rows}-row columns")
        C = T // c.rows
        grid = tokens.view(B, C, c.rows).transpose(1, 2)  # (B, R, C)
        d = delay(grid, self.pad)  # (B, R, S)
        pre, pmask = self.prefix(cond, cond_mask)
        out = self._run(pre, pmask, d[:, :, :-1])  # (B, S, R, V)
        return undelay(out, C).reshape(B, T, c.vocab_size)

    # ---------------------------------------------------------------------------------------------
    def _plan(self, B: int, n_tokens: int, prompt_tokens: torch.Tensor | None,
              device: torch.device) -> tuple[int, int, torch.Tensor, torch.Tensor, torch.Tensor]:
        """(known columns, steps, delayed grid (B, R, S) with the known codes, sample mask (S, R), noise index (S, R))."""
        c = self.config
        P = 0 if prompt_tokens is None else prompt_tokens.shape[1]
        if n_tokens < 1 or n_tokens % c.rows or P % c.rows:
            raise ValueError(f"ColumnGPT samples whole columns: n_tokens={n_tokens} and {P} prompt tokens must be "
                             f"multiples of rows={c.rows} (n_tokens >= {c.rows})")
        if P + n_tokens > c.block_size:
            raise ValueError(f"{P + n_tokens} tokens exceed block_size {c.block_size}")
        Pc, Ct = P // c.rows, (P + n_tokens) // c.rows
        grid = torch.full((B, c.rows, Ct), self.pad, dtype=torch.long, device=device)
        if P:
            grid[:, :, :Pc] = prompt_tokens.to(device).view(B, Pc, c.rows).transpose(1, 2)
        d = delay(grid, self.pad)
        S = d.shape[2]
        col = torch.arange(S, device=device)[:, None] - torch.arange(c.rows, device=device)[None]  # (S, R)
        sample = (col >= Pc) & (col < Ct)
        # the noise of row r of column col sits at the new token's column-major index
        t_idx = ((col - Pc) * c.rows + torch.arange(c.rows, device=device)[None]).clamp(0, n_tokens - 1)
        return Pc, S, d, sample, t_idx

    @torch.no_grad()
    def generate_iter(self, cond: torch.Tensor, cond_mask: torch.Tensor, n_tokens: int, *,
                      seeds: Sequence[int], top_k: int | None = None, top_p: float | None = None,
                      temperature: float = 1.0, cfg_scale: float = 1.0,
                      prompt_tokens: torch.Tensor | None = None, compile: bool = False,
                      uncond: tuple[torch.Tensor, torch.Tensor] | None = None,
                      force_tokens: torch.Tensor | None = None, force_mask: torch.Tensor | None = None,
                      _replay_eagerly: bool = False) -> Iterator[torch.Tensor]:
        """Yield sampled tokens (B,) one at a time in column-major order, one transformer step per column.

        Negative prompts (``uncond``) and forced tokens (inpainting, variations) are not implemented for the
        column GPT yet: asking for them is an :class:`~vividsound.errors.InputError`, never a silent ignore.

        Args:
            cond, cond_mask: text features (B, L, D) and mask (B, L); an all-False row is unconditional.
            n_tokens: tokens to sample, a whole number of columns.
            seeds: one seed per row; a row's tokens depend only on its seed and condition.
            cfg_scale: classifier-free guidance, logits = uncond + cfg_scale * (cond - uncond); 1.0 = off.
            prompt_tokens: (B, P) known leading tokens, whole columns (audio continuation); not yielded.
            compile: on a CUDA device, capture the step (model, guidance, filtering, pick, grid update) in
                one CUDA graph, kept for the next call with the same shapes and settings; no effect elsewhere.
            _replay_eagerly: (tests) no effect: the eager loop already runs the graph's body.
        """
        if uncond is not None or force_tokens is not None or force_mask is not None:
            from vividsound.errors import InputError

            raise InputError("this model's GPT is a column GPT: negative prompts, inpainting and variations are "
                             "not available for it yet (use a flat-GPT model)")
        c = self.config
        B = cond.shape[0]
        if len(seeds) != B:
            raise ValueError(f"need one seed per row: {B} rows, {len(seeds)} seeds")
        device = self.head.weight.device
        Pc, S, d, sample, t_idx = self._plan(B, n_tokens, prompt_tokens, device)
        noise = ConditionalGPT.gumbel_noise(seeds, n_tokens, c.vocab_size, device)  # (B, n_tokens, V)
        guided = cfg_scale != 1.0
        pre, pmask = self.prefix(cond.to(device), cond_mask.to(device))
        if guided:
            npre, nmask = self.prefix(torch.zeros_like(cond).to(device),
                                      torch.zeros(cond_mask.shape, dtype=torch.bool, device=device))
            pre, pmask = torch.cat([pre, npre]), torch.cat([pmask, nmask])
        Rx = pre.shape[0]
        capture = bool(compile) and device.type == "cuda"
        dec = self._decoder(B, Rx, S, n_tokens, pre.dtype, device, guided, cfg_scale, top_k, top_p, temperature,
                            capture)
        dec.load(d, sample, t_idx, noise, pmask)
        # Prefill: the prefix and the Pc steps whose codes are all known, in one pass.
        x = torch.cat([pre, self.embed_steps(dec.dup(d[:, :, :Pc]))], dim=1) if Pc else pre
        L = x.shape[1]
        h = x + self.pos_emb[:L]
        mask = ConditionalGPT._attn_mask(self, dec.key_mask[:, :L], 0, L)
        dec.cache.length = 0
        for i, blk in enumerate(self.blocks):
            h = blk(h, mask, dec.cache, i)
        logits = self.head(self.ln_f(h[:, -1])).view(Rx, c.rows, c.vocab_size)
        for s in dec.run(logits, Pc):
            col = s - c.rows + 1  # the column whose last row step s sampled
            if col >= Pc:
                for r in range(c.rows):
                    yield dec.grid[:, r, col + r].clone()

    def _step(self, tok: torch.Tensor, pos: torch.Tensor, key_mask: torch.Tensor, cache: KVCache) -> torch.Tensor:
        """One step with static shapes: delayed codes (Rx, R) at position ``pos`` -> logits (Rx, R, V)."""
        c = self.config
        h = (self.embed_steps(tok[:, :, None]) + self.pos_emb.index_select(0, pos.view(1)))  # (Rx, 1, E)
        kpos = torch.arange(key_mask.shape[1], device=key_mask.device)
        mask = ((kpos <= pos)[None] & key_mask)[:, None, None, :]  # (Rx, 1, 1, K)
        for i, blk in enumerate(self.blocks):
            h = blk(h, mask, cache, i, pos)
        return self.head(self.ln_f(h[:, 0])).view(-1, c.rows, c.vocab_size)

    def _decoder(self, B: int, Rx: int, S: int, n_tokens: int, dtype: torch.dtype, device: torch.device,
                 guided: bool, cfg_scale: float, top_k, top_p, temperature: float, capture: bool) -> "_ColumnDecoder":
        """A :class:`_ColumnDecoder` for these shapes; with ``capture`` the last two are kept (their graphs)."""
        args = (B, Rx, S, n_tokens, dtype, device, guided, float(cfg_scale), top_k, top_p, float(temperature), capture)
        if not capture:
            return _ColumnDecoder(self, *args)
        key = args + (tuple(p.data_ptr() for p in self.parameters()),)  # a moved or re-cast model: a new graph
        kept = _DECODERS.setdefault(self, {})
        if key in kept:
            kept[key] = kept.pop(key)  # most recently used last
        else:
            while len(kept) >= 2:
                kept.pop(next(iter(kept)))
            kept[key] = _ColumnDecoder(self, *args)
        return kept[key]

    @torch.no_grad()
    def generate(self, cond: torch.Tensor, cond_mask: torch.Tensor, n_tokens: int, **kw) -> torch.Tensor:
        """Sample (B, n_tokens) column-major tokens (see :meth:`generate_iter` for arguments)."""
        return torch.stack(list(self.generate_iter(cond, cond_mask, n_tokens, **kw)), dim=1)

    @torch.no_grad()
    def generate_uncached(self, cond: torch.Tensor, cond_mask: torch.Tensor, n_tokens: int, *,
                          seeds: Sequence[int], top_k: int | None = None, top_p: float | None = None,
                          temperature: float = 1.0, cfg_scale: float = 1.0,
                          prompt_tokens: torch.Tensor | None = None) -> torch.Tensor:
        """Reference sampler: the whole sequence recomputed at every step, no cache, plain Python indexing.

        Same noise and filtering as :meth:`generate`, so it returns the same tokens (for the tests)."""
        c = self.config
        B = cond.shape[0]
        device = self.head.weight.device
        Pc, S, d, sample, t_idx = self._plan(B, n_tokens, prompt_tokens, device)
        noise = ConditionalGPT.gumbel_noise(seeds, n_tokens, c.vocab_size, device)
        pre, pmask = self.prefix(cond.to(device), cond_mask.to(device))
        npre, nmask = self.prefix(torch.zeros_like(cond).to(device),
                                  torch.zeros(cond_mask.shape, dtype=torch.bool, device=device))
        for s in range(Pc, S):
            logits = self._run(pre, pmask, d[:, :, :s])[:, -1]  # (B, R, V)
            if cfg_scale != 1.0:
                lu = self._run(npre, nmask, d[:, :, :s])[:, -1]
                logits = lu + cfg_scale * (logits - lu)
            for r in range(c.rows):
                if sample[s, r]:
                    d[:, r, s] = ConditionalGPT._pick(logits[:, r], noise[:, int(t_idx[s, r])], top_k, top_p,
                                                      temperature)
        grid = undelay(d.transpose(1, 2)[..., None], S - c.rows + 1)[..., 0]  # (B, Ct, R)
        return grid[:, Pc:].reshape(B, n_tokens)


_DECODERS: "weakref.WeakKeyDictionary[ColumnGPT, dict]" = weakref.WeakKeyDictionary()


class _ColumnDecoder:
    """Static buffers of the step loop; one body serves the eager loop and the CUDA graph.

    ``grid`` (B, R, S) is the delayed code grid: known codes and padding filled in before the loop, step
    ``s`` writes its sampled rows into column ``s``. One body = the model step on column ``s - 1`` at
    position ``cond_len + s - 1``, guidance, filtering, the Gumbel-max pick with each row's noise, the write
    into column ``s`` (where ``sample[s]``), then ``s`` and ``pos`` advance on the device; nothing in it
    synchronises with the host, so it can be captured once and replayed for every step.
    """

    def __init__(self, gpt: ColumnGPT, B: int, Rx: int, S: int, n_tokens: int, dtype: torch.dtype,
                 device: torch.device, guided: bool, cfg_scale: float, top_k, top_p, temperature: float,
                 capture: bool) -> None:
        c = gpt.config
        self._gpt = weakref.ref(gpt)  # kept per model in a WeakKeyDictionary: no reference back to it
        self.B, self.S, self.guided, self.cfg_scale = B, S, guided, cfg_scale
        self.top_k, self.top_p, self.temperature, self.capture = top_k, top_p, temperature, capture
        total = c.cond_len + S  # the last replay writes position cond_len + S - 2
        self.cache = KVCache(c, Rx, total, device, dtype)
        self.key_mask = torch.ones(Rx, total, dtype=torch.bool, device=device)
        self.grid = torch.zeros(B, c.rows, S, dtype=torch.long, device=device)
        self.sample = torch.zeros(S, c.rows, dtype=torch.bool, device=device)
        self.t_idx = torch.zeros(S, c.rows, dtype=torch.long, device=device)
        self.noise = torch.zeros(B, n_tokens, c.vocab_size, device=device)
        self.s = torch.zeros((), dtype=torch.long, device=device)
        self.pos = torch.zeros((), dtype=torch.long, device=device)
        self.graph: "torch.cuda.CUDAGraph | None" = None

    def dup(self, x: torch.Tensor) -> torch.Tensor:
        """Rows (B, ...) -> the model's rows (Rx, ...): twice under guidance (conditional, then null)."""
        return torch.cat([x, x]) if self.guided else x

    def load(self, grid: torch.Tensor, sample: torch.Tensor, t_idx: torch.Tensor, noise: torch.Tensor,
             pmask: torch.Tensor) -> None:
        self.grid.copy_(grid)
        self.sample.copy_(sample)
        self.t_idx.copy_(t_idx)
        self.noise.copy_(noise)
        self.key_mask[:, : pmask.shape[1]].copy_(pmask)

    def _pick(self, logits: torch.Tensor) -> None:
        """Sample step ``s``'s rows from ``logits`` (Rx, R, V) into ``grid[:, :, s]`` where ``sample[s]``."""
        if self.guided:
            lc, lu = logits[: self.B], logits[self.B :]
            logits = lu + self.cfg_scale * (lc - lu)
        idx = self.t_idx.index_select(0, self.s.view(1))[0]  # (R,)
        noise = self.noise.index_select(1, idx)  # (B, R, V)
        tok = ConditionalGPT._pick(logits, noise, self.top_k, self.top_p, self.temperature)  # (B, R)
        cur = self.grid.index_select(2, self.s.view(1))[:, :, 0]
        new = torch.where(self.sample.index_select(0, self.s.view(1)), tok, cur)
        self.grid.index_copy_(2, self.s.view(1), new[:, :, None])

    def _body(self) -> None:
        prev = self.grid.index_select(2, (self.s - 1).view(1))[:, :, 0]  # (B, R): step s - 1's codes
        logits = self._gpt()._step(self.dup(prev), self.pos, self.key_mask, self.cache)
        self._pick(logits)
        self.s.add_(1)
        self.pos.add_(1)

    def _set(self, first: int) -> None:
        cond_len = self._gpt().config.cond_len
        self.s.fill_(first + 1)
        self.pos.fill_(cond_len + first)

    def run(self, logits: torch.Tensor, first: int) -> Iterator[int]:
        """After the prefill: pick step ``first`` from ``logits``, then every later step; yield each step's index."""
        self.s.fill_(first)
        self._pick(logits)
        yield first
        if first + 1 >= self.S:
            return
        self._set(first)
        if self.capture and self.graph is None:
            # Warm up on a side stream (library workspaces, lazy inits), put the state back, capture. The
            # warm-up writes only step first + 1 and its cache position, which the first replay rewrites.
            dev = logits.device
            saved = self.grid.clone()
            side = torch.cuda.Stream(device=dev)
            side.wait_stream(torch.cuda.current_stream(dev))
            with torch.cuda.stream(side):
                self._body()
            torch.cuda.current_stream(dev).wait_stream(side)
            self.grid.copy_(saved)
            self._set(first)
            graph = torch.cuda.CUDAGraph()
            with torch.cuda.graph(graph):
                self._body()
            self.graph = graph
            self.grid.copy_(saved)  # capture does not run the body, but keep the state exact regardless
            self._set(first)
        for s in range(first + 1, self.S):
            if self.graph is not None:
                self.graph.replay()
            else:
                self._body()
            yield s
