"""Procedural sound synthesis: recipes for everyday sounds that no reachable recording holds.

Each recipe (see :mod:`.registry`) turns a seeded generator into one clip of its class; the parameters
it draws (pitch, speed, size, distance, room, length) make its clips differ. :class:`SynthSource` plugs
the recipes into the corpus builder like any other source: clip ``i`` of recipe ``r`` is the spec
``{"recipe": r, "index": i, "seed": seed}``, rendered by :func:`synthesise` in a worker. Every such clip
is marked synthetic (source ``synth``, ``meta.synthetic``) in the manifest.

Families: :mod:`.signals` (sirens, alarms, phones, beeps, bells, whistles, horns), :mod:`.machines`
(engines, vehicles, motors, clicks), :mod:`.nature` (water, rain, wind, fire, thunder, insects,
impacts, footsteps, kitchen, people) and :mod:`.voices` (crowds mixed from espeak-ng voices).
"""

from __future__ import annotations

import json
import zlib
from dataclasses import dataclass
from pathlib import Path
from shutil import which
from typing import Any

import numpy as np

from vividsound.data.labels import EVENTS
from vividsound.data.sources import RawClip, Source
from vividsound.data.synth import household, machines, nature, signals, voices  # noqa: F401 - they register recipes
from vividsound.data.synth.dsp import SR, lowpass, noise, normalise
from vividsound.data.synth.registry import RECIPES, Ctx, Recipe, clip_rng

__all__ = ["RECIPES", "Recipe", "SynthSource", "synthesise", "SR"]

_NEEDS_ESPEAK = {"crowd_babble", "restaurant_chatter", "distant_murmur"}


def synthesise(spec: dict[str, Any]) -> np.ndarray:
    """Render one synth spec ``{"recipe", "index", "seed"}`` to mono float32 at 22,050 Hz (peak 0.9).

    Every clip gets a quiet room tone (soft pink noise) as a recording would: -48 to -38 dBFS under a sound
    that goes on, so that its gaps (between beeps, ticks, rings) are never digital silence, and -66 to
    -52 dBFS under a one-shot, whose ends the extractor then trims as silence (-45 dB below the peak)."""
    r = RECIPES[spec["recipe"]]
    seed, index = int(spec["seed"]), int(spec["index"])
    wav = r.fn(Ctx(clip_rng(seed, r.name, index)))
    if not np.isfinite(wav).all() or not np.abs(wav).max() > 0:
        raise ValueError(f"recipe {r.name} made silent or non-finite samples")
    wav = 0.9 * wav / np.abs(wav).max()
    room = np.random.default_rng([seed, zlib.crc32(r.name.encode()), index, 12])
    level_db = room.uniform(-48, -38) if r.continuing else room.uniform(-66, -52)
    bed = lowpass(noise(room, wav.size, "pink"), room.uniform(1500, 6000))
    bed *= 10 ** (level_db / 20) / (np.sqrt(np.mean(bed ** 2)) + 1e-12)
    return normalise(wav + bed, 0.9)


@dataclass(frozen=True)
class SynthSource(Source):
    """Every registered recipe, ``per_class`` clips each, from the build seed."""

    name: str = "synth"
    licence: str = "MIT"
    attribution: str = "Synthesised by vividsound's procedural recipes (src/vividsound/data/synth), MIT."
    seed: int = 0  # build seed: clip i of recipe r is a function of (seed, r, i)
    per_class: int = 24  # clips per recipe
    recipes: tuple[str, ...] = ()  # a subset of recipe names (all when empty)

    def fetch(self, cache: Path) -> None:
        unknown = [r for r in self.recipes if r not in RECIPES]
        if unknown:
            from vividsound.data.sources import SourceError

            raise SourceError(f"unknown synth recipe(s) {unknown}")

    def clips(self, cache: Path) -> tuple[list[RawClip], list[tuple[str, str]]]:
        out, skipped = [], []
        names = self.recipes or tuple(sorted(RECIPES))
        has_espeak = which("espeak-ng") is not None
        for name in names:
            r = RECIPES[name]
            family = EVENTS[name].family if name in EVENTS else r.family  # one family per class
            attrs = {"clauses": list(r.clauses), "nouns": list(r.nouns), "tags": ["synthetic", *r.tags],
                     "continuing": r.continuing, "synthetic": True}
            for i in range(self.per_class):
                key = f"{name}/{i:03d}"
                if name in _NEEDS_ESPEAK and not has_espeak:
                    skipped.append((key, "espeak-ng is not installed (apt-get install espeak-ng)"))
                    continue
                spec = {"recipe": name, "index": i, "seed": self.seed}
                out.append(RawClip(self.name, key, ("synth", json.dumps(spec, sort_keys=True)), name, family, attrs))
        return out, skipped
