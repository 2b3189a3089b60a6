"""Flat GPT (one token per step) vs column GPT (one time column per step) sampling on the CPU (issue 22).

Both priors have random weights at the same size (the compute of trained ones), the same text prefix
(30 features) and sample one 10 s clip (54 columns x 5 rows = 270 tokens) with top-k 256. Reported: the
sequential transformer steps a clip takes (counted by wrapping each model's step function) and the wall and
process CPU time of ``generate``, median of ``--repeats`` timed calls after one untimed call.

    PYTHONPATH=src python benchmarks/columns_cpu.py --sizes default,paper --threads 1,2 --repeats 3
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.common import RESULTS_DIR, fmt_s, header, loadavg, markdown_table, median, time_call, today
from vividsound.models.gpt import ConditionalGPT, GPTConfig
from vividsound.models.gpt_columns import ColumnGPT, ColumnGPTConfig

SIZES = {  # name -> (n_layer, n_head, n_embd, vocab)
    "tiny": (2, 2, 32, 64),
    "default": (6, 5, 320, 1024),  # the bundled default model's GPT
    "paper": (24, 16, 1024, 1024),  # the paper's GPT (Sec. 3.2)
}


def build(kind: str, size: str, columns: int = 54, rows: int = 5) -> torch.nn.Module:
    n_layer, n_head, n_embd, vocab = SIZES[size]
    kw = dict(vocab_size=vocab, block_size=columns * rows, rows=rows, cond_dim=384, cond_len=30, n_layer=n_layer,
              n_head=n_head, n_embd=n_embd)
    torch.manual_seed(0)
    return (ConditionalGPT(GPTConfig(**kw)) if kind == "flat" else ColumnGPT(ColumnGPTConfig(**kw))).eval()


def count_steps(gpt: torch.nn.Module, cond, mask, n_tokens: int) -> int:
    """Transformer passes one clip takes: the prefill plus one per later step (each step function call)."""
    name = "_token_step" if isinstance(gpt, ConditionalGPT) else "_step"
    orig = getattr(gpt, name)
    calls = []
    setattr(gpt, name, lambda *a: calls.append(1) or orig(*a))
    try:
        gpt.generate(cond, mask, n_tokens, seeds=list(range(cond.shape[0])), top_k=8)
    finally:
        delattr(gpt, name)
    return 1 + len(calls)


def run(sizes: list[str], threads: list[int], repeats: int, batch: int = 1, columns: int = 54,
        log=print) -> list[dict]:
    rows = []
    n_tokens = columns * 5
    old = torch.get_num_threads()
    try:
        for size in sizes:
            models = {k: build(k, size, columns) for k in ("flat", "columns")}
            cond = torch.randn(batch, 30, 384)
            mask = torch.ones(batch, 30, dtype=torch.bool)
            steps = {k: count_steps(m, cond, mask, n_tokens) for k, m in models.items()}
            for n_threads in threads:
                torch.set_num_threads(n_threads)
                base = None
                for kind, m in models.items():
                    cpu: list[float] = []
                    fn = lambda: m.generate(cond, mask, n_tokens, seeds=list(range(batch)), top_k=256)  # noqa: E731
                    times = time_call(fn, torch.device("cpu"), repeats, cpu_out=cpu)
                    row = {"size": size, "threads": n_threads, "gpt": kind, "steps": steps[kind],
                           "params": sum(p.numel() for p in m.parameters()), "wall": median(times),
                           "cpu": median(cpu), "runs": repeats, "batch": batch}
                    base = base or row
                    row["speedup_wall"], row["speedup_cpu"] = base["wall"] / row["wall"], base["cpu"] / row["cpu"]
                    rows.append(row)
                    log(f"  {size} {n_threads}t {kind:8s} steps {row['steps']}: {row['wall']:.3f} s wall, "
                        f"{row['cpu']:.3f} s CPU")
    finally:
        torch.set_num_threads(old)
    return rows


def report(rows: list[dict], columns: int, load_at_start: str) -> str:
    table = [[r["size"], f"{r['params'] / 1e6:.1f} M", r["gpt"], r["threads"], r["batch"], r["steps"],
              fmt_s(r["wall"]), fmt_s(r["cpu"]), f"{r['speedup_wall']:.2f}x", f"{r['speedup_cpu']:.2f}x", r["runs"]]
             for r in rows]
    lines = [f"# Flat vs column GPT sampling on the CPU: one clip of {columns} columns x 5 rows", ""]
    lines += header(torch.device("cpu"), ",".join(sorted({str(r['threads']) for r in rows})), load_at_start)
    lines += ["- random weights; prefix 30 features of width 384; top-k 256; sizes: default = 6 x 5 x 320, "
              "paper = 24 x 16 x 1024 (layers x heads x width), vocabulary 1024", ""]
    lines += [markdown_table(["size", "parameters", "GPT", "threads", "batch", "sequential steps", "wall s (median)",
                              "CPU s (median)", "speed-up vs flat (wall)", "speed-up (CPU)", "runs"], table), ""]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--sizes", default="default")
    ap.add_argument("--threads", default="1,2")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--batch", type=int, default=1)
    ap.add_argument("--columns", type=int, default=54)
    ap.add_argument("--out", default=None)
    a = ap.parse_args(argv)
    load = loadavg()
    rows = run(a.sizes.split(","), [int(t) for t in a.threads.split(",")], a.repeats, a.batch, a.columns)
    text = report(rows, a.columns, load)
    out = Path(a.out) if a.out else RESULTS_DIR / f"columns-cpu-{today()}.md"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text, encoding="utf-8")
    print("\n" + text + f"\nwritten to {out}")


if __name__ == "__main__":
    main()
