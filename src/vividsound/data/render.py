"""Rendered families: General MIDI instruments, GM sound effects, drum patterns and synthetic speech.

Each rendered clip starts as a JSON *spec* drawn from a seeded generator (:func:`render_specs`), so the
same seed gives the same specs; a worker turns a spec into a waveform with :func:`render`. Captions
are written from the spec and are therefore true by construction ("a cello plays a slow, low melody
softly"). GM sounds come from ``tinysoundfont`` playing Debian's ``fluid-soundfont-gm`` (MIT); speech
comes from ``espeak-ng`` and ``flite`` (their voices' licences: GPL-3 and a BSD-like licence).
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from vividsound.data.sources import DebSource, RawClip, Source, SourceError

__all__ = ["RenderSource", "render", "render_specs", "describe", "GM_INSTRUMENTS", "speech_available"]

SR = 22050
# (GM program, label, centre MIDI note): the register words are relative to the instrument's centre.
GM_INSTRUMENTS: list[tuple[int, str, int]] = [
    (0, "piano", 60), (6, "harpsichord", 60), (8, "celesta", 72), (11, "vibraphone", 67), (12, "marimba", 62),
    (13, "xylophone", 74), (14, "set of tubular bells", 67), (19, "church organ", 55), (21, "accordion", 60),
    (22, "harmonica", 67), (24, "acoustic guitar", 55), (26, "electric guitar", 57), (30, "distorted electric guitar", 52),
    (32, "double bass", 40), (40, "violin", 72), (41, "viola", 62), (42, "cello", 48), (46, "harp", 60),
    (47, "set of timpani", 45), (48, "string section", 60), (52, "choir", 60), (56, "trumpet", 67),
    (57, "trombone", 52), (58, "tuba", 40), (60, "French horn", 55), (65, "saxophone", 60), (68, "oboe", 70),
    (70, "bassoon", 48), (71, "clarinet", 62), (73, "flute", 76), (74, "recorder", 76), (75, "pan flute", 72),
    (80, "synthesizer", 60), (105, "banjo", 62), (108, "kalimba", 67), (109, "bagpipe", 62), (114, "steel drum", 64),
]
GM_SFX: list[tuple[int, str, str, str]] = [  # program, event, clause, noun
    (122, "waves", "waves wash onto the shore", "waves washing ashore"),
    (123, "birds", "a bird tweets", "a bird tweeting"),
    (124, "telephone", "a telephone rings", "a telephone ringing"),
    (125, "helicopter", "a helicopter whirs", "a helicopter whirring"),
    (126, "applause", "a crowd applauds", "applause"),
    (127, "gunshot", "a gun fires", "a gunshot"),
]
DRUM_KITS = [(0, "a standard drum kit"), (8, "a room drum kit"), (16, "a powerful drum kit"),
             (24, "an electronic drum kit"), (25, "a drum machine"), (32, "a jazz drum kit"), (40, "a brush drum kit")]
# pattern: 16 steps of (kick, snare, closed hat) per bar
DRUM_PATTERNS = {
    "rock beat": ("1000000010100000", "0000100000001000", "1010101010101010"),
    "four-on-the-floor beat": ("1000100010001000", "0000100000001000", "0010001000100010"),
    "breakbeat": ("1000001000100000", "0000100101001000", "1010101010101010"),
    "half-time groove": ("1000000000000000", "0000000010000000", "1010101010101010"),
}
ESPEAK_LANGS = {"en": ("English", ["the dog runs to the park", "please close the door", "it is going to rain today",
                                   "where did you put the keys", "the train leaves at nine", "I like warm bread",
                                   "turn left at the next corner", "the children are playing outside"]),
                "de": ("German", ["guten Morgen", "wie geht es dir", "das Wetter ist schön"]),
                "fr": ("French", ["bonjour", "comment allez-vous", "il fait beau aujourd'hui"]),
                "es": ("Spanish", ["buenos días", "¿cómo estás?", "hace buen tiempo"]),
                "it": ("Italian", ["buongiorno", "come stai", "che bella giornata"]),
                "pt": ("Portuguese", ["bom dia", "como vai você", "o tempo está bom"]),
                "nl": ("Dutch", ["goedemorgen", "hoe gaat het", "het weer is mooi"]),
                "sv": ("Swedish", ["god morgon", "hur mår du", "vädret är fint"])}
FLITE_VOICES = {"kal": "man", "rms": "man", "awb": "man", "slt": "woman"}
_SF2 = "usr/share/sounds/sf2/FluidR3_GM.sf2"


def speech_available() -> dict[str, bool]:
    """Which speech engines are installed."""
    from shutil import which

    return {"espeak-ng": which("espeak-ng") is not None, "flite": which("flite") is not None}


def render_specs(seed: int, counts: dict[str, int]) -> list[dict[str, Any]]:
    """Deterministic render specs: ``counts`` maps kind (note, melody, chord, drums, sfx, speech) to a number."""
    rng = np.random.default_rng([seed, 7])
    specs: list[dict[str, Any]] = []
    engines = speech_available()
    for kind in ("note", "melody", "chord", "drums", "sfx", "speech"):
        for i in range(counts.get(kind, 0)):
            s: dict[str, Any] = {"kind": kind, "id": f"{kind}{i:05d}"}
            if kind in ("note", "melody", "chord"):
                prog, label, centre = GM_INSTRUMENTS[int(rng.integers(len(GM_INSTRUMENTS)))]
                s.update(program=prog, instrument=label, centre=centre,
                         register=str(rng.choice(["low", "middle", "high"])),
                         dynamics=str(rng.choice(["soft", "loud"])), root=int(rng.integers(0, 12)),
                         minor=bool(rng.random() < 0.4))
                if kind == "note":
                    s["length"] = str(rng.choice(["short", "long"]))
                elif kind == "melody":
                    s.update(tempo=str(rng.choice(["slow", "fast"])), n_notes=int(rng.integers(6, 17)),
                             steps=[int(x) for x in rng.integers(-2, 3, size=16)])
                else:
                    s["n_chords"] = int(rng.integers(1, 5))
            elif kind == "drums":
                bank, kit = DRUM_KITS[int(rng.integers(len(DRUM_KITS)))]
                s.update(preset=bank, kit=kit, pattern=str(rng.choice(sorted(DRUM_PATTERNS))),
                         tempo=str(rng.choice(["slow", "fast"])), bars=int(rng.integers(1, 4)))
            elif kind == "sfx":
                j = int(rng.integers(len(GM_SFX)))
                s.update(program=GM_SFX[j][0], length=float(rng.uniform(1.5, 6.0)), note=int(rng.integers(55, 72)))
            else:
                use_flite = engines["flite"] and (not engines["espeak-ng"] or rng.random() < 0.3)
                if use_flite:
                    voice = str(rng.choice(sorted(FLITE_VOICES)))
                    texts = ESPEAK_LANGS["en"][1]
                    s.update(engine="flite", voice=voice, gender=FLITE_VOICES[voice], lang="en", language="English",
                             text=texts[int(rng.integers(len(texts)))])
                else:
                    code = str(rng.choice(sorted(ESPEAK_LANGS))) if rng.random() < 0.5 else "en"
                    language, texts = ESPEAK_LANGS[code]
                    gender = str(rng.choice(["man", "woman"]))
                    variant = f"m{int(rng.integers(1, 8))}" if gender == "man" else f"f{int(rng.integers(1, 5))}"
                    s.update(engine="espeak-ng", voice=f"{code}+{variant}", gender=gender, lang=code,
                             language=language, text=texts[int(rng.integers(len(texts)))],
                             rate=int(rng.integers(130, 190)))
            specs.append(s)
    return specs


def describe(spec: dict[str, Any]) -> tuple[str, str, list[str], list[str], list[str], list[str]]:
    """(event, family, clauses, nouns, tags, single-only clauses) for a render spec.

    Every word is true of the render. The dynamics adverb ("softly", "loudly") is only true of the clip on
    its own (mixtures re-level their events), so it goes into the single-only clauses."""
    k = spec["kind"]
    if k in ("note", "melody", "chord"):
        inst, dyn = spec["instrument"], spec["dynamics"]
        reg = {"low": "low", "middle": "mid-range", "high": "high"}[spec["register"]]
        art = "an" if inst[0] in "aeiouAEIOU" else "a"
        adv = "softly" if dyn == "soft" else "loudly"
        plays, playing = ("sings", "singing") if inst == "choir" else ("plays", "playing")
        tags = ["music", "instrument", inst, f"{spec['register']} pitch"]  # no dynamics: mixtures re-level
        if k == "note":
            ln = spec["length"]
            clauses = [f"{art} {inst} {plays} a {ln}, {reg} note", f"a single {reg} note on {art} {inst}"]
            single = [f"{art} {inst} {plays} a {ln}, {reg} note {adv}"]
            nouns = [f"a {ln} {reg} {inst} note", f"a single {reg} note on {art} {inst}"]
        elif k == "melody":
            tempo = spec["tempo"]
            clauses = [f"{art} {inst} {plays} a {tempo}, {reg} melody", f"{art} {inst} {plays} a {tempo} tune"]
            single = [f"{art} {inst} {plays} a {tempo}, {reg} melody {adv}"]
            nouns = [f"a {tempo} {reg} melody on {art} {inst}", f"{art} {inst} {playing} a {tempo} tune"]
            tags.append(f"{tempo} tempo")
        else:
            mode = "minor" if spec["minor"] else "major"
            clauses = [f"{art} {inst} {plays} {reg} {mode} chords", f"{art} {inst} {plays} {mode} chords"]
            single = [f"{art} {inst} {plays} {reg} {mode} chords {adv}"]
            nouns = [f"{reg} {mode} chords on {art} {inst}", f"{art} {inst} {playing} chords"]
        return f"gm:{inst}", "instruments", clauses, nouns, tags, single
    if k == "drums":
        kit, pat, tempo = spec["kit"], spec["pattern"], spec["tempo"]
        return ("drum_pattern", "drums", [f"{kit} plays a {tempo} {pat}", f"drums play a {tempo} {pat}"],
                [f"a {tempo} {pat} on {kit}", f"{kit} playing a {pat}"], ["drum", "music", f"{tempo} tempo"], [])
    if k == "sfx":
        _, ev, clause, noun = next(x for x in GM_SFX if x[0] == spec["program"])
        return ev, "sfx", [clause], [noun], [ev], []
    g, lang, text = spec["gender"], spec["language"], spec["text"]
    clauses = [f"a {g} speaks {lang}", f"a {g} says something in {lang}"]
    nouns = [f"a {g} speaking {lang}", f"{lang} speech by a {g}"]
    if spec["lang"] == "en":
        clauses = [f'a {g} says "{text}"', f"a {g} speaks English"]
    return "speech", "speech", clauses, nouns, ["speech", "voice", g, lang], []


_SYNTHS: dict[str, Any] = {}  # one loaded soundfont per process: loading it takes ~0.2 s


def _synth(sf2: Path) -> Any:
    import tinysoundfont

    if str(sf2) not in _SYNTHS:
        synth = tinysoundfont.Synth(samplerate=SR, gain=-3)
        _SYNTHS[str(sf2)] = (synth, synth.sfload(str(sf2)))
    synth, sfid = _SYNTHS[str(sf2)]
    for chan in (0, 9):
        synth.sounds_off(chan)
    _gen(synth, 0.05)  # flush voices left from the previous render
    return synth, sfid


def _gen(synth: Any, seconds: float) -> np.ndarray:
    n = max(1, int(seconds * SR))
    buf = np.frombuffer(synth.generate(n), dtype=np.float32).reshape(-1, 2)
    return buf.mean(axis=1).copy()


def _render_gm(spec: dict[str, Any], sf2: Path) -> np.ndarray:
    synth, sfid = _synth(sf2)
    k = spec["kind"]
    if k == "drums":
        synth.program_select(9, sfid, 128, spec["preset"], True)
        bpm = 80 if spec["tempo"] == "slow" else 150
        step = 60.0 / bpm / 4
        kick, snare, hat = DRUM_PATTERNS[spec["pattern"]]
        out = []
        for _bar in range(spec["bars"] * (2 if spec["tempo"] == "fast" else 1)):
            for i in range(16):
                for pat, note in ((kick, 36), (snare, 38), (hat, 42)):
                    if pat[i] == "1":
                        synth.noteon(9, note, 100)
                out.append(_gen(synth, step))
        out.append(_gen(synth, 0.8))
        return np.concatenate(out)
    prog = spec["program"]
    synth.program_select(0, sfid, 0, prog)
    if k == "sfx":
        synth.noteon(0, spec["note"], 110)
        wav = _gen(synth, spec["length"])
        synth.noteoff(0, spec["note"])
        return np.concatenate([wav, _gen(synth, 0.5)])
    vel = 45 if spec["dynamics"] == "soft" else 115
    base = spec["centre"] + {"low": -12, "middle": 0, "high": 12}[spec["register"]] + spec["root"] % 5 - 2
    scale = [0, 2, 3, 5, 7, 8, 10] if spec["minor"] else [0, 2, 4, 5, 7, 9, 11]
    out = []
    if k == "note":
        dur = 0.6 if spec["length"] == "short" else 3.5
        synth.noteon(0, base, vel)
        out.append(_gen(synth, dur))
        synth.noteoff(0, base)
        out.append(_gen(synth, 0.6 if spec["length"] == "short" else 1.0))
    elif k == "melody":
        beat = 60.0 / (70 if spec["tempo"] == "slow" else 160)
        degree = 0
        for i in range(spec["n_notes"]):
            degree = int(np.clip(degree + spec["steps"][i % 16], -3, 9))
            note = base + 12 * (degree // 7) + scale[degree % 7]
            synth.noteon(0, note, vel)
            out.append(_gen(synth, beat * 0.9))
            synth.noteoff(0, note)
            out.append(_gen(synth, beat * 0.1))
        out.append(_gen(synth, 0.7))
    else:
        for c in range(spec["n_chords"]):
            root = base + scale[(c * 3) % 7]
            chord = [root, root + (3 if spec["minor"] else 4), root + 7]
            for n in chord:
                synth.noteon(0, n, vel)
            out.append(_gen(synth, 1.2))
            for n in chord:
                synth.noteoff(0, n)
            out.append(_gen(synth, 0.15))
        out.append(_gen(synth, 0.7))
    return np.concatenate(out)


def _render_speech(spec: dict[str, Any]) -> np.ndarray:
    import soundfile as sf

    fd, tmp = tempfile.mkstemp(suffix=".wav")
    os.close(fd)
    try:
        if spec["engine"] == "espeak-ng":
            cmd = ["espeak-ng", "-v", spec["voice"], "-s", str(spec["rate"]), "-w", tmp, spec["text"]]
        else:
            cmd = ["flite", "-voice", spec["voice"], "-t", spec["text"], "-o", tmp]
        res = subprocess.run(cmd, capture_output=True, text=True)
        if res.returncode != 0:
            raise SourceError(f"{spec['engine']} failed on {spec['id']}: {res.stderr.strip()[:200]}")
        wav, sr = sf.read(tmp, dtype="float32", always_2d=True)
    finally:
        os.unlink(tmp)
    wav = wav.mean(axis=1)
    if sr != SR:
        import soxr

        wav = soxr.resample(wav, sr, SR).astype(np.float32)
    return wav


def render(spec: dict[str, Any], cache: Path) -> np.ndarray:
    """Render one spec to a mono float32 waveform at 22,050 Hz."""
    if spec["kind"] == "speech":
        return _render_speech(spec)
    sf2 = cache / "pkgs" / "fluid-soundfont-gm" / _SF2
    if not sf2.is_file():
        raise SourceError(f"soundfont not found: {sf2}")
    return _render_gm(spec, sf2)


@dataclass(frozen=True)
class RenderSource(Source):
    """GM instruments, GM effects, drum patterns and TTS speech, rendered from seeded specs."""

    name: str = "rendered"
    licence: str = "MIT (FluidR3 GM soundfont); espeak-ng GPL-3.0; flite BSD-like"
    attribution: str = ("Rendered with the FluidR3_GM soundfont by Frank Wen (MIT) via tinysoundfont; "
                        "speech by espeak-ng and CMU flite.")
    seed: int = 0  # seed of the render specs
    counts: tuple[tuple[str, int], ...] = ()  # (kind, number) pairs: note, melody, chord, drums, sfx, speech

    def fetch(self, cache: Path) -> None:
        if any(n for k, n in self.counts if k != "speech"):
            DebSource("fluid-soundfont-gm", "MIT", "", package="fluid-soundfont-gm",
                      roots=("usr/share/sounds/sf2",)).fetch(cache)

    def clips(self, cache: Path) -> tuple[list[RawClip], list[tuple[str, str]]]:
        out, skipped = [], []
        engines = speech_available()
        gm = importlib.util.find_spec("tinysoundfont") is not None
        for spec in render_specs(self.seed, dict(self.counts)):
            if spec["kind"] == "speech" and not engines.get(spec["engine"], False):
                skipped.append((spec["id"], f"{spec['engine']} is not installed"))
                continue
            if spec["kind"] != "speech" and not gm:  # without it every GM render would fail to extract
                skipped.append((spec["id"], "tinysoundfont is not installed "
                                            "(pip install --no-deps tinysoundfont==0.3.7)"))
                continue
            ev, fam, clauses, nouns, tags, single = describe(spec)
            attrs = {"spec": spec, "clauses": clauses, "nouns": nouns, "tags": tags, "single_clauses": single}
            out.append(RawClip(self.name, spec["id"], ("render", json.dumps(spec, sort_keys=True)), ev, fam, attrs))
        return out, skipped
