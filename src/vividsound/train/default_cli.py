"""``vividsound train-default --corpus DIR --out DIR``: run a recipe (``configs/default/recipe.yaml``: every
stage of the default model, in order, with its schedule) end to end.

Each stage trains in ``OUT/STAGE`` with the recipe's config for it plus the paths of this run: the corpus,
one shared cache, the components of the earlier stages it names as inputs and ``init``, and its pack. A
stage with ``pack: NAME`` trains from ``OUT/packs/NAME.npz``, written once from the corpus before the first
stage that reads it (or taken from ``--packs DIR``), so on a machine without the corpus the same recipe
runs from packs written elsewhere (``--packs-only`` there, ``--given`` for the stages trained before).

Stage by stage resumable: a finished stage (``OUT/STAGE/DONE``) is skipped, an interrupted one resumes from
its last checkpoint. ``OUT/recipe.yaml`` keeps the recipe the run started with and a later sitting with
another recipe is refused (one run, one recipe); ``OUT/stages.json`` records each stage's sittings (wall
time, device), steps and result, the packs and the given components. The result is ``OUT/pipeline``: the
last GPT stage's export, its GPT replaced by the step that stage keeps (``keep: best``: the lowest
validation loss).
"""

from __future__ import annotations

import argparse
import json
import platform
import shutil
import sys
import time
from pathlib import Path

from vividsound.errors import ConfigError
from vividsound.train.recipe import Recipe, RecipeStage, load_recipe


def default_config_dir() -> Path:
    """The default configs, shipped inside the package (``vividsound/configs/default``; ``configs/`` at the
    top of a source checkout is a link to the same folder), so ``train-default`` works after ``pip install``."""
    return Path(__file__).resolve().parents[1] / "configs" / "default"


def default_recipe() -> Path:
    return default_config_dir() / "recipe.yaml"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--corpus", help="corpus folder holding manifest.jsonl (not needed when every stage to "
                        "train reads a pack from --packs and the others are done or --given)")
    parser.add_argument("--out", help="output folder (one run folder per stage, packs/, pipeline/)")
    parser.add_argument("--recipe", default=None, help="recipe YAML (default: the default model's, "
                        "configs/default/recipe.yaml)")
    parser.add_argument("--configs", default=None, help="a folder holding recipe.yaml (same as --recipe DIR/recipe.yaml)")
    parser.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"], help="where to train")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="STAGE.KEY=VALUE",
                        help="override one stage's config, e.g. --set gpt.train.steps=100 (repeatable)")
    parser.add_argument("--with", dest="with_", action="append", default=[], metavar="STAGE",
                        help="also run a stage the recipe runs only on a GPU (when: cuda) or on request (when: asked)")
    parser.add_argument("--without", action="append", default=[], metavar="STAGE", help="leave a stage out")
    parser.add_argument("--given", action="append", default=[], metavar="STAGE=FOLDER",
                        help="take a stage's component from FOLDER instead of training it (e.g. "
                             "--given vqgan_decoder=src/vividsound/default_model/vqgan)")
    parser.add_argument("--packs", default=None, metavar="DIR", help="read packs from DIR/NAME.npz where there "
                        "(written by --packs-only on the machine with the corpus)")
    parser.add_argument("--packs-only", action="store_true", help="write the packs the recipe's stages read "
                        "(into OUT/packs) and train nothing")
    parser.add_argument("--stop-after", default=None, metavar="STAGE", help="stop after this stage")
    parser.add_argument("--show-config", default=None, metavar="STAGE",
                        help="print the recipe's config for STAGE (YAML) and exit")
    parser.add_argument("--melgan", action="store_true", help="same as --with melgan")
    parser.add_argument("--gpu-phase", choices=["auto", "on", "off"], default="auto",
                        help="the recipe's GPU stages (when: cuda): auto = only when training on CUDA; on = "
                             "also on a CPU; off = never")


def _device_name(device: str) -> str:
    import torch

    if _on_cuda(device):
        return f"cuda: {torch.cuda.get_device_name(0)}"
    return f"cpu: {platform.processor() or platform.machine()}, {torch.get_num_threads()} threads"


def _on_cuda(device: str) -> bool:
    import torch

    return device == "cuda" or (device == "auto" and torch.cuda.is_available())


def kept(run: Path, component: str, keep: str) -> Path:
    """A finished run's component that later stages use: ``best/COMPONENT`` when ``keep`` is ``best`` and the
    best validation came before the last step, else ``export/COMPONENT``."""
    done = json.loads((run / "DONE").read_text())
    best = (done.get("best") or {}).get("step")
    if keep == "best" and best is not None and best != done["step"] and (run / "best" / component).is_dir():
        return run / "best" / component
    return run / "export" / component


def best_gpt(run: Path) -> Path:
    """A finished GPT run's GPT with the lowest validation loss (``kept(run, "gpt", "best")``)."""
    return kept(run, "gpt", "best")


def _record(record: dict, record_path: Path, key: str, t0: float, device: str, facts: dict) -> None:
    """Add a session (started at ``t0``) and ``facts`` to ``record[key]`` and write the record."""
    r = record.setdefault(key, {"wall_s": 0.0, "sessions": []})
    dt = time.time() - t0
    r["wall_s"] = round(r["wall_s"] + dt, 3)
    r["sessions"].append({"started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t0)),
                          "wall_s": round(dt, 3), "device": _device_name(device)})
    r.update(facts)
    _write_record(record_path, record)


def _parse_given(items: list[str] | dict[str, str], recipe: Recipe) -> dict[str, Path]:
    pairs = items.items() if isinstance(items, dict) else [i.partition("=")[::2] for i in items]
    given: dict[str, Path] = {}
    for name, folder in pairs:
        if not name or not folder:
            raise ConfigError(f"--given {name}={folder}: use STAGE=FOLDER")
        s = recipe.stage(name)
        p = Path(folder)
        if not (p / "config.json").is_file():
            raise ConfigError(f"--given {name}={folder}: not a component folder (no config.json)")
        cls = json.loads((p / "config.json").read_text()).get("class", "")
        want = {"gpt": ("ConditionalGPT", "ColumnGPT"), "vqgan": ("VQGAN",)}.get(s.trainer)
        if want and cls not in want:
            raise ConfigError(f"--given {name}={folder}: a {cls or 'unknown'} component, stage {name} makes a "
                              f"{' or '.join(want)}")
        given[name] = p.resolve()
    return given


def _select(recipe: Recipe, device: str, gpu_phase: str, with_: set[str], without: set[str]) -> list[RecipeStage]:
    for n in with_ | without:
        recipe.stage(n)  # a name the recipe has
    cuda = gpu_phase == "on" or (gpu_phase == "auto" and _on_cuda(device))
    picked = []
    for s in recipe.stages:
        on = s.when == "always" or (s.when == "cuda" and cuda) or s.name in with_
        if s.when == "cuda" and gpu_phase == "off" and s.name not in with_:
            on = False
        if on and s.name not in without:
            picked.append(s)
    return picked


def _stage_overrides(overrides: list[str], recipe: Recipe) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {s: [] for s in recipe.names}
    for o in overrides:
        stage, _, rest = o.partition(".")
        if stage not in out or not rest:
            raise ConfigError(f"--set {o!r} must start with a stage name ({', '.join(recipe.names)}), "
                              "e.g. gpt.train.steps=100")
        out[stage].append(rest)
    return out


def _lock(out: Path, recipe: Recipe) -> None:
    """One run, one recipe: the first sitting keeps a copy of the recipe; a later one with another is refused."""
    from vividsound.checkpoint import atomic_write_text  # imports torch: not at CLI start-up

    lock = out / "recipe.json"
    if lock.is_file():
        was = json.loads(lock.read_text())
        if was.get("digest") != recipe.digest:
            raise ConfigError(f"--out {out} was started with another recipe ({was.get('name')}, {was.get('path')}); "
                              "a run follows one recipe: use a new --out")
        return
    atomic_write_text(out / "recipe.yaml", recipe.path.read_text(encoding="utf-8"))
    atomic_write_text(lock, json.dumps({"name": recipe.name, "path": str(recipe.path), "digest": recipe.digest},
                                       indent=2) + "\n")


def train_default(corpus: str | Path | None, out: str | Path, *, device: str = "auto", melgan: bool = False,
                  configs: str | Path | None = None, recipe: str | Path | None = None,
                  overrides: list[str] | None = None, stop_after: str | None = None, gpu_phase: str = "auto",
                  with_: list[str] | tuple = (), without: list[str] | tuple = (),
                  given: list[str] | dict[str, str] | None = None, packs: str | Path | None = None,
                  packs_only: bool = False) -> Path:
    """Run (or resume) a recipe; returns the pipeline folder (or, stopped early, the last stage's run; with
    ``packs_only``, the packs folder)."""
    if gpu_phase not in ("auto", "on", "off"):
        raise ConfigError(f"gpu_phase={gpu_phase!r}: use auto, on or off")
    r = load_recipe(recipe if recipe else (Path(configs) / "recipe.yaml" if configs else default_recipe()))
    r.check_configs()
    stages = _select(r, device, gpu_phase, set(with_) | ({"melgan"} if melgan and "melgan" in r.names else set()),
                     set(without))
    names = [s.name for s in stages]
    if stop_after is not None and stop_after not in names:
        raise ConfigError(f"--stop-after {stop_after}: that stage is not part of this run ({', '.join(names)})")
    giv = _parse_given(given or [], r)
    per = _stage_overrides(list(overrides or []), r)
    out = Path(out)
    pack_dir = Path(packs).resolve() if packs else None
    if pack_dir is not None and not pack_dir.is_dir():
        raise ConfigError(f"--packs {packs}: no such folder")
    manifest = None
    if corpus is not None:
        manifest = Path(corpus) / "manifest.jsonl"
        if not manifest.is_file():
            raise ConfigError(f"--corpus {corpus}: no manifest.jsonl there")

    def done(s: str) -> bool:
        return (out / s / "DONE").is_file()

    def component(name: str) -> Path:
        if name in giv:
            return giv[name]
        s = r.stage(name)
        return kept(out / name, s.component, s.keep).resolve()

    def pack_file(s: RecipeStage) -> Path:
        if pack_dir is not None and (pack_dir / f"{s.pack}.npz").is_file():
            return pack_dir / f"{s.pack}.npz"
        return (out / "packs" / f"{s.pack}.npz").resolve()

    # every check before any slow work: what each stage starts from is trained in this run or given, and a
    # stage that reads the corpus has one
    planned = set(names) | set(giv)
    upto = stages[:names.index(stop_after) + 1] if stop_after else stages
    for s in upto:
        if s.name in giv or done(s.name):
            continue
        if packs_only:  # only the packs are written now: what they code with must exist already
            if not s.pack:
                continue
            for _, src in s.inputs:
                if src not in giv and not done(src):
                    raise ConfigError(f"--packs-only: pack {s.pack!r} (stage {s.name}) needs stage {src}'s "
                                      f"{r.stage(src).component}: train it first or pass --given {src}=FOLDER")
        else:
            for need in [src for _, src in s.inputs] + ([s.init] if s.init else []):
                if need not in planned and not done(need):
                    raise ConfigError(f"stage {s.name} needs stage {need}'s {r.stage(need).component}, which this "
                                      f"run neither trains nor is given: add --with {need} or --given {need}=FOLDER")
        if (not s.pack or not pack_file(s).is_file()) and manifest is None:
            raise ConfigError(f"stage {s.name} reads the corpus{f' (to write pack {s.pack!r})' if s.pack else ''}: "
                              "pass --corpus" + (f" or --packs DIR with {s.pack}.npz" if s.pack else ""))
    out.mkdir(parents=True, exist_ok=True)
    _lock(out, r)
    record_path = out / "stages.json"
    record = json.loads(record_path.read_text()) if record_path.is_file() else {}
    record["recipe"] = {"name": r.name, "digest": r.digest}
    if giv:
        record.setdefault("given", {}).update({k: str(v) for k, v in giv.items()})
    # every sitting of the run: when, where, and what it was told beyond the recipe
    record.setdefault("sittings", []).append({
        "started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "device": _device_name(device),
        "stages": names, "overrides": list(overrides or []), "given": {k: str(v) for k, v in giv.items()},
        "corpus": str(manifest.resolve()) if manifest else None, "packs": str(pack_dir) if pack_dir else None,
        "packs_only": packs_only})
    _write_record(record_path, record)
    common = [f"train.device={device}"]
    if manifest is not None:
        common += [f"data.manifest={manifest.resolve()}", f"data.cache_dir={(out / 'cache').resolve()}"]

    def links(s: RecipeStage) -> list[str]:
        return [f"{key}={component(src)}" for key, src in s.inputs]

    last: Path | None = None
    for s in stages:
        run = out / s.name
        if s.name in giv:
            print(f"[train-default] {s.name}: given, {giv[s.name]}")
            last = run
        elif done(s.name):
            print(f"[train-default] {s.name}: done already, skipping")
            last = run
        elif packs_only and not s.pack:
            print(f"[train-default] {s.name}: not trained (--packs-only)")
        else:
            sets = common + links(s)
            if s.pack:
                pack = pack_file(s)
                if not pack.is_file():
                    _write_pack(r, s, out, pack, sets + per[s.name], record, record_path, device)
                sets.append(f"pack={pack}")
            if packs_only:
                if s.pack:
                    print(f"[train-default] {s.name}: reads pack {s.pack} ({pack})")
                continue
            if s.init:
                sets.append(f"init_from={component(s.init)}")
            last = _train_stage(r, s, run, sets + per[s.name], record, record_path, device)
            if not done(s.name):
                print(f"[train-default] {s.name} stopped before its last step; run the same command again to resume")
                return run
        if stop_after == s.name:
            return run
    if packs_only:
        return out / "packs"
    return _assemble(r, stages, out, giv, record, record_path, component) or last or out


def _train_stage(r: Recipe, s: RecipeStage, run: Path, sets: list[str], record: dict, record_path: Path,
                 device: str) -> Path:
    from vividsound.checkpoint import recover_dir  # imports torch: not at CLI start-up
    from vividsound.train import train

    recover_dir(run / "checkpoints" / "last")  # a save killed midway: its last complete checkpoint
    resume = (run / "checkpoints" / "last" / "state.pt").is_file()
    if run.exists() and not resume:  # stopped before its first checkpoint: nothing to resume
        shutil.rmtree(run)
    print(f"[train-default] {s.name}: {'resuming' if resume else 'starting'} in {run}")
    t0 = time.time()
    try:
        train(s.trainer, r.stage_config(s.name), run, overrides=sets, resume=resume)
    finally:
        ok = (run / "DONE").is_file()
        _record(record, record_path, s.name, t0, device,
                {"done": ok, **({"result": json.loads((run / "DONE").read_text())} if ok else {})})
    return run


def _write_pack(r: Recipe, s: RecipeStage, out: Path, pack: Path, sets: list[str], record: dict,
                record_path: Path, device: str) -> None:
    """Write ``pack`` from the corpus with stage ``s``'s config (once; the caches make a rerun resume)."""
    from vividsound.train import write_pack

    print(f"[train-default] pack {s.pack}: writing {pack} for stage {s.name}")
    t0 = time.time()
    try:
        write_pack(s.trainer, r.stage_config(s.name), out / "packs" / f"{s.pack}-run", pack, overrides=sets)
    finally:
        ok = pack.is_file()
        _record(record, record_path, f"pack:{s.pack}", t0, device,
                {"done": ok, **({"bytes": pack.stat().st_size, "path": str(pack)} if ok else {})})


def _assemble(r: Recipe, stages: list[RecipeStage], out: Path, giv: dict, record: dict, record_path: Path,
              component) -> Path | None:
    """``OUT/pipeline``: the last trained GPT stage's export, its GPT the step that stage keeps; a trained
    MelGAN added."""
    gpts = [s for s in stages if s.trainer == "gpt" and s.name not in giv]
    if not gpts:
        return None
    g = gpts[-1]
    pipe = out / "pipeline"
    if pipe.exists():
        shutil.rmtree(pipe)
    shutil.copytree(out / g.name / "export", pipe)
    chosen = kept(out / g.name, "gpt", g.keep)
    if chosen.parent.name == "best":  # the best validation step, in the export's dtype
        _replace_gpt(pipe / "gpt", chosen)
    record["pipeline_gpt"] = str(chosen)
    for s in stages:
        if s.trainer == "melgan" and s.name not in giv and (out / s.name / "export" / "melgan").is_dir():
            shutil.copytree(out / s.name / "export" / "melgan", pipe / "melgan")
    size = sum(p.stat().st_size for p in pipe.rglob("*") if p.is_file())
    record["pipeline"] = {"path": str(pipe), "bytes": size}
    _write_record(record_path, record)
    print(f"[train-default] pipeline ready: {pipe} ({size / 1e6:.1f} MB); try vividsound generate \"a dog barks\" "
          f"--model {pipe} -o dog.wav")
    return pipe


def _replace_gpt(folder: Path, src: Path) -> None:
    """Overwrite the pipeline's GPT component with ``src``, in the dtype the export wrote (atomically)."""
    import torch
    from safetensors import safe_open

    from vividsound.checkpoint import WEIGHTS_NAME, load_component, save_component

    with safe_open(str(folder / WEIGHTS_NAME), framework="pt") as f:
        fp16 = any(f.get_slice(k).get_dtype() == "F16" for k in f.keys())
    save_component(load_component(src, ("ConditionalGPT", "ColumnGPT")), folder, dtype=torch.float16 if fp16 else None,
                   extra={"source": str(src)})


def show_config(recipe: str | Path | None, stage: str) -> str:
    """The recipe's config for ``stage`` as YAML, headed by what a run adds to it."""
    import yaml

    r = load_recipe(recipe or default_recipe())
    s = r.stage(stage)
    head = [f"# recipe {r.name}, stage {s.name} (trainer {s.trainer}, base {s.config.name}); a run adds:"]
    head += [f"#   {k}: stage {v}'s {r.stage(v).component}" for k, v in s.inputs]
    if s.init:
        head.append(f"#   init_from: stage {s.init}'s {r.stage(s.init).component}")
    if s.pack:
        head.append(f"#   pack: OUT/packs/{s.pack}.npz")
    return "\n".join(head) + "\n" + yaml.safe_dump(r.stage_config(stage), sort_keys=False)


def run(args: argparse.Namespace) -> int:
    recipe = args.recipe or (str(Path(args.configs) / "recipe.yaml") if args.configs else None)
    if args.show_config:
        sys.stdout.write(show_config(recipe, args.show_config))
        return 0
    if not args.out:
        raise ConfigError("--out is required (the run folder)")
    train_default(args.corpus, args.out, device=args.device, melgan=args.melgan, recipe=recipe,
                  overrides=args.overrides, stop_after=args.stop_after, gpu_phase=args.gpu_phase, with_=args.with_,
                  without=args.without, given=args.given, packs=args.packs, packs_only=args.packs_only)
    return 0


def _write_record(path: Path, record: dict) -> None:
    """stages.json, atomically (an interrupted write must not lose the record of finished stages)."""
    from vividsound.checkpoint import atomic_write_text  # imports torch: not at CLI start-up

    atomic_write_text(path, json.dumps(record, indent=2) + "\n")
