"""``listening-test create``: plan a test and generate every condition's clips (seeded, batched, resumable).

Conditions:

- ``system``: a pipeline folder, ``--per-prompt K`` clips per prompt; clip *k* of prompt *i* (0-based)
  uses seed ``seed + i * K + k``, the same seeds for every system.
- ``reference``: the corpus recording named by the prompt (``@ITEM_ID`` lines), one per prompt. It is
  rated like a system (the paper's "ground truth" row) and doubles as the hidden "real recording" check.
- ``retrieval``: the baseline of :mod:`vividsound.eval.retrieval` (the training clip whose caption is
  nearest to the prompt), one per prompt; the items the prompts name are left out of its index.
- ``noise``: white noise, one per prompt: the hidden attention check (never in the pairwise table).

Every clip is cut or silence-padded to the same duration, resampled to one rate, faded in and out over
20 ms and set to one RMS level (peaks kept under -0.1 dBFS), so that length, rate, clicks or loudness
cannot tell a rater which condition a clip comes from. Files carry no metadata.

Resuming: each clip is written atomically as soon as its batch is done, and ``test.json`` records the
plan; rerunning the same command generates only what is missing. A different plan in an existing
folder is an error.
"""

from __future__ import annotations

import dataclasses
import datetime as _dt
import hashlib
import secrets
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator, Sequence

import numpy as np

from vividsound import __version__
from vividsound.errors import InputError, VividsoundError
from vividsound.listening.spec import (CLIP_DIR, NAME_RE, RESERVED_NAMES, TEST_FILE, Checks, Clip, Condition,
                                       ListeningTest, Prompt, clip_token, load_test, save_test)

FADE_S = 0.02  # fade in/out: a cut recording must not end with a click that generated clips lack
PEAK = 10 ** (-0.1 / 20)  # -0.1 dBFS
MAX_PER_PROMPT = 20

__all__ = ["CreateOptions", "create_test", "read_prompts", "parse_system", "finish_clip"]


@dataclass(frozen=True)
class CreateOptions:
    """What ``listening-test create`` is asked to make (the command-line options, one to one)."""

    out: Path  # the test folder
    prompts_file: Path  # one prompt per line; ``@ITEM_ID [prompt]`` names a corpus item
    systems: tuple[tuple[str, str], ...] = ()  # (name, pipeline folder)
    per_prompt: int = 1  # clips per prompt for each system
    corpus: Path | None = None  # corpus folder or manifest (for @ITEM_ID, --reference, --retrieval)
    reference: bool = False  # rate each prompt's corpus recording (every prompt must name an item)
    retrieval: bool = False  # rate the retrieval baseline
    retrieval_encoder: str | None = None  # pipeline whose text encoder the baseline uses (default: 1st system)
    noise_check: bool = True  # add the hidden noise clip to every page
    duration: float | None = None  # seconds (default: the shortest default duration of the systems)
    seed: int = 0
    batch_size: int = 8
    device: str = "cpu"
    top_k: int | None = None  # sampler overrides for every system (None: each model's default)
    top_p: float | None = None
    temperature: float | None = None
    cfg_scale: float | None = None
    loudness_dbfs: float | None = -20.0  # RMS level of every clip; None leaves levels as generated
    checks: Checks = field(default_factory=Checks)
    name: str = ""  # shown on the page's title (default: the folder's name)


def parse_system(text: str) -> tuple[str, str]:
    """``NAME=MODEL_DIR`` -> (name, folder)."""
    name, sep, folder = text.partition("=")
    if not sep or not folder:
        raise InputError(f"--system {text!r}: expected NAME=MODEL_DIR")
    if not NAME_RE.match(name) or name in RESERVED_NAMES:
        raise InputError(f"--system {text!r}: NAME must be 1-40 letters, digits, '_', '.', '-' (starting with a "
                         f"letter or digit) and not one of {list(RESERVED_NAMES)}")
    return name, folder


def read_prompts(path: Path, items: dict[str, Any] | None) -> list[Prompt]:
    """Parse a prompts file: one prompt a line; ``@ITEM_ID`` (the item's first caption) or
    ``@ITEM_ID prompt text`` names a corpus item; blank lines and ``#`` comments are skipped."""
    if not path.is_file():
        raise InputError(f"--prompts {path}: file not found")
    prompts: list[Prompt] = []
    seen: dict[str, int] = {}
    for n, raw in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        item = None
        if line.startswith("@"):
            item, _, text = line[1:].partition(" ")
            text = " ".join(text.split())
            if items is None:
                raise InputError(f"--prompts {path}:{n}: names corpus item {item!r}; pass --corpus DIR")
            if item not in items:
                raise InputError(f"--prompts {path}:{n}: corpus item {item!r} is not in the --corpus manifest")
            text = text or " ".join(items[item].captions[0].split())
        else:
            text = " ".join(line.split())
        if len(text) > 1000:
            raise InputError(f"--prompts {path}:{n}: prompt is {len(text)} characters; allowed: at most 1000")
        key = f"{item}\0{text}"
        if key in seen:
            raise InputError(f"--prompts {path}:{n}: repeats line {seen[key]}")
        seen[key] = n
        prompts.append(Prompt(id=f"p{len(prompts) + 1:03d}", text=text, item=item))
    if not prompts:
        raise InputError(f"--prompts {path}: no prompts in the file")
    return prompts


def fingerprint(folder: Path) -> str:
    """sha256 over a model folder's files (names and bytes): which exact model made the clips."""
    h = hashlib.sha256()
    for p in sorted(q for q in folder.rglob("*") if q.is_file()):
        h.update(str(p.relative_to(folder)).encode() + b"\0")
        with p.open("rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                h.update(block)
    return h.hexdigest()


def finish_clip(wav: np.ndarray, sample_rate: int, target_rate: int, num_samples: int,
                loudness_dbfs: float | None) -> np.ndarray:
    """(N,) waveform -> (num_samples,) float32 at ``target_rate``: resampled, cut or padded, faded, levelled."""
    w = np.asarray(wav, dtype=np.float32).reshape(-1)
    w = np.nan_to_num(w)
    if sample_rate != target_rate:
        import soxr

        w = soxr.resample(w, sample_rate, target_rate, quality="HQ").astype(np.float32)
    w = np.pad(w, (0, max(0, num_samples - len(w))))[:num_samples].copy()
    fade = min(int(FADE_S * target_rate), num_samples // 4)
    if fade > 0:
        ramp = np.linspace(0.0, 1.0, fade, dtype=np.float32)
        w[:fade] *= ramp
        w[num_samples - fade:] *= ramp[::-1]
    if loudness_dbfs is not None:
        rms = float(np.sqrt(np.mean(w.astype(np.float64) ** 2)))
        if rms > 1e-5:  # silence stays silence
            w *= (10 ** (loudness_dbfs / 20)) / rms
    peak = float(np.abs(w).max()) if len(w) else 0.0
    if peak > PEAK:
        w *= PEAK / peak
    return w


# --------------------------------------------------------------------------------------------------
def _check_options(o: CreateOptions) -> None:
    def integer(name: str, v: Any, lo: int, hi: int) -> None:
        if isinstance(v, bool) or not isinstance(v, int) or not lo <= v <= hi:
            raise InputError(f"{name} is {v!r}; allowed: an integer {lo}..{hi}")

    integer("--per-prompt", o.per_prompt, 1, MAX_PER_PROMPT)
    integer("--batch-size", o.batch_size, 1, 1024)
    integer("--seed", o.seed, 0, 2**62)
    if o.duration is not None and not (isinstance(o.duration, (int, float)) and 0 < o.duration <= 60):
        raise InputError(f"--duration is {o.duration!r}; allowed: 0 < seconds <= 60")
    if o.loudness_dbfs is not None and not -60 <= o.loudness_dbfs <= -1:
        raise InputError(f"--loudness is {o.loudness_dbfs!r}; allowed: -60..-1 dBFS")
    names = [n for n, _ in o.systems]
    dup = sorted({n for n in names if names.count(n) > 1})
    if dup:
        raise InputError(f"--system: the name {dup[0]!r} is given twice; each system needs its own NAME")
    for n, folder in o.systems:
        if not Path(folder).is_dir():
            raise InputError(f"--system {n}={folder}: not a folder")
    if not (o.systems or o.reference or o.retrieval):
        raise InputError("nothing to rate: give at least one --system NAME=MODEL_DIR, --reference or --retrieval")
    if o.retrieval and not (o.retrieval_encoder or o.systems):
        raise InputError("--retrieval needs a text encoder: give --retrieval-encoder MODEL_DIR or a --system")
    if (o.reference or o.retrieval) and o.corpus is None:
        raise InputError(f"{'--reference' if o.reference else '--retrieval'} needs --corpus DIR")
    out = Path(o.out)
    if out.exists() and not out.is_dir():
        raise InputError(f"--out {out}: exists and is not a folder")
    if out.is_dir() and not (out / TEST_FILE).is_file() and any(out.iterdir()):
        raise InputError(f"--out {out}: the folder is not empty and holds no {TEST_FILE}; give a new folder")
    if not out.exists() and not out.parent.is_dir():
        raise InputError(f"--out {out}: the parent folder does not exist")


def _load_corpus(corpus: Path) -> tuple[Path, dict[str, Any]]:
    from vividsound.data.manifest import ManifestError, read_manifest

    p = Path(corpus)
    manifest = p if p.is_file() else p / "manifest.jsonl"
    if not manifest.is_file():
        raise InputError(f"--corpus {p}: no manifest.jsonl found")
    try:
        return manifest, {it.id: it for it in read_manifest(manifest)}
    except ManifestError as e:
        raise InputError(f"--corpus: {e}") from None


def _settings(o: CreateOptions) -> dict[str, Any]:
    return dict(top_k=o.top_k, top_p=o.top_p, temperature=o.temperature, cfg_scale=o.cfg_scale)


def _plan(o: CreateOptions, progress: Callable[[str], None]) -> ListeningTest:
    """Check everything (models included) and lay out every clip; nothing is written."""
    _check_options(o)
    manifest, items = _load_corpus(o.corpus) if o.corpus is not None else (None, None)
    prompts = read_prompts(Path(o.prompts_file), items)
    if o.reference:
        missing = [p.text for p in prompts if p.item is None]
        if missing:
            raise InputError(f"--reference: every prompt must name a corpus item (@ITEM_ID); {len(missing)} do not, "
                             f"e.g. {missing[0]!r}")
        for p in prompts:
            path = items[p.item].audio_path(manifest.parent)
            if not path.is_file():
                raise InputError(f"--reference: the audio of corpus item {p.item!r} is missing: {path}")
    from vividsound.pipeline import TextToSound

    conditions: list[Condition] = []
    rates: list[int] = []
    default_durations: list[float] = []
    loaded: list[tuple[str, str, Any]] = []
    for name, folder in o.systems:
        progress(f"checking system {name} ({folder})")
        try:
            tts = TextToSound.from_pretrained(folder, device=o.device)
        except VividsoundError as e:  # not a pipeline folder, another format version, a bad device, ...
            raise InputError(f"--system {name}: {e}") from None
        rates.append(tts.mel_config.sample_rate)
        default_durations.append(min(tts.defaults.duration, tts.max_duration))
        loaded.append((name, folder, tts))
    duration = float(o.duration) if o.duration is not None else (min(default_durations) if default_durations else 5.0)
    for name, folder, tts in loaded:
        try:
            s = tts.resolve_settings(duration=duration, num_samples=1, batch_size=o.batch_size, **_settings(o))
        except InputError as e:
            raise InputError(f"--system {name}: {e}") from None
        conditions.append(Condition(name=name, kind="system", source=str(Path(folder).resolve()),
                                    fingerprint=fingerprint(Path(folder)), settings={**s, "model": tts.name},
                                    clips_per_prompt=o.per_prompt))
    loaded, tts = [], None  # free them: the models are loaded again one at a time to generate
    if o.reference:
        conditions.append(Condition(name="reference", kind="reference", source=str(manifest.resolve())))
        short = [p.item for p in prompts if (items[p.item].duration or duration) < duration - 0.05]
        if short:  # silence after a short recording can tell a rater which clip is the real one
            progress(f"note: {len(short)} reference recording(s) are shorter than {duration:g} s and are padded "
                     f"with silence (e.g. {short[0]}); prompts of items at least that long keep the test blind")
    if o.retrieval:
        enc = o.retrieval_encoder or o.systems[0][1]
        if not Path(enc).is_dir():
            raise InputError(f"--retrieval-encoder {enc}: not a folder")
        if not any(it.split == "train" for it in items.values()):
            raise InputError(f"--retrieval: the manifest {manifest} has no train items")
        if not rates:
            rates.append(TextToSound.from_pretrained(enc).mel_config.sample_rate)
        conditions.append(Condition(name="retrieval", kind="retrieval", source=str(manifest.resolve()),
                                    fingerprint=fingerprint(Path(enc)),
                                    settings={"encoder": str(Path(enc).resolve()), "captions": "first"}))
    if o.noise_check:
        conditions.append(Condition(name="noise", kind="noise"))
    sample_rate = rates[0] if rates else 22050
    plan = {"conditions": [dataclasses.asdict(c) for c in conditions], "prompts": [dataclasses.asdict(p) for p in prompts],
            "per_prompt": o.per_prompt, "seed": o.seed, "duration": duration, "sample_rate": sample_rate,
            "loudness_dbfs": o.loudness_dbfs, "checks": dataclasses.asdict(o.checks)}
    test_id = secrets.token_hex(16)
    out = Path(o.out)
    if (out / TEST_FILE).is_file():
        old = load_test(out, complete=False)
        if old.plan != plan:
            diff = sorted(k for k in plan if old.plan.get(k) != plan[k])
            raise InputError(f"--out {out} holds another test (it differs in: {', '.join(diff)}); rerun the command "
                             "that made it, or give a new folder")
        test_id = old.id
    clips = []
    for i, p in enumerate(prompts):
        for c in conditions:
            for k in range(c.clips_per_prompt):
                seed = o.seed + i * o.per_prompt + k if c.kind == "system" else (0 if c.kind == "reference" else o.seed + i)
                clips.append(Clip(id=clip_token(test_id, p.id, c.name, k), prompt=p.id, condition=c.name, index=k,
                                  seed=seed, item=p.item if c.kind == "reference" else None))
    test = ListeningTest(id=test_id, name=o.name or out.resolve().name, created=_now(), duration=duration,
                         sample_rate=sample_rate, seed=o.seed, per_prompt=o.per_prompt, loudness_dbfs=o.loudness_dbfs,
                         checks=o.checks, conditions=conditions, prompts=prompts, clips=clips, plan=plan,
                         vividsound=__version__, root=out)
    if (out / TEST_FILE).is_file():  # keep what the earlier run recorded (creation time, hashes, retrieved items)
        known = {c.id: c for c in old.clips}
        test.created = old.created
        test.clips = [known.get(c.id, c) for c in clips]
    return test


def _now() -> str:
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")


def _chunks(xs: Sequence[Clip], n: int) -> Iterator[list[Clip]]:
    for i in range(0, len(xs), n):
        yield list(xs[i : i + n])


class _Writer:
    """Writes finished clips and keeps ``test.json`` in step, so an interrupted run resumes cleanly."""

    def __init__(self, test: ListeningTest, bar: Any) -> None:
        self.test, self.bar = test, bar
        self.index = {c.id: k for k, c in enumerate(test.clips)}
        self.written = 0

    def write(self, clip: Clip, wav: np.ndarray, sample_rate: int, item: str | None = None) -> None:
        from vividsound.audio import save_audio

        t = self.test
        n = int(round(t.duration * t.sample_rate))
        save_audio(t.root / clip.file, finish_clip(wav, sample_rate, t.sample_rate, n, t.loudness_dbfs), t.sample_rate)
        if item is not None:
            self.test.clips[self.index[clip.id]] = dataclasses.replace(clip, item=item)
        self.written += 1
        self.bar.update(1)

    def checkpoint(self) -> None:
        save_test(self.test)


def _generate_system(cond: Condition, folder: str, todo: list[Clip], text: dict[str, str], o: CreateOptions,
                     w: _Writer) -> None:
    from vividsound.pipeline import TextToSound

    tts = TextToSound.from_pretrained(folder, device=o.device)
    s = {k: v for k, v in cond.settings.items() if k != "model"}
    for chunk in _chunks(todo, o.batch_size):
        out = tts.generate_rows([text[c.prompt] for c in chunk], [c.seed for c in chunk], batch_size=o.batch_size, **s)
        wav = out.numpy()
        for j, c in enumerate(chunk):
            w.write(c, wav[j], out.sample_rate)
        w.checkpoint()


def _generate_retrieval(cond: Condition, todo: list[Clip], test: ListeningTest, o: CreateOptions,
                        w: _Writer) -> None:
    from vividsound.eval.retrieval import RetrievalGenerator
    from vividsound.pipeline import TextToSound

    manifest, items = _load_corpus(o.corpus)  # type: ignore[arg-type]
    named = {p.item for p in test.prompts if p.item}
    # The recordings the prompts name are left out: the baseline must not play the reference itself.
    train = [it for it in items.values() if it.split == "train" and it.id not in named]
    if not train:
        raise InputError(f"--retrieval: no train items left in {manifest} once the prompts' own items are excluded")
    enc = TextToSound.from_pretrained(cond.settings["encoder"])
    gen = RetrievalGenerator(train, manifest.parent, enc.text_encoder, enc.mel_config,
                             cache_file=test.root / "cache" / "retrieval-index.pt")
    text = {p.id: p.text for p in test.prompts}
    for chunk in _chunks(todo, o.batch_size):
        out = gen.generate_rows([text[c.prompt] for c in chunk], [c.seed for c in chunk], duration=test.duration)
        wav = out.waveform.numpy()
        for j, c in enumerate(chunk):
            w.write(c, wav[j], out.sample_rate, item=out.retrieved[j])
        w.checkpoint()


def create_test(o: CreateOptions, *, progress: bool = False, log: Callable[[str], None] = lambda s: None) -> ListeningTest:
    """Plan the test, then generate every clip that is not on disk yet; returns the complete test.

    Everything is checked (options, prompts, corpus items, every model and its sampler settings) before
    the first file is written.
    """
    from vividsound.audio import load_audio

    test = _plan(o, log)
    out = test.root
    (out / CLIP_DIR).mkdir(parents=True, exist_ok=True)
    recorded = {c.id: c.sha256 for c in test.clips if c.sha256}
    todo = [c for c in test.clips if not (out / c.file).is_file()]
    test.complete = False
    save_test(test)
    from tqdm.auto import tqdm

    bar = tqdm(total=len(todo), unit="clip", desc="clips", disable=not progress)
    w = _Writer(test, bar)
    text = {p.id: p.text for p in test.prompts}
    items_by_prompt = {p.id: p.item for p in test.prompts}
    folders = dict(o.systems)
    try:
        for cond in test.conditions:
            mine = [c for c in todo if c.condition == cond.name]
            if not mine:
                continue
            log(f"generating {len(mine)} clip(s) of {cond.name}")
            if cond.kind == "system":
                _generate_system(cond, folders[cond.name], mine, text, o, w)
            elif cond.kind == "retrieval":
                _generate_retrieval(cond, mine, test, o, w)
            elif cond.kind == "reference":
                manifest, items = _load_corpus(o.corpus)  # type: ignore[arg-type]
                for c in mine:
                    item = items[items_by_prompt[c.prompt]]
                    w.write(c, load_audio(item.audio_path(manifest.parent), test.sample_rate,
                                          max_seconds=test.duration + 1), test.sample_rate)
                w.checkpoint()
            elif cond.kind == "noise":
                n = int(round(test.duration * test.sample_rate))
                for c in mine:
                    w.write(c, np.random.default_rng(c.seed).standard_normal(n).astype(np.float32) * 0.1,
                            test.sample_rate)
                w.checkpoint()
    finally:
        bar.close()
    clips = []
    for c in test.clips:
        digest = hashlib.sha256((out / c.file).read_bytes()).hexdigest()
        if recorded.get(c.id) and recorded[c.id] != digest:
            # A missing clip of a finished test was made again: the same seed gives the same sound, but float
            # rounding (another device, thread count or batch) can change a last bit. Say so; keep the new one.
            warnings.warn(f"clip {c.file} was made again and differs from the recorded one in its bytes (float "
                          "rounding, or changed models/corpus); ratings given before refer to the old file",
                          stacklevel=2)
        clips.append(dataclasses.replace(c, sha256=digest))
    test.clips = clips
    test.complete = True
    save_test(test)
    log(f"{out}: {len(test.prompts)} prompts, {len(test.conditions)} conditions, {len(clips)} clips "
        f"({w.written} made now)")
    return test
