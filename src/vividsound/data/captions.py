"""Caption templates: 3-5 variants for single clips and captions for placed-event mixtures.

Every word a template adds is derived from what is known of the clip: its label's phrases, its
measured duration ("briefly", "for a long time") and level ("faint", "loud"), or, for mixtures, the
events' placement (order, count, which one is quieter). Nothing is guessed.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from vividsound.data.labels import CONTINUING, EVENTS, REPEATING

__all__ = ["ClipInfo", "clip_info", "single_captions", "mixture_captions", "NUMBER_WORDS", "count_word"]

NUMBER_WORDS = {1: "once", 2: "twice", 3: "three times", 4: "four times", 5: "five times"}
_NUMS = {1: "one", 2: "two", 3: "three", 4: "four", 5: "five"}


def count_word(k: int) -> str:
    """"once", "twice", "three times", ... for k in 1..5."""
    return NUMBER_WORDS[k]


@dataclass(frozen=True)
class ClipInfo:
    """What captions may say about one corpus clip."""

    event: str  # event name (label table or render)
    family: str  # event family
    clauses: tuple[str, ...]  # "a cow moos"
    nouns: tuple[str, ...]  # "a cow mooing"
    tags: tuple[str, ...]  # multi-label tags
    speaker: str = ""  # man | woman | person | cartoon (speech only)
    extra: dict[str, Any] = field(default_factory=dict, compare=False)


def clip_info(event: str, family: str, attrs: dict[str, Any]) -> ClipInfo:
    """Phrases and tags of a clip from its label-table event or its render description."""
    flow = {"continuing": bool(attrs.get("continuing", event in CONTINUING)), "repeating": event in REPEATING}
    if "clauses" in attrs:  # rendered or synthesised: the spec or recipe wrote its own phrases
        tags = tuple(dict.fromkeys([family, *attrs["tags"]]))
        speaker = attrs.get("spec", {}).get("gender", "")
        return ClipInfo(event, family, tuple(attrs["clauses"]), tuple(attrs["nouns"]), tags, speaker,
                        {"single_clauses": list(attrs.get("single_clauses", [])), **flow})
    ev = EVENTS[event]
    tags = tuple(dict.fromkeys([family, ev.name.replace("_", " "), *ev.tags]))
    if family != "speech":
        return ClipInfo(event, family, ev.clauses, ev.nouns, tags, extra=flow)
    who = attrs.get("speaker", "person")
    lang, text, style = attrs.get("language", ""), attrs.get("text", ""), attrs.get("style", "")
    subj = {"man": "a man", "woman": "a woman", "cartoon": "a cartoonish voice"}.get(who, "someone")
    clauses, nouns = [], []
    if style == "shout" and lang:
        clauses += [f"{subj} shouts in {lang}", f"{subj} calls out a command in {lang}"]
        nouns += [f"{subj} shouting in {lang}"]
    elif lang and lang != "English":
        clauses += [f"{subj} speaks {lang}", f"{subj} says something in {lang}"]
        nouns += [f"{subj} speaking {lang}"]
    else:
        clauses += [f"{subj} speaks", f"{subj} talks"]
        nouns += [f"{subj} speaking", f"{subj} talking"]
    if text and lang in ("English", ""):
        clauses.insert(0, f'{subj} says "{text.strip().rstrip(".").lower()}"')
    if style == "telephone":
        clauses.append(f"{subj} reads a telephone prompt")
        nouns.append("a recorded telephone announcement")
    tags = tuple(dict.fromkeys(["speech", "voice", who, *(t for t in (lang,) if t)]))
    return ClipInfo(event, family, tuple(clauses), tuple(nouns), tags, who)


def _length_word(duration: float) -> str:
    if duration < 1.0:
        return "short"
    return "long" if duration > 6.0 else ""


def _level_word(level_db: float) -> str:
    if level_db < -32.0:
        return "faint"
    return "loud" if level_db > -14.0 else ""


# Ways to frame a noun phrase that stay true of any clip of it (the clip holds that sound and nothing else).
_FRAMES = ("the sound of {}", "{}", "a recording of {}", "you can hear {}", "{} can be heard", "audio of {}")
# Said of a sound that goes on (issue 20, item 4): only for classes that go on, and only of clips >= 4 s.
_GOES_ON_CLAUSE = ("{} steadily", "{} continuously", "{} without stopping", "{} on and on")
_GOES_ON_NOUN = ("the constant sound of {}", "{}, going on and on", "{}, on and on", "{} the whole time")


def single_captions(info: ClipInfo, duration: float, level_db: float, rng: np.random.Generator) -> list[str]:
    """3-5 distinct captions for a single clip, true to its label, length and level.

    The captions vary in form: full clauses ("a car engine idles"), noun phrases in several framings
    ("you can hear an idling car engine"), and, for sounds that go on (``info.extra["continuing"]``), words
    that say so ("rain falls steadily"). A sound that goes on is never called "brief"; a one-shot clip
    under 1 s is."""
    c, n = list(info.clauses), list(info.nouns)
    goes_on = bool(info.extra.get("continuing"))
    pick = lambda xs: xs[int(rng.integers(len(xs)))]  # noqa: E731
    first = [*info.extra.get("single_clauses", [])[:1]]
    pool = list(c) + [pick(_FRAMES).format(x) for x in n]
    order = rng.permutation(len(pool))
    out = first + [pool[i] for i in order]
    lw, vw = _length_word(duration), _level_word(level_db)
    extra = []
    if goes_on and duration >= 4.0:
        extra.append(pick(_GOES_ON_CLAUSE).format(pick(c)) if rng.random() < 0.5 else pick(_GOES_ON_NOUN).format(pick(n)))
    elif lw == "short" and not goes_on:
        extra.append(f"{pick(c)} briefly")
    elif lw == "long" and not goes_on:
        extra.append(f"{pick(c)} for a long time")
    if vw == "faint":
        extra.append(f"a faint sound of {n[0]} in the distance")
    elif vw == "loud":
        extra.append(f"{n[0]}, loud and close")
    out = list(dict.fromkeys(x.strip() for x in out))
    keep = out[: max(1, 5 - len(extra))] + extra  # the clip-specific words always make it in
    keep = list(dict.fromkeys(keep))
    if len(keep) < 3:
        keep += [x for x in (f"a recording of {n[-1]}", f"the sound of {n[0]}", c[0]) if x not in keep]
    return keep[:5]


def _pick(rng: np.random.Generator, xs: tuple[str, ...]) -> str:
    return xs[int(rng.integers(len(xs)))]


# the words of the loudness relations: (adverb, adjective, "first ..." adverb, comparative)
_LOUDNESS = {"quiet": ("quietly", "quiet", "softly", "softer"), "loud": ("loudly", "loud", "loudly", "louder")}


def mixture_captions(relation: str, infos: list[ClipInfo], k: int, rng: np.random.Generator) -> list[str]:
    """Captions for a mixture whose events were placed according to ``relation``.

    Relations: ``background`` (A while B in the background), ``then`` (A, then B), ``then_and`` (A
    followed by B and C), ``k_times`` (A k times), ``over_music`` (A over music B), ``speech_then``
    (someone speaks, then A), ``quiet_loud`` (A quietly, then B loudly), ``loud_quiet`` (A loudly, then B
    quietly), ``quiet_loud_same`` / ``loud_quiet_same`` (A quietly, then loudly / the reverse: one sound twice).
    """
    def cl(i: int) -> str:
        return infos[i].clauses[int(rng.integers(len(infos[i].clauses)))]

    def nn(i: int) -> str:
        return infos[i].nouns[int(rng.integers(len(infos[i].nouns)))]

    if relation == "background":
        caps = [f"{cl(0)} while {cl(1)} in the background", f"{nn(0)} over the sound of {nn(1)}",
                f"{cl(0)}, with {nn(1)} in the background"]
    elif relation == "then":
        caps = [f"{cl(0)}, then {cl(1)}", f"{nn(0)} followed by {nn(1)}", f"first {cl(0)}, and then {cl(1)}"]
    elif relation == "then_and":
        caps = [f"{nn(0)} followed by {nn(1)} and {nn(2)}", f"{cl(0)}, then {cl(1)}, then {cl(2)}",
                f"first {nn(0)}, then {nn(1)}, and finally {nn(2)}"]
    elif relation == "k_times":
        caps = [f"{cl(0)} {count_word(k)}", f"{nn(0)}, {_NUMS[k]} time{'s' if k > 1 else ''} in a row",
                f"{_NUMS[k]} separate sounds of {nn(0)}"]
    elif relation == "over_music":
        caps = [f"{cl(0)} over music", f"{nn(0)} while {nn(1)} plays in the background",
                f"{cl(0)} with music in the background"]
    elif relation == "speech_then":
        caps = [f"{cl(0)}, then {cl(1)}", f"{nn(0)} followed by {nn(1)}", f"after {nn(0)}, {cl(1)}"]
    elif relation in ("quiet_loud", "loud_quiet"):  # two sounds, the first quiet (loud), the second loud (quiet)
        a, b = (_LOUDNESS[w] for w in relation.split("_"))
        caps = [f"{cl(0)} {a[0]}, then {cl(1)} {b[0]}",
                f"the {a[1]} sound of {nn(0)} followed by the {b[1]} sound of {nn(1)}",
                f"first {cl(0)} {a[2]}, then {cl(1)} much {b[3]}"]
    elif relation in ("quiet_loud_same", "loud_quiet_same"):  # one sound twice
        a, b = (_LOUDNESS[w] for w in relation.split("_")[:2])
        caps = [f"{cl(0)} {a[0]}, then {b[0]}", f"{nn(0)}, first {a[1]} and then {b[1]}",
                f"{cl(0)} {a[2]}, then again much {b[3]}"]
    elif relation == "continuous":  # a sound that goes on, filling the clip (never "once" or "briefly")
        caps = [f"{cl(0)} {_pick(rng, ('steadily', 'continuously', 'without stopping', 'on and on'))}",
                f"{_pick(rng, ('the constant sound of', 'the continuous sound of', 'a long stretch of'))} {nn(0)}",
                f"{cl(0)} the whole time", f"{nn(0)}, continuing throughout"]
    elif relation == "repeated":  # one short sound many times (>= 6: fewer are counted by k_times)
        adv = ["again and again", "over and over", "repeatedly"]
        first = adv.pop(int(rng.integers(3)))
        caps = [f"{cl(0)} {first}", f"{nn(0)}, over and over", f"{cl(0)} {adv[int(rng.integers(2))]}",
                f"{nn(0)}, again and again"]
    else:
        raise ValueError(f"unknown mixture relation {relation!r}")
    return list(dict.fromkeys(caps))
