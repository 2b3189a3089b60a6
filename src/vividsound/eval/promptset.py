"""The everyday prompt set and its judges: does a clip sound like what a person typed, and does it last?

The prompt set (``eval/data/everyday_prompts.yaml``) is written by hand in plain English, several phrasings
per sound, none of them a corpus caption template; sounds outside the training corpus are marked
``beyond``. Each prompt names the corpus labels whose real recordings count as "that sound".

Two judges, neither trained on nor selected with our models:

* **Class retrieval by aiSFX** (:func:`class_retrieval`). Real, recorded (never rendered or synthetic)
  single clips of the chosen split are embedded with the pretrained aiSFX network; each label with at
  least ``min_clips`` clips gets a centroid (mean of unit embeddings). A generated clip's embedding is
  ranked against every centroid; it is a hit at k when one of its prompt's labels is among the k nearest.
  Chance is exact per prompt (any of m accepted labels among k of C). The embedding of a clip averages
  only its active aiSFX blocks (:func:`active_embedding`), so how long a clip is silent is judged
  separately, by the level judge.
* **Level over time** (:func:`level_stats`): the share of 50 ms frames below -50 dBFS ("silent share"),
  whether a clip ends in a hard cut to silence, and whether it ends quiet. Prompts of shape
  ``continuing`` ask for a sound that fills the clip; prompts of shape ``once`` ask it to stop.
"""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np
import torch

from vividsound.audio import load_audio
from vividsound.data.manifest import ManifestItem
from vividsound.errors import InputError

__all__ = ["PromptItem", "DEFAULT_PROMPT_SET", "SHAPES", "load_prompt_set", "active_embedding", "ClassBank",
           "build_class_bank", "BANK_SPLITS", "part_of", "class_retrieval", "chance_at_k", "LevelStats", "level_stats", "is_reference_clip"]

DEFAULT_PROMPT_SET = Path(__file__).resolve().parent / "data" / "everyday_prompts.yaml"
SHAPES = ("event", "continuing", "once")
FRAME_S = 0.05  # level frames of 50 ms
SILENT_DBFS = -50.0  # a frame below this is silent
ACTIVE_DBFS = -35.0  # a frame above this is clearly sounding
CUT_S = 0.1  # a drop from sounding to silent within this time is a hard cut
END_S = 0.5  # a clip "ends silent" when its last 0.5 s is all silent frames
STOP_TAIL_S = 2.0  # a "once" clip has stopped when its last 2 s are mostly silent
ACTIVE_BLOCK_DB = -40.0  # an aiSFX block is active when its frame energy is within 40 dB of the clip's loudest


@dataclass(frozen=True)
class PromptItem:
    """One prompt of the set."""

    id: str  # "<sound>-<k>"
    prompt: str
    sound: str  # the sound's key (several prompts share one)
    labels: tuple[str, ...]  # corpus labels whose real clips are this sound
    shape: str  # "event", "continuing" or "once"
    beyond: bool  # no label of the training corpus's label table matches
    part: str  # "dev" (model selection) or "test" (scored once): a fixed half of the sounds, by sound


def part_of(sound: str) -> str:
    """The half of the prompt set a sound belongs to: ``dev`` for choosing between models, ``test`` for
    scoring the chosen one once (a fixed hash of the sound's key, so all phrasings of a sound go together)."""
    return "dev" if hashlib.sha1(sound.encode("utf-8")).digest()[0] % 2 == 0 else "test"


def load_prompt_set(path: str | Path | None = None) -> list[PromptItem]:
    """Read a prompt set (default: the bundled everyday set); every field is checked.

    Raises:
        InputError: a missing file, bad YAML or an entry with a missing or wrong field (one line).
    """
    import yaml

    p = Path(path) if path is not None else DEFAULT_PROMPT_SET
    if not p.is_file():
        raise InputError(f"prompt set {p}: no such file")
    try:
        entries = yaml.safe_load(p.read_text(encoding="utf-8"))
    except (yaml.YAMLError, UnicodeDecodeError) as e:
        raise InputError(f"prompt set {p}: not readable YAML ({str(e).splitlines()[0]})") from None
    if not isinstance(entries, list) or not entries:
        raise InputError(f"prompt set {p}: expected a non-empty list of sounds")
    items: list[PromptItem] = []
    seen_sounds: set[str] = set()
    seen_prompts: set[str] = set()
    for n, e in enumerate(entries):
        where = f"prompt set {p}, entry {n}"
        if not isinstance(e, dict):
            raise InputError(f"{where}: expected a mapping, got {type(e).__name__}")
        unknown = set(e) - {"sound", "labels", "shape", "prompts", "beyond"}
        if unknown:
            raise InputError(f"{where}: unknown field(s) {sorted(unknown)}")
        sound, labels, shape, prompts = e.get("sound"), e.get("labels"), e.get("shape"), e.get("prompts")
        if not isinstance(sound, str) or not sound.strip() or sound in seen_sounds:
            raise InputError(f"{where}: sound must be a unique non-empty string, got {sound!r}")
        if not isinstance(labels, list) or not labels or not all(isinstance(x, str) and x for x in labels):
            raise InputError(f"{where} ({sound}): labels must be a non-empty list of strings")
        if shape not in SHAPES:
            raise InputError(f"{where} ({sound}): shape is {shape!r}; allowed: {', '.join(SHAPES)}")
        if not isinstance(prompts, list) or not prompts or not all(isinstance(x, str) and x.strip() for x in prompts):
            raise InputError(f"{where} ({sound}): prompts must be a non-empty list of non-empty strings")
        beyond = e.get("beyond", False)
        if not isinstance(beyond, bool):
            raise InputError(f"{where} ({sound}): beyond must be true or false, got {beyond!r}")
        seen_sounds.add(sound)
        for k, text in enumerate(prompts):
            if text in seen_prompts:
                raise InputError(f"{where} ({sound}): prompt {text!r} appears twice in the set")
            seen_prompts.add(text)
            items.append(PromptItem(f"{sound}-{k}", text, sound, tuple(labels), shape, beyond, part_of(sound)))
    return items


# --------------------------------------------------------------------------------------------------
# aiSFX embeddings and the class bank
# --------------------------------------------------------------------------------------------------

def active_embedding(model: Any, wav: torch.Tensor | np.ndarray, sample_rate: int) -> np.ndarray:
    """Unit-norm aiSFX embedding (512,) of a clip, averaged over its active blocks only.

    A block (~2.3 s) is active when its loudest frame is within 40 dB of the clip's loudest frame; a clip
    with no sound at all keeps every block (so an all-silent clip still gets an embedding).
    """
    from vividsound.eval.aisfx import LOG_MAX, _blocks, aisfx_mel

    w = torch.as_tensor(wav).float().reshape(-1)
    if w.numel() == 0 or float(w.abs().max()) == 0.0:
        w = torch.zeros(max(1, w.numel()))
        w[0] = 1e-6  # aisfx refuses all-zero input; one tiny sample keeps the silent clip embeddable
    blocks = _blocks(aisfx_mel(w, sample_rate))  # (n, 100, 96)
    # frame energy in dB: invert the normalised log10(1e4 * mel + 1) front end
    power = (10.0 ** (blocks * LOG_MAX) - 1.0).clamp_min(1e-12).sum(dim=2)  # (n, 100)
    db = 10.0 * torch.log10(power)
    loudest = db.amax(dim=1)  # (n,)
    keep = loudest >= loudest.max() + ACTIVE_BLOCK_DB
    emb, _ = model.forward_blocks(blocks[keep] if bool(keep.any()) else blocks)
    e = emb.mean(dim=0).double().numpy()
    return e / max(float(np.linalg.norm(e)), 1e-12)


def is_reference_clip(item: ManifestItem) -> bool:
    """A real recording of one labelled sound: a single clip, not rendered, not synthetic, not speech."""
    meta = item.meta or {}
    if meta.get("kind") != "single" or meta.get("synthetic") or item.source in ("rendered", "synth"):
        return False
    events = meta.get("events") or []
    return len(events) == 1 and bool(events[0].get("label"))


def _label(item: ManifestItem) -> str:
    return str(item.meta["events"][0]["label"])


@dataclass
class ClassBank:
    """Reference embeddings of real clips per label and their centroids."""

    labels: list[str]  # labels with at least min_clips references, sorted
    centroids: np.ndarray  # (C, 512) unit vectors
    embeddings: np.ndarray  # (N, 512) unit embeddings of the reference clips
    clip_ids: list[str]  # (N,) manifest ids
    clip_labels: list[str]  # (N,) label of each reference clip
    split: str

    def index(self, label: str) -> int | None:
        try:
            return self.labels.index(label)
        except ValueError:
            return None

    def centroid_without(self, clip: int) -> np.ndarray:
        """The centroids with reference ``clip`` left out of its own label's centroid (C, 512)."""
        lab = self.clip_labels[clip]
        c = self.centroids.copy()
        members = [j for j, x in enumerate(self.clip_labels) if x == lab and j != clip]
        m = self.embeddings[members].mean(axis=0)
        c[self.labels.index(lab)] = m / max(float(np.linalg.norm(m)), 1e-12)
        return c


BANK_SPLITS = {"heldout": ("val", "test"), "val": ("val",), "test": ("test",)}


def build_class_bank(items: Sequence[ManifestItem], corpus_root: str | Path, model: Any, *, split: str = "heldout",
                     min_clips: int = 2, max_clips: int = 20, cache_file: str | Path | None = None,
                     progress: Callable[[Any], Any] = lambda x: x) -> ClassBank:
    """Embed the real single clips of ``split`` and make a centroid per label with ``min_clips`` or more.

    ``split`` is ``heldout`` (val and test: every clip no training stage saw), ``val`` or ``test``. A label
    with more than ``max_clips`` clips keeps a fixed seeded draw of them (speech would otherwise be most of
    the work for one centroid). Embeddings are cached in ``cache_file`` (keyed by the clip ids); a damaged
    cache is recomputed.
    """
    if split not in BANK_SPLITS:
        raise InputError(f"class bank split is {split!r}; allowed: {', '.join(BANK_SPLITS)}")
    if not 1 <= min_clips <= max_clips:
        raise InputError(f"class bank: need 1 <= min_clips ({min_clips}) <= max_clips ({max_clips})")
    pool: dict[str, list[ManifestItem]] = {}
    for it in items:
        if it.split in BANK_SPLITS[split] and is_reference_clip(it):
            pool.setdefault(_label(it), []).append(it)
    refs = []
    for lab in sorted(pool):
        clips = sorted(pool[lab], key=lambda it: it.id)
        if len(clips) > max_clips:
            pick = np.random.default_rng(int(hashlib.sha1(lab.encode()).hexdigest()[:8], 16)).choice(
                len(clips), max_clips, replace=False)
            clips = [clips[j] for j in sorted(pick)]
        refs += clips
    if not refs:
        raise InputError(f"the corpus has no real single clips in split {split!r} to judge against")
    key = hashlib.sha1("\n".join(it.id for it in refs).encode()).hexdigest()
    emb: np.ndarray | None = None
    cache = Path(cache_file) if cache_file else None
    if cache is not None and cache.is_file():
        try:
            with np.load(cache, allow_pickle=False) as z:
                if str(z["key"]) == key:
                    emb = z["embeddings"]
        except (OSError, ValueError, KeyError):
            emb = None
    if emb is None:
        rows = []
        for it in progress(refs):
            wav = load_audio(it.audio_path(corpus_root), 22050)
            rows.append(active_embedding(model, wav, 22050))
        emb = np.stack(rows)
        if cache is not None:
            cache.parent.mkdir(parents=True, exist_ok=True)
            tmp = cache.with_name(cache.stem + ".tmp.npz")
            np.savez(tmp, embeddings=emb, key=np.str_(key))
            tmp.replace(cache)
    labels_all = [_label(it) for it in refs]
    counts: dict[str, int] = {}
    for lab in labels_all:
        counts[lab] = counts.get(lab, 0) + 1
    labels = sorted(lab for lab, n in counts.items() if n >= min_clips)
    if len(labels) < 2:
        raise InputError(f"split {split!r} has {len(labels)} label(s) with >= {min_clips} real clips; "
                         "class retrieval needs at least 2")
    keep = [j for j, lab in enumerate(labels_all) if lab in set(labels)]
    e = emb[keep]
    cl = [labels_all[j] for j in keep]
    cents = []
    for lab in labels:
        m = e[[j for j, x in enumerate(cl) if x == lab]].mean(axis=0)
        cents.append(m / max(float(np.linalg.norm(m)), 1e-12))
    return ClassBank(labels, np.stack(cents), e, [refs[j].id for j in keep], cl, split)


def chance_at_k(num_classes: int, num_accepted: int, k: int) -> float:
    """Probability that a random ranking of ``num_classes`` puts one of ``num_accepted`` in its top ``k``."""
    if num_accepted <= 0:
        return 0.0
    if k >= num_classes:
        return 1.0
    # 1 - C(C - m, k) / C(C, k)
    return 1.0 - math.comb(num_classes - num_accepted, k) / math.comb(num_classes, k)


def class_retrieval(bank: ClassBank, embeddings: np.ndarray, accepted: Sequence[Sequence[str]],
                    ks: Sequence[int] = (1, 5), centroids: Sequence[np.ndarray | None] | None = None
                    ) -> list[dict[str, Any]]:
    """Rank every label's centroid for each embedding.

    Args:
        embeddings: (N, 512) unit embeddings.
        accepted: the labels that count as a hit for each row (labels without a centroid are ignored).
        centroids: per row, centroids to use instead of the bank's (leave-one-out for reference clips).

    Returns:
        Per row: ``rank`` (1 = nearest) of the best accepted label, ``hit@k`` and ``chance@k``, the nearest
        label; rows with no accepted label in the bank get ``rank`` None.
    """
    out = []
    for i, e in enumerate(np.asarray(embeddings, dtype=np.float64)):
        c = bank.centroids if centroids is None or centroids[i] is None else centroids[i]
        sims = c @ e  # (C,)
        order = np.argsort(-sims, kind="stable")
        ranks = {bank.labels[j]: r + 1 for r, j in enumerate(order)}
        acc = [lab for lab in dict.fromkeys(accepted[i]) if lab in ranks]
        row: dict[str, Any] = {"nearest": bank.labels[int(order[0])], "accepted_in_bank": len(acc)}
        if not acc:
            row["rank"] = None
        else:
            row["rank"] = min(ranks[lab] for lab in acc)
            for k in ks:
                row[f"hit@{k}"] = row["rank"] <= k
                row[f"chance@{k}"] = chance_at_k(len(bank.labels), len(acc), k)
        out.append(row)
    return out


# --------------------------------------------------------------------------------------------------
# Level over time
# --------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class LevelStats:
    """How a clip's level runs over time (50 ms frames, dBFS)."""

    silent_share: float  # share of frames below -50 dBFS
    ends_silent: bool  # the last 0.5 s is all silent frames
    ends_in_cut: bool  # ends silent, and the last sounding frame (> -35 dBFS) is <= 0.1 s before silence
    tail_silent_share: float  # share of silent frames in the last 2 s
    last_sound_s: float  # end of the last non-silent frame, seconds (0 for an all-silent clip)


def frame_dbfs(wav: torch.Tensor | np.ndarray, sample_rate: int, frame_s: float = FRAME_S) -> np.ndarray:
    """RMS level of consecutive frames in dBFS (the last partial frame dropped); (n_frames,)."""
    x = np.asarray(torch.as_tensor(wav).float().reshape(-1).numpy(), dtype=np.float64)
    n = int(round(frame_s * sample_rate))
    k = len(x) // n
    if k == 0:
        raise InputError(f"a clip of {len(x)} samples is shorter than one {frame_s * 1000:.0f} ms level frame")
    rms = np.sqrt(np.mean(x[: k * n].reshape(k, n) ** 2, axis=1))
    return 20.0 * np.log10(np.maximum(rms, 1e-10))


def level_stats(wav: torch.Tensor | np.ndarray, sample_rate: int) -> LevelStats:
    """Silent share, end silence and hard cuts of one clip (see :class:`LevelStats`)."""
    db = frame_dbfs(wav, sample_rate)
    silent = db < SILENT_DBFS
    n_end = max(1, int(round(END_S / FRAME_S)))
    n_tail = max(1, int(round(STOP_TAIL_S / FRAME_S)))
    ends_silent = bool(silent[-n_end:].all())
    sounding = np.flatnonzero(~silent)
    last = int(sounding[-1]) if sounding.size else -1
    cut = False
    if ends_silent and last >= 0:
        # the first silent frame after the last sound: was the level still high just before it?
        window = db[max(0, last + 1 - int(round(CUT_S / FRAME_S))) : last + 1]
        cut = bool((window > ACTIVE_DBFS).any())
    return LevelStats(float(silent.mean()), ends_silent, cut, float(silent[-n_tail:].mean()),
                      (last + 1) * FRAME_S if last >= 0 else 0.0)


def summarize(rows: Sequence[dict[str, Any]], key: str) -> float | None:
    vals = [float(r[key]) for r in rows if r.get(key) is not None]
    return float(np.mean(vals)) if vals else None


def prompt_row(item: PromptItem) -> dict[str, Any]:
    return asdict(item) | {"labels": list(item.labels)}


def to_json(obj: Any) -> str:
    return json.dumps(obj, indent=2, default=lambda o: o.item() if hasattr(o, "item") else str(o))
