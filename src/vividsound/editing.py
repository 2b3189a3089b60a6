"""Editing and long sounds: the sampling core behind continuation, inpainting, variations and clips longer
than the GPT's window (issue 21). :class:`~vividsound.pipeline.TextToSound` exposes these as methods; this
module holds the parts that are not a single GPT call.

* **Windowed sampling** (:func:`iter_columns`, :func:`window_plan`): the GPT sees at most ``max_columns``
  code columns (~10 s for the bundled model). A grid that fits is one window, sampled as usual. A longer
  grid is sampled in windows of ``LONG_WINDOW_S`` seconds (at most the GPT's): each keeps the last
  ``LONG_CONTEXT`` of a window sampled so far as its known prefix (``prompt_tokens``) and samples the rest.
  The window is shorter than the GPT's because the GPT learned where its training clips (median ~5 s)
  end: asked for columns late in its window it tends to let the sound die away, which, repeated every
  window, would put a silence and a restart at every join (measured with the bundled model: 18x the level
  jumps inside clips with 10 s windows). Window 0 uses the row's own seed (its columns are exactly the
  first columns of the plain sample); window w > 0 uses :func:`derive_seed` ``(seed, "window", w)``.
  Every row has its own seed and prefix, so a row never depends on its batch.
* **Known codes**: a prefix (continuation) is never re-sampled, and forced tokens (variations) are
  copied in place of the sampled ones; both come back bit-exact.
* **Splicing** (:func:`splice`): outside the regenerated region the caller's waveform is returned
  bit-exact; a short equal-power crossfade inside the regenerated region joins it to the decoded audio.
"""

from __future__ import annotations

import hashlib
import math
import os
from typing import TYPE_CHECKING, Any, Callable, Iterator, Sequence

import numpy as np
import torch

from vividsound.errors import InputError

if TYPE_CHECKING:  # pragma: no cover
    from vividsound.pipeline import TextToSound

LONG_WINDOW_S = 5.0  # seconds of one window of a grid longer than the GPT's window (capped at the GPT's)
LONG_CONTEXT = 2 / 3  # share of a long-sound window kept as known context when it slides on
MAX_LONG_DURATION = 120.0  # seconds: the longest clip one call makes (windowed beyond the GPT's window)
NEGATIVE_CFG_SCALE = 3.0  # guidance scale a negative prompt gets when neither the call nor the model set one > 1
CROSSFADE_S = 0.05  # seconds of equal-power crossfade where kept audio meets regenerated audio
MAX_TRIES = 32  # inpainting candidates per sound
MAX_CANDIDATES = 16  # best-of-N samples per sound


def derive_seed(seed: int, *tags: Any) -> int:
    """A seed for a sub-draw (a window, a candidate, a variation mask) from a row seed and tags.

    Stable across runs and platforms (blake2b of the text), below 2**63."""
    text = ":".join([str(int(seed)), *map(str, tags)]).encode()
    return int.from_bytes(hashlib.blake2b(text, digest_size=8).digest(), "little") >> 1


def context_columns(window: int) -> int:
    """Columns of known context a long-sound window keeps (at least 1, at most window - 1)."""
    return min(window - 1, max(1, round(LONG_CONTEXT * window)))


def window_plan(max_columns: int, seconds_per_column: float, prefix: int, new: int) -> list[tuple[int, int]]:
    """The windows that sample ``new`` columns after ``prefix`` known ones: [(context kept, new sampled)].

    One window (all of the prefix as context) when prefix + new fits the GPT; else windows of
    ``min(max_columns, LONG_WINDOW_S)`` columns keeping :func:`context_columns` of them."""
    if prefix + new <= max_columns:
        return [(prefix, new)] if new > 0 else []
    window = max(2, min(max_columns, round(LONG_WINDOW_S / seconds_per_column)))
    ctx = context_columns(window)
    plan, have, done = [], prefix, 0
    while done < new:
        keep = min(have, ctx)
        n = min(window - keep, new - done)
        plan.append((keep, n))
        have, done = have + n, done + n
    return plan


def conditions(tts: "TextToSound", prompts: Sequence[str | None], settings: dict[str, Any]):
    """(features, mask, uncond) of the rows' prompts for the GPT: ``uncond`` is the negative prompt's
    features and mask when guidance contrasts against one, else None (the null condition)."""
    device = tts.device
    # A None prompt is the null condition (variations without a prompt): any text, then an all-False mask.
    feats = tts.text_encoder([p if p is not None else "sound" for p in prompts]).to(device)
    null = torch.tensor([p is None for p in prompts], device=device)
    neg = settings.get("negative_prompt")
    uncond = None
    if neg and settings["cfg_scale"] != 1.0:
        nf = tts.text_encoder([neg] * len(prompts)).to(device)
        uncond = (nf.features, nf.mask)
    return feats.features, feats.mask.bool() & ~null[:, None], uncond


def fills_in_the_middle(tts: "TextToSound") -> bool:
    """Whether the model's GPT was trained to fill in the middle (``GPTConfig.fim``)."""
    return bool(getattr(tts.gpt.config, "fim", False))


def sample_middle(tts: "TextToSound", prompts: Sequence[str | None], seeds: Sequence[int], left: torch.Tensor,
                  right: torch.Tensor, columns: int, settings: dict[str, Any],
                  on_token: Callable[[int], None] | None = None) -> torch.Tensor:
    """``columns`` code columns (B, rows, columns) between ``left`` (B, rows, Lc >= 1) and ``right``
    (B, rows, Rc >= 1), sampled by a fill-in-the-middle GPT that has read both sides; one window."""
    gpt, vq = tts.gpt, tts.vqgan
    feat_x, feat_m, uncond = conditions(tts, prompts, settings)
    it = gpt.generate_iter(feat_x, feat_m, columns * gpt.config.rows, seeds=list(seeds), top_k=settings["top_k"],
                           top_p=settings["top_p"], temperature=settings["temperature"],
                           cfg_scale=settings["cfg_scale"], prompt_tokens=vq.codes_to_sequence(left.long()),
                           suffix_tokens=vq.codes_to_sequence(right.long()),
                           **({"uncond": uncond} if uncond is not None else {}))
    toks = []
    for tok in it:
        toks.append(tok)
        if on_token is not None:
            on_token(tok.shape[0])
    return vq.sequence_to_codes(torch.stack(toks, dim=1))


def iter_columns(tts: "TextToSound", prompts: Sequence[str | None], seeds: Sequence[int], new_columns: int,
                 settings: dict[str, Any], *, prefix: torch.Tensor | None = None,
                 force: tuple[torch.Tensor, torch.Tensor] | None = None,
                 on_token: Callable[[int], None] | None = None) -> Iterator[torch.Tensor]:
    """Yield ``new_columns`` sampled code columns (B, rows) one at a time, window after window.

    Args:
        prompts, seeds: one prompt and seed per row (B rows).
        new_columns: columns to sample after ``prefix``.
        settings: resolved sampler settings (``TextToSound.resolve_settings``); ``negative_prompt`` (a
            string) replaces the null condition of guidance.
        prefix: (B, rows, P) known leading columns (not yielded; its last columns are the first window's
            context).
        force: (codes, mask), both (B, rows, new_columns): where ``mask`` is True the column's token is
            ``codes``' instead of a sampled one (it is yielded as such).
        on_token: called with the batch size after every token (progress).
    """
    gpt, vq = tts.gpt, tts.vqgan
    R, W = gpt.config.rows, gpt.config.max_columns
    B = len(prompts)
    device = tts.device
    feat_x, feat_m, uncond = conditions(tts, prompts, settings)
    have = prefix.to(device).long() if prefix is not None else torch.zeros(B, R, 0, dtype=torch.long, device=device)
    if have.shape[0] != B or have.shape[1] != R:
        raise ValueError(f"prefix must be ({B}, {R}, P), got {tuple(have.shape)}")
    done = 0
    for w, (k, n) in enumerate(window_plan(W, tts.seconds_per_column, have.shape[2], new_columns)):
        keep = have[:, :, have.shape[2] - k :]
        row_seeds = list(seeds) if w == 0 else [derive_seed(s, "window", w) for s in seeds]
        kw: dict[str, Any] = {}
        if force is not None:
            fc, fm = force
            kw["force_tokens"] = vq.codes_to_sequence(fc[:, :, done : done + n].long())
            kw["force_mask"] = vq.codes_to_sequence(fm[:, :, done : done + n].long()).bool()
        it = gpt.generate_iter(feat_x, feat_m, n * R, seeds=row_seeds, top_k=settings["top_k"],
                               top_p=settings["top_p"], temperature=settings["temperature"],
                               cfg_scale=settings["cfg_scale"], compile=tts.compile and force is None,
                               prompt_tokens=vq.codes_to_sequence(keep) if keep.shape[2] else None,
                               **({"uncond": uncond} if uncond is not None else {}), **kw)
        col: list[torch.Tensor] = []
        cols: list[torch.Tensor] = []
        for tok in it:
            col.append(tok)
            if on_token is not None:
                on_token(tok.shape[0])
            if len(col) == R:
                c = torch.stack(col, dim=1)  # (B, R)
                cols.append(c)
                col = []
                yield c
        have = torch.cat([keep, torch.stack(cols, dim=2)], dim=2)
        done += n


def sample_grid(tts: "TextToSound", prompts: Sequence[str], seeds: Sequence[int], new_columns: int,
                settings: dict[str, Any], **kw: Any) -> torch.Tensor:
    """All of :func:`iter_columns` as one grid (B, rows, P + new_columns), the prefix included."""
    cols = list(iter_columns(tts, prompts, seeds, new_columns, settings, **kw))
    new = torch.stack(cols, dim=2) if cols else None
    prefix = kw.get("prefix")
    parts = [p for p in (prefix.to(tts.device).long() if prefix is not None else None, new) if p is not None]
    return torch.cat(parts, dim=2)


# ------------------------------------------------------------------------------------------------ audio
def read_clip(audio: str | os.PathLike | np.ndarray | torch.Tensor, sample_rate: int | None,
              target_rate: int, name: str = "audio") -> np.ndarray:
    """A clip as float32 mono samples (N,) at ``target_rate``: a file path, or an array with its rate.

    Other rates are resampled with soxr and several channels ((C, N) arrays, multi-channel files) are
    averaged. Raises :class:`InputError` (arrays) or ``AudioError`` (files) for empty or unreadable audio."""
    from vividsound.audio import load_audio

    if isinstance(audio, (str, os.PathLike)):
        return load_audio(audio, target_rate)
    arr = audio.detach().cpu().float().numpy() if isinstance(audio, torch.Tensor) else np.asarray(audio)
    if sample_rate is None:
        raise InputError(f"{name}: an array needs its sample_rate")
    if isinstance(sample_rate, bool) or not isinstance(sample_rate, int) or not 1000 <= sample_rate <= 384_000:
        raise InputError(f"sample_rate is {sample_rate!r}; allowed: an integer from 1000 to 384000 Hz")
    if arr.ndim == 2:
        arr = arr.mean(axis=0)
    if arr.ndim != 1:
        raise InputError(f"{name} must be (samples,) or (channels, samples), got shape {tuple(arr.shape)}")
    if arr.size == 0:
        raise InputError(f"{name} holds no samples")
    if not np.issubdtype(arr.dtype, np.number) or not np.isfinite(arr).all():
        raise InputError(f"{name} holds non-finite or non-numeric samples")
    arr = arr.astype(np.float32)
    if sample_rate != target_rate:
        import soxr

        arr = soxr.resample(arr, sample_rate, target_rate, quality="HQ").astype(np.float32)
    return np.ascontiguousarray(arr)


@torch.no_grad()
def encode_clip(tts: "TextToSound", wav: np.ndarray, columns: int, *, open_end: bool = False) -> torch.Tensor:
    """Code grid (1, rows, columns) of the first ``columns`` columns of a mono clip at the model's rate.

    The clip is cut or padded (with the silence level) to whole columns. ``open_end``: the clip goes on
    after its last column (continuation), so the encoder's right edge sees the last column mirrored instead
    of its zero padding, which codes as a loud edge the GPT rarely saw mid-clip."""
    from vividsound.audio import MelSpectrogram

    vq = tts.vqgan
    t = vq.frames_per_column
    mel = MelSpectrogram(tts.mel_config).to(tts.device)(torch.from_numpy(wav).to(tts.device))  # (1, n_mels, N//hop)
    mel = vq.pad_mel(mel)[:, :, : columns * t]
    if mel.shape[-1] < columns * t:
        mel = torch.nn.functional.pad(mel, (0, columns * t - mel.shape[-1]), value=tts.mel_config.silence_db)
    extra = 0
    if open_end:
        extra = min(4, columns) * t
        mel = torch.cat([mel, mel[:, :, -extra:].flip(-1)], dim=2)
    codes = vq.encode_in_silence(mel, tts.edge_context).long()
    return codes[:, :, :columns]


def splice(kept: np.ndarray, decoded: torch.Tensor, regions: list[tuple[int, int]], fade: int) -> torch.Tensor:
    """Rows of ``decoded`` (B, N) with ``kept`` (n,) restored outside ``regions`` (regenerated sample spans).

    Samples past ``len(kept)`` stay decoded. Inside each region, ``fade`` samples at each side that touches
    kept audio crossfade (equal power) between the kept and the decoded audio, so kept samples outside the
    regions stay bit-exact and the joins have no step."""
    out = decoded.detach().float().cpu().clone()
    N, n = out.shape[1], min(len(kept), decoded.shape[1])
    k = torch.from_numpy(np.asarray(kept[:n], dtype=np.float32))
    outside = torch.ones(n, dtype=torch.bool)
    for a, b in regions:
        outside[max(0, a) : max(0, min(n, b))] = False
    out[:, :n] = torch.where(outside, k, out[:, :n])
    for a, b in regions:
        a, b = max(0, a), min(N, b)
        f = min(fade, (b - a) // 2)
        if f <= 0:
            continue
        x = 0.5 * math.pi * (torch.arange(f, dtype=torch.float32) + 0.5) / f
        up, down = torch.sin(x), torch.cos(x)  # equal power: up**2 + down**2 == 1
        if 0 < a and a + f <= n:  # kept audio before the region: fade it out over the region's first samples
            out[:, a : a + f] = k[a : a + f] * down + out[:, a : a + f] * up
        if b < n:  # kept audio after the region: fade into it over the region's last samples
            out[:, b - f : b] = k[b - f : b] * up + out[:, b - f : b] * down
    return out


def check_strength(strength: Any) -> float:
    if isinstance(strength, bool) or not isinstance(strength, (int, float)) or not math.isfinite(strength) \
            or not 0.0 <= strength <= 1.0:
        raise InputError(f"strength is {strength!r}; allowed: 0 <= strength <= 1 (0 = a copy, 1 = all codes re-sampled)")
    return float(strength)


def variation_mask(seed: int, rows: int, columns: int, strength: float) -> torch.Tensor:
    """(rows, columns) bool, True = keep the input's code: each token kept with probability 1 - strength.

    Drawn from its own generator (``derive_seed(seed, "vary")``); a uniform draw below ``strength``
    re-samples, so the re-sampled set only grows with strength for a given seed (nested masks)."""
    g = torch.Generator().manual_seed(derive_seed(seed, "vary"))
    u = torch.rand(rows, columns, generator=g)
    return u >= strength
