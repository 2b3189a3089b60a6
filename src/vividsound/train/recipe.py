"""A training recipe: every stage of a model, in order, with its schedule, in one YAML file.

``configs/default/recipe.yaml`` is the default model's. A recipe is data: this module reads and checks it
(:func:`load_recipe`) and resolves one stage's config (:meth:`Recipe.stage_config`), with no paths of a
run in it; :mod:`vividsound.train.default_cli` runs it. The file's own comments document the keys::

    name: my-model
    stages:
      - name: vqgan                      # a run folder OUT/vqgan
        trainer: vqgan                   # one of vividsound.train.STAGES
        config: vqgan.yaml               # base config, relative to the recipe file
        inputs: {loss.tagger: tagger}    # config key -> the earlier stage whose component fills it
        init: STAGE                      # init_from = that stage's kept component
        keep: last | best                # which of this stage's steps later stages and the pipeline use
        set: {key.path: value}           # config changes for this stage
        schedule: {steps: 400, lr: 1e-4} # changes to the config's train: section
        pack: NAME                       # train from OUT/packs/NAME.npz (written from the corpus once)
        when: always | cuda | asked
        like: STAGE                      # start from that stage's trainer, config, inputs, keep, set, schedule,
                                         # pack and when
"""

from __future__ import annotations

import copy
import dataclasses
import hashlib
import re
from pathlib import Path
from typing import Any

import yaml

from vividsound.errors import ConfigError

# the component folder each trainer exports (RUN/export/<component>), which later stages take as input
COMPONENT = {"tagger": "tagger", "vqgan": "vqgan", "clap": "text_encoder", "gpt": "gpt", "melgan": "melgan",
             "vocos": "vocos", "captioner": "captioner"}
# trainers that can train from a pack (vividsound.train.write_pack)
PACKED = ("gpt", "vqgan", "vocos")
WHEN = ("always", "cuda", "asked")
KEYS = {"name", "trainer", "config", "inputs", "init", "keep", "set", "schedule", "pack", "when", "like"}
_NAME = re.compile(r"^[a-z][a-z0-9_]*$")


@dataclasses.dataclass(frozen=True)
class RecipeStage:
    name: str
    trainer: str
    config: Path  # the base config file
    inputs: tuple[tuple[str, str], ...] = ()  # (config key, stage)
    init: str = ""
    keep: str = "last"
    set: tuple[tuple[str, Any], ...] = ()  # (dotted key, value), in order
    schedule: tuple[tuple[str, Any], ...] = ()  # (train key, value)
    pack: str = ""
    when: str = "always"

    @property
    def component(self) -> str:
        return COMPONENT[self.trainer]


@dataclasses.dataclass(frozen=True)
class Recipe:
    name: str
    path: Path
    stages: tuple[RecipeStage, ...]
    digest: str  # sha256 of the recipe file and every base config it names

    def stage(self, name: str) -> RecipeStage:
        for s in self.stages:
            if s.name == name:
                return s
        raise ConfigError(f"recipe {self.path}: no stage {name!r} (stages: {', '.join(self.names)})")

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(s.name for s in self.stages)

    def stage_config(self, name: str) -> dict[str, Any]:
        """The stage's config as plain data: its base file with ``set`` and ``schedule`` applied (``inputs``,
        ``init`` and ``pack`` are paths of a run: :mod:`vividsound.train.default_cli` adds them)."""
        from vividsound.config import load_config_file, set_path

        s = self.stage(name)
        data = load_config_file(s.config)  # a fresh dict on every call
        for key, value in s.set:
            set_path(data, key.split("."), copy.deepcopy(value), where=f"recipe {self.path}, stage {name}, set {key}")
        for key, value in s.schedule:
            set_path(data, ["train", *key.split(".")], copy.deepcopy(value),
                     where=f"recipe {self.path}, stage {name}, schedule {key}")
        return data

    def check_configs(self) -> None:
        """Every stage's config (with placeholder paths) loads as its trainer's config: unknown keys and wrong
        types fail here, before any stage trains."""
        from vividsound.config import from_dict
        from vividsound.train import stage_class

        for s in self.stages:
            data = self.stage_config(s.name)
            try:
                from_dict(stage_class(s.trainer).config_class, data)
            except ConfigError as e:
                raise ConfigError(f"recipe {self.path}, stage {s.name}: {e}") from None


def _flat(value: Any, where: str, prefix: str = "") -> list[tuple[str, Any]]:
    """``{a: {b: 1}, c.d: 2}`` -> [("a.b", 1), ("c.d", 2)] (nested mappings and dotted keys alike)."""
    if not isinstance(value, dict):
        raise ConfigError(f"{where} must be a mapping of config keys to values")
    out: list[tuple[str, Any]] = []
    for k, v in value.items():
        if not isinstance(k, str) or not k or any(not p for p in k.split(".")):
            raise ConfigError(f"{where}: bad key {k!r}")
        key = f"{prefix}{k}"
        out.extend(_flat(v, where, key + ".") if isinstance(v, dict) else [(key, v)])
    return out


def _merge_pairs(base: tuple, more: list) -> tuple:
    d = dict(base)
    d.update(more)
    return tuple(d.items())


def load_recipe(path: str | Path) -> Recipe:
    """Read and check a recipe: stage names unique, trainers known, every input and init an earlier stage
    with the component asked for, base configs present; errors are one line naming the stage and key."""
    from vividsound.train import STAGES

    p = Path(path)
    if p.is_dir():
        p = p / "recipe.yaml"
    if not p.is_file():
        raise ConfigError(f"recipe not found: {p}")
    text = p.read_bytes()
    try:
        data = yaml.safe_load(text.decode("utf-8"))
    except (yaml.YAMLError, UnicodeDecodeError) as e:
        raise ConfigError(f"recipe {p} is not valid YAML: {str(e).splitlines()[0]}") from None
    if not isinstance(data, dict) or not isinstance(data.get("stages"), list) or not data["stages"]:
        raise ConfigError(f"recipe {p}: expected a mapping with a non-empty list 'stages'")
    unknown = sorted(set(data) - {"name", "stages"})
    if unknown:
        raise ConfigError(f"recipe {p}: unknown key(s) {', '.join(unknown)} (known: name, stages)")
    stages: list[RecipeStage] = []
    by_name: dict[str, RecipeStage] = {}
    digest = hashlib.sha256(text)
    for i, raw in enumerate(data["stages"]):
        where = f"recipe {p}, stage {i + 1}"
        if not isinstance(raw, dict):
            raise ConfigError(f"{where}: expected a mapping")
        name = raw.get("name")
        if not isinstance(name, str) or not _NAME.match(name):
            raise ConfigError(f"{where}: 'name' must be a lower-case identifier, got {name!r}")
        where = f"recipe {p}, stage {name}"
        bad = sorted(set(raw) - KEYS)
        if bad:
            raise ConfigError(f"{where}: unknown key(s) {', '.join(bad)} (known: {', '.join(sorted(KEYS))})")
        if name in by_name:
            raise ConfigError(f"{where}: a second stage of that name")
        like = by_name.get(raw["like"]) if "like" in raw else None
        if "like" in raw and like is None:
            raise ConfigError(f"{where}: like {raw['like']!r} is not an earlier stage")
        trainer = raw.get("trainer", like.trainer if like else None)
        if trainer not in STAGES:
            raise ConfigError(f"{where}: trainer {trainer!r} is not one of {', '.join(STAGES)}")
        if like is not None and trainer != like.trainer:
            raise ConfigError(f"{where}: trainer {trainer} differs from its like stage's ({like.trainer})")
        config = (p.parent / raw["config"]) if "config" in raw else (like.config if like else None)
        if config is None:
            raise ConfigError(f"{where}: no 'config' (a base config file beside the recipe)")
        if not Path(config).is_file():
            raise ConfigError(f"{where}: config {config} not found")
        inputs = _flat(raw["inputs"], f"{where}, inputs") if "inputs" in raw else list(like.inputs if like else ())
        for key, src in inputs:
            if src not in by_name:
                raise ConfigError(f"{where}: input {key}: {src!r} is not an earlier stage")
        init = raw.get("init", "")
        if init:
            if init not in by_name:
                raise ConfigError(f"{where}: init {init!r} is not an earlier stage")
            if by_name[init].component != COMPONENT[trainer]:
                raise ConfigError(f"{where}: init {init!r} makes a {by_name[init].component}, this stage a "
                                  f"{COMPONENT[trainer]}")
        keep = raw.get("keep", like.keep if like else "last")
        if keep not in ("best", "last"):
            raise ConfigError(f"{where}: keep must be best or last, got {keep!r}")
        when = raw.get("when", like.when if like else "always")
        if when not in WHEN:
            raise ConfigError(f"{where}: when must be one of {', '.join(WHEN)}, got {when!r}")
        pack = raw.get("pack", like.pack if like else "")
        if pack and (not isinstance(pack, str) or not _NAME.match(pack)):
            raise ConfigError(f"{where}: pack must be a lower-case identifier, got {pack!r}")
        if pack and trainer not in PACKED:
            raise ConfigError(f"{where}: the {trainer} trainer cannot train from a pack ({', '.join(PACKED)} can)")
        sets = _flat(raw.get("set", {}), f"{where}, set")
        sched = _flat(raw.get("schedule", {}), f"{where}, schedule")
        for key, _ in sets:
            if key.split(".")[0] in ("init_from", "pack", "train") or key in dict(inputs):
                raise ConfigError(f"{where}: set {key}: {'use schedule' if key.startswith('train') else 'the recipe sets it'}")
        st = RecipeStage(
            name=name, trainer=trainer, config=Path(config), inputs=tuple(inputs), init=init, keep=keep,
            set=_merge_pairs(like.set, sets) if like else tuple(sets),
            schedule=_merge_pairs(like.schedule, sched) if like else tuple(sched), pack=pack, when=when)
        stages.append(st)
        by_name[name] = st
    packs: dict[str, RecipeStage] = {}
    for s in stages:  # stages sharing a pack must read the same thing
        if s.pack and s.pack in packs and (packs[s.pack].trainer, dict(packs[s.pack].inputs)) != (s.trainer, dict(s.inputs)):
            raise ConfigError(f"recipe {p}, stage {s.name}: pack {s.pack!r} is shared with stage {packs[s.pack].name}, "
                              "which has another trainer or inputs")
        packs.setdefault(s.pack, s)
    for f in sorted({s.config for s in stages}):
        digest.update(f.name.encode() + b"\0" + f.read_bytes())
    name = data.get("name", p.stem)
    if not isinstance(name, str) or not name:
        raise ConfigError(f"recipe {p}: name must be a non-empty string")
    return Recipe(name=name, path=p, stages=tuple(stages), digest=digest.hexdigest())
