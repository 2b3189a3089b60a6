"""The evaluation runner: generate for a corpus split, extract features, score, write the report.

Three rows are scored with the same code (Li et al. 2023, Table 3 has the "Original" row):

* **Generated**: N samples per caption from the generator, compared with the item's reference clip;
* **Original**: the reference clip itself as the "generation" (the best attainable value; PSNR is
  the cap, FD / MMKL / KL are 0 by construction, the text-dependent scores are informative);
* **Shuffled references**: the reference clip of the *next* item (a derangement) paired with this
  item's caption and reference — the mismatched caption-audio control. A metric that does not rank
  Original above Shuffled does not measure caption-audio agreement.

Judges. Every metric column says who judges (:data:`METRIC_JUDGE`): **independent** judges had no part
in training or selecting the model (the pretrained aiSFX network, the rule-based probe checkers);
**in-house** judges are this project's own helper models (tagger, CLAP, captioner), trained on the same
corpus as the generator, and the tagger / CLAP also take part in training it (perceptual loss, text
features). In-house columns are reported only when their models are given, and always labelled so.

Length. Unless ``match_reference_length`` is set, every item is generated at one fixed length (the
``duration`` setting, else the generator's default) and its reference is cut or silence-padded to it:
the generator is never told how long the reference is.

Features are computed from waveforms with each helper model's own ``MelConfig`` (one front end for
generated and reference audio). A metric whose model is missing is reported as
``"unavailable: <reason>"``; a metric that cannot apply (diversity with one sample) as ``"n/a: <reason>"``.
A helper model that returns NaN or infinite values stops the evaluation with an error naming it.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np
import torch

from vividsound.checkpoint import atomic_write_file, atomic_write_text
from vividsound.audio import MelConfig, MelSpectrogram, load_audio, num_frames, save_audio
from vividsound.data.manifest import ManifestItem
from vividsound.errors import InputError
from vividsound.eval import metrics as M
from vividsound.eval.cider import cider_d
from vividsound.eval.interfaces import Captioner, Clap, Generator, Tagger

__all__ = ["EvalConfig", "Components", "Features", "evaluate", "score_system", "extract_features",
           "extract_features_mel", "generate_items", "select_items",
           "METRIC_INFO", "METRIC_JUDGE", "read_probes", "run_probes", "evaluate_probes", "resolve_duration"]

Value = Any  # float, or a string "unavailable: ..." / "n/a: ..."

# metric key -> (label in report.md, "higher" or "lower" is better)
# Independent judges first; in-house columns carry "(in-house)" in their label.
METRIC_INFO: dict[str, tuple[str, str]] = {
    "psnr": ("PSNR (dB)", "higher"),
    "fd_aisfx": ("FD aisfx", "lower"),
    "kl_aisfx": ("KL aisfx (softmax, published form)", "lower"),
    "is_aisfx": ("IS aisfx", "higher"),
    "diversity_mel": ("diversity mel (rms)", "higher"),
    "fd_tagger": ("FD tagger (in-house)", "lower"),
    "mmkl": ("MMKL tagger (in-house)", "lower"),
    "kl_sigmoid_tagger": ("KL tagger (sigmoid, published form; in-house)", "lower"),
    "is_tagger": ("IS tagger (in-house)", "higher"),
    "class_relevance": ("class relevance (in-house tagger)", "higher"),
    "diversity_tagger": ("diversity tagger (cos; in-house)", "higher"),
    "clap_score": ("CLAP score (in-house)", "higher"),
    "cider_d": ("CIDEr-D (in-house captioner)", "higher"),
    "spice": ("SPICE (in-house captioner)", "higher"),
}

# metric key -> who judges: "independent" (no part in training or selecting the model; PSNR and mel
# diversity need no model at all) or "in-house" (this project's helper models, trained on the same corpus
# as the generator and used in training it).
METRIC_JUDGE: dict[str, str] = {k: ("in-house" if "in-house" in label else "independent")
                                for k, (label, _) in METRIC_INFO.items()}


@dataclass(frozen=True)
class EvalConfig:
    """Settings of one evaluation run (saved into report.json)."""

    split: str = "test"  # manifest split to evaluate
    num_samples: int = 1  # generations per caption (>= 2 for diversity)
    max_items: int | None = None  # evaluate only the first items of the split
    sample: int | None = None  # evaluate a seeded random subset of this many items (kept in manifest order)
    sample_seed: int = 0  # seed of that subset
    duration: float | None = None  # seconds per generation; None: the generator's default (see resolve_duration)
    match_reference_length: bool = False  # generate each item at its reference's length (tells the generator)
    min_duration: float = 1.0  # clamp for reference-length durations, seconds
    max_duration: float = 10.0  # clamp for reference-length durations, seconds
    seed: int = 0  # item i is generated with seed + i
    top_k: int | None = None  # sampler settings passed to the generator unchanged
    top_p: float | None = None
    temperature: float = 1.0
    cfg_scale: float = 1.0
    relevance_k: int = 5  # top-k of the tagger for class relevance
    is_splits: int = 10  # Inception score splits (at most one per 10 clips, see _is_splits)
    aisfx_head: str = "ucsMixed"  # aisfx softmax head for KL and IS
    grid_items: int = 4  # items shown in the spectrogram grid
    grid_samples: int = 3  # generated samples per item in the grid
    batch_size: int = 1  # items generated together (needs a generator with generate_rows; same audio as 1)
    domain: str = "waveform"  # "mel": score the decoded log-mels directly, skipping the vocoder
    probes_per_type: int | None = None  # run only the first N probes of each type
    probe_duration: float = 10.0  # seconds every probe is generated at (capped at the generator's longest)
    vocoder: str | None = None  # the vocoder that replaced the model's own (None: its own); part of the cache key
    candidates: int = 1  # best of N per clip by ``scorer`` (TextToSound's candidates); part of the cache key
    scorer: str | None = None  # CLAP component folder for candidates > 1 (None: the model folder's clap/)

    def __post_init__(self) -> None:
        if self.domain not in ("waveform", "mel"):
            raise InputError(f"domain must be 'waveform' or 'mel', got {self.domain!r}")
        if self.batch_size < 1:
            raise InputError(f"batch_size must be >= 1, got {self.batch_size}")
        if not self.probe_duration > 0:
            raise InputError(f"probe_duration must be > 0 seconds, got {self.probe_duration}")
        if self.probes_per_type is not None and self.probes_per_type < 1:
            raise InputError(f"probes_per_type must be >= 1, got {self.probes_per_type}")
        if self.num_samples < 1:
            raise InputError(f"num_samples must be >= 1, got {self.num_samples}")
        if isinstance(self.candidates, bool) or not isinstance(self.candidates, int) or not 1 <= self.candidates <= 16:
            raise InputError(f"candidates is {self.candidates!r}; allowed: an integer from 1 to 16")
        if self.scorer is not None and self.candidates == 1:
            raise InputError("a scorer ranks candidates: give candidates > 1 with it")
        if self.max_items is not None and self.max_items < 1:
            raise InputError(f"max_items must be >= 1, got {self.max_items}")
        if self.sample is not None and self.sample < 2:
            raise InputError(f"sample must be >= 2, got {self.sample}")
        if self.sample is not None and self.max_items is not None:
            raise InputError("give either max_items (the first items) or sample (a random subset), not both")
        if self.duration is not None and not self.duration > 0:
            raise InputError(f"duration must be > 0 seconds, got {self.duration}")
        if self.duration is not None and self.match_reference_length:
            raise InputError("give either duration (one length for every item) or match_reference_length, not both")


@dataclass
class Components:
    """The models an evaluation uses; ``None`` ones make their metrics "unavailable" with ``reasons[name]``."""

    generator: Generator | None
    tagger: Tagger | None = None
    captioner: Captioner | None = None
    clap: Clap | None = None
    aisfx: Any = None  # vividsound.eval.aisfx.AisfxModel
    probe_checker: Callable[..., bool] | None = None
    spice: Callable[[Sequence[str], Sequence[Sequence[str]]], tuple[float, list[float]]] | None = None
    reasons: dict[str, str] = field(default_factory=dict)  # component -> why it is missing

    def reason(self, name: str) -> str:
        return "unavailable: " + self.reasons.get(name, f"no {name} given")


@dataclass
class Features:
    """Per-clip features of one row: I items, S clips per item (arrays are (I, S, ...))."""

    mels: list[np.ndarray]  # I arrays (S, n_mels, T_i): log-mels in the generator's MelConfig
    tag_emb: np.ndarray | None = None  # (I, S, D)
    tag_probs: np.ndarray | None = None  # (I, S, C)
    aisfx_emb: np.ndarray | None = None  # (I, S, 512)
    aisfx_probs: np.ndarray | None = None  # (I, S, K)
    clap_audio: np.ndarray | None = None  # (I, S, D)
    captions: list[list[str]] | None = None  # I lists of S captions

    def rolled(self, shift: int = 1) -> "Features":
        """The features of item ``(i + shift) % I`` at position i (the shuffled-references control)."""
        def r(a: np.ndarray | None) -> np.ndarray | None:
            return None if a is None else np.roll(a, -shift, axis=0)
        n = len(self.mels)
        idx = [(i + shift) % n for i in range(n)]
        return Features(mels=[self.mels[j] for j in idx], tag_emb=r(self.tag_emb), tag_probs=r(self.tag_probs),
                        aisfx_emb=r(self.aisfx_emb), aisfx_probs=r(self.aisfx_probs), clap_audio=r(self.clap_audio),
                        captions=None if self.captions is None else [self.captions[j] for j in idx])


# --------------------------------------------------------------------------------------------------
# Feature extraction
# --------------------------------------------------------------------------------------------------

class _FrontEnds:
    """Cached mel front ends per MelConfig; resamples waveforms to each config's rate."""

    def __init__(self) -> None:
        self._mels: dict[MelConfig, MelSpectrogram] = {}

    def log_mel(self, wav: torch.Tensor, sr: int, cfg: MelConfig) -> torch.Tensor:
        """(S, N) waveform at ``sr`` -> (S, n_mels, T) log-mel in ``cfg``."""
        if sr != cfg.sample_rate:
            import soxr

            x = wav.detach().cpu().float().numpy()
            wav = torch.from_numpy(np.stack([soxr.resample(w, sr, cfg.sample_rate, quality="HQ") for w in x]))
        if cfg not in self._mels:
            self._mels[cfg] = MelSpectrogram(cfg)
        with torch.no_grad():
            return self._mels[cfg](wav.float())


def _arr(x: Any, name: str, rows: int) -> np.ndarray:
    """A helper model's output as (rows, D) float64, checked: a wrong shape or a NaN / inf is an error
    naming the model (a broken judge must stop the evaluation, not turn into "n/a" cells)."""
    a = x.detach().cpu().double().numpy() if isinstance(x, torch.Tensor) else np.asarray(x, dtype=np.float64)
    if a.ndim != 2 or a.shape[0] != rows:
        raise InputError(f"{name} returned shape {a.shape}, expected ({rows}, D)")
    if not np.isfinite(a).all():
        bad = int((~np.isfinite(a)).any(axis=1).sum())
        raise M.NonFiniteError(f"{name} returned NaN or infinite values for {bad} of {rows} clip(s); "
                               "check the model's weights and the audio it was given")
    return a


def extract_features(comp: Components, wavs: Sequence[torch.Tensor], sr: int, mels: Sequence[np.ndarray],
                     fe: _FrontEnds | None = None, aisfx_head: str = "ucsMixed",
                     progress: Callable[[Any], Any] = lambda x: x) -> Features:
    """Run every available helper model on I items of S clips each.

    Args:
        comp: the helper models.
        wavs: I waveforms (S, N_i) at ``sr``.
        sr: sample rate of ``wavs``.
        mels: I log-mels (S, n_mels, T_i) kept for PSNR and mel diversity.
    """
    fe = fe or _FrontEnds()
    te, tp, ae, ap, ca, caps = [], [], [], [], [], []
    for wav in progress(wavs):
        s = wav.shape[0]
        with torch.no_grad():
            if comp.tagger is not None:
                lm = fe.log_mel(wav, sr, comp.tagger.mel_config)
                te.append(_arr(comp.tagger.embed(lm), "tagger.embed", s))
                tp.append(_arr(comp.tagger.predict(lm), "tagger.predict", s))
            if comp.aisfx is not None:
                out = comp.aisfx.embed_audio(wav, sr)
                ae.append(_arr(out.embedding, "aisfx embedding", s))
                ap.append(_arr(out.probs[aisfx_head], f"aisfx head {aisfx_head}", s))
            if comp.clap is not None:
                ca.append(_arr(comp.clap.embed_audio(fe.log_mel(wav, sr, comp.clap.mel_config)), "clap.embed_audio", s))
            if comp.captioner is not None:
                c = list(comp.captioner.caption(fe.log_mel(wav, sr, comp.captioner.mel_config)))
                if len(c) != s:
                    raise InputError(f"captioner.caption returned {len(c)} captions for {s} clips")
                caps.append([str(x) for x in c])
    stack = lambda xs: np.stack(xs) if xs else None  # noqa: E731
    return Features(mels=list(mels), tag_emb=stack(te), tag_probs=stack(tp), aisfx_emb=stack(ae),
                    aisfx_probs=stack(ap), clap_audio=stack(ca), captions=caps or None)


def extract_features_mel(comp: Components, mels: Sequence[np.ndarray], cfg: MelConfig,
                         progress: Callable[[Any], Any] = lambda x: x) -> Features:
    """Mel-domain features: every helper reads the log-mels ``mels`` (I arrays (S, n_mels, T)) directly.

    Used by ``domain="mel"``: generated spectrograms are scored without a vocoder, so only the text ->
    codes -> spectrogram part of the system is measured. Every helper must have been trained on the
    generator's ``MelConfig``; aisfx (which needs waveforms) is skipped.
    """
    for name in ("tagger", "clap", "captioner"):
        helper = getattr(comp, name)
        if helper is not None and helper.mel_config != cfg:
            raise InputError(f"mel-domain evaluation needs the {name} to use the generator's MelConfig "
                             f"({helper.mel_config} vs {cfg}); evaluate in the waveform domain instead")
    te, tp, ca, caps = [], [], [], []
    for m in progress(mels):
        lm = torch.from_numpy(np.ascontiguousarray(m)).float()
        s = lm.shape[0]
        with torch.no_grad():
            if comp.tagger is not None:
                te.append(_arr(comp.tagger.embed(lm), "tagger.embed", s))
                tp.append(_arr(comp.tagger.predict(lm), "tagger.predict", s))
            if comp.clap is not None:
                ca.append(_arr(comp.clap.embed_audio(lm), "clap.embed_audio", s))
            if comp.captioner is not None:
                c = list(comp.captioner.caption(lm))
                if len(c) != s:
                    raise InputError(f"captioner.caption returned {len(c)} captions for {s} clips")
                caps.append([str(x) for x in c])
    stack = lambda xs: np.stack(xs) if xs else None  # noqa: E731
    return Features(mels=list(mels), tag_emb=stack(te), tag_probs=stack(tp), clap_audio=stack(ca),
                    captions=caps or None)


# --------------------------------------------------------------------------------------------------
# Scoring one row
# --------------------------------------------------------------------------------------------------

def _guard(fn: Callable[[], float]) -> Value:
    """Run a metric; a metric that cannot apply to these inputs is reported, never invented. Non-finite
    inputs are not "cannot apply": they mean a model failed, and stop the evaluation."""
    try:
        return float(fn())
    except M.NonFiniteError:
        raise
    except InputError as e:
        return f"n/a: {e}"


def _flat(a: np.ndarray) -> np.ndarray:
    return a.reshape(-1, a.shape[-1])


def _is_splits(n_clips: int, cfg: EvalConfig) -> int:
    """Inception-score splits: each needs enough clips for its marginal, so at least 10 clips per split
    (with one clip per split the score is 1 whatever the audio)."""
    return max(1, min(cfg.is_splits, n_clips // 10))


def score_system(ref: Features, sys: Features, captions: Sequence[Sequence[str]], comp: Components,
                 text_emb: np.ndarray | None, targets: list[list[int]] | None, cfg: EvalConfig) -> dict[str, Value]:
    """All metrics of one row: ``sys`` (I items x S clips) against the references ``ref`` (S = 1).

    Args:
        captions: I lists of reference captions; the first one is the prompt.
        text_emb: (I, D) CLAP text embeddings of the prompts, or None.
        targets: for each item, the tagger class indices named by its tags, or None.
    """
    out: dict[str, Value] = {}
    n_items = len(sys.mels)
    s = sys.mels[0].shape[0]

    def psnr_all() -> float:
        vals = []
        for g, r in zip(sys.mels, ref.mels):
            t = min(g.shape[-1], r.shape[-1])
            vals.append(M.psnr_per_item(g[..., :t], np.broadcast_to(r[:1, :, :t], g[..., :t].shape)))
        return float(np.concatenate(vals).mean())

    out["psnr"] = _guard(psnr_all)

    no_tag = comp.reason("tagger")
    if sys.tag_emb is not None and ref.tag_emb is not None and sys.tag_probs is not None and ref.tag_probs is not None:
        out["fd_tagger"] = _guard(lambda: M.frechet_distance_features(_flat(ref.tag_emb), _flat(sys.tag_emb)))
        out["mmkl"] = _guard(lambda: M.mmkl(ref.tag_probs[:, 0], sys.tag_probs))
        out["kl_sigmoid_tagger"] = _guard(lambda: M.published_kl(ref.tag_probs[:, 0], sys.tag_probs))
        p = _flat(sys.tag_probs)
        out["is_tagger"] = _guard(lambda: M.inception_score(p / np.clip(p.sum(1, keepdims=True), 1e-12, None),
                                                            _is_splits(len(p), cfg)).mean)
    else:
        out.update(fd_tagger=no_tag, mmkl=no_tag, kl_sigmoid_tagger=no_tag, is_tagger=no_tag)

    if sys.aisfx_emb is not None and ref.aisfx_emb is not None:
        out["fd_aisfx"] = _guard(lambda: M.frechet_distance_features(_flat(ref.aisfx_emb), _flat(sys.aisfx_emb)))
        out["kl_aisfx"] = _guard(lambda: M.published_kl(ref.aisfx_probs[:, 0], sys.aisfx_probs))
        pa = _flat(sys.aisfx_probs)
        out["is_aisfx"] = _guard(lambda: M.inception_score(pa, _is_splits(len(pa), cfg)).mean)
    else:
        out.update(fd_aisfx=comp.reason("aisfx"), kl_aisfx=comp.reason("aisfx"), is_aisfx=comp.reason("aisfx"))

    if sys.clap_audio is not None and text_emb is not None:
        out["clap_score"] = _guard(lambda: M.clap_score(_flat(sys.clap_audio), np.repeat(text_emb, s, axis=0)))
    else:
        out["clap_score"] = comp.reason("clap")

    if sys.tag_probs is None:
        out["class_relevance"] = no_tag
    elif not targets or not any(targets):
        out["class_relevance"] = "n/a: no item tag is one of the tagger's classes"
    else:
        rep = [t for t in targets for _ in range(s)]
        out["class_relevance"] = _guard(lambda: M.class_relevance(_flat(sys.tag_probs), rep, cfg.relevance_k))

    if sys.captions is None:
        out["cider_d"] = out["spice"] = comp.reason("captioner")
    else:
        per_sample = [[sys.captions[i][k] for i in range(n_items)] for k in range(s)]
        out["cider_d"] = float(np.mean([cider_d(c, captions).score for c in per_sample]))
        if comp.spice is None:
            out["spice"] = comp.reason("spice")
        else:
            from vividsound.eval.spice import SpiceUnavailable

            try:
                out["spice"] = float(np.mean([comp.spice(c, captions)[0] for c in per_sample]))
            except SpiceUnavailable as e:
                out["spice"] = f"unavailable: {e}"

    one = f"n/a: {s} sample per caption (use --num-samples >= 2)"
    if s < 2:
        out["diversity_tagger"] = out["diversity_mel"] = one
    else:
        out["diversity_tagger"] = (no_tag if sys.tag_emb is None
                                   else _guard(lambda: M.pairwise_diversity(sys.tag_emb, "cosine")))

        def mel_div() -> float:
            vals = [M.pairwise_diversity(M.normalize_log_mel(m).reshape(1, s, -1), "l2") / math.sqrt(m[0].size)
                    for m in sys.mels]
            return float(np.mean(vals))

        out["diversity_mel"] = _guard(mel_div)
    return out


# --------------------------------------------------------------------------------------------------
# Generation and probes
# --------------------------------------------------------------------------------------------------

def _safe_name(s: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", s)[:80] or "item"


DEFAULT_DURATION = 5.0  # seconds, for a generator that states no default of its own


def resolve_duration(gen: Any, cfg: EvalConfig) -> EvalConfig:
    """``cfg`` with a fixed ``duration`` filled in: the given one, else the generator's default length
    (``gen.defaults.duration``, capped at ``gen.max_duration``; 5 s for a generator without one).
    With ``match_reference_length`` the config is returned unchanged (each item gets its reference's length)."""
    import dataclasses

    if cfg.duration is not None or cfg.match_reference_length:
        return cfg
    d = getattr(getattr(gen, "defaults", None), "duration", None)
    d = float(d) if isinstance(d, (int, float)) and d > 0 else DEFAULT_DURATION
    cap = getattr(gen, "max_duration", None)
    if isinstance(cap, (int, float)) and cap > 0:
        d = min(d, float(cap))
    return dataclasses.replace(cfg, duration=d)


def item_duration(item: ManifestItem, ref_seconds: float, cfg: EvalConfig) -> float:
    """Seconds to generate for an item: the fixed ``cfg.duration``; with ``cfg.match_reference_length``
    the reference's length, clamped to [min_duration, max_duration]."""
    if cfg.duration is not None:
        return float(cfg.duration)
    if not cfg.match_reference_length:
        raise InputError("no duration: pass EvalConfig(duration=...) or call resolve_duration(generator, cfg) first")
    return float(min(max(ref_seconds, cfg.min_duration), cfg.max_duration))


def select_items(items: Sequence[ManifestItem], cfg: EvalConfig) -> list[ManifestItem]:
    """The items an evaluation scores: all, the first ``max_items``, or a seeded random ``sample`` of them
    (in manifest order). A manifest is usually grouped by source, so its first items are rarely a fair
    picture of the split: prefer ``sample``."""
    items = list(items)
    if cfg.max_items:
        return items[: cfg.max_items]
    if cfg.sample and cfg.sample < len(items):
        rng = np.random.default_rng(cfg.sample_seed)
        keep = np.sort(rng.choice(len(items), size=cfg.sample, replace=False))
        return [items[int(i)] for i in keep]
    return items


def _request_key(prompt: str, duration: float, seed: int, cfg: EvalConfig) -> dict[str, Any]:
    return {"prompt": prompt, "duration": duration, "seed": seed, "num_samples": cfg.num_samples,
            "top_k": cfg.top_k, "top_p": cfg.top_p, "temperature": cfg.temperature, "cfg_scale": cfg.cfg_scale,
            **({"domain": "mel"} if cfg.domain == "mel" else {}), **({"vocoder": cfg.vocoder} if cfg.vocoder else {}),
            **({"candidates": cfg.candidates, "scorer": _scorer_id(cfg.scorer)} if cfg.candidates != 1 else {})}


def _scorer_id(scorer: str | None) -> str | None:
    """The cache key's name of a scorer folder: its resolved path (None: the model's own clap/)."""
    return None if scorer is None else str(Path(scorer).resolve())


def _read_cached(cache: Path | None, key: dict[str, Any]) -> tuple[torch.Tensor, int, np.ndarray] | None:
    if cache is None or not cache.is_file():
        return None
    try:
        with np.load(cache, allow_pickle=False) as z:
            if json.loads(str(z["key"])) == key:
                return torch.from_numpy(z["waveform"]), int(z["sr"]), z["mel"]
    except (OSError, ValueError, KeyError):  # a damaged cache file is regenerated, never trusted
        return None
    return None


def _write_cached(cache: Path | None, key: dict[str, Any], wav: torch.Tensor, sr: int, mel: np.ndarray) -> None:
    if cache is None:
        return
    atomic_write_file(cache, lambda tmp: np.savez(tmp, waveform=wav.numpy(), sr=np.int64(sr), mel=mel,
                                                 key=np.str_(json.dumps(key))))


def generate_items(gen: Generator, prompts: Sequence[str], durations: Sequence[float], seeds: Sequence[int],
                   cfg: EvalConfig, caches: Sequence[Path | None],
                   progress: Callable[[Any], Any] = lambda x: x) -> list[tuple[torch.Tensor, int, np.ndarray]]:
    """Generate ``cfg.num_samples`` clips for every prompt, ``cfg.batch_size`` prompts of equal duration at a
    time when the generator has ``generate_rows`` (row j of prompt i uses ``seeds[i] + j``, the rule of
    ``TextToSound.__call__``, so batching never changes a clip). Cached requests are reused.

    In the mel domain the vocoder is skipped: the waveform is empty and the mel is cropped to the frames
    of ``duration`` seconds.
    """
    n = len(prompts)
    results: list[tuple[torch.Tensor, int, np.ndarray] | None] = [None] * n
    keys = [_request_key(prompts[i], durations[i], seeds[i], cfg) for i in range(n)]
    pending = []
    for i in range(n):
        results[i] = _read_cached(caches[i], keys[i])
        if results[i] is None:
            pending.append(i)
    rows_api = hasattr(gen, "generate_rows")
    if cfg.domain == "mel" and not rows_api:
        raise InputError("mel-domain evaluation needs a generator with generate_rows(..., vocode=False)")
    best = {"candidates": cfg.candidates, "scorer": cfg.scorer} if cfg.candidates != 1 else {}
    if best and not hasattr(gen, "best_of"):
        raise InputError(f"candidates {cfg.candidates}: this generator ({type(gen).__name__}) cannot sample "
                         "candidates (best of N needs a TextToSound)")
    S = cfg.num_samples
    groups: list[list[int]] = []
    for i in pending:  # consecutive items of equal duration share a model call
        if groups and rows_api and len(groups[-1]) < cfg.batch_size and durations[groups[-1][0]] == durations[i]:
            groups[-1].append(i)
        else:
            groups.append([i])
    gcfg = gen.mel_config
    for g in progress(groups):
        if rows_api:
            rows = [prompts[i] for i in g for _ in range(S)]
            rseeds = [seeds[i] + j for i in g for j in range(S)]
            out = gen.generate_rows(rows, rseeds, duration=durations[g[0]], top_k=cfg.top_k, top_p=cfg.top_p,
                                    temperature=cfg.temperature, cfg_scale=cfg.cfg_scale,
                                    batch_size=len(rows), vocode=cfg.domain == "waveform", **best)
        else:
            i = g[0]
            out = gen([prompts[i]], duration=durations[i], seed=seeds[i], num_samples=S, top_k=cfg.top_k,
                      top_p=cfg.top_p, temperature=cfg.temperature, cfg_scale=cfg.cfg_scale, **best)
        wav_all = out.waveform.detach().cpu().float()
        sr = int(out.sample_rate)
        if wav_all.dim() != 2 or wav_all.shape[0] != len(g) * S:
            raise InputError(f"generator returned waveform of shape {tuple(wav_all.shape)}, "
                             f"expected ({len(g) * S}, N)")
        mel_all = getattr(out, "mel", None)
        if cfg.domain == "mel":
            if mel_all is None:
                raise InputError("mel-domain evaluation needs the generator to return its decoded mel")
            frames = num_frames(int(round(durations[g[0]] * gcfg.sample_rate)), gcfg)
            mel_all = mel_all[..., :frames]
        elif mel_all is None:  # no decoded spectrogram: take the mel of the waveform in the generator's config
            mel_all = _FrontEnds().log_mel(wav_all, sr, gcfg)
        mel_all = mel_all.detach().cpu().double().numpy()
        for k, i in enumerate(g):
            wav, mel = wav_all[k * S : (k + 1) * S], mel_all[k * S : (k + 1) * S]
            _write_cached(caches[i], keys[i], wav, sr, mel)
            results[i] = (wav, sr, mel)
    return results  # type: ignore[return-value]


def read_probes(folder: str | Path) -> list[dict[str, Any]]:
    """Probes of a probe folder's ``probes.jsonl``; each needs ``id``, ``type``, ``prompt`` and ``truth``.

    A probe's ``reference`` (a path relative to the folder) is resolved into ``reference_path``."""
    p = Path(folder) / "probes.jsonl"
    if not p.is_file():
        raise InputError(f"probes file not found: {p}")
    probes = []
    for n, line in enumerate(p.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            d = json.loads(line)
        except json.JSONDecodeError as e:
            raise InputError(f"{p}:{n}: invalid JSON ({e.msg})") from None
        missing = [k for k in ("id", "type", "prompt", "truth") if k not in d]
        if missing:
            raise InputError(f"{p}:{n}: probe lacks field(s) {missing}")
        if d.get("reference"):
            d["reference_path"] = str(Path(folder) / d["reference"])
        probes.append(d)
    return probes


def _fit(wav: np.ndarray, n: int) -> np.ndarray:
    """Pad with silence or cut to ``n`` samples."""
    return np.pad(wav, (0, max(0, n - wav.size)))[:n]


def _rates(passes: dict[str, list[bool]]) -> tuple[dict[str, float], float | str]:
    by = {t: float(np.mean(v)) for t, v in sorted(passes.items())}
    total = [x for v in passes.values() for x in v]
    return by, float(np.mean(total)) if total else "n/a: no probes"


def run_probes(gen: Generator, check: Callable[..., bool], probes: list[dict[str, Any]], cfg: EvalConfig,
               progress: Callable[[Any], Any] = lambda x: x, cache_dir: str | Path | None = None) -> dict[str, Any]:
    """Generate each probe's prompt ``cfg.num_samples`` times and report the checker's pass rate per type.

    Every probe is generated at the same length, ``cfg.probe_duration`` seconds (capped at the
    generator's longest clip): a reference's own length would tell the generator the answer (a "short"
    sound's reference lasts 1.5 s, a "long" one's 6 s). Besides the generated clips the report scores
    three controls: the probes' references placed in clips of that length (the checkers' own accuracy),
    the references of other probes of the same type (seeded shuffle: what mismatched audio scores) and
    the prompt-blind bound (the most any generator that ignores the prompt can score in expectation).
    """
    from vividsound.data.checkers import prompt_blind_bound, truth_class

    if cfg.probes_per_type is not None:
        seen: dict[str, int] = {}
        kept = []
        for k, probe in enumerate(probes):
            t = str(probe["type"])
            if seen.get(t, 0) < cfg.probes_per_type:
                seen[t] = seen.get(t, 0) + 1
                kept.append((k, probe))
    else:
        kept = list(enumerate(probes))
    dur = float(min(cfg.probe_duration, getattr(gen, "max_duration", cfg.probe_duration)))
    cache = Path(cache_dir) if cache_dir is not None else None
    if cache is not None:
        cache.mkdir(parents=True, exist_ok=True)
    results = generate_items(gen, [p["prompt"] for _, p in kept], [dur] * len(kept), [cfg.seed + k for k, _ in kept],
                             cfg, [cache / f"{_safe_name(str(p['id']))}.npz" if cache else None for _, p in kept],
                             progress)
    gen_pass: dict[str, list[bool]] = {}
    by_answer: dict[str, dict[str, list[bool]]] = {}
    passed: dict[str, list[bool]] = {}
    for (_, probe), (wav, sr, _) in zip(kept, results):
        t = str(probe["type"])
        try:
            answer = str(truth_class(probe))
        except (KeyError, TypeError, ValueError):
            answer = "?"
        for w in wav.numpy():
            ok = bool(check(w, int(sr), probe))
            gen_pass.setdefault(t, []).append(ok)
            by_answer.setdefault(t, {}).setdefault(answer, []).append(ok)
            passed.setdefault(str(probe["id"]), []).append(ok)
    acc, overall = _rates(gen_pass)
    report: dict[str, Any] = {"duration": dur, "accuracy_by_type": acc,
                              "count_by_type": {t: len(v) for t, v in sorted(gen_pass.items())}, "accuracy": overall,
                              # per answer class (e.g. loudness: quiet_loud / loud_quiet): a generator that
                              # ignores the prompt passes one class and fails the others
                              "accuracy_by_answer": {t: {a: float(np.mean(v)) for a, v in sorted(c.items())}
                                                     for t, c in sorted(by_answer.items())},
                              "count_by_answer": {t: {a: len(v) for a, v in sorted(c.items())}
                                                  for t, c in sorted(by_answer.items())},
                              "passed": passed}
    kept_probes = [p for _, p in kept]
    try:
        bound = prompt_blind_bound(kept_probes)
        report["prompt_blind_bound_by_type"] = bound
        report["prompt_blind_bound"] = float(np.mean([bound[str(p["type"])] for p in kept_probes]))
    except (KeyError, TypeError, ValueError):
        report["prompt_blind_bound"] = "n/a: probes outside the built-in types and truths"
    if kept and all(p.get("reference_path") for p in kept_probes):
        sr = int(gen.mel_config.sample_rate)
        n = int(round(dur * sr))
        refs = [_fit(load_audio(p["reference_path"], sr), n) for p in kept_probes]
        rng = np.random.default_rng(cfg.seed)
        by_type: dict[str, list[int]] = {}
        for i, p in enumerate(kept_probes):
            by_type.setdefault(str(p["type"]), []).append(i)
        own: dict[str, list[bool]] = {}
        other: dict[str, list[bool]] = {}
        for t, idx in by_type.items():
            order = rng.permutation(len(idx))  # a random cycle: every probe gets another probe's reference
            partner = {int(order[j]): int(order[(j + 1) % len(idx)]) for j in range(len(idx))}
            for j, i in enumerate(idx):
                own.setdefault(t, []).append(bool(check(refs[i], sr, kept_probes[i])))
                other.setdefault(t, []).append(bool(check(refs[idx[partner[j]]], sr, kept_probes[i])))
        report["reference_accuracy_by_type"], report["reference_accuracy"] = _rates(own)
        report["shuffled_reference_accuracy_by_type"], report["shuffled_reference_accuracy"] = _rates(other)
    else:
        report["reference_accuracy"] = "n/a: probes without reference audio"
    return report


# --------------------------------------------------------------------------------------------------
# The whole run
# --------------------------------------------------------------------------------------------------

def _progress(show: bool) -> Callable[..., Any]:
    """``progress(iterable, desc)``: a tqdm bar, or the iterable itself when ``show`` is False."""
    if not show:
        return lambda xs, desc="": xs
    from tqdm import tqdm

    return lambda xs, desc="": tqdm(xs, desc=desc, unit="item")


def _metric_info() -> dict[str, dict[str, str]]:
    """The report's ``metrics`` header: each metric's label, better direction and judge."""
    return {k: {"label": v[0], "better": v[1], "judge": METRIC_JUDGE[k]} for k, v in METRIC_INFO.items()}


def evaluate(comp: Components, items: Sequence[ManifestItem], corpus_root: str | Path, out_dir: str | Path,
             cfg: EvalConfig, probes: list[dict[str, Any]] | None = None, *, meta: dict[str, Any] | None = None,
             show_progress: bool = True) -> dict[str, Any]:
    """Generate for every item, score the three rows, run the probes and write the report folder.

    Args:
        comp: generator and helper models (``comp.generator`` is required).
        items: the corpus items to evaluate (already filtered to the split).
        corpus_root: folder that item audio paths are relative to.
        out_dir: the report folder (created): report.json, report.md, spectrograms.png, cache/.
        probes: probes from :func:`read_probes`, or None.
        meta: extra fields for report.json (model and corpus paths, ...).

    Returns:
        The report as a dict (as written to report.json).
    """
    from vividsound.eval.report import write_grid, write_markdown

    if comp.generator is None:
        raise InputError("evaluate needs a generator")
    cfg = resolve_duration(comp.generator, cfg)
    items = select_items(items, cfg)
    if len(items) < 2:
        raise InputError(f"evaluation needs at least 2 items in split {cfg.split!r}, got {len(items)}")
    out = Path(out_dir)
    (out / "cache").mkdir(parents=True, exist_ok=True)
    (out / "audio").mkdir(exist_ok=True)
    progress = _progress(show_progress)

    gcfg = comp.generator.mel_config
    fe = _FrontEnds()
    ref_wavs, ref_mels, gen_wavs, gen_mels, per_item = [], [], [], [], []
    durs, seeds, names = [], [], []
    for i, item in enumerate(progress(items, "references")):
        ref = load_audio(item.audio_path(corpus_root), gcfg.sample_rate)
        dur = item_duration(item, len(ref) / gcfg.sample_rate, cfg)
        n = int(round(dur * gcfg.sample_rate))
        ref = np.pad(ref, (0, max(0, n - len(ref))))[:n]
        ref_t = torch.from_numpy(ref)[None]
        ref_wavs.append(ref_t)
        ref_mels.append(fe.log_mel(ref_t, gcfg.sample_rate, gcfg).double().numpy())
        durs.append(dur)
        seeds.append(cfg.seed + i)
        names.append(f"{i:05d}_{_safe_name(item.id)}")
    results = generate_items(comp.generator, [it.captions[0] for it in items], durs, seeds, cfg,
                             [out / "cache" / f"{nm}.npz" for nm in names], lambda x: progress(x, "generate"))
    gen_sr = None
    for i, (item, (wav, sr, mel)) in enumerate(zip(items, results)):
        if gen_sr is not None and sr != gen_sr:
            raise InputError(f"generator changed its sample rate from {gen_sr} to {sr}")
        gen_sr = sr
        gen_wavs.append(wav)
        gen_mels.append(mel)
        if cfg.domain == "waveform":
            save_audio(out / "audio" / f"{names[i]}.wav", wav[0], sr,
                       {"prompt": item.captions[0], "seed": seeds[i], "item": item.id})
        per_item.append({"id": item.id, "prompt": item.captions[0], "seed": seeds[i], "duration": durs[i]})
    assert gen_sr is not None
    if cfg.domain == "waveform":
        if abs(gen_mels[0].shape[-1] - num_frames(gen_wavs[0].shape[-1], gcfg)) > 2:
            meta = {**(meta or {}), "warning": "generator mel length differs from its waveform's mel length"}
        ref_f = extract_features(comp, ref_wavs, gcfg.sample_rate, ref_mels, fe, cfg.aisfx_head,
                                 lambda x: progress(x, "features (reference)"))
        gen_f = extract_features(comp, gen_wavs, gen_sr, gen_mels, fe, cfg.aisfx_head,
                                 lambda x: progress(x, "features (generated)"))
    else:
        if comp.aisfx is not None or "aisfx" not in comp.reasons:
            comp.aisfx = None
            comp.reasons["aisfx"] = "needs waveforms (mel-domain evaluation skips the vocoder)"
        ref_f = extract_features_mel(comp, ref_mels, gcfg, lambda x: progress(x, "features (reference)"))
        gen_f = extract_features_mel(comp, gen_mels, gcfg, lambda x: progress(x, "features (generated)"))
    captions = [list(it.captions) for it in items]
    text_emb = None
    if comp.clap is not None:
        text_emb = _arr(comp.clap.embed_text([c[0] for c in captions]), "clap.embed_text", len(items))
    targets = None
    if comp.tagger is not None:
        index = {t: k for k, t in enumerate(comp.tagger.tags)}
        targets = [[index[t] for t in it.tags if t in index] for it in items]

    rows = {
        "Generated": score_system(ref_f, gen_f, captions, comp, text_emb, targets, cfg),
        "Original": score_system(ref_f, ref_f, captions, comp, text_emb, targets, cfg),
        "Shuffled references": score_system(ref_f, ref_f.rolled(1), captions, comp, text_emb, targets, cfg),
    }
    if gen_f.captions is not None:
        for rec, caps in zip(per_item, gen_f.captions):
            rec["captions_back"] = caps

    if probes is None:
        probe_report: Any = "n/a: no --probes folder given"
    elif cfg.domain == "mel":
        probe_report = "n/a: the probe checkers need waveforms (mel-domain evaluation skips the vocoder)"
    elif comp.probe_checker is None:
        probe_report = comp.reason("probe_checker")
    else:
        probe_report = run_probes(comp.generator, comp.probe_checker, probes, cfg, lambda x: progress(x, "probes"),
                                  cache_dir=out / "cache" / "probes")

    from vividsound.eval.aisfx import ATTRIBUTION

    report = {
        "format_version": 1,
        **(meta or {}),
        "config": asdict(cfg),
        "num_items": len(items),
        "metrics": _metric_info(),
        "systems": rows,
        "probes": probe_report,
        "unavailable_components": dict(comp.reasons),
        "attribution": [ATTRIBUTION] if comp.aisfx is not None else [],
        "items": per_item,
    }
    atomic_write_text(out / "report.json", json.dumps(report, indent=2, ensure_ascii=False))
    write_markdown(out / "report.md", report)
    write_grid(out / "spectrograms.png",
               [(per_item[i]["prompt"], ref_mels[i][0], list(gen_mels[i][: cfg.grid_samples]))
                for i in range(min(cfg.grid_items, len(items)))])
    return report


def evaluate_probes(comp: Components, probes: list[dict[str, Any]], out_dir: str | Path, cfg: EvalConfig, *,
                    meta: dict[str, Any] | None = None, show_progress: bool = True) -> dict[str, Any]:
    """Only the probe set (no corpus items): writes ``report.json`` and ``report.md`` in ``out_dir``."""
    from vividsound.eval.report import write_markdown

    if comp.generator is None:
        raise InputError("evaluate needs a generator")
    if cfg.domain != "waveform":
        raise InputError("the probe checkers need waveforms: probes-only evaluation runs in the waveform domain")
    if comp.probe_checker is None:
        raise InputError(comp.reason("probe_checker"))
    if not probes:
        raise InputError("the probe set is empty")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    progress = _progress(show_progress)
    probe_report = run_probes(comp.generator, comp.probe_checker, probes, cfg, lambda x: progress(x, "probes"),
                              cache_dir=out / "cache" / "probes")
    report = {"format_version": 1, **(meta or {}), "config": asdict(cfg), "num_items": 0,
              "metrics": _metric_info(),
              "systems": {}, "probes": probe_report, "unavailable_components": {}, "items": []}
    atomic_write_text(out / "report.json", json.dumps(report, indent=2, ensure_ascii=False))
    write_markdown(out / "report.md", report)
    return report
