"""``vividsound generate``: prompts in, audio files out."""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

from vividsound.errors import InputError

FORMATS = ("wav", "flac")


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("prompts", nargs="*", metavar="PROMPT", help="text description(s) of the sound")
    p.add_argument("-o", "--output", required=True, metavar="PATH",
                   help="output file (one sound) or name pattern; several sounds get _N suffixes")
    p.add_argument("--prompts-file", metavar="F", help="a text file with one prompt per line (added to PROMPT)")
    p.add_argument("--model", metavar="DIR", help="pipeline folder (default: the bundled model)")
    p.add_argument("--duration", type=float, metavar="S",
                   help="seconds of audio (default: the model's); past the model's window (10 s for the bundled "
                        "model) up to 120 s, sampled window by window")
    p.add_argument("--negative-prompt", metavar="TEXT",
                   help="guide away from this description (guidance against it; cfg scale 3 unless --cfg-scale > 1)")
    p.add_argument("--candidates", type=int, default=1, metavar="N",
                   help="sample N per sound and keep the best by the CLAP score (needs --scorer or MODEL/clap)")
    p.add_argument("--scorer", metavar="DIR", help="CLAP component folder that scores --candidates")
    p.add_argument("--top-k", type=int, metavar="K", help="sample among the K most likely codes")
    p.add_argument("--top-p", type=float, metavar="P", help="nucleus sampling mass, 0 < P <= 1")
    p.add_argument("--temperature", type=float, metavar="T", help="sampling temperature > 0")
    p.add_argument("--cfg-scale", type=float, metavar="C", help="classifier-free guidance scale (1 = off)")
    p.add_argument("--seed", type=int, default=0, metavar="N", help="random seed (default 0)")
    p.add_argument("--num-samples", type=int, default=1, metavar="N", help="variations per prompt")
    p.add_argument("--batch-size", type=int, default=8, metavar="N", help="rows sampled at once")
    p.add_argument("--vocoder", choices=("hifigan", "melgan", "griffinlim"), help="override the model's vocoder")
    p.add_argument("--format", choices=FORMATS, help="audio format (default: from the output suffix, else wav)")
    p.add_argument("--plot", metavar="PNG", help="also save the spectrogram(s) as an image")
    p.add_argument("--device", default="cpu", help="torch device (cpu, cuda, cuda:1, ...)")
    p.add_argument("--no-cuda-graphs", action="store_true",
                   help="on a CUDA device, run the token loop without CUDA graphs (slower; graphs are the default)")
    p.add_argument("--int8", action="store_true",
                   help="CPU only: int8 GPT layers, faster sampling; tokens differ from fp32 for the same seed")
    p.add_argument("--quiet", action="store_true", help="no progress bar")


def _read_prompts(args: argparse.Namespace) -> list[str]:
    prompts = list(args.prompts)
    if args.prompts_file:
        f = Path(args.prompts_file)
        if not f.is_file():
            raise InputError(f"--prompts-file not found: {f}")
        prompts += [line.strip() for line in f.read_text(encoding="utf-8").splitlines() if line.strip()]
    if not prompts:
        raise InputError("give at least one PROMPT or --prompts-file")
    return prompts


def _output_path(args: argparse.Namespace) -> Path:
    out = Path(args.output)
    suffix = out.suffix.lower().lstrip(".")
    fmt = args.format or (suffix if suffix in FORMATS else "wav")
    if suffix != fmt:
        out = out.with_name(out.name + "." + fmt) if suffix not in FORMATS else out.with_suffix("." + fmt)
    parent = out.parent
    if not parent.is_dir():
        raise InputError(f"output folder does not exist: {parent}")
    if not os.access(parent, os.W_OK):
        raise InputError(f"output folder is not writable: {parent}")
    return out


def check_candidates(n: int) -> None:
    from vividsound.editing import MAX_CANDIDATES

    if not 1 <= n <= MAX_CANDIDATES:
        raise InputError(f"--candidates is {n}; allowed: 1..{MAX_CANDIDATES}")


def run(args: argparse.Namespace) -> int:
    from vividsound.pipeline import TextToSound

    prompts = _read_prompts(args)
    out = _output_path(args)
    if args.plot and not Path(args.plot).parent.is_dir():
        raise InputError(f"--plot folder does not exist: {Path(args.plot).parent}")
    # On a GPU the per-token step is captured in CUDA graphs (same tokens in fp32, several times faster).
    graphs = str(args.device).startswith("cuda") and not args.no_cuda_graphs
    tts = TextToSound.from_pretrained(args.model, device=args.device, vocoder=args.vocoder,
                                      quantize="int8" if args.int8 else None, compile=graphs)
    t0 = time.perf_counter()
    if args.candidates != 1:
        check_candidates(args.candidates)
        tts.scorer(args.scorer)  # a missing scorer is an error before any sampling
    result = tts(prompts, duration=args.duration, top_k=args.top_k, top_p=args.top_p, temperature=args.temperature,
                 cfg_scale=args.cfg_scale, seed=args.seed, num_samples=args.num_samples,
                 batch_size=args.batch_size, progress=not args.quiet and sys.stderr.isatty(),
                 negative_prompt=args.negative_prompt, candidates=args.candidates, scorer=args.scorer)
    elapsed = time.perf_counter() - t0
    paths = result.save(out)
    if args.plot:
        from vividsound.plotting import plot_mels

        plot_mels(result.mel, result.prompts, args.plot, sample_rate=result.sample_rate,
                  hop_length=tts.mel_config.hop_length)
    audio_s = result.waveform.shape[0] * result.waveform.shape[1] / result.sample_rate
    for i, p in enumerate(paths):
        print(p)
        if result.extra is not None and "candidate_scores" in result.extra[i]:
            e = result.extra[i]
            print(f"{p.name}: best of {e['candidates']} by {e['scorer']}: score {e['score']:.4f} "
                  f"(all: {', '.join(f'{x:.4f}' for x in e['candidate_scores'])})", file=sys.stderr)
    print(f"{len(paths)} sound(s), {audio_s:.1f} s of audio in {elapsed:.2f} s "
          f"({audio_s / max(elapsed, 1e-9):.2f}x real time)", file=sys.stderr)
    return 0
