"""Evaluation metrics as pure functions on arrays (numpy or torch, computed in float64 numpy).

Definitions follow the paper (Li et al., ICASSP 2023, Sec. 4) and SpecVQGAN (Iashin & Rahtu 2021),
whose evaluation the paper reuses:

* **PSNR** between generated and reference log-mels, on spectrograms normalised to [0, 1] the
  SpecVQGAN way (``20 log10`` magnitude mel, ``+ 100 - 20`` dB, ``/ 100``, clipped), peak 1.
  Identical inputs have infinite PSNR; it is reported as the cap (100 dB by default).
* **Fréchet distance** between Gaussians fitted to two feature sets (the FID role, on our tagger's
  embeddings or on aisfx embeddings).
* **MMKL** (multi-label KL): the tagger outputs one sigmoid per class, so each class is a Bernoulli
  variable; the KL of the reference's Bernoulli to the generated one's, ``KL(ref || gen)`` as SpecVQGAN
  orders it (reference as the pseudo-target), averaged over classes and over (reference, generation)
  pairs. SpecVQGAN's single-label "MKL" instead sums a softmax KL over classes: that is
  :func:`categorical_kl`.
* **Published KL** (:func:`published_kl`): the paired KL exactly as AudioLDM's and AudioGen's evaluation
  code computes it (``sum_c r_c ln(r_c / (g_c + 1e-6))`` per pair, mean over pairs), on softmax or
  sigmoid outputs. MMKL is not this number (it averages full Bernoulli KLs over classes); report the
  published form to set a result beside those papers' tables (with their classifier, not ours).
* **Inception score** ``exp(E_x KL(p(y|x) || p(y)))`` from class probabilities, over splits.
* **Diversity**: mean pairwise distance between the N samples generated for one prompt.
* **CLAP score**: mean cosine similarity of paired audio and text embeddings.
* **Class relevance**: the fraction of prompted events found in the tagger's top-k for the generation.

Every function accepts numpy arrays or torch tensors and returns Python floats (or small dataclasses).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np

from vividsound.errors import InputError

__all__ = [
    "normalize_log_mel",
    "psnr",
    "psnr_per_item",
    "FeatureStats",
    "feature_stats",
    "frechet_distance",
    "frechet_distance_features",
    "bernoulli_kl",
    "mmkl",
    "categorical_kl",
    "published_kl",
    "NonFiniteError",
    "InceptionScore",
    "inception_score",
    "pairwise_diversity",
    "clap_score",
    "class_relevance",
]

PSNR_CAP_DB = 100.0  # PSNR reported for identical spectrograms (their MSE is 0)
KL_EPS = 1e-6  # probabilities are clamped to [eps, 1 - eps] before logs (SpecVQGAN adds 1e-6)


class NonFiniteError(InputError):
    """A metric's input holds NaN or infinite values: a model upstream failed; never reported as a score."""


def _np(x: Any, name: str, ndim: int | tuple[int, ...] | None = None) -> np.ndarray:
    """Convert a numpy array / torch tensor / nested list to float64 numpy, checking ``ndim``."""
    if hasattr(x, "detach"):  # torch tensor, without importing torch here
        x = x.detach().cpu().double().numpy()
    arr = np.asarray(x, dtype=np.float64)
    if ndim is not None:
        allowed = (ndim,) if isinstance(ndim, int) else ndim
        if arr.ndim not in allowed:
            raise InputError(f"{name} must have {' or '.join(map(str, allowed))} dimensions, got shape {arr.shape}")
    if not np.isfinite(arr).all():
        raise NonFiniteError(f"{name} holds non-finite values (NaN or inf)")
    return arr


# --------------------------------------------------------------------------------------------------
# PSNR
# --------------------------------------------------------------------------------------------------

def normalize_log_mel(log_mel: Any, *, ref_db: float = 20.0, min_db: float = -100.0) -> np.ndarray:
    """Map natural-log magnitude mels to SpecVQGAN's [0, 1] spectrogram scale.

    SpecVQGAN computes ``20 * log10(max(mel, 1e-5))``, subtracts 20 dB, adds 100 dB, divides by 100 and
    clips to [0, 1]. Our log-mel is ``ln(max(mel, 1e-5))`` of the magnitude mel, so the dB value is
    ``20 / ln(10) * log_mel``.

    Args:
        log_mel: log-mel of any shape, e.g. (B, n_mels, T), natural log of a magnitude mel.
        ref_db: the level subtracted first (SpecVQGAN: 20 dB).
        min_db: the level mapped to 0 (SpecVQGAN: -100 dB).

    Returns:
        Array of the same shape with values in [0, 1], float64.
    """
    x = _np(log_mel, "log_mel")
    db = (20.0 / math.log(10.0)) * x
    return np.clip((db - ref_db - min_db) / (-min_db), 0.0, 1.0)


def psnr_per_item(generated: Any, reference: Any, *, normalize: bool = True, data_range: float = 1.0,
                  cap_db: float = PSNR_CAP_DB) -> np.ndarray:
    """PSNR of each generated log-mel against its reference, in dB, capped at ``cap_db``.

    Args:
        generated: log-mels (B, n_mels, T) or (n_mels, T).
        reference: log-mels of the same shape.
        normalize: map both through :func:`normalize_log_mel` first (the paper's setting); when False
            the inputs are taken as already on a scale whose peak-to-peak range is ``data_range``.
        data_range: the peak signal value (1 for normalised spectrograms).
        cap_db: the value reported when the MSE is 0 (identical inputs) or the PSNR exceeds it.

    Returns:
        (B,) float64 array of PSNR values in dB.
    """
    g = _np(generated, "generated", (2, 3))
    r = _np(reference, "reference", (2, 3))
    if g.shape != r.shape:
        raise InputError(f"generated shape {g.shape} differs from reference shape {r.shape}")
    if g.ndim == 2:
        g, r = g[None], r[None]
    if normalize:
        g, r = normalize_log_mel(g), normalize_log_mel(r)
    mse = ((g - r) ** 2).reshape(g.shape[0], -1).mean(axis=1)
    out = np.full(mse.shape, float(cap_db))
    pos = mse > 0
    out[pos] = np.minimum(10.0 * np.log10(data_range**2 / mse[pos]), cap_db)
    return out


def psnr(generated: Any, reference: Any, **kwargs: Any) -> float:
    """Mean of :func:`psnr_per_item` over the batch (same arguments), in dB."""
    return float(psnr_per_item(generated, reference, **kwargs).mean())


# --------------------------------------------------------------------------------------------------
# Fréchet distance
# --------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class FeatureStats:
    """Gaussian statistics of a feature set: mean (D,), covariance (D, D) and the number of rows."""

    mu: np.ndarray  # (D,)
    sigma: np.ndarray  # (D, D), unbiased (N - 1) covariance
    n: int  # number of feature vectors the statistics were computed from


def feature_stats(features: Any) -> FeatureStats:
    """Mean and unbiased covariance of a feature set.

    Args:
        features: (N, D) array, N >= 2.

    Returns:
        :class:`FeatureStats` with ``mu`` (D,) and ``sigma`` (D, D).
    """
    x = _np(features, "features", 2)
    if x.shape[0] < 2:
        raise InputError(f"features need at least 2 rows for a covariance, got {x.shape[0]}")
    mu = x.mean(axis=0)
    sigma = np.cov(x, rowvar=False)
    return FeatureStats(mu=mu, sigma=np.atleast_2d(sigma), n=int(x.shape[0]))


def _psd_sqrt(a: np.ndarray) -> np.ndarray:
    """Square root of a symmetric positive semi-definite matrix by eigen-decomposition.

    Only negative eigenvalues (rounding noise of a PSD matrix) are set to 0; no relative threshold is
    applied, so nothing of the spectrum is thrown away.
    """
    a = 0.5 * (a + a.T)
    w, v = np.linalg.eigh(a)
    return (v * np.sqrt(np.clip(w, 0.0, None))) @ v.T


def _trace_sqrt_product(s1: np.ndarray, s2: np.ndarray) -> float:
    """``Tr sqrt(s1 @ s2)`` for PSD ``s1``, ``s2`` without a general (complex) sqrtm.

    ``s1 @ s2`` is similar to ``(r1 r2)(r1 r2)^T`` with ``r = s^1/2``, so its eigenvalues are the squared
    singular values of ``r1 @ r2`` and the trace of its square root is their sum (the nuclear norm).
    Taking singular values of ``r1 @ r2`` instead of eigenvalues of ``r1 s2 r1`` avoids squaring the
    condition number: an eigenvalue ``w`` of a covariance then keeps its ``w``-sized share of the trace
    instead of being lost below the rounding level of ``w**2`` (which made ``FD(a, a)`` of an embedding
    set with a decaying spectrum come out at 1e-3 instead of 0). It stays real and stable for singular
    covariances, where ``scipy.linalg.sqrtm(s1 @ s2)`` returns complex noise.
    """
    return float(np.linalg.svd(_psd_sqrt(s1) @ _psd_sqrt(s2), compute_uv=False).sum())


def frechet_distance(a: FeatureStats, b: FeatureStats) -> float:
    """Fréchet distance between two Gaussians (Heusel et al. 2017):

    ``||mu_a - mu_b||^2 + Tr(S_a) + Tr(S_b) - 2 Tr sqrt(S_a S_b)``.

    The trace term is the nuclear norm of ``S_a^1/2 S_b^1/2`` (see :func:`_trace_sqrt_product`), which is
    symmetric in ``a`` and ``b``; a set against itself scores 0 up to float64 rounding (~1e-13 of the
    traces). Tiny negative results of rounding are reported as 0.

    Args:
        a: statistics of the first set (D-dimensional).
        b: statistics of the second set (same D).

    Returns:
        The distance, a float >= 0.
    """
    if a.mu.shape != b.mu.shape:
        raise InputError(f"feature dimensions differ: {a.mu.shape[0]} vs {b.mu.shape[0]}")
    diff = a.mu - b.mu
    tr = _trace_sqrt_product(a.sigma, b.sigma)
    return max(float(diff @ diff + np.trace(a.sigma) + np.trace(b.sigma) - 2.0 * tr), 0.0)


def frechet_distance_features(x: Any, y: Any) -> float:
    """Fréchet distance between two feature sets (N, D) and (M, D); see :func:`frechet_distance`."""
    return frechet_distance(feature_stats(x), feature_stats(y))


# --------------------------------------------------------------------------------------------------
# KL divergences
# --------------------------------------------------------------------------------------------------

def bernoulli_kl(p: Any, q: Any, eps: float = KL_EPS) -> np.ndarray:
    """Element-wise ``KL(Bernoulli(p) || Bernoulli(q))`` in nats.

    ``p log(p / q) + (1 - p) log((1 - p) / (1 - q))`` with both clamped to ``[eps, 1 - eps]``.

    Args:
        p: probabilities of any shape (the reference).
        q: probabilities broadcastable to ``p`` (the generation).

    Returns:
        Array of the broadcast shape, >= 0.
    """
    p = np.clip(_np(p, "p"), eps, 1.0 - eps)
    q = np.clip(_np(q, "q"), eps, 1.0 - eps)
    kl = p * (np.log(p) - np.log(q)) + (1.0 - p) * (np.log1p(-p) - np.log1p(-q))
    return np.clip(kl, 0.0, None)


def _pair(ref: Any, gen: Any, name_ref: str, name_gen: str) -> tuple[np.ndarray, np.ndarray]:
    """Broadcast references (N, C) against generations (N, C) or (N, S, C) -> two (N*S, C) arrays."""
    r = _np(ref, name_ref, 2)
    g = _np(gen, name_gen, (2, 3))
    if g.ndim == 2:
        g = g[:, None]
    if g.shape[0] != r.shape[0] or g.shape[2] != r.shape[1]:
        raise InputError(f"{name_gen} shape {g.shape} does not pair with {name_ref} shape {r.shape}")
    r = np.broadcast_to(r[:, None], g.shape)
    return r.reshape(-1, r.shape[-1]), g.reshape(-1, g.shape[-1])


def mmkl(ref_probs: Any, gen_probs: Any, eps: float = KL_EPS) -> float:
    """The paper's multi-label KL (MMKL) between tagger sigmoid outputs.

    For every (reference, generation) pair and every class c, the Bernoulli KL
    ``KL(Bern(r_c) || Bern(g_c))`` (reference as the target, as SpecVQGAN orders its KL), averaged over
    classes and then over pairs. Lower is better; 0 when the tagger sees the same events.

    Args:
        ref_probs: (N, C) sigmoid probabilities of the reference clips.
        gen_probs: (N, C) or (N, S, C) for S generations per reference (each paired with its reference).

    Returns:
        The mean KL in nats per class.
    """
    r, g = _pair(ref_probs, gen_probs, "ref_probs", "gen_probs")
    return float(bernoulli_kl(r, g, eps).mean())


def categorical_kl(ref_probs: Any, gen_probs: Any, eps: float = KL_EPS) -> float:
    """``KL(ref || gen)`` of categorical distributions, summed over classes, averaged over pairs.

    This is SpecVQGAN's single-label KL (softmax outputs of a classifier); we use it on the aisfx heads.

    Args:
        ref_probs: (N, C) probabilities (rows sum to 1) of the reference clips.
        gen_probs: (N, C) or (N, S, C) probabilities of the generations.

    Returns:
        The mean KL in nats.
    """
    r, g = _pair(ref_probs, gen_probs, "ref_probs", "gen_probs")
    for name, a in (("ref_probs", r), ("gen_probs", g)):
        if (a < -1e-9).any() or not np.allclose(a.sum(axis=1), 1.0, atol=1e-4):
            raise InputError(f"{name} rows must be probability distributions (non-negative, summing to 1)")
    r = np.clip(r, 0.0, None)
    g = np.clip(g, eps, None)
    terms = np.where(r > 0, r * (np.log(np.clip(r, 1e-300, None)) - np.log(g)), 0.0)
    return float(max(terms.sum(axis=1).mean(), 0.0))


def published_kl(ref_probs: Any, gen_probs: Any, eps: float = KL_EPS) -> float:
    """The paired KL as published text-to-audio tables compute it, for setting our numbers beside theirs.

    For every (reference, generation) pair: ``sum_c r_c * (ln r_c - ln(g_c + eps))``, then the mean over
    pairs. This is ``torch.nn.functional.kl_div((gen + eps).log(), ref, reduction="sum") / N``, the form
    of AudioLDM's evaluation (``kullback_leibler_divergence_softmax`` / ``_sigmoid``, on a classifier's
    softmax or sigmoid outputs) and of AudioGen's (audiocraft's ``kld``, on PaSST's label probabilities).
    On softmax outputs it is the categorical ``KL(ref || gen)``. On sigmoid outputs it is *not* a
    divergence between Bernoulli variables (it drops the ``(1 - r) ln((1 - r) / (1 - g))`` half and sums
    over classes), which is why it differs from :func:`mmkl` (a per-class mean of full Bernoulli KLs).
    Terms with ``r_c = 0`` are 0, as in ``kl_div``.

    Args:
        ref_probs: (N, C) probabilities of the reference clips.
        gen_probs: (N, C) or (N, S, C) probabilities of the generations (each paired with its reference).
        eps: added to the generation's probabilities before the log (both toolkits use 1e-6).

    Returns:
        The mean over pairs, in nats (can be slightly negative on sigmoid outputs, as in the toolkits).
    """
    r, g = _pair(ref_probs, gen_probs, "ref_probs", "gen_probs")
    if (r < 0).any() or (g < 0).any() or (r > 1).any() or (g > 1).any():
        raise InputError("ref_probs and gen_probs must be probabilities in [0, 1]")
    terms = np.where(r > 0, r * (np.log(np.clip(r, 1e-300, None)) - np.log(g + eps)), 0.0)
    return float(terms.sum(axis=1).mean())


# --------------------------------------------------------------------------------------------------
# Inception score
# --------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class InceptionScore:
    """Inception score: mean and standard deviation over splits."""

    mean: float
    std: float
    splits: int


def inception_score(probs: Any, splits: int = 10, eps: float = 1e-12) -> InceptionScore:
    """Inception score ``exp(E_x KL(p(y|x) || p(y)))`` from per-clip class probabilities.

    The clips are cut into ``splits`` consecutive parts (fewer when there are fewer clips); the marginal
    ``p(y)`` and the score are computed per part, and the mean and standard deviation over parts are
    returned. It lies in [1, C]: 1 when every clip gets the same distribution, C for confident,
    uniformly spread classes. For multi-label sigmoid outputs normalise rows to sum 1 first.

    Args:
        probs: (N, C) rows summing to 1.
        splits: number of parts (>= 1).

    Returns:
        :class:`InceptionScore`.
    """
    p = _np(probs, "probs", 2)
    if splits < 1:
        raise InputError(f"splits must be >= 1, got {splits}")
    if (p < -1e-9).any() or not np.allclose(p.sum(axis=1), 1.0, atol=1e-4):
        raise InputError("probs rows must be probability distributions (non-negative, summing to 1)")
    n = p.shape[0]
    k = max(1, min(splits, n))
    scores = []
    for part in np.array_split(np.clip(p, eps, None), k):
        marginal = part.mean(axis=0, keepdims=True)
        kl = (part * (np.log(part) - np.log(marginal))).sum(axis=1).mean()
        scores.append(math.exp(kl))
    return InceptionScore(mean=float(np.mean(scores)), std=float(np.std(scores)), splits=k)


# --------------------------------------------------------------------------------------------------
# Diversity, CLAP score, class relevance
# --------------------------------------------------------------------------------------------------

def pairwise_diversity(features: Any, metric: str = "cosine") -> float:
    """Mean pairwise distance between the S samples of each prompt, averaged over prompts.

    Args:
        features: (P, S, D) features of S >= 2 samples for each of P prompts (tagger embeddings, or
            flattened log-mels).
        metric: ``"cosine"`` (1 - cosine similarity) or ``"l2"`` (Euclidean distance).

    Returns:
        The mean distance; 0 when all samples of every prompt are identical.
    """
    x = _np(features, "features", 3)
    if x.shape[1] < 2:
        raise InputError(f"diversity needs at least 2 samples per prompt, got {x.shape[1]}")
    if metric == "cosine":
        u = x / np.clip(np.linalg.norm(x, axis=-1, keepdims=True), 1e-12, None)
        d = 1.0 - np.einsum("psd,ptd->pst", u, u)
    elif metric == "l2":
        sq = (x**2).sum(-1)
        d = np.sqrt(np.clip(sq[:, :, None] + sq[:, None, :] - 2 * np.einsum("psd,ptd->pst", x, x), 0.0, None))
    else:
        raise InputError(f"metric {metric!r} is not one of ['cosine', 'l2']")
    s = x.shape[1]
    iu = np.triu_indices(s, k=1)
    return float(np.clip(d[:, iu[0], iu[1]], 0.0, None).mean())


def clap_score(audio_emb: Any, text_emb: Any) -> float:
    """Mean cosine similarity of paired audio and text embeddings (B, D) each; in [-1, 1]."""
    a = _np(audio_emb, "audio_emb", 2)
    t = _np(text_emb, "text_emb", 2)
    if a.shape != t.shape:
        raise InputError(f"audio_emb shape {a.shape} differs from text_emb shape {t.shape}")
    a = a / np.clip(np.linalg.norm(a, axis=1, keepdims=True), 1e-12, None)
    t = t / np.clip(np.linalg.norm(t, axis=1, keepdims=True), 1e-12, None)
    return float((a * t).sum(axis=1).mean())


def class_relevance(probs: Any, targets: Sequence[Sequence[int]], k: int = 5) -> float:
    """Fraction of prompted events that appear among the tagger's top-k classes for the generation.

    Args:
        probs: (N, C) tagger probabilities of N generations.
        targets: for each generation, the class indices the prompt asked for (may be empty; such
            generations do not count).
        k: how many top classes count as "heard".

    Returns:
        hits / prompted events, in [0, 1].
    """
    p = _np(probs, "probs", 2)
    if len(targets) != p.shape[0]:
        raise InputError(f"targets has {len(targets)} entries for {p.shape[0]} generations")
    if not 1 <= k < p.shape[1]:  # k >= C would count every prompted event as heard
        raise InputError(f"k must be in 1..{p.shape[1] - 1} for {p.shape[1]} classes, got {k}")
    top = np.argsort(-p, axis=1, kind="stable")[:, :k]
    hits = total = 0
    for row, tgt in zip(top, targets):
        for c in tgt:
            if not 0 <= int(c) < p.shape[1]:
                raise InputError(f"target class {c} is outside 0..{p.shape[1] - 1}")
            total += 1
            hits += int(int(c) in row)
    if total == 0:
        raise InputError("class_relevance got no prompted events in targets")
    return hits / total
