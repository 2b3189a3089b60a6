"""Fine-tune a pipeline on a folder of clips: LoRA on the GPT (and optionally the text adapter).

What is adapted and why (issue 24): the GPT prior decides which codes follow a caption, so new sounds
with new captions are mostly its job; low-rank adapters on every attention and MLP projection of every
block and on the text-feature -> prefix projection (``cond_proj``) give it room to learn them while the
base weights stay frozen (its other sounds degrade little: docs/FINETUNE.md). ``text_adapter=True`` adds
adapters to the text encoder's residual MLP too. The VQGAN is not changed: the codebook round trip of the
user's clips is measured and compared with the base's own corpus, so a user learns when the codebook,
not the prior, limits what fine-tuning can reach.

The run: read and check the clips (unreadable, silent, too short: skipped by name), code each once with
the base VQGAN (cached), encode each caption once with the frozen text backbone (cached), then train.
A batch is drawn from ``(seed, step)`` alone and dropout is seeded by the step, so a resumed run gives
the same adapters as one that never stopped. State (adapters, AdamW, step) is saved atomically every
``ckpt_every`` steps, on Ctrl-C, and when ``minutes`` runs out; ``resume=True`` continues it.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import shutil
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch
import torch.nn.functional as F

from vividsound import __version__
from vividsound.audio import MelSpectrogram
from vividsound.checkpoint import atomic_torch_save, read_versioned_json
from vividsound.errors import InputError
from vividsound.finetune.adapters import (PIPELINE_NAME, base_files, check_output, combined_hash, resolve_base,
                                          save_finetuned)
from vividsound.finetune.data import Clip, Skipped, find_clips, read_clips
from vividsound.finetune.lora import (GPT_COND_TARGETS, GPT_TARGETS, TEXT_TARGETS, adapter_state, attach,
                                      expand_targets, load_adapter_state)
from vividsound.train.data import BatchOrder

STATE_DIR = ".finetune"  # inside --out: resume state and the code cache, removed when the run finishes
DB = 20.0 / math.log(10.0)  # log-mel (natural log of a magnitude) -> dB
ROUNDTRIP_FLOOR = math.log(1e-4)  # -80 dB: bins below this count as this in the round-trip error
# Codebook round trip of the base's own data, by the sha256 of the VQGAN weights: mean |dB| error of
# encode -> decode on held-out corpus clips (benchmarks/finetune_unseen.py measures it).
KNOWN_ROUNDTRIP_DB: dict[str, tuple[float, str]] = {
    # the bundled default's VQGAN: 40 seeded test-split single clips of its corpus, cut to 5 s (2026-12-04)
    "30d835a07f1a319936ef4a7173fd43c20d6b68d360d4960e261c02a93e9a655c": (6.6, "40 corpus test clips"),
}


@dataclass(frozen=True)
class FinetuneConfig:
    """Settings of a fine-tune (``vividsound finetune`` options of the same names)."""

    steps: int = 0  # optimiser steps; 0 = auto_steps: 30 passes over the clips within a compute budget
    batch_size: int = 8  # clips per step
    lr: float = 1e-3  # AdamW learning rate of the adapters (constant after warm-up)
    warmup_steps: int = 20  # linear warm-up
    rank: int = 8  # adapter rank
    alpha: float = 16.0  # adapter scale alpha / rank
    text_adapter: bool = False  # also adapt the text encoder's trained MLP (when the base has one)
    cond_dropout: float = 0.1  # rows trained with the null condition, so guidance (--cfg-scale) keeps working
    seed: int = 0  # adapters' init, batch order, caption choice, dropout
    minutes: float = 0.0  # stop training after this many minutes and write the model (0 = no limit)
    ckpt_every: int = 25  # steps between resume checkpoints
    prior_rows: int = 8  # rows of the base model's own samples added to every step (0 = off): keeps what it knew
    prior_clips: int = 48  # how many such samples are made (from the corpus's generic captions) when prior_rows > 0
    prior_compositional: float = 0.5  # share of those captions that are compositions ("X, then Y", "twice", ...)
    prior_full_length: bool = True  # the base's samples as long as its window (not as the user's clips)

    # Settings a resumed run must share with the run it continues (steps and minutes may change).
    IDENTITY = ("batch_size", "lr", "warmup_steps", "rank", "alpha", "text_adapter", "cond_dropout", "seed",
                "prior_rows", "prior_clips", "prior_compositional", "prior_full_length")
    # what a run saved before a setting existed did (a resume continues it the same way)
    BEFORE = {"prior_compositional": 0.0, "prior_full_length": False}

    def check(self) -> None:
        def bad(name: str, allowed: str) -> InputError:
            return InputError(f"{name}={getattr(self, name)!r}; allowed: {allowed}")

        ints = {"steps": (0, "0 (automatic) or a count >= 1"), "batch_size": (1, "an integer >= 1"),
                "warmup_steps": (0, "an integer >= 0"), "rank": (1, "an integer >= 1"), "seed": (0, "an integer >= 0"),
                "ckpt_every": (1, "an integer >= 1"), "prior_rows": (0, "an integer >= 0 (0 = off)"),
                "prior_clips": (1, "an integer >= 1")}
        for name, (low, allowed) in ints.items():
            v = getattr(self, name)
            if not isinstance(v, int) or isinstance(v, bool) or v < low:
                raise bad(name, allowed)
        if self.batch_size > 256:
            raise bad("batch_size", "1..256")
        if self.rank > 256:
            raise bad("rank", "1..256")
        if self.prior_rows > 256:
            raise bad("prior_rows", "0..256")
        if self.prior_clips > 4096:
            raise bad("prior_clips", "1..4096")
        v = self.prior_compositional
        if not isinstance(v, (int, float)) or isinstance(v, bool) or not 0 <= v <= 1:
            raise bad("prior_compositional", "a share from 0 to 1")
        if not isinstance(self.prior_full_length, bool):
            raise bad("prior_full_length", "true or false")
        for name, allowed in (("lr", "0 < lr <= 1"), ("alpha", "alpha > 0")):
            v = getattr(self, name)
            if not isinstance(v, (int, float)) or not math.isfinite(v) or v <= 0 or (name == "lr" and v > 1):
                raise bad(name, allowed)
        if not isinstance(self.cond_dropout, (int, float)) or not 0 <= self.cond_dropout < 1:
            raise bad("cond_dropout", "0 <= cond_dropout < 1")
        if not isinstance(self.minutes, (int, float)) or not math.isfinite(self.minutes) or self.minutes < 0:
            raise bad("minutes", "a number >= 0 (0 = no limit)")

    def identity(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in self.IDENTITY}


AUTO_EPOCHS = 30  # default passes over the clips ...
AUTO_MIN_STEPS = 100  # ... but at least this many steps ...
AUTO_POSITIONS = 240 * 8 * 300  # ... and at most this many GPT positions in all (240 steps of 8 clips of 10 s)


def auto_steps(n_clips: int, batch_size: int, positions: int = 300, prior_rows: int = 0,
               prior_positions: int | None = None) -> int:
    """Default length: 30 passes over the clips, at least 100 steps, at most a fixed compute budget.

    ``positions`` is the GPT sequence length of one example (prefix + codes). The budget is what 100 clips
    of 10 s take in about 15 minutes on 2 CPU cores with the default model (docs/FINETUNE.md); shorter
    clips cost less per step and get more steps. The base's own rows (``prior_rows``, each
    ``prior_positions`` long, by default as long as the clips') are paid from the same budget."""
    per_step = batch_size * positions + prior_rows * (positions if prior_positions is None else prior_positions)
    cap = max(AUTO_MIN_STEPS, AUTO_POSITIONS // per_step)
    return int(min(cap, max(AUTO_MIN_STEPS, math.ceil(AUTO_EPOCHS * n_clips / batch_size))))


@dataclass
class FinetuneResult:
    """What a fine-tune did."""

    out: Path  # the model folder (loadable once ``written``)
    step: int  # optimiser steps done
    steps: int  # steps planned
    finished: bool  # all planned steps done (the resume state was removed)
    written: bool  # the model was written (False after an interruption)
    clips: list[Clip] = field(default_factory=list)
    skipped: Skipped = field(default_factory=Skipped)
    roundtrip_db: float = float("nan")  # codebook round trip of the clips, mean |dB| error
    loss: float = float("nan")  # mean training loss of the last steps
    timings: dict[str, float] = field(default_factory=dict)  # wall and process-CPU seconds of this call's phases


def _log(msg: str) -> None:
    print(f"vividsound: {msg}", file=sys.stderr)


def text_tail(enc, feat: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """The text encoder's computation after its frozen backbone (adapter, normalisation, mask), as in
    :meth:`TextEncoder.forward`: backbone features (B, L, D) + mask (B, L) -> features (B, L, D)."""
    c = enc.config
    if enc.adapter is not None and c.mode != "none":
        feat = feat + enc.adapter(feat)
    if c.normalize and c.mode != "none":
        feat = F.normalize(feat, dim=-1)
    return feat * mask[..., None]


# the corpus's compositions the prior rows keep (the probes ask for them): its mixture relations, and
# "silence, then X"
PRIOR_RELATIONS = ("then", "k_times", "quiet_loud", "loud_quiet", "background", "lead")


def prior_prompts(n: int, seed: int, compositional: float = 0.0) -> list[str]:
    """``n`` captions in the wording the base model was trained on, seeded: generic ones (each event's first
    phrasing in the corpus label table, drawn without replacement while they last) and, for a share
    ``compositional`` of them, the corpus's compositions of those events (:data:`PRIOR_RELATIONS`, worded by
    the corpus builder's own caption templates), so that the base's own samples also keep order, counts,
    loudness and leading silence."""
    from vividsound.data.captions import clip_info, mixture_captions
    from vividsound.data.labels import EVENTS
    from vividsound.train.gpt import lead_caption

    pool = sorted({ev.clauses[0] for ev in EVENTS.values()})
    rng = np.random.default_rng([seed, 24])
    m = int(round(n * compositional))
    picks: list[str] = []
    while len(picks) < n - m:
        picks += [pool[i] for i in rng.permutation(len(pool))]
    picks = picks[: n - m]
    events = sorted(k for k, ev in EVENTS.items() if ev.family not in ("speech", "voice", "music"))
    crng = np.random.default_rng([seed, 24, 1])
    for i in range(m):
        relation = PRIOR_RELATIONS[i % len(PRIOR_RELATIONS)]
        names = [events[int(j)] for j in crng.choice(len(events), size=2, replace=False)]
        infos = [clip_info(e, EVENTS[e].family, {}) for e in names]
        if relation == "lead":
            picks.append(lead_caption(infos[0].clauses[0]))
        else:
            caps = mixture_captions(relation, infos, int(crng.integers(2, 5)), crng)
            picks.append(caps[int(crng.integers(len(caps)))])
    return picks


def sample_prior(pipe, n: int, columns: int, seed: int, folder: Path, batch: int = 8,
                 progress: bool = False, compositional: float = 0.0) -> tuple[list[str], torch.Tensor]:
    """The base model's own code grids (n, rows, columns) for :func:`prior_prompts`, with its sampling
    defaults; made once and kept in ``folder`` (a resumed run reads them back)."""
    path = folder / "prior.pt"
    prompts = prior_prompts(n, seed, compositional)
    if path.is_file():
        saved = torch.load(path, map_location="cpu", weights_only=True)
        if saved["prompts"] == prompts and saved["grids"].shape[-1] == columns:
            return prompts, saved["grids"]
    settings = pipe.resolve_settings(duration=columns * pipe.seconds_per_column, top_k=None, top_p=None,
                                     temperature=None, cfg_scale=None, num_samples=1, batch_size=batch)
    parts = []
    starts = range(0, n, batch)
    if progress:
        from tqdm.auto import tqdm

        starts = tqdm(starts, desc="sampling the base model's own clips", unit="batch", dynamic_ncols=True)
    with torch.no_grad():
        for i in starts:
            rows = prompts[i : i + batch]
            parts.append(pipe.sample_codes(rows, [seed * 100_003 + i + j for j in range(len(rows))], columns,
                                           settings).cpu())
    grids = torch.cat(parts)[:, :, :columns]
    folder.mkdir(parents=True, exist_ok=True)
    atomic_torch_save({"prompts": prompts, "grids": grids}, path)
    return prompts, grids


def _fingerprint(clips: list[Clip]) -> str:
    rows = [[c.name, c.sha256, c.captions] for c in clips]
    return hashlib.sha256(json.dumps(rows, ensure_ascii=False).encode()).hexdigest()


class _Codes:
    """Code grids of the clips (padded with silence to ``columns``), cached by file hash in the state folder."""

    def __init__(self, pipe, columns: int, folder: Path) -> None:
        self.vq, self.columns, self.folder = pipe.vqgan, columns, folder
        self.edge = pipe.edge_context
        self.front = MelSpectrogram(pipe.mel_config)
        self.silence = pipe.mel_config.silence_db
        folder.mkdir(parents=True, exist_ok=True)

    @torch.no_grad()
    def get(self, clip: Clip, wav: np.ndarray) -> tuple[torch.Tensor, float]:
        """(grid (rows, columns) int64, round-trip mean |dB| error over the clip's own frames)."""
        key = self.folder / f"{clip.sha256[:24]}-{self.columns}"
        if key.with_suffix(".npy").is_file() and key.with_suffix(".json").is_file():
            return (torch.from_numpy(np.load(key.with_suffix(".npy"))).long(),
                    float(json.loads(key.with_suffix(".json").read_text())["roundtrip_db"]))
        t = self.vq.frames_per_column
        m = self.front(torch.from_numpy(wav))[:, :, : self.columns * t]  # (1, n_mels, frames)
        frames = m.shape[-1]
        padded = F.pad(m, (0, self.columns * t - frames), value=self.silence)
        grid = self.vq.encode_in_silence(padded, self.edge)  # (1, rows, columns)
        rec = self.vq.decode_codes(grid, self.edge)[..., :frames]
        err = float((rec.clamp_min(ROUNDTRIP_FLOOR) - m.clamp_min(ROUNDTRIP_FLOOR)).abs().mean()) * DB
        np.save(key.with_suffix(".npy"), grid[0].to(torch.int16).numpy())
        key.with_suffix(".json").write_text(json.dumps({"roundtrip_db": err}))
        return grid[0].long(), err


def finetune(data: str | Path, out: str | Path, *, base: str | Path | None = None, fmt: str | None = None,
             captions: str | Path | None = None, options: dict[str, Any] | None = None, resume: bool = False,
             overwrite: bool = False, name: str | None = None, progress: bool = True, stop_after: int = 0,
             log: Callable[[str], None] = _log) -> FinetuneResult:
    """Fine-tune ``base`` (default: the bundled model) on the clips of ``data``; write adapters to ``out``.

    Args:
        options: :class:`FinetuneConfig` fields chosen by the caller; with ``resume``, the saved run's
            settings are used and an option that differs from them (other than steps and minutes) is an error.
        stop_after: (tests) stop this call after this many steps, keeping the resume state.

    Raises:
        InputError: bad data, options or output folder (before any slow work), or a resume that does not fit.
    """
    wall0, cpu0 = time.perf_counter(), time.process_time()
    out = Path(out)
    state_dir = out / STATE_DIR
    options = dict(options or {})
    unknown = sorted(set(options) - {f.name for f in dataclasses.fields(FinetuneConfig)})
    if unknown:
        raise InputError(f"unknown fine-tune option(s) {unknown}")
    check_output(out, resume, overwrite, state_dir)
    FinetuneConfig(**options).check()
    base_name, base_dir = resolve_base(base)
    if not (base_dir / PIPELINE_NAME).is_file():
        raise InputError(f"--model {base_dir} is not a pipeline folder (no {PIPELINE_NAME})")
    files = base_files(base_dir)
    base_hash = combined_hash(files)
    base_meta = read_versioned_json(base_dir, PIPELINE_NAME, "model")
    if base_name != "default":  # recorded relative to the fine-tuned folder, so the two can move together
        base_name = _relative(base_dir, out)
    clips, skipped = find_clips(data, fmt, captions)

    from vividsound.pipeline import TextToSound

    pipe = TextToSound.from_pretrained(base_dir, vocoder="griffinlim")  # the vocoder is not needed here
    mel, vq, gpt, text = pipe.mel_config, pipe.vqgan, pipe.gpt, pipe.text_encoder
    if options.get("text_adapter") and text.adapter is None:
        raise InputError(f"--text-adapter: the text encoder of {base_dir} has no trained adapter to adapt")
    spc = vq.frames_per_column * mel.hop_length
    clips, waves = read_clips(clips, mel.sample_rate, spc, pipe.max_duration, skipped, progress)
    if not clips:  # one line: every reason and name is in it
        raise InputError(f"no usable clip in DATA={data}: " + "; ".join(skipped.lines()))
    for line in skipped.lines():
        log(line)
    fingerprint = _fingerprint(clips)
    frames = [math.ceil(len(w) / mel.hop_length) for w in waves]
    columns = min(gpt.config.max_columns, max(math.ceil(f / vq.frames_per_column) for f in frames) + 1)

    state = None
    if resume:
        state = torch.load(state_dir / "state.pt", map_location="cpu", weights_only=True)
        problems = []
        if state["fingerprint"] != fingerprint:
            problems.append("the clips or captions changed")
        if state["base_sha256"] != base_hash:
            problems.append(f"the base model differs (sha256 {base_hash[:12]}, the run's {state['base_sha256'][:12]})")
        saved = {**FinetuneConfig.BEFORE, **state["settings"]}
        diff = [f"{k}={options[k]!r} (the run's {saved[k]!r})" for k in FinetuneConfig.IDENTITY
                if k in options and options[k] != saved[k]]
        if diff:
            problems.append("settings differ: " + ", ".join(diff))
        if problems:
            raise InputError(f"--resume: cannot continue the run in {out}: {'; '.join(problems)}")
        cfg = FinetuneConfig(**{**saved, "steps": options.get("steps", state["steps"]),
                                "minutes": options.get("minutes", 0.0), "ckpt_every": options.get("ckpt_every", 25)})
        columns = int(state["columns"])
    else:
        cfg = FinetuneConfig(**options)
        if overwrite and state_dir.exists():
            shutil.rmtree(state_dir)
    positions = gpt.config.cond_len + columns * gpt.config.rows
    # the base's own rows are as long as its longest clip (its window), whatever the user's clips: their
    # compositions ("X, then Y", "three times", "silence, then") and every position keep what the base did
    prior_columns = gpt.config.block_size // gpt.config.rows if cfg.prior_full_length else columns
    steps = cfg.steps or auto_steps(len(clips), cfg.batch_size, positions, cfg.prior_rows,
                                    gpt.config.cond_len + prior_columns * gpt.config.rows)
    if resume and steps < int(state["step"]):
        raise InputError(f"--steps {steps}: the run being resumed has already done {state['step']} steps")
    seconds = sum(c.seconds for c in clips)
    log(f"{len(clips)} clips ({seconds / 60:.1f} min of audio), {sum(len(c.captions) for c in clips)} captions; "
        f"{skipped.count} skipped; {columns} code columns per example; {steps} steps of {cfg.batch_size}")

    # ---- codes (and the codebook round trip) --------------------------------------------------
    codes = _Codes(pipe, columns, state_dir / "codes")
    jobs = list(zip(clips, waves))
    if progress:
        from tqdm.auto import tqdm

        jobs = tqdm(jobs, desc="coding clips", unit="clip", dynamic_ncols=True)
    grids, errs = [], []
    for c, w in jobs:
        g, e = codes.get(c, w)
        grids.append(g)
        errs.append(e)
    del waves
    roundtrip = float(np.mean(errs))
    ref = KNOWN_ROUNDTRIP_DB.get(files.get("vqgan/model.safetensors", ""))
    msg = f"codebook round trip of these clips: {roundtrip:.2f} dB mean error"
    if ref:
        msg += f" (the base's own data: {ref[0]:.2f} dB)"
        if roundtrip > 1.5 * ref[0]:
            msg += "; the codebook represents these sounds worse than its own, which fine-tuning the GPT cannot fix"
    log(msg)
    toks = vq.codes_to_sequence(torch.stack(grids))  # (N, columns * rows)

    # ---- the base model's own samples (prior preservation), before any adapter exists ----------
    prior_caps: list[str] = []
    prior_toks = None
    if cfg.prior_rows:
        prior_caps, prior_grids = sample_prior(pipe, cfg.prior_clips, prior_columns, cfg.seed, state_dir,
                                               progress=progress, compositional=cfg.prior_compositional)
        prior_toks = vq.codes_to_sequence(prior_grids.to(toks.device))
        log(f"{len(prior_caps)} clips sampled from the base model itself; {cfg.prior_rows} of them join every step")

    # ---- captions: the frozen backbone once per caption -----------------------------------------
    uniq = sorted({cap for c in clips for cap in c.captions} | set(prior_caps))
    index = {cap: i for i, cap in enumerate(uniq)}
    with torch.no_grad():
        bb = [text.backbone_features([cap]) for cap in uniq]  # one at a time: no padding depends on others
    bb_feat = torch.cat([b.features for b in bb])  # (U, L, D)
    bb_mask = torch.cat([b.mask for b in bb])  # (U, L)
    cap_ids = [[index[cap] for cap in c.captions] for c in clips]
    prior_ids = [index[cap] for cap in prior_caps]

    # ---- adapters -------------------------------------------------------------------------------
    gpt.requires_grad_(False)
    text.requires_grad_(False)
    ad_gpt = attach(gpt, expand_targets(gpt, GPT_TARGETS + GPT_COND_TARGETS), cfg.rank, cfg.alpha, cfg.seed)
    ad_text = {}
    if cfg.text_adapter:
        ad_text = attach(text, expand_targets(text, TEXT_TARGETS), cfg.rank, cfg.alpha, cfg.seed + 1)
    params = [p for m in (*ad_gpt.values(), *ad_text.values()) for p in (m.lora_a, m.lora_b)]
    opt = torch.optim.AdamW(params, lr=cfg.lr, betas=(0.9, 0.99), weight_decay=0.0)
    order = BatchOrder(len(clips), cfg.seed)
    prior_order = BatchOrder(len(prior_ids), cfg.seed + 1) if prior_ids else None
    step, losses = 0, []
    if state is not None:
        load_adapter_state(ad_gpt, state["adapters"], "gpt.")
        load_adapter_state(ad_text, state["adapters"], "text_encoder.")
        opt.load_state_dict(state["optim"])
        order.load_state_dict(state["order"])
        if prior_order is not None:
            prior_order.load_state_dict(state["prior_order"])
        step, losses = int(state["step"]), list(state["losses"])

    def tensors() -> dict[str, torch.Tensor]:
        return {**adapter_state(ad_gpt, "gpt."), **adapter_state(ad_text, "text_encoder.")}

    def save_state() -> None:
        atomic_torch_save({"step": step, "steps": steps, "columns": columns, "settings": cfg.identity(),
                           "fingerprint": fingerprint, "base_sha256": base_hash, "adapters": tensors(),
                           "optim": opt.state_dict(), "order": order.state_dict(), "losses": losses,
                           **({"prior_order": prior_order.state_dict()} if prior_order is not None else {})},
                          state_dir / "state.pt")

    # ---- training -------------------------------------------------------------------------------
    from vividsound.train.loop import _StopOnInterrupt

    gpt.train()
    text.train()
    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=steps, initial=step, desc="fine-tuning", unit="step", dynamic_ncols=True)
    wall1, cpu1 = time.perf_counter(), time.process_time()
    t0, started = time.time(), step
    stop = _StopOnInterrupt(enabled=True)
    out_of_time = False
    try:
        while step < steps:
            if stop.requested or (stop_after and step - started >= stop_after):
                break
            if cfg.minutes and time.time() - t0 >= 60 * cfg.minutes:
                out_of_time = True
                break
            idx = order.next(cfg.batch_size)
            rng = np.random.default_rng([cfg.seed, step])
            pick = [cap_ids[i][int(rng.integers(len(cap_ids[i])))] for i in idx]
            parts = [toks[idx]]
            if prior_order is not None:  # the base's own samples, under their own captions
                pidx = prior_order.next(cfg.prior_rows)
                pick += [prior_ids[i] for i in pidx]
                parts.append(prior_toks[pidx])
            if len(parts) == 2 and parts[0].shape[1] == parts[1].shape[1]:
                parts = [torch.cat(parts)]
            keep = torch.from_numpy(rng.random(len(pick)) >= cfg.cond_dropout)
            torch.manual_seed(cfg.seed * 1_000_003 + step)  # dropout of this step: exact resume
            mask = bb_mask[pick] & keep[:, None]
            feat = text_tail(text, bb_feat[pick], mask)
            for gr in opt.param_groups:
                gr["lr"] = cfg.lr * min(1.0, (step + 1) / max(1, cfg.warmup_steps))
            # one cross-entropy over every token of the step (rows of two lengths: one forward pass each)
            total, count, a = 0.0, 0, 0
            for part in parts:
                b = a + len(part)
                logits = gpt(part, feat[a:b], mask[a:b])
                total = total + F.cross_entropy(logits.reshape(-1, logits.shape[-1]), part.reshape(-1),
                                                reduction="sum")
                count, a = count + part.numel(), b
            loss = total / count
            opt.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(params, 1.0)
            opt.step()
            step += 1
            losses = (losses + [float(loss.detach())])[-50:]
            if bar is not None:
                bar.update(1)
                bar.set_postfix(loss=f"{np.mean(losses[-10:]):.3f}", refresh=False)
            if step % cfg.ckpt_every == 0 and step < steps:
                save_state()
    except KeyboardInterrupt:  # a second Ctrl-C: save what there is, then stop
        save_state()
        raise
    finally:
        stop.restore()
        if bar is not None:
            bar.close()
    gpt.eval()
    text.eval()
    finished = step >= steps
    result = FinetuneResult(out, step, steps, finished, False, clips, skipped, roundtrip,
                            float(np.mean(losses[-10:])) if losses else float("nan"))
    result.timings = {"prepare_wall": wall1 - wall0, "prepare_cpu": cpu1 - cpu0, "steps": step - started,
                      "train_wall": time.perf_counter() - wall1, "train_cpu": time.process_time() - cpu1}
    if stop.requested or (stop_after and not finished and not out_of_time):
        save_state()
        log(f"interrupted at step {step} of {steps}; continue with --resume")
        return result

    # ---- the model ------------------------------------------------------------------------------
    record = {
        "clips": [{"file": c.name, "sha256": c.sha256, "seconds": c.seconds, "captions": len(c.captions),
                   "caption_from": c.caption_from} for c in clips],
        "captions": sum(len(c.captions) for c in clips),
        "unique_captions": len(uniq),
        "skipped": skipped.to_dict(),
        "settings": {**cfg.identity(), "steps": step, "steps_planned": steps, "columns": columns,
                     "targets": {"gpt": sorted(ad_gpt), "text_encoder": sorted(ad_text)}},
        "codebook_roundtrip_db": round(roundtrip, 3),
        **({"codebook_roundtrip_db_base_data": ref[0]} if ref else {}),
        "final_loss": round(result.loss, 4),
        "train_seconds": round(time.time() - t0, 1),
        "finished": finished,
        "vividsound": __version__,
    }
    save_finetuned(out, name=name or out.resolve().name, base_name=base_name, base_files_=files, base_meta=base_meta,
                   tensors=tensors(), lora={"rank": cfg.rank, "alpha": cfg.alpha}, record=record)
    result.written = True
    if finished:
        shutil.rmtree(state_dir, ignore_errors=True)
    else:
        save_state()
        log(f"--minutes {cfg.minutes:g} reached at step {step} of {steps}: model written; --resume continues")
    return result


def _relative(path: Path, start: Path) -> str:
    """``path`` relative to ``start`` where possible (the two folders can then move together), else absolute."""
    import os

    try:
        return os.path.relpath(path.resolve(), start.resolve())
    except ValueError:  # another drive (Windows)
        return str(path.resolve())
