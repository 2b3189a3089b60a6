"""``vividsound generate``: prompts in, audio files out."""

from __future__ import annotations

import argparse
import importlib.util
import os
import sys
import tempfile
import time
from pathlib import Path

from vividsound.errors import InputError

FORMATS = ("wav", "flac")
PLOT_FORMATS = ("png", "pdf", "svg", "jpg", "jpeg", "webp", "tif", "tiff", "eps")


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("prompts", nargs="*", metavar="PROMPT", help="text description(s) of the sound")
    p.add_argument("-o", "--output", required=True, metavar="PATH",
                   help="output file (one sound) or name pattern; several sounds get _N suffixes; an existing "
                   "folder or a path ending in / (or any path under torchrun): one file per clip, resumable")
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
    p.add_argument("--vocoder", choices=("hifigan", "melgan", "griffinlim", "vocos"), help="override the model's vocoder")
    p.add_argument("--format", choices=FORMATS, help="audio format (default: from the output suffix, else wav)")
    p.add_argument("--plot", metavar="PNG", help="also save the spectrogram(s) as an image")
    p.add_argument("--device", default="cpu", help="torch device (cpu, cuda, cuda:1, ...)")
    p.add_argument("--no-cuda-graphs", action="store_true",
                   help="on a CUDA device, run the token loop without CUDA graphs (slower; graphs are the default)")
    p.add_argument("--int8", action="store_true",
                   help="CPU only: int8 GPT layers, faster sampling; tokens differ from fp32 for the same seed")
    p.add_argument("--threads", type=int, metavar="N",
                   help="CPU threads (default: the CPUs this process may use, at most 8; on a busy machine "
                        "fewer can be faster)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")


def _read_prompts(args: argparse.Namespace) -> list[str]:
    prompts = list(args.prompts)
    if args.prompts_file:
        f = Path(args.prompts_file)
        if not f.is_file():
            raise InputError(f"--prompts-file not found: {f}")
        try:
            data = f.read_bytes()
            text = data.decode("utf-8")
        except UnicodeDecodeError as e:
            line = data[: e.start].count(b"\n") + 1
            raise InputError(f"--prompts-file {f}: line {line} is not UTF-8 text (byte {e.start}); "
                             "save the file as UTF-8") from None
        except OSError as e:
            raise InputError(f"--prompts-file {f}: cannot read it ({e.strerror or e})") from None
        prompts += [line.strip() for line in text.splitlines() if line.strip()]
    if not prompts:
        raise InputError("give at least one PROMPT or --prompts-file")
    from vividsound.models.text import MAX_PROMPT_CHARS, check_prompts

    check_prompts(prompts, MAX_PROMPT_CHARS)  # non-UTF-8 bytes on the command line, blank or long prompts
    return prompts


def _writable_folder(folder: Path, option: str) -> None:
    """Create ``folder`` if missing and prove we can write in it (``os.access`` says yes to root on a
    read-only mount, so a file is created and removed)."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
        fd, probe = tempfile.mkstemp(prefix=".write-test-", dir=str(folder))
        os.close(fd)
        os.unlink(probe)
    except OSError as e:
        raise InputError(f"{option}: cannot write in {folder} ({e.strerror or e})") from None


def _output_path(args: argparse.Namespace) -> Path:
    """The output file checked: a .wav or .flac name (or none: .wav is added), not a folder, writable."""
    raw = args.output
    if not raw or not raw.strip():
        raise InputError("-o/--output is empty; give a file name such as sound.wav")
    out = Path(raw)
    if raw.endswith(("/", os.sep)) or out.is_dir():
        raise InputError(f"-o {raw} is a folder; give a file name inside it, e.g. {out / 'sound.wav'}")
    suffix = out.suffix.lower().lstrip(".")
    if suffix and suffix not in FORMATS:
        raise InputError(f"-o {raw}: vividsound writes {' or '.join(FORMATS)} files; end the name in "
                         f"{' or '.join('.' + f for f in FORMATS)} (other formats: convert the .wav afterwards)")
    if not suffix:
        out = out.with_name(out.name + "." + (args.format or "wav"))
    elif args.format and suffix != args.format:
        raise InputError(f"-o {raw} ends in .{suffix} but --format is {args.format}; make them agree")
    _writable_folder(out.parent, "-o/--output")
    return out


def _plot_path(args: argparse.Namespace) -> Path | None:
    """The --plot image checked before generating: matplotlib installed, a known image type, writable."""
    if args.plot is None:
        return None
    if not args.plot.strip():
        raise InputError("--plot is empty; give an image name such as spectrogram.png")
    if importlib.util.find_spec("matplotlib") is None:
        raise InputError("--plot needs matplotlib, which is not installed: pip install matplotlib "
                         "(or pip install 'vividsound[eval]')")
    plot = Path(args.plot)
    suffix = plot.suffix.lower().lstrip(".")
    if suffix not in PLOT_FORMATS:
        raise InputError(f"--plot {args.plot}: the image type comes from the name; end it in one of "
                         f"{', '.join('.' + f for f in PLOT_FORMATS)}")
    if plot.is_dir():
        raise InputError(f"--plot {args.plot} is a folder; give an image name inside it")
    _writable_folder(plot.parent, "--plot")
    return plot


def check_candidates(n: int) -> None:
    from vividsound.editing import MAX_CANDIDATES

    if not 1 <= n <= MAX_CANDIDATES:
        raise InputError(f"--candidates is {n}; allowed: 1..{MAX_CANDIDATES}")


def run(args: argparse.Namespace) -> int:
    from vividsound.audio import save_audio_files
    from vividsound.devices import check_device, set_threads
    from vividsound.pipeline import SamplingDefaults, TextToSound, check_seed, paths_for, resolve_settings
    from vividsound.pipeline_folder import model_limits

    # Everything a user can get wrong is checked before the model loads (seconds) and before anything
    # is written: prompts, output names, sampler options against the model's limits, device, threads.
    prompts = _read_prompts(args)
    from vividsound.commands import distributed

    if distributed.wants_folder(args.output):  # -o DIR or torchrun: one file per clip, resumable
        return distributed.run(args, prompts, args.format or "wav")
    out = _output_path(args)
    plot = _plot_path(args)
    limits = model_limits(args.model)
    from vividsound.editing import MAX_LONG_DURATION

    resolve_settings(SamplingDefaults(**limits["defaults"]), limits["vocab_size"],
                     max(limits["max_duration"], MAX_LONG_DURATION), duration=args.duration, top_k=args.top_k,
                     top_p=args.top_p, temperature=args.temperature, cfg_scale=args.cfg_scale,
                     num_samples=args.num_samples, batch_size=args.batch_size, negative_prompt=args.negative_prompt)
    check_seed(args.seed, args.num_samples)
    for p in paths_for(out, len(prompts) * args.num_samples):
        if p.is_dir():
            raise InputError(f"output {p} is a folder; choose another -o")
    from vividsound.quantize import check_quantize

    check_quantize("int8" if args.int8 else None, str(args.device) if args.device else "cpu")
    device = check_device(args.device)
    set_threads(args.threads)
    # On a GPU the per-token step is captured in CUDA graphs (same tokens in fp32, several times faster).
    graphs = device.startswith("cuda") and not args.no_cuda_graphs
    tts = TextToSound.from_pretrained(args.model, device=device, vocoder=args.vocoder,
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
    extra = []
    if plot is not None:
        from vividsound.plotting import plot_mels

        extra.append((plot, lambda tmp: plot_mels(result.mel, result.prompts, tmp, sample_rate=result.sample_rate,
                                                  hop_length=tts.mel_config.hop_length)))
    # The sounds and the image are written all or none: a full disk leaves no partial set behind.
    wav = result.numpy()
    paths = save_audio_files([(p, wav[i], result.metadata(i)) for i, p in enumerate(result.paths(out))],
                             result.sample_rate, extra)
    paths = [p for p in paths if p != plot]
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
