"""Fine-tuning on sounds the default model never heard: before vs after, by an independent judge (issue 24).

Three sound classes from Debian packages that are not in the default model's corpus (docs/DATA_CARD.md)
stand in for "a user's sounds". Each class is split (seeded) into a small training set and held-out clips.
Per class:

1. ``vividsound finetune`` (default settings) on the training clips with their captions;
2. the default model and the fine-tuned one generate, for every held-out clip, ``--seeds`` clips from that
   clip's caption, with the same seeds and settings;
3. the judge, aiSFX (a sound-effects embedding network trained elsewhere, :mod:`vividsound.eval.aisfx`),
   embeds real held-out clips and generated ones. ``cos`` = mean cosine of a generated clip's embedding
   to the centroid of the class's real held-out clips; ``acc`` = fraction of generated clips whose nearest
   held-out centroid (of the three classes) is their own class. The training clips' own ``cos`` is the
   reference a perfect imitation would reach.

What the default model keeps (measured on each fine-tuned model, against the default):

* ``probe NLL``: mean teacher-forced negative log-likelihood per code token of the probe set's reference
  clips given their prompts (``vividsound probes build``, first ``--probe-refs`` of each probe type): how
  well the model still predicts real sounds of prompts it knows (lower is better);
* ``own prompts``: for prompts of the kinds the default was trained on, generated with the same seed by the
  default and the fine-tuned model, the aiSFX cosine between the two (1 = the same sound), beside the
  cosine between two seeds of the default itself (how different two draws of one prompt are anyway).

Inputs: the packages' files, unpacked with ``apt-get download PKG`` and ``dpkg-deb -x PKG.deb DIR``
(``--sources DIR`` holds ``flightgear-data-base/`` and ``megaglest-data/``). Every stage caches its output
in ``--work``, so the script can be stopped and run again.

Run ``OMP_NUM_THREADS=1 PYTHONPATH=src python benchmarks/finetune_unseen.py --sources SRC --work WORK``.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import re
import shutil
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np
import soundfile as sf
import torch
import torch.nn.functional as F

from benchmarks.common import RESULTS_DIR, header, loadavg, markdown_table, today


@dataclass(frozen=True)
class SoundClass:
    name: str
    package: str  # Debian package (its licence is in the table)
    licence: str
    pattern: str  # regex on the path inside the package
    caption: Callable[[str], str]  # file stem -> caption


def _aircraft(stem: str) -> str:
    if re.search(r"start|crank|starter", stem):
        return "an aircraft engine starts up"
    if re.search(r"shutdown|cut|stop", stem):
        return "an aircraft engine shuts down"
    if re.search(r"jet|turbine|turbojet", stem):
        return "a jet engine whines"
    return "a propeller aircraft engine runs"


def _dragon(stem: str) -> str:
    if "die" in stem:
        return "a dragon dies with a roar"
    if "hit" in stem:
        return "a dragon is hit and screeches"
    if "fly" in stem:
        return "a dragon flaps its wings"
    return "a dragon roars"


def _machine(stem: str) -> str:
    if "walk" in stem:
        return "a steam war machine clanks forward"
    if "die" in stem:
        return "a steam war machine breaks apart"
    return "a steam war machine fires"


CLASSES = (
    SoundClass("aircraft engine", "flightgear-data-base", "GPL-2+",
               r"Sounds/(engine|R-1535|exhaust|jet|p51d|prop\.|starter|turbine|turbojet|turboprop|rumble)", _aircraft),
    SoundClass("dragon", "megaglest-data", "CC-BY-SA-3.0", r"units/(evil_)?dragon/sounds/", _dragon),
    SoundClass("war machine", "megaglest-data", "CC-BY-SA-3.0", r"units/battle_machine/sounds/", _machine),
)
OWN_PROMPTS = ("a dog barks", "rain falls on a roof", "a church bell rings", "a man speaks",
               "footsteps on gravel", "a piano plays a melody", "thunder rumbles", "water flows in a stream")


def class_files(src: Path, sc: SoundClass) -> list[Path]:
    """The class's audio files, one per distinct content (packages ship some files twice)."""
    seen, out = set(), []
    for p in sorted((src / sc.package).rglob("*")):
        if p.suffix.lower() in (".wav", ".ogg") and re.search(sc.pattern, p.as_posix()):
            h = hashlib.sha256(p.read_bytes()).hexdigest()
            if h not in seen:
                seen.add(h)
                out.append(p)
    return out


def split(files: list[Path], held_frac: float, seed: int) -> tuple[list[Path], list[Path]]:
    order = np.random.default_rng(seed).permutation(len(files))
    n_held = max(4, round(held_frac * len(files)))
    held = sorted(files[i] for i in order[:n_held])
    return sorted(files[i] for i in order[n_held:]), held


def write_set(folder: Path, files: list[Path], sc: SoundClass, max_seconds: float) -> None:
    """Clips (first ``max_seconds``, 22,050 Hz mono) and a metadata.csv with their captions."""
    from vividsound.audio import load_audio

    folder.mkdir(parents=True, exist_ok=True)
    rows = ["file_name,caption"]
    for p in files:
        wav = load_audio(p, 22050, max_seconds=max_seconds)
        sf.write(folder / f"{p.stem}.wav", wav, 22050)
        rows.append(f"{p.stem}.wav,{sc.caption(p.stem.lower())}")
    (folder / "metadata.csv").write_text("\n".join(rows) + "\n")


def read_set(folder: Path) -> list[tuple[Path, str]]:
    lines = (folder / "metadata.csv").read_text().splitlines()[1:]
    return [(folder / line.split(",", 1)[0], line.split(",", 1)[1]) for line in lines]


def generate(model: str | Path | None, prompts: list[str], durations: list[float], seeds: list[int],
             folder: Path) -> list[Path]:
    """``prompts[i]`` with each seed, ``durations[i]`` long, cached as wav files in ``folder``."""
    from vividsound.pipeline import TextToSound

    folder.mkdir(parents=True, exist_ok=True)
    want = [(i, s) for i in range(len(prompts)) for s in seeds]
    paths = [folder / f"{i:03d}-s{s}.wav" for i, s in want]
    if all(p.is_file() for p in paths):
        return paths
    tts = TextToSound.from_pretrained(model)
    for (i, s), p in zip(want, paths):
        if not p.is_file():
            out = tts([prompts[i]], duration=durations[i], seed=s)
            sf.write(p, out.numpy()[0], out.sample_rate)
    return paths


def embed(judge, paths: list[Path]) -> torch.Tensor:
    from vividsound.audio import load_audio

    return torch.cat([judge.embed_audio([torch.from_numpy(load_audio(p))], 22050).embedding for p in paths])


def probe_nll(model: str | Path | None, probes_dir: Path, per_type: int) -> float:
    """Mean NLL per code token of probe reference clips given their prompts (teacher-forced)."""
    from vividsound.audio import MelSpectrogram, load_audio
    from vividsound.pipeline import TextToSound

    tts = TextToSound.from_pretrained(model)
    rows = [json.loads(line) for line in (probes_dir / "probes.jsonl").read_text().splitlines() if line.strip()]
    by_type: dict[str, list] = {}
    for r in rows:
        by_type.setdefault(r["type"], []).append(r)
    chosen = [r for rs in by_type.values() for r in rs[:per_type]]
    front, vq, gpt = MelSpectrogram(tts.mel_config), tts.vqgan, tts.gpt
    t, total, n = vq.frames_per_column, 0.0, 0
    with torch.no_grad():
        for r in chosen:
            wav = load_audio(probes_dir / r["reference"], tts.mel_config.sample_rate, max_seconds=tts.max_duration)
            m = front(torch.from_numpy(wav))[:, :, : gpt.config.max_columns * t]
            cols = math.ceil(m.shape[-1] / t)
            m = F.pad(m, (0, cols * t - m.shape[-1]), value=tts.mel_config.silence_db)
            toks = vq.codes_to_sequence(vq.encode_in_silence(m, tts.edge_context))
            tf = tts.text_encoder([r["prompt"]])
            logits = gpt(toks, tf.features, tf.mask)
            total += float(F.cross_entropy(logits[0], toks[0], reduction="sum"))
            n += toks.shape[1]
    return total / n


def corpus_roundtrip(corpus: Path, n: int, max_seconds: float, seed: int) -> float:
    """Codebook round trip (mean |dB| error, as ``vividsound finetune`` reports it) of ``n`` seeded test-split
    single clips of the corpus, cut to ``max_seconds``: what the codebook does on sounds like its own."""
    import tempfile

    from vividsound.audio import load_audio
    from vividsound.data.manifest import read_manifest
    from vividsound.finetune.data import Clip, file_sha256
    from vividsound.finetune.trainer import _Codes
    from vividsound.pipeline import TextToSound

    items = [it for it in read_manifest(corpus / "manifest.jsonl", split="test") if it.meta.get("kind") == "single"]
    items = [items[i] for i in sorted(np.random.default_rng(seed).permutation(len(items))[:n])]
    tts = TextToSound.from_pretrained(vocoder="griffinlim")
    errs = []
    with tempfile.TemporaryDirectory() as tmp:
        for it in items:
            path = it.audio_path(corpus)
            wav = load_audio(path, 22050, max_seconds=max_seconds)
            cols = math.ceil(math.ceil(len(wav) / 256) / tts.vqgan.frames_per_column) + 1
            clip = Clip(it.id, path, it.captions, sha256=file_sha256(path))
            errs.append(_Codes(tts, cols, Path(tmp)).get(clip, wav)[1])
    return float(np.mean(errs))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--sources", required=True, help="folder with the unpacked packages (one sub-folder each)")
    ap.add_argument("--work", required=True, help="cache folder for clips, models and generations")
    ap.add_argument("--probes", required=True, help="a probe folder (vividsound probes build --out DIR)")
    ap.add_argument("--held-frac", type=float, default=0.35, help="fraction of each class held out (>= 4 clips)")
    ap.add_argument("--max-seconds", type=float, default=5.0, help="clips are cut to this length")
    ap.add_argument("--seeds", type=int, default=1, help="generations per held-out caption")
    ap.add_argument("--gen-seconds", type=float, default=3.0, help="longest generated clip")
    ap.add_argument("--own-prompts", type=int, default=4, help="how many of OWN_PROMPTS to generate")
    ap.add_argument("--probe-refs", type=int, default=10, help="probe references per probe type for the NLL")
    ap.add_argument("--corpus", default=None, help="the default's corpus: its codebook round trip as reference")
    ap.add_argument("--corpus-clips", type=int, default=40, help="test-split single clips for that reference")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--out", default=None)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    load0, t_start = loadavg(), time.time()
    from vividsound.eval.aisfx import ATTRIBUTION, load_aisfx
    from vividsound.finetune import finetune

    work, src = Path(args.work), Path(args.sources)
    seeds = list(range(args.seeds))
    judge = load_aisfx()
    info, cents = {}, {}
    for sc in CLASSES:  # data and fine-tuning
        key = sc.name.replace(" ", "_")
        cdir = work / key
        if not (cdir / "held" / "metadata.csv").is_file():
            train, held = split(class_files(src, sc), args.held_frac, args.seed)
            shutil.rmtree(cdir, ignore_errors=True)
            write_set(cdir / "train", train, sc, args.max_seconds)
            write_set(cdir / "held", held, sc, args.max_seconds)
        model = cdir / "model"
        if not (model / "pipeline.json").is_file():
            res = finetune(cdir / "train", model, options={}, overwrite=model.exists(), progress=False)
            (cdir / "finetune.json").write_text(json.dumps({**res.timings, "steps_total": res.steps,
                                                            "roundtrip_db": res.roundtrip_db, "loss": res.loss}))
        held = read_set(cdir / "held")
        train = read_set(cdir / "train")
        info[sc.name] = {"key": key, "held": held, "train": train, "ft": json.loads((cdir / "finetune.json").read_text())}
        cents[sc.name] = F.normalize(embed(judge, [p for p, _ in held]).mean(0), dim=0)
    names = list(cents)
    C = torch.stack([cents[n] for n in names])  # (classes, 512)
    rows = []
    for sc in CLASSES:
        d = info[sc.name]
        prompts = [cap for _, cap in d["held"]]
        durs = [min(args.gen_seconds, max(1.0, sf.info(str(p)).duration)) for p, _ in d["held"]]
        tr = F.normalize(embed(judge, [p for p, _ in d["train"]]), dim=1)
        row = [sc.name, sc.package, sc.licence, f"{len(d['train'])} / {len(d['held'])}",
               f"{d['ft']['steps_total']} ({d['ft']['train_cpu'] + d['ft']['prepare_cpu']:.0f} s)",
               f"{d['ft']['roundtrip_db']:.1f}", f"{float((tr @ cents[sc.name]).mean()):.3f}"]
        for label, model in (("default", None), ("finetuned", work / d["key"] / "model")):
            paths = generate(model, prompts, durs, seeds, work / d["key"] / f"gen-{label}")
            e = F.normalize(embed(judge, paths), dim=1)
            cos = float((e @ cents[sc.name]).mean())
            acc = float(((e @ C.T).argmax(1) == names.index(sc.name)).float().mean())
            row += [f"{cos:.3f}", f"{acc:.2f}"]
            d[label] = {"cos": cos, "acc": acc}
        rows.append(row)
    # what the default keeps
    own_rows = []
    own = list(OWN_PROMPTS[: args.own_prompts])
    durs = [args.gen_seconds] * len(own)
    base_paths = generate(None, own, durs, [0, 1], work / "own-default")
    e0 = F.normalize(embed(judge, base_paths), dim=1).view(len(own), 2, -1)
    seed_cos = float((e0[:, 0] * e0[:, 1]).sum(-1).mean())
    nll_default = probe_nll(None, Path(args.probes), args.probe_refs)
    own_rows.append(["default", f"{nll_default:.3f}", "1", f"{seed_cos:.3f}"])
    for sc in CLASSES:
        d = info[sc.name]
        model = work / d["key"] / "model"
        paths = generate(model, own, durs, [0], work / d["key"] / "own")
        e1 = F.normalize(embed(judge, paths), dim=1)
        own_rows.append([f"fine-tuned on {sc.name}", f"{probe_nll(model, Path(args.probes), args.probe_refs):.3f}",
                         f"{float((e1 * e0[:, 0]).sum(-1).mean()):.3f}", "–"])
    ref_line = ""
    if args.corpus:
        ref = corpus_roundtrip(Path(args.corpus), args.corpus_clips, args.max_seconds, args.seed)
        ref_line = (f"Codebook round trip of {args.corpus_clips} test-split single clips of the default's own corpus "
                    f"(seeded, cut to {args.max_seconds:g} s), measured the same way: **{ref:.1f} dB**.")
    lines = ["# Fine-tuning on unseen sound classes: before vs after (aiSFX judge)", "",
             *header(torch.device("cpu"), args.threads, load0),
             f"- wall time of the whole script: {(time.time() - t_start) / 60:.1f} min; load average at the end: "
             f"{loadavg()}", "",
             f"Held-out fraction {args.held_frac}, clips cut to {args.max_seconds:g} s, {args.seeds} seeds per held-out "
             f"caption, generated clips at most {args.gen_seconds:g} s long, default sampling settings, `vividsound finetune` default settings. `cos`: mean cosine of "
             "generated clips to the centroid of the class's real held-out clips (aiSFX embeddings); `acc`: "
             "fraction nearest to their own class's centroid among the three; `train cos`: the real training "
             "clips' cosine to the same centroid (what a perfect imitation would reach). Fine-tune time is "
             f"process CPU seconds with {args.threads} torch thread(s).", "",
             markdown_table(["class", "package", "licence", "train / held-out clips", "steps (CPU time)",
                             "codebook round trip dB", "train cos", "default cos", "default acc",
                             "fine-tuned cos", "fine-tuned acc"], rows), "", ref_line, "",
             f"What the default keeps: `probe NLL` = mean NLL per code token of {args.probe_refs} probe references "
             f"per probe type given their prompts (lower is better); `own prompts` = aiSFX cosine of each of "
             f"{len(own)} everyday prompts ({', '.join(own)}; {args.gen_seconds:g} s, seed 0) to the default's own "
             "output for the same prompt and seed; `seed vs seed` = the same between seeds 0 and 1 of the default.",
             "", markdown_table(["model", "probe NLL", "own prompts cos to default", "seed vs seed"], own_rows), "",
             f"Judge: {ATTRIBUTION}"]
    text = "\n".join(lines) + "\n"
    print(text)
    out = Path(args.out) if args.out else RESULTS_DIR / f"finetune-unseen-cpu-{today()}.md"
    out.write_text(text)
    (out.with_suffix(".json")).write_text(json.dumps(
        {k: {kk: v[kk] for kk in ("ft", "default", "finetuned")} for k, v in info.items()}, indent=2))
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
