"""Compositional mixtures: placed events whose captions are true by construction.

A *recipe* (plain JSON) lists the clips used, each with its onset, length and gain; it is drawn from a
seeded generator from one split's clips only, so mixtures never mix splits. :func:`render_mixture` turns
a recipe into audio. Recipes are cheap to draw, so the builder draws them all up front (deterministic
for a seed) and renders the missing ones in parallel.
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from vividsound.data.captions import ClipInfo, mixture_captions

__all__ = ["RELATIONS", "Pool", "Bucket", "draw_recipe", "render_mixture", "loop_fill", "TARGET_DB", "FILL_SECONDS"]

SR = 22050
MAX_SECONDS = 10.0
TARGET_DB = -20.0  # active RMS level an event at gain 0 dB is normalised to
RELATIONS = ("background", "then", "then_and", "k_times", "over_music", "speech_then", "quiet_loud",
             "loud_quiet", "quiet_loud_same", "loud_quiet_same", "continuous", "repeated")
# "continuous" and "repeated" items fill FILL_SECONDS: sounds that go on, shown going on (issue 20, item 4)
FILL_SECONDS = (5.0, 10.0)
LOOP_FADE = 0.25  # seconds of crossfade between copies of a looped clip
# the level of the quiet event of the loudness relations, relative to the loud one
QUIET_DB = -18.0


class Pool:
    """The clips of one split grouped for drawing: ``clips`` are dicts with audio, duration, level, info."""

    def __init__(self, clips: Sequence[dict[str, Any]]) -> None:
        self.clips = list(clips)
        fam = lambda c: c["info"].family  # noqa: E731
        fg = [c for c in self.clips if fam(c) not in ("music", "ambience")]
        self.short = Bucket([c for c in fg if c["duration"] <= 1.5 and fam(c) != "speech"])
        self.events = Bucket([c for c in fg if c["duration"] <= 4.0 and fam(c) != "speech"])
        self.bg = Bucket([c for c in self.clips if c["duration"] >= 3.0 and fam(c) in (
            "water", "weather", "ambience", "machines", "animal", "fire")])
        self.music = Bucket([c for c in self.clips if fam(c) == "music" or c["info"].event.startswith("gm:")
                             and c["duration"] >= 3.0 or c["info"].event == "drum_pattern"])
        speech = [c for c in self.clips if fam(c) == "speech" and c["info"].speaker in ("man", "woman")]
        self.speech = Bucket(speech or [c for c in self.clips if fam(c) == "speech"])
        # a clip that goes on and is long enough to loop without a stutter; a short one-shot of a class
        # people ask to hear "again and again"
        self.cont = Bucket([c for c in self.clips if c["info"].extra.get("continuing") and c["duration"] >= 1.0
                            and fam(c) not in ("speech", "music")])
        self.rep = Bucket([c for c in fg if c["info"].extra.get("repeating") and 0.1 <= c["duration"] <= 2.0])

    def usable(self, relation: str) -> bool:
        need = {"background": (self.events, self.bg), "then": (self.events, self.events),
                "then_and": (self.events,), "k_times": (self.short,), "over_music": (self.events, self.music),
                "speech_then": (self.speech, self.events), "quiet_loud": (self.events, self.events),
                "loud_quiet": (self.events, self.events), "quiet_loud_same": (self.events,),
                "loud_quiet_same": (self.events,), "continuous": (self.cont,), "repeated": (self.rep,)}[relation]
        return all(len(x) > 0 for x in need)


class Bucket(list):
    """A list of clips that also knows its clips grouped by event label."""

    def __init__(self, clips: Sequence[dict[str, Any]]) -> None:
        super().__init__(clips)
        self.by: dict[str, list[dict[str, Any]]] = {}
        for c in self:
            self.by.setdefault(c["info"].event, []).append(c)
        self.labels = sorted(self.by)


def _pick(rng: np.random.Generator, pool: list[dict[str, Any]], avoid: set[str] = frozenset()) -> dict[str, Any]:
    """A clip drawn label first (uniform over event labels), then uniformly within the label, so that
    labels with thousands of rendered clips do not drown the rare recorded ones."""
    b = pool if isinstance(pool, Bucket) else Bucket(pool)
    labels, by = b.labels, b.by
    choices = [lb for lb in labels if lb not in avoid] or labels
    clips = by[choices[int(rng.integers(len(choices)))]]
    return clips[int(rng.integers(len(clips)))]


def _ev(c: dict[str, Any], onset: float, length: float, gain_db: float, role: str) -> dict[str, Any]:
    if role not in ("background", "loop"):  # a background bed or a loop is repeated to fill its length
        length = min(length, c["duration"])
    return {"clip": c["audio"], "src": c["stem"], "label": c["info"].event, "onset": round(onset, 3),
            "duration": round(length, 3), "gain_db": round(gain_db, 2), "clip_level_db": c["level_db"],
            "level_db": round(TARGET_DB + gain_db, 2), "role": role}


def draw_recipe(pool: Pool, relation: str, rng: np.random.Generator,
                forbidden: set[tuple[str, str, str]] = frozenset(),
                force: tuple[str, str, str] | None = None) -> dict[str, Any] | None:
    """Draw one mixture recipe; None when the pool cannot make this relation.

    ``forbidden`` (A, relation, B) triples are never produced (held out of training); ``force`` asks
    for one specific triple (used to put held-out combinations into the test split).
    """
    if not pool.usable(relation):
        return None
    for _attempt in range(30):
        rec = _draw(pool, relation, rng, force)
        if rec is None:
            return None
        labels = [e["label"] for e in rec["events"]]
        triple = (labels[0], relation, labels[1]) if len(labels) > 1 else None
        if force is not None and triple != force:
            continue
        if triple in forbidden:
            continue
        return rec
    return None


def _by_event(pool: list[dict[str, Any]], name: str) -> list[dict[str, Any]]:
    return [c for c in pool if c["info"].event == name]


def _draw(pool: Pool, relation: str, rng: np.random.Generator,
          force: tuple[str, str, str] | None) -> dict[str, Any] | None:
    gap = lambda: float(rng.uniform(0.25, 1.0))  # noqa: E731
    pa = _by_event(pool.events, force[0]) if force else pool.events
    pb = _by_event(pool.events if relation != "background" else pool.bg, force[2]) if force else None
    if force and (not pa or not pb):
        return None
    events: list[dict[str, Any]] = []
    infos: list[ClipInfo] = []
    k = 0
    if relation in ("then", "quiet_loud", "loud_quiet"):
        a = _pick(rng, pa)
        b = _pick(rng, pb or pool.events, {a["info"].event})
        la, lb = min(a["duration"], 4.5), min(b["duration"], 4.5)
        t0 = float(rng.uniform(0.1, 0.6))
        ga, gb = {"then": (0.0, 0.0), "quiet_loud": (QUIET_DB, 0.0), "loud_quiet": (0.0, QUIET_DB)}[relation]
        events = [_ev(a, t0, la, ga, "first"), _ev(b, t0 + la + gap(), lb, gb, "second")]
        infos = [a["info"], b["info"]]
    elif relation in ("quiet_loud_same", "loud_quiet_same"):  # one sound twice, at two levels
        a = _pick(rng, pa)
        la = min(a["duration"], 4.5)
        t0 = float(rng.uniform(0.1, 0.6))
        ga, gb = (QUIET_DB, 0.0) if relation == "quiet_loud_same" else (0.0, QUIET_DB)
        events = [_ev(a, t0, la, ga, "first"), _ev(a, t0 + la + gap(), la, gb, "second")]
        infos = [a["info"]]
    elif relation == "then_and":
        cs = [_pick(rng, pool.events)]
        for _ in range(2):
            cs.append(_pick(rng, pool.events, {c["info"].event for c in cs}))
        t = float(rng.uniform(0.1, 0.4))
        for i, c in enumerate(cs):
            ln = min(c["duration"], 2.8)
            events.append(_ev(c, t, ln, 0.0, f"event{i + 1}"))
            t += ln + float(rng.uniform(0.25, 0.6))
        infos = [c["info"] for c in cs]
    elif relation == "k_times":
        a = _pick(rng, pool.short)
        k = int(rng.integers(1, 6))
        t = float(rng.uniform(0.1, 0.5))
        g = float(rng.uniform(0.3, 0.9))
        for i in range(k):
            events.append(_ev(a, t, a["duration"], 0.0, f"repeat{i + 1}"))
            t += a["duration"] + g
        infos = [a["info"]]
    elif relation in ("background", "over_music"):
        a = _pick(rng, pa)
        b = _pick(rng, pb or (pool.bg if relation == "background" else pool.music), {a["info"].event})
        total = float(min(MAX_SECONDS, max(b["duration"], min(a["duration"], 5.0) + 1.5)))
        la = min(a["duration"], total - 1.0)
        t0 = float(rng.uniform(0.3, max(0.31, total - la - 0.2)))
        events = [_ev(a, t0, la, 0.0, "foreground"), _ev(b, 0.0, total, -12.0, "background")]
        infos = [a["info"], b["info"]]
    elif relation == "continuous":  # one sound that goes on, looped with crossfades to fill 5-10 s
        a = _pick(rng, pool.cont)
        total = float(rng.uniform(*FILL_SECONDS))
        events = [_ev(a, 0.0, total, 0.0, "loop")]
        infos = [a["info"]]
    elif relation == "repeated":  # one short sound again and again, at uneven gaps, across 5-10 s
        a = _pick(rng, pool.rep)
        total = float(rng.uniform(*FILL_SECONDS))
        t = float(rng.uniform(0.05, 0.4))
        i = 0
        while t + a["duration"] <= total - 0.1:
            events.append(_ev(a, t, a["duration"], float(rng.uniform(-3, 0)), f"repeat{i + 1}"))
            t += a["duration"] + float(rng.uniform(0.15, 1.2))
            i += 1
        if i < 6:  # fewer is a countable "k times", which k_times captions with its number
            return None
        infos = [a["info"]]
    elif relation == "speech_then":
        s = _pick(rng, pool.speech)
        a = _pick(rng, pool.events)
        ls = min(s["duration"], 5.0)
        t0 = float(rng.uniform(0.1, 0.5))
        events = [_ev(s, t0, ls, 0.0, "speech"), _ev(a, t0 + ls + gap(), min(a["duration"], 4.0), 0.0, "event")]
        infos = [s["info"], a["info"]]
    end = max(e["onset"] + e["duration"] for e in events)
    if end > MAX_SECONDS:
        return None  # too long to place truthfully; the caller draws again
    captions = mixture_captions(relation, infos, k, rng)
    tags = sorted({t for i in infos for t in i.tags})
    tail = 0.0 if relation == "continuous" else float(rng.uniform(0.2, 0.6))  # a loop runs to the very end
    rec = {"relation": relation, "k": k, "events": events, "captions": captions, "tags": tags,
           "duration": round(min(MAX_SECONDS, end + tail), 3)}
    if relation == "repeated":  # the sound again and again over a quiet room tone, never digital silence
        rec["duration"] = round(min(MAX_SECONDS, max(end, total)), 3)
        rec["room_db"] = round(float(rng.uniform(-48, -40)), 2)
    return rec


def render_mixture(recipe: dict[str, Any], load: Any) -> tuple[np.ndarray, float]:
    """Mix a recipe: ``load(audio_rel_path) -> float32 wav``; each event normalised then gained.

    Returns the waveform and the gain in dB applied to the whole mix to avoid clipping (0 or less);
    the events' absolute levels are ``level_db`` plus that gain, their relative levels are exact.
    """
    n = int(recipe["duration"] * SR)
    out = np.zeros(n, dtype=np.float32)
    for e in recipe["events"]:
        wav = load(e["clip"])
        seg = wav[: int(e["duration"] * SR)]
        if e["role"] == "background" and seg.size < n:  # loop a background bed under the whole mixture
            seg = np.tile(seg, int(np.ceil(n / max(1, seg.size))))[:n]
        elif e["role"] == "loop":  # a sound that goes on: copies joined by equal-power crossfades
            seg = loop_fill(wav, int(e["duration"] * SR))
        gain = 10 ** ((TARGET_DB + e["gain_db"] - e["clip_level_db"]) / 20)
        start = int(e["onset"] * SR)
        seg = seg[: max(0, n - start)] * gain
        fade = min(256, seg.size // 4) if e["role"] != "loop" else 0  # a loop runs to the end, no fade-out
        if fade > 0:
            seg[-fade:] *= np.linspace(1.0, 0.0, fade, dtype=np.float32)
        out[start:start + seg.size] += seg
    if "room_db" in recipe:  # a quiet room tone under the whole item (seeded by the recipe, so reproducible)
        import zlib

        seed = zlib.crc32(repr(sorted((e["clip"], e["onset"]) for e in recipe["events"])).encode())
        bed = np.cumsum(np.random.default_rng(seed).standard_normal(n)).astype(np.float32)
        bed -= np.convolve(bed, np.ones(64, dtype=np.float32) / 64, mode="same")  # brown-ish, no DC drift
        out += bed * (10 ** (recipe["room_db"] / 20) / (np.sqrt(np.mean(bed ** 2)) + 1e-12))
    peak = float(np.abs(out).max())
    mix_gain_db = 0.0
    if peak > 0.99:
        out *= 0.99 / peak
        mix_gain_db = float(20 * np.log10(0.99 / peak))
    return out, round(mix_gain_db, 2)


def _steady_part(wav: np.ndarray, frame: int = 512, below_db: float = 12.0) -> np.ndarray:
    """``wav`` without a fade-in or fade-out: from the first to the last frame within ``below_db`` of the
    median frame level (so that joined copies do not dip at every join)."""
    k = wav.size // frame
    if k < 8:
        return wav
    rms = np.sqrt((wav[: k * frame].astype(np.float64).reshape(k, frame) ** 2).mean(axis=1) + 1e-12)
    ok = np.flatnonzero(20 * np.log10(rms / np.median(rms)) > -below_db)
    a, b = ok[0] * frame, (ok[-1] + 1) * frame
    return wav[a:b] if b - a >= wav.size // 2 else wav


def loop_fill(wav: np.ndarray, n: int, fade_s: float = LOOP_FADE) -> np.ndarray:
    """``wav`` repeated to ``n`` samples, each join an equal-power crossfade (no click, no gap).

    Args:
        wav: (m,) a clip of a sound that goes on.
        n: output length in samples.
    """
    if wav.size >= n:
        return wav[:n].copy()
    wav = _steady_part(wav)
    f = int(min(fade_s * SR, wav.size // 4))
    out = np.zeros(n + wav.size, dtype=np.float32)
    fade_in = np.sin(np.linspace(0, np.pi / 2, f, dtype=np.float32)) if f > 0 else np.zeros(0, np.float32)
    fade_out = np.cos(np.linspace(0, np.pi / 2, f, dtype=np.float32)) if f > 0 else np.zeros(0, np.float32)
    pos, first = 0, True
    while pos < n:
        seg = wav.astype(np.float32).copy()
        if f > 0:
            if not first:
                seg[:f] *= fade_in
            seg[-f:] *= fade_out
        out[pos:pos + seg.size] += seg
        pos += wav.size - f
        first = False
    return out[:n]
