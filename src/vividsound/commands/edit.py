"""``vividsound continue | inpaint | vary``: edit an audio clip with the model (one module, three commands)."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any, Callable

from vividsound.commands.generate import FORMATS, _output_path, check_candidates
from vividsound.errors import InputError


def _common(p: argparse.ArgumentParser, *, prompt: str) -> None:
    p.add_argument("input", metavar="IN", help="audio file to edit (wav, flac, ogg, mp3...; any rate, any channels)")
    if prompt == "positional":
        p.add_argument("prompt", metavar="PROMPT", help="text description of the sound")
    else:
        p.add_argument("--prompt", metavar="TEXT", help="text description (default: none, the model's null condition)")
    p.add_argument("-o", "--output", required=True, metavar="PATH",
                   help="output file; several sounds get _N suffixes")
    p.add_argument("--negative-prompt", metavar="TEXT", help="guide away from this description")
    p.add_argument("--model", metavar="DIR", help="pipeline folder (default: the bundled model)")
    p.add_argument("--top-k", type=int, metavar="K", help="sample among the K most likely codes")
    p.add_argument("--top-p", type=float, metavar="P", help="nucleus sampling mass, 0 < P <= 1")
    p.add_argument("--temperature", type=float, metavar="T", help="sampling temperature > 0")
    p.add_argument("--cfg-scale", type=float, metavar="C", help="classifier-free guidance scale (1 = off)")
    p.add_argument("--seed", type=int, default=0, metavar="N", help="random seed (default 0)")
    p.add_argument("--num-samples", type=int, default=1, metavar="N", help="results to make")
    p.add_argument("--batch-size", type=int, default=8, metavar="N", help="rows sampled at once")
    p.add_argument("--vocoder", choices=("hifigan", "melgan", "griffinlim", "vocos"), help="override the model's vocoder")
    p.add_argument("--format", choices=FORMATS, help="audio format (default: from the output suffix, else wav)")
    p.add_argument("--device", default="cpu", help="torch device (cpu, cuda, ...)")
    p.add_argument("--threads", type=int, metavar="N",
                   help="CPU threads (default: the CPUs this process may use, at most 8)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")


def _check_input(path: str) -> Path:
    """Fail fast (before loading the model) on a missing, unreadable or empty file."""
    import soundfile as sf

    from vividsound.audio import AudioError

    p = Path(path)
    if not p.is_file():
        raise InputError(f"IN: audio file not found: {p}")
    try:
        info = sf.info(str(p))
    except Exception as e:  # noqa: BLE001 - soundfile raises several types
        raise AudioError(f"IN: cannot read audio file {p}: {str(e).splitlines()[0] if str(e) else type(e).__name__}") from None
    if info.frames <= 0:
        raise AudioError(f"IN: audio file {p} holds no samples")
    return p


def _run(args: argparse.Namespace, call: Callable[[Any, Path, dict[str, Any]], Any]) -> int:
    from vividsound.pipeline import TextToSound

    src = _check_input(args.input)
    out = _output_path(args)
    if getattr(args, "candidates", 1) != 1:
        check_candidates(args.candidates)
    from vividsound.devices import check_device, set_threads

    device = check_device(args.device)
    set_threads(args.threads)
    tts = TextToSound.from_pretrained(args.model, device=device, vocoder=args.vocoder)
    if getattr(args, "candidates", 1) != 1:
        tts.scorer(args.scorer)
    common = dict(negative_prompt=args.negative_prompt, top_k=args.top_k, top_p=args.top_p,
                  temperature=args.temperature, cfg_scale=args.cfg_scale, seed=args.seed,
                  num_samples=args.num_samples, batch_size=args.batch_size,
                  progress=not args.quiet and sys.stderr.isatty())
    t0 = time.perf_counter()
    result = call(tts, src, common)
    elapsed = time.perf_counter() - t0
    for p in result.save(out):
        print(p)
    audio_s = result.waveform.shape[0] * result.waveform.shape[1] / result.sample_rate
    print(f"{len(result)} sound(s), {audio_s:.1f} s of audio in {elapsed:.2f} s", file=sys.stderr)
    return 0


# ---------------------------------------------------------------------------------------------- continue
def _continue_args(p: argparse.ArgumentParser) -> None:
    _common(p, prompt="positional")
    p.add_argument("--duration", type=float, required=True, metavar="S",
                   help="total seconds of the result, the given clip included (up to 120 s)")
    p.add_argument("--candidates", type=int, default=1, metavar="N", help="keep the best of N by the CLAP score")
    p.add_argument("--scorer", metavar="DIR", help="CLAP component folder that scores --candidates")


def _continue_run(args: argparse.Namespace) -> int:
    return _run(args, lambda tts, src, kw: tts.continue_audio(src, args.prompt, duration=args.duration,
                                                              candidates=args.candidates, scorer=args.scorer, **kw))


# ---------------------------------------------------------------------------------------------- inpaint
def _inpaint_args(p: argparse.ArgumentParser) -> None:
    _common(p, prompt="positional")
    p.add_argument("--start", type=float, required=True, metavar="S", help="span start in seconds")
    p.add_argument("--end", type=float, required=True, metavar="S", help="span end in seconds")
    p.add_argument("--tries", type=int, default=4, metavar="N",
                   help="candidates for the span, ranked by how well the audio after the span follows them")


def _inpaint_run(args: argparse.Namespace) -> int:
    if not 0 <= args.start < args.end:
        raise InputError(f"span --start {args.start:g} --end {args.end:g}; allowed: 0 <= start < end (seconds)")
    return _run(args, lambda tts, src, kw: tts.inpaint(src, args.prompt, start=args.start, end=args.end,
                                                       tries=args.tries, **kw))


# ---------------------------------------------------------------------------------------------- vary
def _vary_args(p: argparse.ArgumentParser) -> None:
    _common(p, prompt="option")
    p.add_argument("--strength", type=float, default=0.5, metavar="X",
                   help="share of the clip's codes re-sampled: 0 = a copy, 1 = a new sound (default 0.5)")
    p.add_argument("--candidates", type=int, default=1, metavar="N", help="keep the best of N by the CLAP score")
    p.add_argument("--scorer", metavar="DIR", help="CLAP component folder that scores --candidates")


def _vary_run(args: argparse.Namespace) -> int:
    from vividsound.editing import check_strength

    check_strength(args.strength)
    if args.negative_prompt is not None and args.prompt is None:
        raise InputError("--negative-prompt needs --prompt: guidance steers from the negative towards the prompt")
    return _run(args, lambda tts, src, kw: tts.vary(src, args.prompt, strength=args.strength,
                                                    candidates=args.candidates, scorer=args.scorer, **kw))


CONTINUE = SimpleNamespace(add_arguments=_continue_args, run=_continue_run)
INPAINT = SimpleNamespace(add_arguments=_inpaint_args, run=_inpaint_run)
VARY = SimpleNamespace(add_arguments=_vary_args, run=_vary_run)
