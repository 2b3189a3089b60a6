"""The recipe registry: a recipe is a named, seeded function that synthesises one class of sound.

A recipe declares its event name, family, several everyday phrasings (full clauses and noun phrases), and
whether its sound *goes on* (rain, an engine: synthesised 5-10 s long and never captioned "briefly") or
is one event (a door slam: "then silence" shape). ``Ctx`` hands the recipe its random generator and a
few helpers; everything a recipe varies (pitch, speed, size, room, length) is drawn from it, so clip
``i`` of a recipe is a pure function of (build seed, recipe name, i).
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass, field
from typing import Callable, Sequence

import numpy as np

__all__ = ["Recipe", "Ctx", "RECIPES", "recipe", "clip_rng"]


class Ctx:
    """What a recipe draws its parameters from."""

    def __init__(self, rng: np.random.Generator) -> None:
        self.rng = rng

    def u(self, lo: float, hi: float) -> float:
        """A uniform float in [lo, hi)."""
        return float(self.rng.uniform(lo, hi))

    def i(self, lo: int, hi: int) -> int:
        """A uniform integer in [lo, hi] (both ends included)."""
        return int(self.rng.integers(lo, hi + 1))

    def pick(self, seq: Sequence):
        return seq[int(self.rng.integers(len(seq)))]

    def chance(self, p: float) -> bool:
        return bool(self.rng.random() < p)

    def long(self) -> float:
        """The length of a sound that goes on: 5-10 s."""
        return self.u(5.0, 10.0)


@dataclass(frozen=True)
class Recipe:
    """One synthesised sound class."""

    name: str  # event name, unique across the label table and all recipes
    family: str  # coarse family (vehicles, signals, water, ...)
    fn: Callable[[Ctx], np.ndarray]  # Ctx -> mono waveform at 22,050 Hz
    clauses: tuple[str, ...]  # "a car engine idles", "an engine runs at idle", ...
    nouns: tuple[str, ...]  # "an idling car engine", "a car engine idling", ...
    continuing: bool = False  # a sound that goes on (filled to 5-10 s; never "briefly")
    tags: tuple[str, ...] = field(default_factory=tuple)


RECIPES: dict[str, Recipe] = {}


def recipe(name: str, family: str, clauses: str, nouns: str, cont: bool = False, tags: str = ""
           ) -> Callable[[Callable[[Ctx], np.ndarray]], Callable[[Ctx], np.ndarray]]:
    """Register a recipe; ``clauses`` and ``nouns`` are "|"-separated phrasings."""
    def deco(fn: Callable[[Ctx], np.ndarray]) -> Callable[[Ctx], np.ndarray]:
        if name in RECIPES:
            raise ValueError(f"recipe {name!r} is registered twice")
        RECIPES[name] = Recipe(name, family, fn, tuple(c.strip() for c in clauses.split("|")),
                               tuple(x.strip() for x in nouns.split("|")), cont,
                               tuple(t for t in tags.split(",") if t))
        return fn
    return deco


def clip_rng(seed: int, name: str, index: int) -> np.random.Generator:
    """The generator of clip ``index`` of recipe ``name`` under build seed ``seed``."""
    return np.random.default_rng([seed, zlib.crc32(name.encode()), index, 11])
