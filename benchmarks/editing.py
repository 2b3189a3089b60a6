"""Editing and long sounds, measured (issue 21): negative prompts, seams of continuation / inpainting / long
sounds, variation strength, and whether a 60 s sound still follows its prompt at the end.

Judges stand apart from the generator: the aiSFX sound-effects CNN (Ma & Lerch, ISMIR 2022; pretrained
elsewhere, see :mod:`vividsound.eval.aisfx`) for embeddings, and plain signal statistics for the seams.

* **Negative prompts**: for each (prompt, seed) pair, three clips: the prompt at the model's default
  guidance, the prompt with guidance against the null condition at the negative prompt's scale, and the
  prompt with the negative prompt "rain". Rain is found by aiSFX: a clip is rain-like when its embedding is
  nearer (cosine) the mean embedding of real rain recordings than that of real dog recordings (files named
  ``*rain*`` and ``*dog*``/``*bark*`` under ``--refs``). Reported: share of rain-like clips per arm.
* **Seams**: at each join (continuation: given part -> new; inpainting: both span edges; long sounds: each
  window boundary) the level jump ``|dB(after) - dB(before)|`` and the spectral jump (RMS difference of the
  mean log-mel) between the 0.1 s either side; divided by the same statistics at every 0.1 s inside plain
  generated clips of the same prompts. A ratio of 1 means a join is as smooth as the clip's own changes.
* **Variations**: aiSFX cosine similarity of each variation to its source clip, per strength.
* **Long sounds**: aiSFX similarity of the last 10 s of a 60 s sound to its first 10 s, beside the same
  similarity between the first 10 s of sounds from different prompts (what "lost the prompt" looks like).

    PYTHONPATH=src python benchmarks/editing.py --refs CLIPS_DIR [--vocoder griffinlim] [--pairs 50] ...

Writes ``benchmarks/results/editing-<model>-<date>.md`` (and prints it).
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from benchmarks.common import RESULTS_DIR, device_name, loadavg, markdown_table, today  # noqa: E402

DOG_PROMPTS = ["a dog barks", "a dog barks twice", "a small dog barks", "a big dog barks loudly",
               "a dog barks in the distance", "a dog barks and growls", "dogs bark", "a dog barks three times",
               "a dog barks nearby", "a dog barks quietly"]
# Prompts that ask for rain beside the dog: where the model puts rain in, a negative "rain" has rain to remove.
RAINY_DOG_PROMPTS = ["a dog barks in the rain", "a dog barks while rain falls", "a dog barks during a rainstorm",
                     "rain falls and a dog barks", "a dog barks outside in heavy rain", "a wet dog barks as rain pours",
                     "a dog barks over the sound of rain", "rain patters while a dog barks",
                     "a dog barks in a rain shower", "a dog barks twice in the rain"]
NEGATIVE_SETS = {"plain": DOG_PROMPTS, "rainy": RAINY_DOG_PROMPTS}
SEAM_PROMPTS = ["a dog barks", "wind blows through the trees", "footsteps on a wooden floor", "a car engine idles",
                "birds chirp", "a crowd applauds", "water runs from a tap", "a bell rings"]
WIN = 0.1  # seconds either side of a join


# ---------------------------------------------------------------------------------------------- judges
def _aisfx():
    from vividsound.eval.aisfx import load_aisfx

    return load_aisfx()


def embed(model, wavs: list[np.ndarray] | torch.Tensor, sr: int) -> torch.Tensor:
    """Unit aiSFX embeddings (B, 512)."""
    ws = [torch.as_tensor(np.asarray(w, dtype=np.float32)) for w in wavs]
    return torch.nn.functional.normalize(model.embed_audio(ws, sr).embedding.float(), dim=-1)


def rain_prototypes(model, refs: Path) -> tuple[torch.Tensor, torch.Tensor, int, int]:
    from vividsound.audio import load_audio

    files = sorted(p for p in refs.rglob("*") if p.suffix.lower() in (".flac", ".wav", ".ogg"))
    rain = [p for p in files if "rain" in p.name.lower() and "train" not in p.name.lower()]
    dog = [p for p in files if "dog" in p.name.lower() or "bark" in p.name.lower()]
    if not rain or not dog:
        raise SystemExit(f"--refs {refs}: need files named *rain* and *dog*/*bark* (found {len(rain)} and {len(dog)})")
    sr = 22050
    er = embed(model, [load_audio(p, sr, max_seconds=10) for p in rain], sr)
    ed = embed(model, [load_audio(p, sr, max_seconds=10) for p in dog], sr)
    return (torch.nn.functional.normalize(er.mean(0), dim=0), torch.nn.functional.normalize(ed.mean(0), dim=0),
            len(rain), len(dog))


def frame_stats(wav: np.ndarray, sr: int, centre: int, mel) -> tuple[float, float]:
    """(level jump in dB, spectral jump in dB-ish log-mel units) between WIN s before and after ``centre``."""
    n = round(WIN * sr)
    a, b = wav[max(0, centre - n) : centre], wav[centre : centre + n]
    if len(a) < n // 2 or len(b) < n // 2:
        return float("nan"), float("nan")
    lvl = lambda x: 10 * math.log10(float(np.mean(x.astype(np.float64) ** 2)) + 1e-10)  # noqa: E731
    ma = mel(torch.from_numpy(np.ascontiguousarray(a)))[0].mean(-1)
    mb = mel(torch.from_numpy(np.ascontiguousarray(b)))[0].mean(-1)
    # log-mel is natural log of power-ish magnitude: x (20 / ln 10) gives dB
    flux = float((ma - mb).pow(2).mean().sqrt()) * 20 / math.log(10)
    return abs(lvl(a) - lvl(b)), flux


def interior_stats(wavs: list[np.ndarray], sr: int, mel) -> np.ndarray:
    out = []
    for w in wavs:
        for c in range(round(0.5 * sr), len(w) - round(0.5 * sr), round(WIN * sr)):
            out.append(frame_stats(w, sr, c, mel))
    return np.array(out)


# ---------------------------------------------------------------------------------------------- sections
CONTROL_NEGATIVE = "a church bell rings"  # a negative prompt unrelated to rain: is the effect specific to "rain"?


def paired_interval(a: np.ndarray, b: np.ndarray, seed: int = 0, reps: int = 2000) -> tuple[float, float, float]:
    """Mean of ``a - b`` (paired) and its 95 % bootstrap interval over the pairs."""
    d = np.asarray(a, np.float64) - np.asarray(b, np.float64)
    idx = np.random.default_rng(seed).integers(0, len(d), size=(reps, len(d)))
    boots = d[idx].mean(1)
    return float(d.mean()), float(np.quantile(boots, 0.025)), float(np.quantile(boots, 0.975))


def negative_section(tts, judge, args, lines: list[str]) -> None:
    if not args.refs:
        lines += ["## Negative prompts", "", "skipped: pass --refs DIR (real rain and dog recordings) for the judge", ""]
        return
    rain_p, dog_p, n_rain, n_dog = rain_prototypes(judge, Path(args.refs))
    sets = [x.strip() for x in args.negative_sets.split(",") if x.strip()]
    if not sets or set(sets) - set(NEGATIVE_SETS):
        raise SystemExit(f"--negative-sets {args.negative_sets!r}: choose from {', '.join(NEGATIVE_SETS)}")
    lines += ["## Negative prompts", "",
              f"Judge: a clip is rain-like when its aiSFX embedding is nearer (cosine) the mean of {n_rain} real rain "
              f"recordings than that of {n_dog} real dog recordings; margin = cos(rain) − cos(dog). {args.pairs} "
              f"(prompt, seed) pairs per prompt set, seeds 0..{args.pairs - 1}, {args.clip_seconds:g} s clips. "
              "Paired differences (same prompt and seed in both arms; 95 % bootstrap interval over the pairs): a "
              "negative prompt that steers away from rain specifically lowers the margin against plain guidance "
              "at the same scale and against an unrelated control negative prompt.", ""]
    for set_name in sets:
        _negative_set(tts, judge, args, lines, set_name, NEGATIVE_SETS[set_name], rain_p, dog_p)


def _negative_set(tts, judge, args, lines, set_name, prompts, rain_p, dog_p) -> None:
    pairs = [(prompts[s % len(prompts)], s) for s in range(args.pairs)]
    from vividsound.editing import NEGATIVE_CFG_SCALE

    guided = f"prompt, guidance {NEGATIVE_CFG_SCALE:g} against the null condition"
    arms = {"prompt (model default guidance)": {},
            guided: {"cfg_scale": NEGATIVE_CFG_SCALE},
            'prompt + negative "rain"': {"negative_prompt": "rain"},
            f'prompt + negative "{CONTROL_NEGATIVE}" (control)': {"negative_prompt": CONTROL_NEGATIVE}}
    rows, margins, rain_sim = [], {}, {}
    for name, kw in arms.items():
        wavs = []
        for p, s in pairs:
            wavs.append(tts(p, duration=args.clip_seconds, seed=s, **kw).waveform[0].numpy())
        e = embed(judge, wavs, tts.mel_config.sample_rate)
        cr, cd = (e @ rain_p).numpy(), (e @ dog_p).numpy()
        margin = cr - cd
        margins[name], rain_sim[name] = margin, cr
        rows.append([name, len(wavs), f"{float((margin > 0).mean()):.3f}", f"{float(margin.mean()):+.4f}",
                     f"{float(cr.mean()):.4f}", f"{float(cd.mean()):.4f}"])
        print(set_name, name, rows[-1], flush=True)
    neg, ctl = list(arms)[2], list(arms)[3]
    diffs = []
    for a, b in ((neg, list(arms)[0]), (neg, guided), (neg, ctl), (ctl, guided)):
        m, lo, hi = paired_interval(margins[a], margins[b])
        mr, lor, hir = paired_interval(rain_sim[a], rain_sim[b])
        diffs.append([f"{a} − {b}", f"{m:+.4f} [{lo:+.4f}, {hi:+.4f}]", f"{mr:+.4f} [{lor:+.4f}, {hir:+.4f}]"])
    lines += [f"### {set_name.capitalize()} prompts ({len(prompts)}: " + "; ".join(f'"{p}"' for p in prompts[:3]) + "; ...)", "",
              markdown_table(["clips", "n", "rain-like share", "mean margin (rain - dog)", "mean cos(rain)",
                              "mean cos(dog)"], rows), "",
              markdown_table(["arms", "margin: mean difference [95 % interval]",
                              "cos(rain) alone: mean difference [95 % interval]"], diffs), ""]


def boundary_stats(wav: np.ndarray, sr: int, spc: int, mel, avoid: list[int], margin: int = 2) -> list[tuple[float, float]]:
    """The seam statistics at every code-column boundary of ``wav`` at least ``margin`` columns from each
    column in ``avoid`` (the joins) and from the ends: the same clip's own changes, aligned like its joins."""
    cols = len(wav) // spc
    return [frame_stats(wav, sr, c * spc, mel) for c in range(margin, cols - margin + 1)
            if all(abs(c - j) >= margin for j in avoid)]


def seam_section(tts, args, lines: list[str]) -> dict[str, list[np.ndarray]]:
    from vividsound.audio import MelSpectrogram

    sr = tts.mel_config.sample_rate
    mel = MelSpectrogram(tts.mel_config)
    spc = tts.samples_per_column
    prompts = SEAM_PROMPTS[: args.seam_clips]
    plain = [tts(p, duration=args.clip_seconds * 2, seed=100 + i).waveform[0].numpy() for i, p in enumerate(prompts)]
    ref = interior_stats(plain, sr, mel)
    ref_level, ref_flux = np.nanmean(ref[:, 0]), np.nanmean(ref[:, 1])
    names = ["continuation (the join)", "continuation (middle of the hand-over crossfade)", "inpainting (both edges)",
             "long sound (window joins)"]
    joins: dict[str, list[tuple[float, float]]] = {k: [] for k in names}
    inside: dict[str, list[tuple[float, float]]] = {k: [] for k in names}
    for i, p in enumerate(prompts):
        src = plain[i][: round(args.clip_seconds * sr)]
        c = tts.continue_audio(src, p, duration=args.clip_seconds * 2, sample_rate=sr, seed=200 + i)
        P = c.settings["given_columns"]
        J, fade = P * spc, round(c.settings["crossfade_s"] * sr)
        w = c.waveform[0].numpy()
        joins[names[0]].append(frame_stats(w, sr, J, mel))
        joins[names[1]].append(frame_stats(w, sr, J - fade // 2, mel))
        own = boundary_stats(w, sr, spc, mel, [P, P - math.ceil(fade / spc)])
        inside[names[0]] += own
        inside[names[1]] += own
        a_s, b_s = 0.35 * args.clip_seconds * 2, 0.6 * args.clip_seconds * 2
        inp = tts.inpaint(plain[i], p, start=a_s, end=b_s, sample_rate=sr, seed=300 + i, tries=args.tries)
        a, b = (round(x * sr) for x in inp.settings["span_seconds"])
        for edge in (a, b):
            joins[names[2]].append(frame_stats(inp.waveform[0].numpy(), sr, edge, mel))
        inside[names[2]] += boundary_stats(inp.waveform[0].numpy(), sr, spc, mel, list(inp.settings["span_columns"]))
        print("seams", p, flush=True)
    from vividsound.editing import window_plan

    W = tts.gpt.config.max_columns
    plan = window_plan(W, tts.seconds_per_column, 0, tts.columns_for(args.long_seconds))
    join_cols = [int(x) for x in np.cumsum([n for _, n in plan])[:-1]]  # where each window after the first begins
    long_wavs = []
    for i, p in enumerate(SEAM_PROMPTS[: args.long_clips]):
        t0 = time.perf_counter()
        out = tts(p, duration=args.long_seconds, seed=400 + i)
        w = out.waveform[0].numpy()
        long_wavs.append((p, w))
        for col in join_cols:
            joins[names[3]].append(frame_stats(w, sr, col * spc, mel))
        inside[names[3]] += boundary_stats(w, sr, spc, mel, join_cols, margin=1)
        print(f"long {p}: {time.perf_counter() - t0:.1f} s", flush=True)
    rows = []
    for name in names:
        st_a, in_a = np.array(joins[name]), np.array(inside[name])
        if not len(st_a):
            continue
        lv, fl = np.nanmean(st_a[:, 0]), np.nanmean(st_a[:, 1])
        il, ifl = np.nanmean(in_a[:, 0]), np.nanmean(in_a[:, 1])
        # a few joins that go from sound to digital silence (or back) can carry a mean alone: how often is a
        # join among the largest changes of its clips?
        big = float(np.mean(st_a[:, 0] > np.nanpercentile(in_a[:, 0], 90)))
        rows.append([name, len(st_a), f"{lv:.2f}", f"{lv / il:.2f}", f"{lv / ref_level:.2f}", f"{fl:.2f}",
                     f"{fl / ifl:.2f}", f"{fl / ref_flux:.2f}", f"{big:.2f}",
                     f"{len(in_a)}: {il:.2f} / {ifl:.2f}"])
    lines += ["## Seams", "",
              f"Level and spectral jump between the {WIN:g} s before and after each join. Each is divided (a) by the "
              f"same statistic at every other code-column boundary of the same output clips (two or more columns "
              f"from a join; long sounds: every boundary that is not a join), i.e. against the clip's own changes, "
              f"and (b) by the statistic at every {WIN:g} s step inside {len(plain)} plain {args.clip_seconds * 2:g} s "
              f"clips of the same prompts (which are mostly silence, so their changes are small). Continuation: "
              f"{args.clip_seconds:g} s given -> {args.clip_seconds * 2:g} s (the given audio hands over to the "
              f"decoded audio in a crossfade that ends at the join: both are measured); inpainting: span 35-60 % of a "
              f"{args.clip_seconds * 2:g} s clip, {args.tries} tries; long: {args.long_clips} x {args.long_seconds:g} s, "
              f"windows of {plan[0][1]} columns, a join every {plan[1][1] if len(plan) > 1 else 0} columns after the first.",
              "Share > p90: the share of joins whose level jump exceeds the 90th percentile of the same clips' "
              "boundaries (0.10 for a join like any other boundary); a few joins from sound to digital silence "
              "(or back) can carry a mean alone.",
              "", markdown_table(["joins", "n", "level jump (dB)", "x same clips", "x plain clips", "spectral jump (dB)",
                                  "x same clips", "x plain clips", "share > p90",
                                  "same clips' boundaries: n, level / spectral"], rows),
              "", f"Inside plain clips: {len(ref)} steps, level jump {ref_level:.2f} dB, spectral jump {ref_flux:.2f} dB.", ""]
    return {"plain": plain, "long": long_wavs}


def vary_section(tts, judge, clips: list[np.ndarray], args, lines: list[str]) -> None:
    sr = tts.mel_config.sample_rate
    strengths = [0.0, 0.25, 0.5, 0.75, 1.0]
    srcs = [c[: round(args.clip_seconds * sr)] for c in clips[: args.vary_clips]]
    e_src = embed(judge, srcs, sr)
    rows, means = [], []
    for x in strengths:
        outs = [tts.vary(w, SEAM_PROMPTS[i], strength=x, sample_rate=sr, seed=500 + i).waveform[0].numpy()
                for i, w in enumerate(srcs)]
        sim = (embed(judge, outs, sr) * e_src).sum(-1)
        means.append(float(sim.mean()))
        rows.append([f"{x:g}", len(outs), f"{means[-1]:.4f}", f"{float(sim.min()):.4f}"])
        print("vary", rows[-1], flush=True)
    mono = all(a >= b for a, b in zip(means, means[1:]))
    lines += ["## Variations", "", f"aiSFX cosine similarity of each variation to its {args.clip_seconds:g} s source "
              f"(generated clips, prompt given). Monotonically falling with strength: **{'yes' if mono else 'no'}**.", "",
              markdown_table(["strength", "n", "mean similarity", "min"], rows), ""]


def long_section(tts, judge, long_wavs, plain, args, lines: list[str]) -> None:
    if not long_wavs:
        return
    sr = tts.mel_config.sample_rate
    ten = round(10 * sr)
    first = embed(judge, [w[:ten] for _, w in long_wavs], sr)
    last = embed(judge, [w[-ten:] for _, w in long_wavs], sr)
    hold = (first * last).sum(-1)
    e_plain = embed(judge, plain, sr)
    off = [float(e_plain[i] @ e_plain[j]) for i in range(len(plain)) for j in range(len(plain)) if i != j]
    rows = [[p, f"{float(h):.4f}"] for (p, _), h in zip(long_wavs, hold)]
    scale = (f"for scale, the first 10 s of sounds of different prompts have similarity {np.mean(off):.4f} on "
             f"average (min {np.min(off):.4f}); " if off else "")
    lines += ["## Long sounds: does the prompt hold?", "",
              f"aiSFX cosine similarity of the last 10 s of each {args.long_seconds:g} s sound to its first 10 s; "
              f"{scale}an unchanging sound scores 1.", "",
              markdown_table(["prompt", "first 10 s vs last 10 s"], rows), ""]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", help="pipeline folder (default: the bundled model)")
    ap.add_argument("--vocoder", help="override the vocoder (griffinlim is much faster on a CPU)")
    ap.add_argument("--refs", help="folder of real recordings named *rain* and *dog*/*bark* (the rain judge)")
    ap.add_argument("--pairs", type=int, default=50, help="(prompt, seed) pairs per negative-prompt set")
    ap.add_argument("--negative-sets", default="plain,rainy",
                    help="prompt sets for the negative prompt: plain (dog barks) and/or rainy (dog barks in the rain)")
    ap.add_argument("--clip-seconds", type=float, default=5.0, help="length of the short clips")
    ap.add_argument("--seam-clips", type=int, default=8, help="clips for the continuation/inpainting seams")
    ap.add_argument("--tries", type=int, default=4, help="inpainting tries")
    ap.add_argument("--vary-clips", type=int, default=8, help="source clips for the variations")
    ap.add_argument("--long-clips", type=int, default=4, help="long sounds")
    ap.add_argument("--long-seconds", type=float, default=60.0, help="length of the long sounds")
    ap.add_argument("--threads", type=int, default=1, help="torch threads")
    ap.add_argument("--sections", default="negative,seams,vary,long",
                    help="comma-separated sections to run (default: all): negative, seams, vary, long")
    ap.add_argument("--out", help="output markdown (default: benchmarks/results/editing-<model>-<date>.md)")
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    from vividsound.pipeline import TextToSound

    load0, t0 = loadavg(), time.perf_counter()
    tts = TextToSound.from_pretrained(args.model, vocoder=args.vocoder)
    judge = _aisfx()
    cmd = "PYTHONPATH=src python benchmarks/editing.py " + " ".join(argv if argv is not None else sys.argv[1:])
    lines = [f"# Editing and long sounds: {tts.name}", "",
             f"- date: {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}",
             f"- machine: {device_name(torch.device('cpu'))}, torch threads {args.threads}; load average at start {load0}",
             f"- command: `{cmd}`",
             f"- vocoder: {type(tts.vocoder).__name__}; sampler defaults {tts.defaults}", ""]
    sections = {x.strip() for x in args.sections.split(",") if x.strip()}
    if not sections or sections - {"negative", "seams", "vary", "long"}:
        raise SystemExit(f"--sections {args.sections!r}: choose from negative, seams, vary, long")
    if "negative" in sections:
        negative_section(tts, judge, args, lines)
    if sections & {"seams", "vary", "long"}:
        made = seam_section(tts, args, lines)
        if "vary" in sections:
            vary_section(tts, judge, made["plain"], args, lines)
        if "long" in sections:
            long_section(tts, judge, made["long"], made["plain"], args, lines)
    lines += [f"Total time {time.perf_counter() - t0:.0f} s; load average at the end {loadavg()}.", ""]
    text = "\n".join(lines)
    out = Path(args.out) if args.out else RESULTS_DIR / f"editing-{tts.name}-{today()}.md"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text)
    print(text)
    print(f"wrote {out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
