"""CPU threading and GPT sampling: torch threads x OpenMP wait policy, each in a fresh process.

On a 2-core machine shared with other work, per-token decoding with 2 torch threads can be many
times slower than with 1, because OpenMP workers spin (``OMP_WAIT_POLICY`` active) while the core
they wait for is busy elsewhere. The wait policy is read once when the OpenMP runtime starts, so
every setting runs in its own child process. Each child times one 10 s clip (270 tokens) of the
small GPT at batch 1, after a warm-up.

Run ``PYTHONPATH=src python benchmarks/threads_cpu.py --help``.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.common import RESULTS_DIR, fmt_s, header, loadavg, markdown_table, median, today

CHILD = r"""
import json, sys, time, torch
from benchmarks.sampling import CONFIGS
from vividsound.models.gpt import ConditionalGPT
torch.set_num_threads(int(sys.argv[1]))
cfg = CONFIGS[sys.argv[2]]
n, B, reps = int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
torch.manual_seed(0)
g = ConditionalGPT(cfg).eval()
cond = torch.randn(B, cfg.cond_len, cfg.cond_dim); m = torch.ones(B, cfg.cond_len, dtype=torch.bool)
g.generate(cond, m, min(8, n), seeds=list(range(B)), top_k=min(512, cfg.vocab_size))
out = []
for _ in range(reps):
    c, t = time.process_time(), time.perf_counter()
    g.generate(cond, m, n, seeds=list(range(B)), top_k=min(512, cfg.vocab_size))
    out.append((time.perf_counter() - t, time.process_time() - c))
print("RESULT " + json.dumps(out))
"""


def run(config: str = "small", settings=((1, None), (2, None), (2, "PASSIVE")), tokens: int | None = None,
        batch: int = 1, repeats: int = 2, timeout: float = 300, log=print) -> list[dict]:
    """Time ``generate`` for each (threads, OMP_WAIT_POLICY) in a child process; one dict per setting."""
    from benchmarks.sampling import CONFIGS

    n = tokens or CONFIGS[config].block_size
    root = Path(__file__).resolve().parents[1]
    rows = []
    for threads, policy in settings:
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join([str(root / "src"), str(root), env.get("PYTHONPATH", "")])
        env.pop("OMP_WAIT_POLICY", None)
        if policy:
            env["OMP_WAIT_POLICY"] = policy
        load = loadavg().split()[0]
        p = subprocess.run([sys.executable, "-c", CHILD, str(threads), config, str(n), str(batch), str(repeats)],
                           env=env, capture_output=True, text=True, timeout=timeout)
        line = next((l for l in p.stdout.splitlines() if l.startswith("RESULT ")), None)
        if p.returncode or line is None:
            raise RuntimeError(f"child failed ({p.returncode}): {p.stderr[-2000:]}")
        runs = json.loads(line[len("RESULT "):])
        wall = median([r[0] for r in runs])
        cpu = median([r[1] for r in runs])
        row = {"threads": threads, "policy": policy or "(default)", "wall": wall, "cpu": cpu, "runs": runs, "load": load}
        rows.append(row)
        log(f"  threads {threads} OMP_WAIT_POLICY={row['policy']:9s}: wall {wall:.2f} s, CPU {cpu:.2f} s "
            f"(runs {[round(r[0], 2) for r in runs]}), load {load}")
    return rows


def table(rows: list[dict]) -> str:
    return markdown_table(["torch threads", "OMP_WAIT_POLICY", "wall s / clip (median)", "process CPU s", "runs",
                           "1-min load before"],
                          [[r["threads"], r["policy"], fmt_s(r["wall"]), fmt_s(r["cpu"]), len(r["runs"]), r["load"]]
                           for r in rows])


def main(argv: list[str] | None = None) -> list[dict]:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--config", default="small")
    ap.add_argument("--batch", type=int, default=1)
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--tokens", type=int, default=None)
    ap.add_argument("--out", default=None)
    a = ap.parse_args(argv)
    import torch

    rows = run(a.config, tokens=a.tokens, batch=a.batch, repeats=a.repeats)
    lines = [f"# GPT sampling on CPU: threads and OpenMP wait policy ({a.config} config, batch {a.batch})", ""]
    lines += header(torch.device("cpu"), "per row") + ["", table(rows), ""]
    text = "\n".join(lines)
    out = Path(a.out) if a.out else RESULTS_DIR / f"threads-cpu-{a.config}-{today()}.md"
    out.write_text(text, encoding="utf-8")
    print("\n" + text + f"\nwritten to {out}")
    return rows


if __name__ == "__main__":
    main()
