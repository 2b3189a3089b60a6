"""``vividsound train-default --corpus DIR --out DIR``: every stage of the default model, one after another.

tagger -> vqgan (perceptual loss on the tagger) [-> vqgan_decoder (the same VQGAN with its encoder and
codebook frozen, its decoder fine-tuned on grids of up to 10 s)] -> clap -> gpt (on the VQGAN's codes,
conditioned on the CLAP-tuned text encoder) -> gpt_full (the same GPT fine-tuned on whole clips from their
start, so every position up to 10 s is trained and a caption's "then" lines up with time) [-> gpt_gpu ->
gpt_gpu_tail -> gpt_gpu_focus] [-> melgan], each with ``configs/default/STAGE.yaml``, all sharing one cache.
``vqgan_decoder`` and ``gpt_full`` run when the config folder has their YAML; the GPT stages and the
pipeline use the fine-tuned decoder's VQGAN when there is one (its codes are the vqgan stage's). The GPU
phase (``--gpu-phase``; by default only when training on CUDA) writes a codes pack of every clip once
(``OUT/pack/codes.npz``), then trains ``gpt_gpu`` (from ``gpt_full``'s GPT, for ``train.max_minutes``) and
``gpt_gpu_tail`` (from ``gpt_gpu``'s best GPT, a lower learning rate): the recipe of the shipped model's
phase 3; then ``gpt_gpu_focus`` (from ``gpt_gpu_tail``'s best GPT, on the pack's loudness supplement plus
20,000 other clips, lr 1e-4): the shipped model's phase 4. ``gpt_gpu_focus`` runs when the config folder
has its YAML.
Stage by stage resumable: a finished stage (``OUT/STAGE/DONE``) is skipped, an interrupted one resumes
from its last checkpoint. ``OUT/stages.json`` records each stage's wall time, device and steps; the
result is the pipeline folder ``OUT/pipeline``: a copy of the last GPT run's export, its GPT replaced by
that run's best validation step when the best came before the last step.
"""

from __future__ import annotations

import argparse
import json
import platform
import shutil
import time
from pathlib import Path

from vividsound.errors import ConfigError

ORDER = ("tagger", "vqgan", "vqgan_decoder", "clap", "gpt", "gpt_full", "gpt_gpu", "gpt_gpu_tail", "gpt_gpu_focus",
         "melgan")
# later phases of another stage's trainer
KIND = {"vqgan_decoder": "vqgan", "gpt_full": "gpt", "gpt_gpu": "gpt", "gpt_gpu_tail": "gpt", "gpt_gpu_focus": "gpt"}
# the GPU phase's stages, each starting from the best GPT of the stage named here
PREVIOUS = {"gpt_gpu": "gpt_full", "gpt_gpu_tail": "gpt_gpu", "gpt_gpu_focus": "gpt_gpu_tail"}


def default_config_dir() -> Path:
    """The default configs, shipped inside the package (``vividsound/configs/default``; ``configs/`` at the
    top of a source checkout is a link to the same folder), so ``train-default`` works after ``pip install``."""
    return Path(__file__).resolve().parents[1] / "configs" / "default"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--corpus", required=True, help="corpus folder holding manifest.jsonl")
    parser.add_argument("--out", required=True, help="output folder (one run folder per stage + pipeline/)")
    parser.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"], help="where to train")
    parser.add_argument("--melgan", action="store_true", help="also train the MelGAN vocoder (optional)")
    parser.add_argument("--configs", default=None, help="folder of STAGE.yaml files (default: configs/default)")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="STAGE.KEY=VALUE",
                        help="override one stage's config, e.g. --set gpt.train.steps=100 (repeatable)")
    parser.add_argument("--stop-after", choices=ORDER, default=None, help="stop after this stage")
    parser.add_argument("--gpu-phase", choices=["auto", "on", "off"], default="auto",
                        help="run the GPU phase of the GPT (gpt_gpu, gpt_gpu_tail, gpt_gpu_focus: whole clips from a "
                             "codes pack, batch 128, for train.max_minutes each); auto = only when training on CUDA")


def _stage_overrides(overrides: list[str]) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {s: [] for s in ORDER}
    for o in overrides:
        stage, _, rest = o.partition(".")
        if stage not in out or not rest:
            raise ConfigError(f"--set {o!r} must start with a stage name ({', '.join(ORDER)}), e.g. gpt.train.steps=100")
        out[stage].append(rest)
    return out


def _device_name(device: str) -> str:
    import torch

    if _on_cuda(device):
        return f"cuda: {torch.cuda.get_device_name(0)}"
    return f"cpu: {platform.processor() or platform.machine()}, {torch.get_num_threads()} threads"


def _on_cuda(device: str) -> bool:
    import torch

    return device == "cuda" or (device == "auto" and torch.cuda.is_available())


def best_gpt(run: Path) -> Path:
    """A finished GPT run's GPT component with the lowest validation loss: ``best/gpt`` when the best
    validation came before the last step, else ``export/gpt``."""
    done = json.loads((run / "DONE").read_text())
    best = (done.get("best") or {}).get("step")
    if best is not None and best != done["step"] and (run / "best" / "gpt").is_dir():
        return run / "best" / "gpt"
    return run / "export" / "gpt"


def _record(record: dict, record_path: Path, key: str, t0: float, device: str, facts: dict) -> None:
    """Add a session (started at ``t0``) and ``facts`` to ``record[key]`` and write the record."""
    r = record.setdefault(key, {"wall_s": 0.0, "sessions": []})
    dt = time.time() - t0
    r["wall_s"] = round(r["wall_s"] + dt, 3)
    r["sessions"].append({"started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t0)),
                          "wall_s": round(dt, 3), "device": _device_name(device)})
    r.update(facts)
    _write_record(record_path, record)


def _write_pack(cdir: Path, out: Path, overrides: list[str], record: dict, record_path: Path,
                device: str) -> Path:
    """``OUT/pack/codes.npz`` for the GPU phase (written once; the codes cache makes a rerun resume)."""
    from vividsound.train import write_codes_pack

    pack = out / "pack" / "codes.npz"
    if pack.is_file():
        print(f"[train-default] codes pack: {pack} exists, reusing it")
        return pack
    print(f"[train-default] codes pack: coding every clip into {pack}")
    t0 = time.time()
    try:
        write_codes_pack("gpt", cdir / "gpt_gpu.yaml", out / "pack" / "run", pack, overrides=overrides)
    finally:
        done = pack.is_file()
        _record(record, record_path, "pack", t0, device,
                {"done": done, **({"bytes": pack.stat().st_size} if done else {})})
    return pack


def train_default(corpus: str | Path, out: str | Path, *, device: str = "auto", melgan: bool = False,
                  configs: str | Path | None = None, overrides: list[str] | None = None,
                  stop_after: str | None = None, gpu_phase: str = "auto") -> Path:
    """Run (or resume) every default stage; returns the pipeline folder (or the last finished stage's run)."""
    from vividsound.train import train

    if gpu_phase not in ("auto", "on", "off"):
        raise ConfigError(f"gpu_phase={gpu_phase!r}: use auto, on or off")

    corpus, out = Path(corpus), Path(out)
    manifest = corpus / "manifest.jsonl"
    if not manifest.is_file():
        raise ConfigError(f"--corpus {corpus}: no manifest.jsonl there")
    cdir = Path(configs) if configs else default_config_dir()
    full = (cdir / "gpt_full.yaml").is_file()
    gpu = gpu_phase == "on" or (gpu_phase == "auto" and _on_cuda(device) and (cdir / "gpt_gpu.yaml").is_file())
    if gpu and not full:
        raise ConfigError(f"the GPU phase starts from gpt_full's GPT: no gpt_full.yaml in {cdir}")
    optional = {"melgan": melgan, "gpt_full": full, "gpt_gpu": gpu, "gpt_gpu_tail": gpu,
                "gpt_gpu_focus": gpu and (cdir / "gpt_gpu_focus.yaml").is_file(),
                "vqgan_decoder": (cdir / "vqgan_decoder.yaml").is_file()}
    stages = [s for s in ORDER if optional.get(s, True)]
    if stop_after is not None and stop_after not in stages:
        raise ConfigError(f"--stop-after {stop_after}: that stage is not part of this run ({', '.join(stages)})")
    for s in stages:
        if not (cdir / f"{s}.yaml").is_file():
            raise ConfigError(f"no {s}.yaml in {cdir} (pass --configs DIR)")
    per = _stage_overrides(list(overrides or []))
    out.mkdir(parents=True, exist_ok=True)
    record_path = out / "stages.json"
    record = json.loads(record_path.read_text()) if record_path.is_file() else {}
    common = [f"data.manifest={manifest.resolve()}", f"data.cache_dir={(out / 'cache').resolve()}",
              f"train.device={device}"]
    tagger = f"loss.tagger={(out / 'tagger' / 'export' / 'tagger').resolve()}"
    vq_run = "vqgan_decoder" if "vqgan_decoder" in stages else "vqgan"
    links = {
        "tagger": [],
        "vqgan": [tagger],
        "vqgan_decoder": [tagger, f"init_from={(out / 'vqgan' / 'export' / 'vqgan').resolve()}"],
        "clap": [],
        "gpt": [f"vqgan={(out / vq_run / 'export' / 'vqgan').resolve()}",
                f"text.path={(out / 'clap' / 'export' / 'text_encoder').resolve()}"],
        "melgan": [],
    }
    links["gpt_full"] = links["gpt"] + [f"init_from={(out / 'gpt' / 'export' / 'gpt').resolve()}"]
    for s in stages:
        run = out / s
        if (run / "DONE").is_file():
            print(f"[train-default] {s}: done already, skipping")
        else:
            if s in PREVIOUS:  # a GPU-phase stage: init_from known only once the previous one has finished
                prev = out / PREVIOUS[s]
                links[s] = links["gpt"] + [f"init_from={best_gpt(prev).resolve()}"]
                if s == "gpt_gpu":
                    _write_pack(cdir, out, common + links[s] + per[s], record, record_path, device)
                links[s].append(f"pack={(out / 'pack' / 'codes.npz').resolve()}")
            from vividsound.checkpoint import recover_dir  # imports torch: not at CLI start-up

            recover_dir(run / "checkpoints" / "last")  # a save killed midway: its last complete checkpoint
            resume = (run / "checkpoints" / "last" / "state.pt").is_file()
            if run.exists() and not resume:  # stopped before its first checkpoint: nothing to resume
                shutil.rmtree(run)
            print(f"[train-default] {s}: {'resuming' if resume else 'starting'} in {run}")
            t0 = time.time()
            try:
                train(KIND.get(s, s), cdir / f"{s}.yaml", run, overrides=common + links[s] + per[s], resume=resume)
            finally:
                done = (run / "DONE").is_file()
                _record(record, record_path, s, t0, device,
                        {"done": done, **({"result": json.loads((run / "DONE").read_text())} if done else {})})
            if not (run / "DONE").is_file():
                print(f"[train-default] {s} stopped before its last step; run the same command again to resume")
                return run
        if stop_after == s:
            return run
    pipe = out / "pipeline"
    if pipe.exists():
        shutil.rmtree(pipe)
    last_gpt = [s for s in stages if KIND.get(s, s) == "gpt"][-1]
    shutil.copytree(out / last_gpt / "export", pipe)
    chosen = best_gpt(out / last_gpt)
    if chosen.parent.name == "best":  # the best validation step, in the export's dtype
        _replace_gpt(pipe / "gpt", chosen)
    record["pipeline_gpt"] = str(chosen)
    if melgan and (out / "melgan" / "export" / "melgan").is_dir():
        shutil.copytree(out / "melgan" / "export" / "melgan", pipe / "melgan")
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


def run(args: argparse.Namespace) -> int:
    train_default(args.corpus, args.out, device=args.device, melgan=args.melgan, configs=args.configs,
                  overrides=args.overrides, stop_after=args.stop_after, gpu_phase=args.gpu_phase)
    return 0


def _write_record(path: Path, record: dict) -> None:
    """stages.json, atomically (an interrupted write must not lose the record of finished stages)."""
    from vividsound.checkpoint import atomic_write_text  # imports torch: not at CLI start-up

    atomic_write_text(path, json.dumps(record, indent=2) + "\n")
