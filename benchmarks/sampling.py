"""Sampling speed: the naive full-recompute loop vs Hugging Face GPT-2 ``generate`` vs ours (issue 7).

All samplers run in one process on the same random weights:

- ``naive``: SpecVQGAN's algorithm, reimplemented here on :meth:`ConditionalGPT.forward`: for every
  new token the whole sequence (prefix + tokens so far) is run through the model again, no cache.
  It uses our Gumbel noise and filtering, so for the same seeds it must return exactly our tokens.
- ``hf-gpt2``: ``transformers.GPT2LMHeadModel.generate`` with its KV cache, top-k sampling. The model
  is a GPT2Config of the same layers / heads / width / vocabulary whose weights are copied from our GPT
  (same pre-LN block, exact GELU, untied head), fed our projected text prefix as ``inputs_embeds``.
  Differences: it samples with ``torch.multinomial`` from its own RNG stream (so its tokens differ
  from ours), computes the text prefix projection outside the timed ``generate`` call (included in
  our timing), uses its dynamic cache, and checks stopping criteria every step.
- ``ours``: :meth:`ConditionalGPT.generate` (static KV cache, per-row Gumbel-max noise).
- candidates (``--candidates``): :func:`icdf_generate` (one uniform per token, inverse-CDF top-k, mask
  built once) at every dtype; on CPU also ours with bf16 weights and ours with int8 dynamic quantisation
  of the blocks' Linear layers (their tokens are compared with the fp32 tokens).

Run ``PYTHONPATH=src python benchmarks/sampling.py --help``.
"""

from __future__ import annotations

import argparse
import copy
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path

import torch
import torch.nn as nn

if __package__ in (None, ""):  # run as a script: make ``benchmarks`` importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.common import RESULTS_DIR, device_slug, fmt_s, header, markdown_table, median, time_call, today
from vividsound.models.gpt import ConditionalGPT, GPTConfig, KVCache

CONFIGS = {
    # for the smoke test only
    "tiny": GPTConfig(vocab_size=64, block_size=20, rows=5, cond_dim=16, cond_len=4, n_layer=2, n_head=2, n_embd=32),
    # the default model's size: 6 x 8 x 384 (11.7 M parameters), 30 MiniLM features, 270 tokens = 10 s
    "small": GPTConfig(vocab_size=1024, block_size=270, rows=5, cond_dim=384, cond_len=30,
                       n_layer=6, n_head=8, n_embd=384),
    # the paper's size: 24 x 16 x 1024 (305 M parameters)
    "paper": GPTConfig(vocab_size=1024, block_size=270, rows=5, cond_dim=384, cond_len=30,
                       n_layer=24, n_head=16, n_embd=1024),
}
DTYPES = {"fp32": torch.float32, "bf16": torch.bfloat16}
ICDF = "candidate: inverse-CDF top-k"
GRAPH = "ours, CUDA graph"


# ------------------------------------------------------------------------------------------------
# samplers
# ------------------------------------------------------------------------------------------------
@torch.no_grad()
def naive_generate(gpt: ConditionalGPT, cond: torch.Tensor, cond_mask: torch.Tensor, n_tokens: int, *,
                   seeds: list[int], top_k: int | None, temperature: float = 1.0) -> torch.Tensor:
    """Full recomputation for every token (SpecVQGAN's loop): (B, n_tokens) tokens."""
    B = cond.shape[0]
    device = gpt.head.weight.device
    noise = gpt.gumbel_noise(seeds, n_tokens, gpt.config.vocab_size, device)  # (B, n, V)
    toks = torch.zeros(B, 0, dtype=torch.long, device=device)
    placeholder = torch.zeros(B, 1, dtype=torch.long, device=device)  # forward drops the last token
    for t in range(n_tokens):
        logits = gpt(torch.cat([toks, placeholder], dim=1), cond, cond_mask)[:, -1]  # (B, V)
        logits = gpt.filter_logits(logits, top_k, None, temperature)
        tok = (logits + noise[:, t]).argmax(-1)  # Gumbel-max: a draw from the filtered softmax
        toks = torch.cat([toks, tok[:, None]], dim=1)
    return toks


def to_hf_gpt2(gpt: ConditionalGPT):
    """A ``GPT2LMHeadModel`` with the same architecture and weights as ``gpt`` (prefix projection excluded)."""
    from transformers import GPT2Config, GPT2LMHeadModel

    c = gpt.config
    hc = GPT2Config(vocab_size=c.vocab_size, n_positions=c.cond_len + c.block_size, n_embd=c.n_embd,
                    n_layer=c.n_layer, n_head=c.n_head, n_inner=4 * c.n_embd, activation_function="gelu",
                    resid_pdrop=0.0, embd_pdrop=0.0, attn_pdrop=0.0, layer_norm_epsilon=1e-5,
                    tie_word_embeddings=False, bos_token_id=None, eos_token_id=None, pad_token_id=0)
    hf = GPT2LMHeadModel(hc)
    sd = {"transformer.wte.weight": gpt.tok_emb.weight, "transformer.wpe.weight": gpt.pos_emb,
          "transformer.ln_f.weight": gpt.ln_f.weight, "transformer.ln_f.bias": gpt.ln_f.bias,
          "lm_head.weight": gpt.head.weight}
    for i, b in enumerate(gpt.blocks):
        p = f"transformer.h.{i}."
        # GPT-2's Conv1D stores (in, out): our Linear weights transposed. The q|k|v split is the same.
        pairs = {"ln_1": b.ln1, "ln_2": b.ln2, "attn.c_attn": b.attn.qkv, "attn.c_proj": b.attn.proj,
                 "mlp.c_fc": b.mlp[0], "mlp.c_proj": b.mlp[2]}
        for name, mod in pairs.items():
            w = mod.weight if name.startswith("ln") else mod.weight.t()
            sd[p + name + ".weight"] = w
            sd[p + name + ".bias"] = mod.bias
    missing, unexpected = hf.load_state_dict({k: v.detach().clone().contiguous() for k, v in sd.items()}, strict=False)
    missing = [k for k in missing if not k.endswith((".attn.bias", ".attn.masked_bias"))]  # causal-mask buffers
    if missing or unexpected:
        raise RuntimeError(f"GPT-2 weight copy failed: missing {missing}, unexpected {unexpected}")
    return hf.eval().to(gpt.head.weight.device, gpt.head.weight.dtype)


@torch.no_grad()
def hf_generate(hf, gpt: ConditionalGPT, cond: torch.Tensor, cond_mask: torch.Tensor, n_tokens: int, *,
                top_k: int | None, seed: int = 0, do_sample: bool = True) -> torch.Tensor:
    """Hugging Face ``generate`` from our text prefix: (B, n_tokens) tokens."""
    pre, pmask = gpt.prefix(cond, cond_mask)
    torch.manual_seed(seed)
    kw = dict(do_sample=True, top_k=top_k, top_p=1.0, temperature=1.0) if do_sample else dict(do_sample=False)
    out = hf.generate(inputs_embeds=pre, attention_mask=pmask.long(), max_new_tokens=n_tokens,
                      pad_token_id=0, eos_token_id=None, **kw)
    if out.shape[1] != n_tokens:  # decoder-only generate from embeddings returns only the new tokens
        out = out[:, -n_tokens:]
    return out


@torch.no_grad()
def ours_generate(gpt: ConditionalGPT, cond, cond_mask, n_tokens: int, *, seeds, top_k) -> torch.Tensor:
    return gpt.generate(cond, cond_mask, n_tokens, seeds=seeds, top_k=top_k)


@torch.no_grad()
def icdf_generate(gpt: ConditionalGPT, cond: torch.Tensor, cond_mask: torch.Tensor, n_tokens: int, *,
                  seeds: list[int], top_k: int | None, temperature: float = 1.0) -> torch.Tensor:
    """Candidate sampler: ours with one uniform per (row, token) and inverse-CDF top-k sampling.

    Differences from :meth:`ConditionalGPT.generate` (proposed for gpt.py, issue 7):

    - randomness: a (B, n_tokens) uniform tensor, row b from its own ``seeds[b]``, instead of the
      (B, n_tokens, V) Gumbel tensor (1/V of the random numbers and of the host-to-device copy); a
      row's tokens still depend only on its seed, and there is still no host synchronisation;
    - top-k: softmax over the k largest logits, cumulative sum, ``searchsorted`` of the uniform —
      an exact draw from the same filtered distribution, without masking or adding noise over all V;
    - the attention mask for the whole sequence is built once, then sliced per step.

    Tokens differ from ours (other random numbers), the distribution is the same. top-p not handled.
    """
    c = gpt.config
    B = cond.shape[0]
    device = gpt.head.weight.device
    u = torch.stack([torch.rand(n_tokens, generator=torch.Generator().manual_seed(int(s)), dtype=torch.float32)
                     for s in seeds]).to(device)  # (B, n)
    pre, pmask = gpt.prefix(cond.to(device), cond_mask.to(device))
    total = c.cond_len + n_tokens
    cache = KVCache(c, B, total, device, pre.dtype)
    key_mask = torch.cat([pmask, torch.ones(B, n_tokens, dtype=torch.bool, device=device)], 1)
    full_mask = gpt._attn_mask(key_mask, 0, total)  # (B, 1, total, total), once
    k = c.vocab_size if top_k is None else min(top_k, c.vocab_size)
    x, toks = pre, []
    for t in range(n_tokens):
        start, L = cache.length, x.shape[1]
        h = x + gpt.pos_emb[start : start + L]
        mask = full_mask[:, :, start : start + L, : start + L]
        for i, blk in enumerate(gpt.blocks):
            h = blk(h, mask, cache, i)
        cache.length += L
        logits = gpt.head(gpt.ln_f(h[:, -1])).float()  # (B, V)
        vals, idx = torch.topk(logits, k, dim=-1)  # (B, k), sorted descending
        cdf = (vals / temperature).softmax(-1).cumsum(-1)
        j = torch.searchsorted(cdf, u[:, t : t + 1] * cdf[:, -1:]).clamp_max(k - 1)  # (B, 1)
        tok = idx.gather(1, j)[:, 0]
        toks.append(tok)
        x = gpt.tok_emb(tok)[:, None]
    return torch.stack(toks, dim=1)


def int8_dynamic(gpt: ConditionalGPT) -> nn.Module:
    """A copy of ``gpt`` whose transformer blocks' Linear layers are int8 dynamically quantised (CPU).

    The text projection and the output head stay fp32 (``generate`` reads ``head.weight``; the head is
    4 % of the weights).
    """
    from torch.ao.quantization import quantize_dynamic

    q = copy.deepcopy(gpt)
    q.blocks = quantize_dynamic(q.blocks, {nn.Linear}, dtype=torch.qint8)
    return q


# ------------------------------------------------------------------------------------------------
# the benchmark
# ------------------------------------------------------------------------------------------------
@dataclass
class Row:
    dtype: str
    sampler: str
    batch: int
    times: list[float]  # wall seconds of each timed run (one batch of `batch` clips)
    cpu: list[float] = field(default_factory=list)  # process CPU seconds of each run (all threads)
    note: str = ""

    @property
    def seconds(self) -> float:
        return median(self.times)

    @property
    def per_clip(self) -> float:
        return self.seconds / self.batch

    @property
    def clips_per_minute(self) -> float:
        return 60.0 * self.batch / self.seconds


@dataclass
class Result:
    rows: list[Row] = field(default_factory=list)
    checks: list[str] = field(default_factory=list)  # correctness lines
    notes: list[str] = field(default_factory=list)

    def find(self, dtype: str, sampler: str, batch: int) -> Row | None:
        return next((r for r in self.rows if (r.dtype, r.sampler, r.batch) == (dtype, sampler, batch)), None)

    def table(self) -> str:
        out = []
        for r in self.rows:
            ref = self.find(r.dtype, "ours", r.batch)
            ratio = f"{r.seconds / ref.seconds:.2f}" if ref is not None else "–"
            out.append([r.dtype, r.sampler, r.batch, fmt_s(r.seconds), fmt_s(r.per_clip),
                        f"{r.clips_per_minute:.1f}", ratio, fmt_s(median(r.cpu)) if r.cpu else "–", len(r.times), r.note])
        return markdown_table(["weights", "sampler", "batch", "s / batch (median)", "s / clip", "clips / min",
                               "time ÷ ours", "CPU s / batch", "runs", "note"], out)


def run(config: str | GPTConfig = "small", device: str = "cpu", batch_sizes=(1, 8, 64), repeats: int = 3,
        dtypes=("fp32",), n_tokens: int | None = None, top_k: int = 512, naive_max_batch: int = 8,
        naive_repeats: int = 1, hf: bool = True, candidates: bool | str = False, warmup_tokens: int = 8,
        log=print) -> Result:
    """Time every sampler at every batch size; returns the rows and the token checks."""
    cfg = CONFIGS[config] if isinstance(config, str) else config
    dev = torch.device(device)
    n_tokens = n_tokens or cfg.block_size
    top_k = min(top_k, cfg.vocab_size)
    warmup_tokens = min(warmup_tokens, n_tokens)
    res = Result()
    torch.manual_seed(0)
    base = ConditionalGPT(cfg).eval()
    n_params = sum(p.numel() for p in base.parameters())
    res.notes.append(f"GPT {cfg.n_layer} layers x {cfg.n_head} heads x {cfg.n_embd} wide, {n_params / 1e6:.1f} M "
                     f"parameters, vocabulary {cfg.vocab_size}, prefix {cfg.cond_len} text features, "
                     f"{n_tokens} tokens per clip, top-k {top_k}, temperature 1, no guidance, random weights")
    try:
        import transformers  # noqa: F401
    except ImportError:
        hf = False
        res.notes.append("transformers is not importable: no Hugging Face rows")

    for dname in dtypes:
        dt = DTYPES[dname]
        gpt = copy.deepcopy(base).to(dev, dt)
        hf_model = to_hf_gpt2(gpt) if hf else None
        if hf_model is not None:
            check_hf_weights(res, gpt, hf_model, dev, dname, log)
        samplers = [("ours", lambda c, m, n, s: ours_generate(gpt, c, m, n, seeds=s, top_k=top_k))]
        if dev.type == "cuda":  # the whole per-token step captured in one CUDA graph (compile=True)
            samplers.append((GRAPH, lambda c, m, n, s: gpt.generate(c, m, n, seeds=s, top_k=top_k, compile=True)))
        if hf_model is not None:
            samplers.append(("hf-gpt2 generate", lambda c, m, n, s: hf_generate(hf_model, gpt, c, m, n, top_k=top_k)))
        samplers.append(("naive (recompute)", lambda c, m, n, s: naive_generate(gpt, c, m, n, seeds=s, top_k=top_k)))
        cand_models = {}
        if candidates:
            samplers.append((ICDF, lambda c, m, n, s: icdf_generate(gpt, c, m, n, seeds=s, top_k=top_k)))
        if candidates and candidates != "icdf" and dname == "fp32" and dev.type == "cpu":
            cand_models["ours, bf16 weights"] = copy.deepcopy(base).to(dev, torch.bfloat16)
            cand_models["ours, int8 dynamic Linear"] = int8_dynamic(base)
        for cname, cm in cand_models.items():
            samplers.append((cname, lambda c, m, n, s, cm=cm: ours_generate(cm, c, m, n, seeds=s, top_k=top_k)))

        for B in batch_sizes:
            g = torch.Generator().manual_seed(1000 + B)
            cond = torch.randn(B, cfg.cond_len, cfg.cond_dim, generator=g).to(dev)
            mask = torch.ones(B, cfg.cond_len, dtype=torch.bool, device=dev)
            seeds = list(range(B))
            outs: dict[str, torch.Tensor] = {}
            # ours draws every row's Gumbel noise on the CPU before the loop: how much of its time is that?
            nt = time_call(lambda: ConditionalGPT.gumbel_noise(seeds, n_tokens, cfg.vocab_size, dev), dev, 1)
            res.checks.append(f"{dname}, batch {B}: drawing the ({B}, {n_tokens}, {cfg.vocab_size}) Gumbel noise "
                              f"({'a CUDA' if dev.type == 'cuda' else 'a CPU'} generator per row) takes {nt[0]:.3f} s of ours' time")
            for name, fn in samplers:
                if name.startswith("naive") and B > naive_max_batch:
                    res.notes.append(f"naive loop skipped at batch {B} ({dname}): over the time budget "
                                     f"(--naive-max-batch {naive_max_batch})")
                    continue
                reps = naive_repeats if name.startswith("naive") else repeats
                box = {}

                def timed(fn=fn, box=box):
                    box["out"] = fn(cond, mask, n_tokens, seeds)

                cpu: list[float] = []
                # The graph sampler's warm-up is a whole call: it captures the graph that the timed calls
                # replay (a short warm-up would capture a graph of other shapes).
                warm = None if name == GRAPH else (lambda fn=fn: fn(cond, mask, warmup_tokens, seeds))
                times = time_call(timed, dev, reps, warmup=warm, cpu_out=cpu)
                outs[name] = box["out"]
                assert outs[name].shape == (B, n_tokens), (name, outs[name].shape)
                row = Row(dname, name, B, times, cpu)
                res.rows.append(row)
                log(f"  {dname:4s} {name:28s} batch {B:3d}: {row.seconds:8.3f} s/batch {row.per_clip:8.3f} s/clip "
                    f"{row.clips_per_minute:9.1f} clips/min  (runs: {', '.join(f'{t:.2f}' for t in times)})")
            if GRAPH in outs:
                agree = (outs[GRAPH] == outs["ours"]).float().mean().item()
                same_rows = int((outs[GRAPH] == outs["ours"]).all(1).sum())
                line = (f"{dname}, batch {B}: CUDA-graph tokens equal ours (same seeds) at {100 * agree:.1f} % of "
                        f"positions; {same_rows} of {B} rows identical")
                res.checks.append(line)
                log("  check: " + line)
            if "naive (recompute)" in outs:
                same = torch.equal(outs["naive (recompute)"], outs["ours"])
                line = f"{dname}, batch {B}: ours == naive loop tokens for the same seeds: {same}"
                res.checks.append(line)
                log("  check: " + line)
            for cname in cand_models:
                if cname in outs:
                    agree = (outs[cname] == outs["ours"]).float().mean().item()
                    first = (outs[cname] != outs["ours"]).float().argmax(1)
                    same_rows = (outs[cname] == outs["ours"]).all(1)
                    first = torch.where(same_rows, torch.full_like(first, n_tokens), first)
                    line = (f"batch {B}: '{cname}' tokens equal fp32 ours at {100 * agree:.1f} % of positions; "
                            f"first difference at token {int(first.float().median())} (median over rows)")
                    res.checks.append(line)
                    log("  check: " + line)
    return res


def check_hf_weights(res: Result, gpt, hf_model, dev, dname, log, n: int = 16) -> None:
    """Greedy decoding must agree: HF greedy vs ours with top-k 1 (the weight copy is right)."""
    cfg = gpt.config
    n = min(n, cfg.block_size)
    g = torch.Generator().manual_seed(7)
    cond = torch.randn(2, cfg.cond_len, cfg.cond_dim, generator=g).to(dev)
    mask = torch.ones(2, cfg.cond_len, dtype=torch.bool, device=dev)
    a = ours_generate(gpt, cond, mask, n, seeds=[0, 1], top_k=1)
    b = hf_generate(hf_model, gpt, cond, mask, n, top_k=None, do_sample=False)
    agree = (a == b).float().mean().item()
    line = f"{dname}: Hugging Face greedy == ours with top-k 1 on {n} tokens x 2 rows: {100 * agree:.0f} % of tokens"
    res.checks.append(line)
    log("  check: " + line)


def report(res: Result, device: torch.device, threads: int, title: str) -> str:
    lines = [f"# {title}", ""] + header(device, threads) + [f"- {n}" for n in res.notes] + ["", res.table(), ""]
    lines += ["Correctness checks:", ""] + [f"- {c}" for c in res.checks] + [""]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> Result:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--config", choices=sorted(CONFIGS), default=None,
                    help="model size (default: small on CPU, paper on CUDA)")
    ap.add_argument("--batch-sizes", default="1,8,64", help="comma-separated")
    ap.add_argument("--repeats", type=int, default=3, help="timed runs per cell (median reported)")
    ap.add_argument("--naive-repeats", type=int, default=1)
    ap.add_argument("--naive-max-batch", type=int, default=None,
                    help="largest batch for the naive loop (default 1 on CPU, 8 on CUDA)")
    ap.add_argument("--dtypes", default=None, help="fp32,bf16 (default: fp32 on CPU, fp32,bf16 on CUDA)")
    ap.add_argument("--tokens", type=int, default=None, help="tokens per clip (default: the block size, 270)")
    ap.add_argument("--top-k", type=int, default=512)
    ap.add_argument("--threads", type=int, default=None, help="torch.set_num_threads (default: all cores)")
    ap.add_argument("--no-hf", action="store_true", help="skip the Hugging Face rows")
    ap.add_argument("--candidates", nargs="?", const="all", choices=("all", "icdf"), default=None,
                    help="also time the candidates: all (inverse-CDF sampler, bf16 / int8 weights) or icdf only")
    ap.add_argument("--out", default=None, help="markdown file (default: results/sampling-<device>-<date>.md)")
    a = ap.parse_args(argv)
    dev = torch.device(a.device)
    config = a.config or ("paper" if dev.type == "cuda" else "small")
    threads = a.threads or os.cpu_count() or 1
    torch.set_num_threads(threads)
    dtypes = tuple((a.dtypes or ("fp32,bf16" if dev.type == "cuda" else "fp32")).split(","))
    naive_max = a.naive_max_batch if a.naive_max_batch is not None else (8 if dev.type == "cuda" else 1)
    print(f"sampling benchmark: config {config}, device {dev}, threads {threads}")
    res = run(config, a.device, [int(b) for b in a.batch_sizes.split(",")], a.repeats, dtypes, a.tokens, a.top_k,
              naive_max, a.naive_repeats, not a.no_hf, a.candidates)
    text = report(res, dev, threads, f"Sampling speed, {config} config, {dev.type}")
    out = Path(a.out) if a.out else RESULTS_DIR / f"sampling-{device_slug(dev)}-{config}-{today()}.md"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text, encoding="utf-8")
    print("\n" + text + f"\nwritten to {out}")
    return res


if __name__ == "__main__":
    main()
