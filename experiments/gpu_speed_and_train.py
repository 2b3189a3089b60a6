"""Issue 22 on a lent GPU in one run: train the column GPT and the Vocos vocoder, then benchmark text -> waveform.

Two commands (``experiments/gpu_speed_and_train.sh`` wraps the second for the GPU machine):

``prepare`` (where the corpus is): writes what the GPU run reads. ``--bundle`` (default ``.bench/gpu22``):
the codes pack of ``configs/default/recipe.yaml#gpt_gpu`` (the default VQGAN's codes and the captions) and the slim
MiniLM text tower (``scripts/gpu_gpt_bundle.py``). ``--wave-bundle`` (default ``.bench/gpu22-wave``): a
waveform pack for the vocoder, 16-bit excerpts sized to what the repository leaves of the 64 MiB a lent
machine takes per call. The two cannot travel together: the repository (26 MB), the codes pack (16 MB)
and the MiniLM tower (24 MB) already fill a call, so the vocoder trains in a second call that carries only
the waveform pack (~38 MB, ~14 minutes of audio). No log-mel travels: the vocoder's input is computed from
the waveform on the GPU, and 8-bit audio would teach the vocoder its quantisation noise.

``run`` (on the GPU; ``--smoke``: anywhere, on tiny data it makes itself, in a few minutes on a CPU):

a. trains a column GPT (``model.type=columns``) and, beside it at the same budget, a flat GPT, both from
   scratch on the codes pack for ``--gpt-minutes`` (3; recipe.yaml#gpt_gpu's recipe: resident batches, the cosine
   schedule following the clock), so their validation losses compare; the column GPT's weights (best
   validation step) come back in fp16. ``--init-gpt DIR`` continues a column GPT from such weights (the
   optimiser state, ~100 MB, is over the return limit: a later session resumes from the weights);
b. trains the Vocos vocoder on the waveform pack for ``--vocos-minutes`` (when ``--wave-bundle`` holds one;
   at the same time as (a) when both travel, e.g. with a smaller pack); its fp16 weights come back;
c. benchmarks text -> waveform for one 10 s clip at batch 1 (CUDA-graph loop) and at ``--batch-sizes``,
   flat vs column GPT (bf16), at the default model's size (its text encoder and VQGAN, the trained column
   GPT when (a) produced one, the Vocos vocoder) and at the paper's sizes (random weights, MelGAN), and
   checks that the column GPT's CUDA-graph tokens equal its eager tokens.

Every phase has its own time limit, so the results of the others still come back. Results go to one
tar, split into parts of at most 15 MiB (a lent machine returns at most 8 files of 16 MiB), plus
``summary.md``; join them with ``cat results.tar.part-* | tar -x``.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))  # the benchmarks package
MODEL = REPO / "src" / "vividsound" / "default_model"
PART_BYTES = 15 * 2**20
LIMIT_BYTES = 64 * 2**20  # what a lent machine takes per call (working tree + carried paths)
PY = sys.executable
START = time.time()
BENCH_RESERVE = 170  # seconds kept for the benchmark and the packing after training


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)


def vividsound(args: list[str], limit: float, log_path: Path) -> int:
    """``python -m vividsound ARGS`` with a time limit, output to ``log_path``; returns the exit code."""
    env = {**os.environ, "PYTHONPATH": f"{REPO / 'src'}{os.pathsep}{os.environ.get('PYTHONPATH', '')}",
           "PYTHONUNBUFFERED": "1"}
    with open(log_path, "w") as f:
        p = subprocess.Popen([PY, "-m", "vividsound", *args], stdout=f, stderr=subprocess.STDOUT, env=env)
        try:
            return p.wait(timeout=limit)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()
            f.write(f"\n[driver] stopped after the {limit:.0f} s limit\n")
            return 124


# ----- prepare ---------------------------------------------------------------------------------------
def tracked_bytes() -> int:
    out = subprocess.run(["git", "ls-files", "-z"], cwd=REPO, capture_output=True, check=True).stdout
    return sum((REPO / p).stat().st_size for p in out.decode().split("\0") if p and (REPO / p).is_file())


def folder_bytes(p: Path) -> int:
    return p.stat().st_size if p.is_file() else sum(f.stat().st_size for f in p.rglob("*") if f.is_file())


def prepare(a: argparse.Namespace) -> None:
    bundle, wave_bundle = Path(a.bundle), Path(a.wave_bundle)
    bundle.mkdir(parents=True, exist_ok=True)
    wave_bundle.mkdir(parents=True, exist_ok=True)
    work = Path(a.work)
    work.mkdir(parents=True, exist_ok=True)
    codes, slim, wave = bundle / "codes.npz", bundle / "minilm-slim", wave_bundle / "wave.npz"
    if not codes.is_file():
        log("writing the codes pack (codes every clip with the default VQGAN: long on a CPU)")
        rc = vividsound(["train", "gpt", "--config", f"{REPO / 'configs/default/recipe.yaml'}#gpt_gpu", "--out",
                         str(work / "codes"), "--write-pack", str(codes), "--set", f"data.manifest={a.corpus}",
                         "--set", f"vqgan={MODEL / 'vqgan'}", "--set", f"text.path={MODEL / 'text_encoder'}"],
                        1e6, work / "codes.log")
        if rc:
            raise SystemExit(f"writing the codes pack failed; see {work / 'codes.log'}")
    if not slim.is_dir():
        log("slimming the MiniLM text tower")
        subprocess.run([PY, str(REPO / "scripts/gpu_gpt_bundle.py"), "pack", "--pack", str(codes), "--out", str(slim)],
                       check=True, env={**os.environ, "PYTHONPATH": str(REPO / "src")})
    repo = tracked_bytes()
    if not wave.is_file():
        room = LIMIT_BYTES - repo - 2 * 2**20  # a margin for untracked files
        mb = min(a.wave_mb, room / 1e6) if a.wave_mb else room / 1e6
        log(f"writing a {mb:.1f} MB waveform pack ({mb * 1e6 / 2 / 22050 / 60:.1f} min of 16-bit audio)")
        rc = vividsound(["train", "vocos", "--config", str(REPO / "configs/default/vocos.yaml"), "--out",
                         str(work / "wave"), "--write-pack", str(wave), "--set", f"data.manifest={a.corpus}",
                         "--set", f"pack_mb={mb:.3f}"], 1e6, work / "wave.log")
        if rc:
            raise SystemExit(f"writing the waveform pack failed; see {work / 'wave.log'}")
    for b in (bundle, wave_bundle):
        total = repo + folder_bytes(b)
        log(f"{b}: {folder_bytes(b) / 2**20:.1f} MiB; with the repository {total / 2**20:.1f} MiB of 64 "
            f"({'fits' if total <= LIMIT_BYTES else 'TOO LARGE: carry less'})")
    log(f"call 1: carry {bundle} (GPT training + benchmark); call 2: carry {wave_bundle} with PHASES=train "
        "(the vocoder)")


# ----- smoke data ------------------------------------------------------------------------------------
SMOKE_GPT = ["model.n_layer=2", "model.n_head=2", "model.n_embd=32", "model.max_columns=16", "crop_columns=8",
             "sample_columns=2", "text.encoder=hf", "text.dim=32", "text.max_tokens=8", "resident=true",
             "lead_silence=0.0", "train.batch_size=4", "train.val_batches=1", "data.val_items=4"]
SMOKE_VOCOS = ["model.dim=16", "model.intermediate=32", "model.n_layers=2", "discriminator.periods=[2,3]",
               "discriminator.period_channels=[4,8]", "discriminator.resolutions=[[256,64]]",
               "discriminator.resolution_channels=4", "data.crop_frames=8", "train.batch_size=4", "data.val_items=2"]


def smoke_bundle(root: Path) -> tuple[Path, list[str], list[str]]:
    """A tiny corpus (numpy tones and noise), a random tiny VQGAN and BERT, and their codes and waveform packs."""
    import numpy as np
    import soundfile as sf
    import torch

    from vividsound.checkpoint import save_component
    from vividsound.models.vqgan import VQGAN
    from vividsound.testing import tiny_bert, tiny_vqgan_config
    from vividsound.train import write_codes_pack

    rng = np.random.default_rng(0)
    (root / "corpus").mkdir(parents=True)
    lines = []
    for i in range(12):
        t = np.arange(int(22050 * rng.uniform(0.8, 1.5))) / 22050
        kind = ["tone", "noise", "chirp"][i % 3]
        x = np.sin(2 * np.pi * rng.uniform(200, 2000) * t) if kind == "tone" else (
            rng.standard_normal(len(t)) * 0.5 if kind == "noise" else np.sin(2 * np.pi * (500 * t + 1500 * t**2)))
        sf.write(root / "corpus" / f"{i}.flac", (0.3 * x).astype(np.float32), 22050)
        lines.append({"id": f"c{i}", "audio": f"{i}.flac", "captions": [f"a {kind} sound", f"some {kind}"],
                      "split": "train" if i < 8 else "val", "source": "smoke", "licence": "CC0-1.0"})
    manifest = root / "corpus" / "manifest.jsonl"
    manifest.write_text("".join(json.dumps(x) + "\n" for x in lines))
    torch.manual_seed(0)
    vq = root / "vqgan"
    save_component(VQGAN(tiny_vqgan_config(n_codes=32)), vq)
    bert = tiny_bert(root / "bert")
    gpt_sets = SMOKE_GPT + [f"vqgan={vq}", f"text.path={bert}", "train.device=cpu", "train.progress=false"]
    bundle = root / "bundle"
    write_codes_pack("gpt", f"{REPO / 'configs/default/recipe.yaml'}#gpt_gpu", root / "codes-run", bundle / "codes.npz",
                     overrides=gpt_sets + [f"data.manifest={manifest}"])
    vocos_sets = SMOKE_VOCOS + ["train.device=cpu", "train.progress=false", "pack_seconds=0.5"]
    write_codes_pack("vocos", REPO / "configs/default/vocos.yaml", root / "wave-run", bundle / "wave.npz",
                     overrides=vocos_sets + [f"data.manifest={manifest}"])
    return bundle, [f"--set={s}" for s in gpt_sets], [f"--set={s}" for s in vocos_sets]


# ----- training -------------------------------------------------------------------------------------
def gpt_args(bundle: Path, run: Path, kind: str, minutes: float, extra: list[str], init: str) -> list[str]:
    sets = [f"pack={bundle / 'codes.npz'}", f"model.type={kind}", f"init_from={init}", f"train.max_minutes={minutes}",
            "train.progress=false", "export.vocoder=griffinlim", "train.tensorboard=false"]
    if not any(s.startswith("--set=vqgan=") for s in extra):
        sets += [f"vqgan={MODEL / 'vqgan'}", f"text.path={MODEL / 'text_encoder'}"]
    return ["train", "gpt", "--config", f"{REPO / 'configs/default/recipe.yaml'}#gpt_gpu", "--out", str(run)] + \
        [x for s in sets for x in ("--set", s)] + extra


def vocos_args(bundle: Path, run: Path, minutes: float, extra: list[str]) -> list[str]:
    sets = [f"pack={bundle / 'wave.npz'}", f"train.max_minutes={minutes}", "train.progress=false",
            "train.tensorboard=false", "train.batch_size=32", "train.val_every=500", "train.ckpt_every=500",
            "data.val_items=32"]
    return ["train", "vocos", "--config", str(REPO / "configs/default/vocos.yaml"), "--out", str(run)] + \
        [x for s in sets for x in ("--set", s)] + extra


def chosen(run: Path, name: str) -> tuple[Path | None, dict]:
    """The component to keep from a run: the best validation step's, else the export, else the last checkpoint."""
    done = json.loads((run / "DONE").read_text()) if (run / "DONE").is_file() else {}
    best = (done.get("best") or {}).get("step")
    for folder, what in ((run / "best" / name, f"best (step {best})"), (run / "export" / name, "export"),
                         (run / "checkpoints" / "last" / name, "last checkpoint (interrupted run)")):
        if (folder / "config.json").is_file() and (what != "export" or done):
            return folder, {"kept": what, "last_step": done.get("step"), "best": done.get("best")}
    return None, {"kept": None}


def val_losses(run: Path, key: str) -> list[tuple[int, float]]:
    if not (run / "metrics.jsonl").is_file():
        return []
    rows = [json.loads(x) for x in (run / "metrics.jsonl").read_text().splitlines() if x.strip()]
    return [(int(r["step"]), float(r[key])) for r in rows if r.get("kind") == "val" and key in r]


def train_phase(a, bundle: Path, wave_bundle: Path, work: Path, res: Path, gpt_extra: list[str],
                vocos_extra: list[str]) -> dict:
    """Columns GPT, flat GPT and Vocos side by side (one after another with --smoke), each where its pack
    travelled; returns the summary."""
    import torch

    from vividsound.checkpoint import load_component, save_component

    jobs = {}
    if (bundle / "codes.npz").is_file():
        jobs["gpt_columns"] = gpt_args(bundle, work / "gpt_columns", "columns", a.gpt_minutes, gpt_extra, a.init_gpt)
        if a.flat:
            jobs["gpt_flat"] = gpt_args(bundle, work / "gpt_flat", "flat", a.gpt_minutes, gpt_extra, "")
    else:
        log(f"no {bundle / 'codes.npz'}: no GPT is trained in this run")
    if (wave_bundle / "wave.npz").is_file():
        jobs["vocos"] = vocos_args(wave_bundle, work / "vocos", a.vocos_minutes, vocos_extra)
    else:
        log(f"no {wave_bundle / 'wave.npz'}: the vocoder is not trained in this run")
    setup = 60 if a.smoke else 150  # encoding every caption, the last validation and the export
    # every job also ends before the run's deadline, leaving the benchmark and the packing their reserve
    left = a.deadline - (time.time() - START) - (BENCH_RESERVE if "bench" in a.phases else 20)
    limits = {k: max(30.0, min((a.gpt_minutes if k.startswith("gpt") else a.vocos_minutes) * 60 + setup, left))
              for k in jobs}
    (res / "logs").mkdir(parents=True, exist_ok=True)
    t0 = time.time()
    if a.smoke:  # one torch process at a time on a small CPU
        codes = {k: vividsound(args, limits[k], res / "logs" / f"{k}.log") for k, args in jobs.items()}
    else:
        import concurrent.futures as cf

        with cf.ThreadPoolExecutor(len(jobs)) as ex:
            futs = {k: ex.submit(vividsound, args, limits[k], res / "logs" / f"{k}.log") for k, args in jobs.items()}
            codes = {k: f.result() for k, f in futs.items()}
    log(f"training done in {time.time() - t0:.0f} s: exit codes {codes}")
    summary: dict = {"exit_codes": codes, "seconds": round(time.time() - t0)}
    for k in jobs:
        run = work / k
        name = "vocos" if k == "vocos" else "gpt"
        folder, info = chosen(run, name)
        info["val"] = val_losses(run, "val/mel_l1" if k == "vocos" else "val/loss")
        if (run / "metrics.jsonl").is_file():
            shutil.copy(run / "metrics.jsonl", res / "logs" / f"{k}.metrics.jsonl")
        if folder is not None and (k != "gpt_flat" or a.return_flat):
            save_component(load_component(folder), res / k / name, dtype=torch.float16,
                           extra={"kept": info["kept"], "source_run": k})
        summary[k] = info
        log(f"{k}: kept {info['kept']}; validation {info['val'][-3:]}")
    return summary


# ----- benchmark -------------------------------------------------------------------------------------
def bench_phase(a, res: Path, trained_columns: Path | None) -> list[str]:
    """Text -> waveform, flat vs column GPT, per size; writes res/bench.md and returns its lines."""
    import torch

    from benchmarks.common import header, markdown_table, median, time_call
    from benchmarks.generate_gpu import build as build_paper
    from vividsound.checkpoint import load_component
    from vividsound.models.gpt_columns import ColumnGPT, ColumnGPTConfig
    from vividsound.models.vocos import Vocos, VocosConfig
    from vividsound.pipeline import TextToSound

    dev = torch.device("cuda" if torch.cuda.is_available() and not a.smoke else "cpu")
    cuda = dev.type == "cuda"
    sizes = ["tiny"] if a.smoke else a.sizes.split(",")
    batches = [int(b) for b in a.batch_sizes.split(",") if b] if not a.smoke else [2]
    duration = 10.0 if not a.smoke else 1.0
    rows, checks, notes = [], [], []
    prompt = "a dog barks twice while rain falls on a tin roof"

    def stages(tts: TextToSound, B: int) -> dict[str, float]:
        columns = tts.columns_for(duration)
        n = round(duration * tts.mel_config.sample_rate)
        parts: dict = {}
        t: dict[str, float] = {}

        def text():
            parts["f"] = tts.text_encoder([prompt] * B).to(dev)

        def gpt():
            f = parts["f"]
            toks = torch.stack(list(tts.gpt.generate_iter(f.features, f.mask, columns * tts.gpt.config.rows,
                                                          seeds=list(range(B)), top_k=256, compile=cuda)), 1)
            parts["codes"] = tts.vqgan.sequence_to_codes(toks)

        def decode():
            parts["wav"] = tts.decode(parts["codes"], n)[1]

        with torch.no_grad():
            for name, fn in (("text", text), ("GPT", gpt), ("decode + vocoder", decode)):
                t[name] = time_call(fn, dev, 1, warmup=lambda: None)[0]
        assert parts["wav"].shape == (B, n)
        return t

    for size in sizes:
        if a.deadline - (time.time() - START) < 60:
            checks.append(f"{size}: skipped, the run's deadline is near")
            continue
        with tempfile.TemporaryDirectory() as tmp:
            if size == "default":
                base = TextToSound.from_pretrained(MODEL, vocoder="griffinlim")
                base.vocoder = Vocos(VocosConfig(mel=base.mel_config)).eval()  # the fast vocoder (random weights)
                voc_note = "Vocos (random weights)"
            else:
                base, _ = build_paper(None, Path(tmp), torch.device("cpu"), "paper" if size == "paper" else "tiny",
                                      log=lambda *_: None)
                voc_note = "MelGAN (random weights)"
            g = base.gpt.config
            torch.manual_seed(0)
            col = ColumnGPT(ColumnGPTConfig(vocab_size=g.vocab_size, block_size=g.block_size, rows=g.rows,
                                            cond_dim=g.cond_dim, cond_len=g.cond_len, n_layer=g.n_layer,
                                            n_head=g.n_head, n_embd=g.n_embd, dropout=g.dropout, bias=g.bias)).eval()
            col_note = "random weights"
            if size == "default" and trained_columns is not None:
                trained = load_component(trained_columns, "ColumnGPT")
                if trained.config == col.config:
                    col, col_note = trained.float().eval(), "trained in this run"
            notes.append(f"{size}: GPT {g.n_layer} x {g.n_head} x {g.n_embd}; flat GPT "
                         f"{'the default model' if size == 'default' else 'random weights'}, column GPT {col_note}; "
                         f"vocoder {voc_note}")
            for kind, gpt in (("flat", base.gpt), ("columns", col)):
                tts = TextToSound(base.text_encoder, gpt, base.vqgan, base.vocoder, name=f"{size}-{kind}").to(dev)
                if kind == "columns" and cuda:  # the CUDA graph must give the eager loop's tokens (fp32)
                    f = tts.text_encoder([prompt] * 2).to(dev)
                    n_tok = tts.columns_for(duration) * g.rows
                    ea = gpt.generate(f.features, f.mask, n_tok, seeds=[0, 1], top_k=256)
                    gr = gpt.generate(f.features, f.mask, n_tok, seeds=[0, 1], top_k=256, compile=True)
                    checks.append(f"{size}: column GPT, fp32, CUDA graph == eager tokens: {bool(torch.equal(ea, gr))}")
                if cuda:
                    gpt.to(torch.bfloat16)
                cols = tts.columns_for(duration)
                steps = cols + g.rows - 1 if kind == "columns" else cols * g.rows  # sequential model passes
                for B in [1] + batches:
                    if cuda and B > 1:
                        tts.vqgan.to(torch.bfloat16)
                        tts.vocoder.to(torch.bfloat16)
                    reps = a.repeats if B == 1 else max(1, a.repeats - 1)
                    try:
                        stages(tts, B)  # warm-up (and graph capture)
                        cells = [stages(tts, B) for _ in range(reps)]
                    except (RuntimeError, AssertionError) as e:  # report and keep the other rows
                        checks.append(f"{size} {kind} batch {B} failed: {type(e).__name__}: {str(e).splitlines()[0][:160]}")
                        if cuda:
                            torch.cuda.empty_cache()
                        continue
                    finally:
                        tts.vqgan.float()
                        tts.vocoder.float()
                    total = median([sum(c.values()) for c in cells])
                    rows.append([size, kind, steps, B, f"{total:.3f}", f"{total / B:.4f}", f"{60 * B / total:.0f}",
                                 *[f"{median([c[s] for c in cells]):.3f}" for s in ("text", "GPT", "decode + vocoder")],
                                 reps])
                    log(f"  {size} {kind} batch {B}: {total:.3f} s, {60 * B / total:.0f} clips/min")
                gpt.float()
                tts.to("cpu")
            if cuda:
                torch.cuda.empty_cache()
    lines = [f"# Text to waveform, flat vs column GPT, {duration:g} s clips", ""]
    lines += header(dev, torch.get_num_threads() if not cuda else "n/a (GPU)") + [f"- {n}" for n in notes]
    lines += ["- GPT bf16 (VQGAN and vocoder bf16 at batch > 1), CUDA-graph step loop; top-k 256" if cuda else
              "- CPU (smoke run): fp32, eager step loop; top-k 256; the CUDA-graph token check runs on a GPU only", ""]
    lines += [markdown_table(["size", "GPT", "sequential steps", "batch", "s / batch (median)", "s / clip", "clips / min",
                              "text (s)", "GPT (s)", "decode + vocoder (s)", "runs"], rows), ""]
    lines += ["Checks:", ""] + [f"- {c}" for c in checks] + [""]
    (res / "bench.md").write_text("\n".join(lines))
    return lines


# ----- results ---------------------------------------------------------------------------------------
def pack_results(res: Path, out: Path) -> list[Path]:
    """res/ -> out/results.tar split into <= 15 MiB parts (+ summary.md beside them); at most 8 files."""
    out.mkdir(parents=True, exist_ok=True)
    tar = out / "results.tar"
    with tarfile.open(tar, "w") as t:
        t.add(res, arcname="results")
    data = tar.read_bytes()
    tar.unlink()
    parts = []
    for i in range(0, len(data), PART_BYTES):
        p = out / f"results.tar.part-{i // PART_BYTES:02d}"
        p.write_bytes(data[i : i + PART_BYTES])
        parts.append(p)
    if (res / "summary.md").is_file():
        shutil.copy(res / "summary.md", out / "summary.md")
    if len(parts) + 1 > 8:
        log(f"WARNING: {len(parts) + 1} result files; a lent machine returns 8 (drop return_flat or a phase)")
    return parts


def run(a: argparse.Namespace) -> None:
    out = Path(a.out)
    with tempfile.TemporaryDirectory() as tmp:
        work, res = Path(tmp) / "work", Path(tmp) / "results"
        res.mkdir(parents=True)
        gpt_extra = vocos_extra = []
        bundle, wave_bundle = Path(a.bundle), Path(a.wave_bundle)
        if a.smoke:
            a.gpt_minutes, a.vocos_minutes = min(a.gpt_minutes, 0.1), min(a.vocos_minutes, 0.1)
            a.deadline = max(a.deadline, 1800.0)  # a busy CPU, one process at a time: no lease to fit
            bundle, gpt_extra, vocos_extra = smoke_bundle(Path(tmp) / "smoke")
            wave_bundle = bundle
            gpt_extra = gpt_extra + ["--set=train.steps=6", "--set=train.device=cpu", "--set=train.val_every=3",
                                     "--set=train.ckpt_every=3", "--set=train.warmup_steps=1"]
            vocos_extra = vocos_extra + ["--set=train.steps=4", "--set=train.val_every=2", "--set=train.ckpt_every=2",
                                         "--set=train.batch_size=4", "--set=data.val_items=2"]
        summary: dict = {"started": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), "smoke": a.smoke}
        lines = ["# Issue 22 GPU run", ""]
        if "train" in a.phases:
            summary["train"] = train_phase(a, bundle, wave_bundle, work, res, gpt_extra, vocos_extra)
        trained = res / "gpt_columns" / "gpt"
        if "bench" in a.phases:
            try:
                lines += bench_phase(a, res, trained if trained.is_dir() else None)
            except Exception as e:  # noqa: BLE001 - keep the training results whatever happens here
                log(f"benchmark failed: {type(e).__name__}: {e}")
                summary["bench_error"] = f"{type(e).__name__}: {e}"
        (res / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
        t = summary.get("train", {})
        lines += ["## Training", ""] + [f"- {k}: kept {v.get('kept')}, last step {v.get('last_step')}, validation "
                                        f"(step, loss) {v.get('val', [])[-3:]}"
                                        for k, v in t.items() if isinstance(v, dict) and "kept" in v]
        (res / "summary.md").write_text("\n".join(lines) + "\n")
        parts = pack_results(res, out)
        log(f"results: {len(parts)} part(s) + summary.md in {out}")


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("prepare", help="write the bundle (where the corpus is)")
    p.add_argument("--corpus", required=True, help="manifest.jsonl of the corpus")
    p.add_argument("--bundle", default=str(REPO / ".bench" / "gpu22"))
    p.add_argument("--wave-bundle", default=str(REPO / ".bench" / "gpu22-wave"))
    p.add_argument("--work", default=str(REPO / "runs" / "gpu22-prepare"), help="caches of the pack writers")
    p.add_argument("--wave-mb", type=float, default=0.0, help="waveform pack size (default: all the room left)")
    r = sub.add_parser("run", help="train and benchmark (on the GPU; --smoke anywhere)")
    r.add_argument("--out", required=True)
    r.add_argument("--bundle", default=str(REPO / ".bench" / "gpu22"))
    r.add_argument("--wave-bundle", default=str(REPO / ".bench" / "gpu22-wave"))
    r.add_argument("--smoke", action="store_true", help="tiny data made here, CPU, a few minutes")
    r.add_argument("--phases", default="train,bench")
    r.add_argument("--gpt-minutes", type=float, default=3.0)
    r.add_argument("--vocos-minutes", type=float, default=2.0)
    r.add_argument("--deadline", type=float, default=480.0, help="seconds after which every phase has ended "
                   "and the results are packed (a lent machine's command runs at most 600 s)")
    r.add_argument("--no-flat", dest="flat", action="store_false", help="skip the flat GPT run beside the column one")
    r.add_argument("--return-flat", action="store_true", help="also return the flat GPT's weights (17 MB)")
    r.add_argument("--init-gpt", default="", help="a column GPT folder to continue from (a previous run's weights)")
    r.add_argument("--sizes", default="default,paper")
    r.add_argument("--batch-sizes", default="256,512")
    r.add_argument("--repeats", type=int, default=3)
    a = ap.parse_args(argv)
    (prepare if a.cmd == "prepare" else run)(a)


if __name__ == "__main__":
    main()
