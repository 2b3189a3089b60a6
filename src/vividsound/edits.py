"""Editing methods of :class:`~vividsound.pipeline.TextToSound`: continue, inpaint, vary and best-of-N.

Each method reads a clip (a file, or an array with its sample rate; other rates are resampled with soxr,
several channels averaged), codes it with the VQGAN encoder, samples new codes around the known ones with
:mod:`vividsound.editing` and decodes. Codes that are kept come back bit-exact. Audio:

* ``continue_audio``: the given audio is returned bit-exact except its last ``crossfade`` seconds, which
  crossfade into the decoded continuation;
* ``inpaint``: the audio outside the span is returned bit-exact; ``crossfade`` seconds at each end of the
  span, inside it, join the original to the decoded span;
* ``vary``: everything is decoded (a near-copy at strength 0 is the codec's round trip).

Inpainting method: a GPT trained to fill in the middle (``GPTConfig.fim``, the recipe's ``fim_rate``) reads
the codes before and after the span and writes it, ``tries`` times. A GPT trained left to right only (the
shipped one) samples the span from the codes before it, ``tries`` times. Either way, the try under which
the GPT gives the fixed codes after the span the highest likelihood (teacher-forced,
:meth:`ConditionalGPT.token_log_likelihood`) is kept.
"""

from __future__ import annotations

import math
import os
from typing import Any, Callable, Sequence

import numpy as np
import torch

from vividsound import __version__
from vividsound.editing import (CROSSFADE_S, MAX_CANDIDATES, MAX_TRIES, check_strength, derive_seed, encode_clip,
                                fills_in_the_middle, read_clip, sample_middle, splice, variation_mask)
from vividsound.errors import InputError

Audio = "str | os.PathLike | np.ndarray | torch.Tensor"
INPAINT_METHOD = "left-to-right tries ranked by the GPT's likelihood of the codes after the span"
INPAINT_METHOD_FIM = ("fill in the middle: the GPT reads the codes before and after the span, then writes it; "
                      "tries ranked by the GPT's likelihood of the codes after the span")


def _whole(name: str, value: Any, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise InputError(f"{name} is {value!r}; allowed: an integer from {low} to {high}")
    return value


def _seconds(name: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise InputError(f"{name} is {value!r}; allowed: a finite number of seconds")
    return float(value)


class EditingMixin:
    """Continuation, inpainting, variations and best-of-N (mixed into ``TextToSound``)."""

    # ------------------------------------------------------------------------------------------ helpers
    @property
    def samples_per_column(self) -> int:
        return self.vqgan.frames_per_column * self.mel_config.hop_length  # type: ignore[attr-defined]

    def read_clip(self, audio: Any, sample_rate: int | None = None, name: str = "audio") -> np.ndarray:
        """A clip as float32 mono samples at the model's rate (see :func:`vividsound.editing.read_clip`)."""
        wav = read_clip(audio, sample_rate, self.mel_config.sample_rate, name)  # type: ignore[attr-defined]
        limit = self.max_long_duration  # type: ignore[attr-defined]
        if len(wav) > round(limit * self.mel_config.sample_rate) + self.samples_per_column:  # type: ignore[attr-defined]
            raise InputError(f"{name} is {len(wav) / self.mel_config.sample_rate:.2f} s long; "  # type: ignore[attr-defined]
                             f"allowed: at most {limit:g} s")
        return wav

    @torch.no_grad()
    def encode_audio(self, audio: Any, sample_rate: int | None = None, *, open_end: bool = False) -> torch.Tensor:
        """A clip's code grid (1, rows, columns) as the edits code it.

        ``open_end=False`` (inpaint, vary): ``ceil(samples / samples_per_column)`` columns, the last padded
        with silence. ``open_end=True`` (continuation): ``floor(...)`` whole columns, the encoder's right
        edge seeing the last column mirrored (the clip goes on); these are the codes ``continue_audio``
        keeps."""
        wav = self.read_clip(audio, sample_rate)
        spc = self.samples_per_column
        cols = len(wav) // spc if open_end else math.ceil(len(wav) / spc)
        if cols < 1:
            raise InputError(f"audio is shorter than one code column ({spc} samples)")
        return encode_clip(self, wav, cols, open_end=open_end).cpu()  # type: ignore[arg-type]

    def _settings(self, s: dict[str, Any], **edit: Any) -> dict[str, Any]:
        t = self  # type: Any
        return {**s, "model": t.name, "vocoder": type(t.vocoder).__name__, "vividsound": __version__,
                **({"quantize": t.quantize} if t.quantize else {}), **edit}

    def _ticker(self, total: int, progress: bool | Callable[[int, int], None]):
        bar, done = None, [0]
        if progress is True:
            from tqdm.auto import tqdm

            bar = tqdm(total=total, unit="tok", desc="generating", leave=False)

        def tick(n: int) -> None:
            done[0] += n
            if bar is not None:
                bar.update(n)
            elif callable(progress):
                progress(done[0], total)

        return tick, (bar.close if bar is not None else (lambda: None))

    def _rows(self, prompt: str | None, num_samples: int, seed: int | None) -> tuple[list[Any], list[int]]:
        if prompt is None:
            rows, seeds = self._items("sound", num_samples, seed)  # type: ignore[attr-defined]
            return [None] * len(rows), seeds
        rows, seeds = self._items(prompt, num_samples, seed)  # type: ignore[attr-defined]
        if len(set(rows)) != 1:
            raise InputError("an edit takes one prompt (a string)")
        return rows, seeds

    # ------------------------------------------------------------------------------------------ continue
    @torch.no_grad()
    def continue_audio(self, audio: Any, prompt: str, *, duration: float, sample_rate: int | None = None,
                       negative_prompt: str | None = None, top_k: int | None = None, top_p: float | None = None,
                       temperature: float | None = None, cfg_scale: float | None = None, seed: int | None = 0,
                       num_samples: int = 1, batch_size: int = 8, candidates: int = 1, scorer: Any = None,
                       crossfade: float = CROSSFADE_S,
                       progress: bool | Callable[[int, int], None] = False):
        """Continue a clip to ``duration`` seconds in all (the given part included).

        The clip is cut to whole code columns (``samples_per_column``); their codes are the GPT's known
        prefix and come back bit-exact in ``codes``; the samples after them are regenerated. Past the GPT's
        window the continuation slides on window by window. Other arguments as in ``__call__``.

        Returns:
            AudioOutput of ``duration`` seconds per row; ``settings["given_seconds"]`` is the kept part.
        """
        t: Any = self
        if duration is None:
            raise InputError("duration: give the total length in seconds (the given clip included)")
        s = t.resolve_settings(duration=duration, top_k=top_k, top_p=top_p, temperature=temperature,
                               cfg_scale=cfg_scale, num_samples=num_samples, batch_size=batch_size,
                               negative_prompt=negative_prompt)
        crossfade = _seconds("crossfade", crossfade)
        if not 0 <= crossfade <= 1:
            raise InputError(f"crossfade is {crossfade!r}; allowed: 0 to 1 s")
        rows, seeds = self._rows(prompt, num_samples, seed)
        wav = self.read_clip(audio, sample_rate)
        spc, sr = self.samples_per_column, t.mel_config.sample_rate
        P = len(wav) // spc
        if P < 1:
            raise InputError(f"audio is {len(wav) / sr:.3f} s; continuing needs at least one code column "
                             f"({spc / sr:.3f} s)")
        total = t.columns_for(s["duration"])
        if total <= P:
            raise InputError(f"duration is {duration!r}; allowed: longer than the given audio's {P * spc / sr:.3f} s "
                             f"(whole columns), at most {t.max_long_duration:g} s")
        prefix = encode_clip(t, wav, P, open_end=True)  # (1, R, P)
        J, n_out, fade = P * spc, round(s["duration"] * sr), round(crossfade * sr)

        def run(rows: list[Any], seeds: list[int]):
            from vividsound.pipeline import AudioOutput

            tick, close = self._ticker(len(rows) * (total - P) * t.gpt.config.rows, progress)
            codes, mels, wavs = [], [], []
            try:
                for i in range(0, len(rows), batch_size):
                    r, sd = rows[i : i + batch_size], seeds[i : i + batch_size]
                    c = t.sample_codes(r, sd, total - P, s, tick, prefix=prefix.expand(len(r), -1, -1))
                    mel, dec = t.decode(c, n_out)
                    codes.append(c.cpu())
                    mels.append(mel.cpu())
                    wavs.append(splice(wav[:J], dec.cpu(), [(J - fade, n_out)], fade))
            finally:
                close()
            settings = self._settings(s, edit="continue", given_columns=P, given_seconds=round(J / sr, 6),
                                      crossfade_s=crossfade)
            return AudioOutput(torch.cat(wavs), sr, torch.cat(codes), torch.cat(mels), list(rows), list(seeds),
                               settings)

        if candidates != 1:
            return self.best_of(run, rows, seeds, candidates, scorer)
        return run(rows, seeds)

    # ------------------------------------------------------------------------------------------ inpaint
    @torch.no_grad()
    def inpaint(self, audio: Any, prompt: str, *, start: float, end: float, sample_rate: int | None = None,
                tries: int = 4, negative_prompt: str | None = None, top_k: int | None = None,
                top_p: float | None = None, temperature: float | None = None, cfg_scale: float | None = None,
                seed: int | None = 0, num_samples: int = 1, batch_size: int = 8, crossfade: float = CROSSFADE_S,
                progress: bool | Callable[[int, int], None] = False):
        """Regenerate the span ``start``..``end`` seconds of a clip, using the context on both sides.

        The span is widened to whole code columns. ``tries`` candidates are sampled from the codes around
        the span (as much as fits the GPT's window): by a GPT trained to fill in the middle (``GPTConfig.fim``)
        from the codes before *and* after it, otherwise left to right from the codes before it; the one
        under which the GPT gives the codes after the span the highest log-likelihood is kept (the scores
        are in ``extra``, the method in ``settings["inpaint_method"]``). Codes outside the span come back bit-exact, audio outside it too (crossfades
        lie inside the span). Try 0 of a row uses the row's seed, try k ``derive_seed(seed, "try", k)``.
        """
        t: Any = self
        start, end = _seconds("start", start), _seconds("end", end)
        _whole("tries", tries, 1, MAX_TRIES)
        crossfade = _seconds("crossfade", crossfade)
        if not 0 <= crossfade <= 1:
            raise InputError(f"crossfade is {crossfade!r}; allowed: 0 to 1 s")
        rows, seeds = self._rows(prompt, num_samples, seed)
        wav = self.read_clip(audio, sample_rate)
        spc, sr, R, W = self.samples_per_column, t.mel_config.sample_rate, t.gpt.config.rows, t.gpt.config.max_columns
        n, col_s = len(wav), spc / sr
        clip_s = n / sr
        if not 0 <= start < end <= clip_s + 1e-6:
            raise InputError(f"span {start:g}..{end:g} s; allowed: 0 <= start < end <= {clip_s:.3f} s (the clip)")
        if end - start < col_s - 1e-9:
            raise InputError(f"span {start:g}..{end:g} s is shorter than one code column ({col_s:.3f} s)")
        cols = math.ceil(n / spc)
        sc, ec = int(math.floor(start / col_s + 1e-9)), min(cols, int(math.ceil(end / col_s - 1e-9)))
        S = ec - sc
        if S > W - 1:
            raise InputError(f"span {start:g}..{end:g} s covers {S} code columns; allowed: at most {W - 1} "
                             f"({(W - 1) * col_s:.2f} s), the GPT's window less one column of context")
        s = t.resolve_settings(duration=min(clip_s, t.max_long_duration), top_k=top_k, top_p=top_p,
                               temperature=temperature, cfg_scale=cfg_scale, num_samples=num_samples,
                               batch_size=batch_size, negative_prompt=negative_prompt)
        codes = encode_clip(t, wav, cols)  # (1, R, cols)
        Rc = min(cols - ec, (W - S) // 2)
        Lc = min(sc, W - S - Rc)
        Rc = min(cols - ec, W - S - Lc)
        T = tries if Rc > 0 else 1  # nothing after the span: nothing to rank by
        left, right = codes[:, :, sc - Lc : sc], codes[:, :, ec : ec + Rc]
        fim = fills_in_the_middle(t) and Lc > 0 and Rc > 0  # a GPT trained to fill in reads both sides
        cand_rows = [r for r in rows for _ in range(T)]
        cand_seeds = [sd if k == 0 else derive_seed(sd, "try", k) for sd in seeds for k in range(T)]
        tick, close = self._ticker(len(cand_rows) * S * R, progress)
        grids, lls = [], []
        try:
            for i in range(0, len(cand_rows), batch_size):
                r, sd = cand_rows[i : i + batch_size], cand_seeds[i : i + batch_size]
                lb, rb = left.expand(len(r), -1, -1).to(t.device), right.expand(len(r), -1, -1).to(t.device)
                if fim:
                    g = sample_middle(t, r, sd, lb, rb, S, s, tick)
                else:
                    g = t.sample_codes(r, sd, S, s, tick, prefix=lb if Lc else None)[:, :, Lc:]
                grids.append(g.cpu())  # (b, R, S)
                if T > 1:
                    seq = t.vqgan.codes_to_sequence(torch.cat([lb, g, rb], dim=2))
                    f = t.text_encoder(list(r)).to(t.device)
                    lp = t.gpt.token_log_likelihood(seq, f.features, f.mask)  # (b, (Lc+S+Rc) * R)
                    lls.append(lp[:, -Rc * R :].sum(1).cpu())
        finally:
            close()
        spans = torch.cat(grids).view(len(rows), T, R, S)
        ll = torch.cat(lls).view(len(rows), T) if T > 1 else torch.zeros(len(rows), 1)
        best = ll.argmax(dim=1)  # (rows,)
        full = codes.cpu().expand(len(rows), -1, -1).clone()
        full[:, :, sc:ec] = spans[torch.arange(len(rows)), best]
        mel, dec = t.decode(full, n)
        a, b = sc * spc, min(ec * spc, n)
        out = splice(wav, dec.cpu(), [(a, b)], round(crossfade * sr))
        extra = [{"tries": T, "kept_try": int(best[i]), "try_seeds": cand_seeds[i * T : (i + 1) * T],
                  "right_log_likelihoods": [round(float(x), 4) for x in ll[i]] if T > 1 else None}
                 for i in range(len(rows))]
        settings = self._settings(s, duration=round(clip_s, 6), edit="inpaint", span_columns=[sc, ec],
                                  span_seconds=[round(a / sr, 6), round(b / sr, 6)], inpaint_method=INPAINT_METHOD_FIM if fim else INPAINT_METHOD,
                                  context_columns=[Lc, Rc], crossfade_s=crossfade)
        from vividsound.pipeline import AudioOutput

        return AudioOutput(out, sr, full, mel.cpu(), list(rows), list(seeds), settings, extra)

    # ------------------------------------------------------------------------------------------ vary
    @torch.no_grad()
    def vary(self, audio: Any, prompt: str | None = None, *, strength: float = 0.5, sample_rate: int | None = None,
             negative_prompt: str | None = None, top_k: int | None = None, top_p: float | None = None,
             temperature: float | None = None, cfg_scale: float | None = None, seed: int | None = 0,
             num_samples: int = 1, batch_size: int = 8, candidates: int = 1, scorer: Any = None,
             progress: bool | Callable[[int, int], None] = False):
        """New clips that keep the character of ``audio``: a share ``1 - strength`` of its codes is kept.

        Each code token of the clip is kept with probability ``1 - strength`` (a per-row mask drawn from
        ``derive_seed(seed, "vary")``; for one seed a larger strength re-samples a superset) and the rest are
        sampled left to right by the GPT, which reads the kept ones as context. ``strength=0`` gives the
        codec's round trip, ``1`` a new sound from ``prompt`` alone (or, without a prompt, from the null
        condition). A negative prompt needs a prompt.
        """
        t: Any = self
        strength = check_strength(strength)
        if prompt is None and negative_prompt is not None:
            raise InputError("negative_prompt needs a prompt: guidance steers from the negative towards the prompt")
        rows, seeds = self._rows(prompt, num_samples, seed)
        wav = self.read_clip(audio, sample_rate)
        spc, sr, R = self.samples_per_column, t.mel_config.sample_rate, t.gpt.config.rows
        n = len(wav)
        s = t.resolve_settings(duration=min(n / sr, t.max_long_duration), top_k=top_k, top_p=top_p,
                               temperature=temperature, cfg_scale=cfg_scale, num_samples=num_samples,
                               batch_size=batch_size, negative_prompt=negative_prompt)
        cols = math.ceil(n / spc)
        codes = encode_clip(t, wav, cols)  # (1, R, cols)

        def run(rows: list[Any], seeds: list[int]):
            from vividsound.pipeline import AudioOutput

            tick, close = self._ticker(len(rows) * cols * R, progress)
            out_codes, mels, wavs, extra = [], [], [], []
            try:
                for i in range(0, len(rows), batch_size):
                    r, sd = rows[i : i + batch_size], seeds[i : i + batch_size]
                    mask = torch.stack([variation_mask(x, R, cols, strength) for x in sd])  # (b, R, cols)
                    c = t.sample_codes(r, sd, cols, s, tick, force=(codes.expand(len(r), -1, -1), mask))
                    mel, dec = t.decode(c, n)
                    out_codes.append(c.cpu())
                    mels.append(mel.cpu())
                    wavs.append(dec.cpu())
                    extra += [{"kept_share": round(float(m.float().mean()), 4)} for m in mask]
            finally:
                close()
            settings = self._settings(s, duration=round(n / sr, 6), edit="vary", strength=strength)
            return AudioOutput(torch.cat(wavs), sr, torch.cat(out_codes), torch.cat(mels), list(rows), list(seeds),
                               settings, extra)

        if candidates != 1:
            if prompt is None:
                raise InputError("candidates > 1 needs a prompt: the scorer rates sounds against it")
            return self.best_of(run, rows, seeds, candidates, scorer)
        return run(rows, seeds)

    # ------------------------------------------------------------------------------------------ best of N
    def scorer(self, scorer: Any = None):
        """The :class:`~vividsound.scoring.ClapScorer` for best-of-N: ``scorer`` (a folder or a scorer),
        else the model folder's ``clap/``; none available is a one-line :class:`InputError`."""
        from pathlib import Path

        from vividsound.scoring import ClapScorer

        if isinstance(scorer, ClapScorer):
            return scorer
        t: Any = self
        if scorer is None:
            src = getattr(t, "source_dir", None)
            if src is None or not (Path(src) / "clap" / "config.json").is_file():
                raise InputError("candidates > 1 needs a scorer, and this model folder has no clap/ component; "
                                 "pass --scorer DIR (scorer=DIR): a CLAP component folder from the recipe's clap stage")
            scorer = Path(src) / "clap"
        cache = t.__dict__.setdefault("_scorers", {})
        key = str(Path(scorer).resolve())
        if key not in cache:
            cache[key] = ClapScorer.load(scorer, t.device)
        return cache[key]

    def best_of(self, run: Callable[[list[Any], list[int]], Any], rows: Sequence[str], seeds: Sequence[int],
                candidates: int, scorer: Any = None, *, on_mel: bool = False):
        """Run ``run(rows, seeds)`` for ``candidates`` seeds per row and keep each row's best-scored sound.

        Candidate 0 of a row is its own seed, candidate c ``derive_seed(seed, "candidate", c)``; the kept
        row carries the winning seed (so ``seed=`` that value reproduces it) and, in ``extra``, every
        candidate's seed and score. ``on_mel``: score the outputs' decoded log-mels (the scorer reads this
        model's mel settings) rather than their waveforms, which ``run`` may then leave empty."""
        _whole("candidates", candidates, 1, MAX_CANDIDATES)
        sc = self.scorer(scorer)
        N = candidates
        c_rows = [r for r in rows for _ in range(N)]
        c_seeds = [sd if c == 0 else derive_seed(sd, "candidate", c) for sd in seeds for c in range(N)]
        out = run(c_rows, c_seeds)
        if on_mel:
            scores = sc.score_mel(out.mel, c_rows).view(len(rows), N)
        else:
            scores = sc.score(out.waveform, out.sample_rate, c_rows).view(len(rows), N)
        best = scores.argmax(dim=1)
        idx = torch.arange(len(rows)) * N + best
        keep = idx.tolist()
        extra = []
        for i, k in enumerate(keep):
            e = dict(out.extra[k]) if out.extra is not None else {}
            e.update(candidates=N, scorer=sc.name, score=round(float(scores[i, best[i]]), 5),
                     candidate_seeds=c_seeds[i * N : (i + 1) * N],
                     candidate_scores=[round(float(x), 5) for x in scores[i]])
            extra.append(e)
        from vividsound.pipeline import AudioOutput

        return AudioOutput(out.waveform[idx], out.sample_rate, out.codes[idx], out.mel[idx], [c_rows[k] for k in keep],
                           [c_seeds[k] for k in keep], out.settings, extra)
