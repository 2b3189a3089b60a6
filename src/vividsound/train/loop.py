"""The loop every stage shares: run folder, schedule, AMP, accumulation, DDP, logging, checkpoints, resume.

A stage subclasses :class:`Stage` and fills in ``setup``, ``train_step``, ``validate``, ``components``
and ``export``; :func:`run_stage` does the rest. Inside ``train_step`` a stage describes only its batch
and its loss: :meth:`Stage.micro_batches` draws the ``grad_accum`` micro-batches of one step (seeded by
``(seed, rank, step, micro)``), :meth:`Stage.accumulate` runs forward / backward on each (DDP's
``no_sync`` on all but the last, autocast, the finite-loss check) and takes the optimiser step; the
validation pass walks :meth:`Stage.val_chunks`. One scaffold, so every stage accumulates, syncs and
resumes the same way::

    RUN_DIR/
      config.yaml            the resolved config (a resume must match it)
      metrics.jsonl          one JSON line per log / validation
      tb/                    TensorBoard events
      checkpoints/last/      <component>/ folders (config.json + model.safetensors) + state.pt
      best/                  the best validation checkpoint's components + best.json
      export/                the trained model in the component format (written at the end)

``state.pt`` (optimisers, schedulers, grad scalers, step, RNG states, data position) is used only by
``--resume``; the weights themselves are always component folders. Both are written together into a
temporary folder that is renamed into place, so an interrupted save leaves the previous checkpoint.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import math
import os
import pickle
import signal
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator, Literal, TypeVar

import torch
import torch.distributed as dist
import torch.nn as nn

from vividsound.checkpoint import atomic_write_dir, atomic_write_text, recover_dir, save_component
from vividsound.config import save_config, to_dict
from vividsound.errors import VividsoundError
from vividsound.train.data import batch_rng

B = TypeVar("B")  # a stage's micro-batch

STATE_NAME = "state.pt"
# Keys that may differ between a run and its resume: they change how, not what, is trained.
SESSION_KEYS = ("train.device", "train.progress", "train.threads", "train.stop_after", "train.tensorboard",
                "data.cache_dir", "data.preload")


class TrainingError(VividsoundError):
    """Training cannot start or cannot go on (bad run folder, non-finite loss, ...)."""


@dataclass(frozen=True)
class TrainConfig:
    steps: int = 1000  # optimiser steps in all (the schedule's length)
    batch_size: int = 16  # items per micro-batch, per process
    grad_accum: int = 1  # micro-batches per optimiser step
    lr: float = 3e-4  # peak learning rate
    min_lr_ratio: float = 0.1  # the cosine decays to lr * min_lr_ratio at the last step
    warmup_steps: int = 100  # linear warm-up from 0 to lr
    weight_decay: float = 0.0  # AdamW decoupled weight decay
    betas: tuple[float, float] = (0.9, 0.99)  # AdamW betas
    grad_clip: float = 1.0  # global grad-norm clip (0 = off)
    amp: Literal["auto", "bf16", "fp16", "off"] = "auto"  # mixed precision on CUDA (auto: bf16 if supported)
    device: str = "auto"  # auto | cpu | cuda | cuda:N (under torchrun: cuda:LOCAL_RANK)
    seed: int = 0  # seeds weights, data order, crops and dropout
    log_every: int = 10  # steps between training logs
    val_every: int = 200  # steps between validations (and best-checkpoint checks); 0 = only at the end
    ckpt_every: int = 200  # steps between checkpoints; 0 = only at the end
    val_batches: int = 0  # validation batches (0 = the whole validation set)
    threads: int = 0  # torch CPU threads (0 = leave torch's choice)
    progress: bool = True  # tqdm progress bar with ETA
    tensorboard: bool = True  # write TensorBoard events under RUN_DIR/tb
    stop_after: int = 0  # stop this invocation after this many steps (0 = run to the end; resume later)
    max_minutes: float = 0.0  # end the run after this many minutes of training (0 = no limit); see lr_factor

    def __post_init__(self) -> None:
        if self.steps < 1 or self.batch_size < 1 or self.grad_accum < 1:
            raise ValueError("train.steps, train.batch_size and train.grad_accum must be >= 1")
        if self.max_minutes < 0:
            raise ValueError("train.max_minutes must be >= 0 (0 = no time limit)")
        if self.lr <= 0 or not 0 <= self.min_lr_ratio <= 1 or self.warmup_steps < 0:
            raise ValueError("need train.lr > 0, 0 <= train.min_lr_ratio <= 1, train.warmup_steps >= 0")


def lr_factor(step: int, cfg: TrainConfig, time_frac: float = 0.0) -> float:
    """Multiplier of the peak lr at optimiser step ``step``: linear warm-up, then cosine decay.

    With ``train.max_minutes`` the decay follows whichever is further along, the steps or the training
    time (``time_frac`` = minutes trained / max_minutes), so a run cut by its time budget still ends at
    the low learning rate of a finished schedule.
    """
    if cfg.warmup_steps and step < cfg.warmup_steps:
        return (step + 1) / cfg.warmup_steps
    span = max(1, cfg.steps - cfg.warmup_steps)
    t = min(1.0, max((step - cfg.warmup_steps) / span, time_frac))
    return cfg.min_lr_ratio + (1 - cfg.min_lr_ratio) * 0.5 * (1 + math.cos(math.pi * t))


# --------------------------------------------------------------------------------------------------
# Distributed context
# --------------------------------------------------------------------------------------------------

@dataclass
class Dist:
    """Where this process runs: rank, world size and device (torchrun sets RANK / WORLD_SIZE)."""

    rank: int = 0
    world: int = 1
    local_rank: int = 0
    device: torch.device = dataclasses.field(default_factory=lambda: torch.device("cpu"))

    @property
    def main(self) -> bool:
        return self.rank == 0

    def barrier(self) -> None:
        if self.world > 1:
            dist.barrier()


def init_dist(device: str) -> Dist:
    """Join the process group when launched by torchrun; pick the device."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    local = int(os.environ.get("LOCAL_RANK", "0"))
    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    if device.startswith("cuda"):
        if not torch.cuda.is_available():
            raise TrainingError(f"train.device={device!r} but CUDA is not available; use train.device=cpu")
        dev = torch.device(f"cuda:{local}") if device == "cuda" else torch.device(device)
        torch.cuda.set_device(dev)
    elif device == "cpu":
        dev = torch.device("cpu")
    else:
        raise TrainingError(f"train.device={device!r}; allowed: auto, cpu, cuda, cuda:N")
    if world > 1 and not dist.is_initialized():
        dist.init_process_group("nccl" if dev.type == "cuda" else "gloo")
    return Dist(rank, world, local, dev)


# --------------------------------------------------------------------------------------------------
# Run folder
# --------------------------------------------------------------------------------------------------

def _flatten(d: Any, prefix: str = "") -> dict[str, Any]:
    if isinstance(d, dict):
        out: dict[str, Any] = {}
        for k, v in d.items():
            out.update(_flatten(v, f"{prefix}{k}."))
        return out
    return {prefix[:-1]: d}


def check_run_dir(run_dir: Path, cfg: Any, resume: bool) -> None:
    """Refuse a non-empty folder without --resume, and a resume whose config differs (one line)."""
    saved = run_dir / "config.yaml"
    if not resume:
        if saved.exists():
            raise TrainingError(f"{run_dir} already holds a run; pass --resume to continue it or choose another --out")
        return
    if not saved.is_file():
        raise TrainingError(f"cannot resume: {run_dir} holds no run (no config.yaml)")
    import yaml

    old = _flatten(yaml.safe_load(saved.read_text(encoding="utf-8")) or {})
    new = _flatten(json.loads(json.dumps(to_dict(cfg))))
    diff = sorted(k for k in set(old) | set(new) if old.get(k) != new.get(k) and k not in SESSION_KEYS)
    if diff:
        k = diff[0]
        raise TrainingError(f"cannot resume {run_dir}: its config differs at {k} ({old.get(k)!r} there, "
                            f"{new.get(k)!r} now){f' and {len(diff) - 1} more key(s)' if len(diff) > 1 else ''}")


def unwrap(m: nn.Module) -> nn.Module:
    return m.module if isinstance(m, nn.parallel.DistributedDataParallel) else m


# --------------------------------------------------------------------------------------------------
# Stage base class
# --------------------------------------------------------------------------------------------------

class Stage:
    """One training stage. Subclasses set ``name``, ``config_class``, ``best_key``/``best_mode`` and implement
    :meth:`setup`, :meth:`train_step`, :meth:`validate`, :meth:`components` and :meth:`export`."""

    name = "stage"
    config_class: type = object
    best_key = "val/loss"  # validation metric that selects the best checkpoint
    best_mode: Literal["min", "max"] = "min"

    def __init__(self, cfg: Any, run_dir: Path, dist_: Dist) -> None:
        self.cfg, self.run_dir, self.dist = cfg, Path(run_dir), dist_
        self.tc: TrainConfig = cfg.train
        self.device = dist_.device
        self.step = 0
        self.optimizers: dict[str, torch.optim.Optimizer] = {}
        self.schedulers: dict[str, torch.optim.lr_scheduler.LambdaLR] = {}
        self.scalers: dict[str, torch.amp.GradScaler] = {}
        self.writer = None
        self.order = None  # the BatchOrder of the training split (its position is saved for resume)
        self.train_seconds = 0.0  # seconds spent in the training loop so far (all invocations; max_minutes)
        self.time_frac = 0.0  # train_seconds / (60 * max_minutes), read by the lr schedule
        self.amp_dtype = self._amp_dtype()

    # ----- to implement ----------------------------------------------------------------------
    def setup(self) -> None:
        """Check data, build caches, models and optimisers (call :meth:`add_optimizer`)."""
        raise NotImplementedError

    def train_step(self) -> dict[str, float]:
        """One optimiser step over ``grad_accum`` micro-batches; returns scalars to log."""
        raise NotImplementedError

    def validate(self) -> dict[str, float]:
        """Validation metrics (must include :attr:`best_key`); may log samples to TensorBoard."""
        raise NotImplementedError

    def components(self) -> dict[str, nn.Module]:
        """Raw (unwrapped) modules saved as component folders in checkpoints."""
        raise NotImplementedError

    def export(self, folder: Path) -> None:
        """Write the trained model(s) in the component format."""
        raise NotImplementedError

    def extra_state(self) -> dict[str, Any]:
        """Extra tensors for resume only (e.g. a discriminator that is not shipped)."""
        return {}

    def load_extra_state(self, state: dict[str, Any]) -> None:
        pass

    # ----- helpers for stages ----------------------------------------------------------------
    def _amp_dtype(self) -> torch.dtype | None:
        amp = self.tc.amp
        if self.device.type != "cuda" or amp == "off":
            return None
        if amp == "auto":
            return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
        return torch.bfloat16 if amp == "bf16" else torch.float16

    def autocast(self) -> contextlib.AbstractContextManager:
        if self.amp_dtype is None:
            return contextlib.nullcontext()
        return torch.autocast(self.device.type, dtype=self.amp_dtype)

    def wrap(self, module: nn.Module) -> nn.Module:
        """Move to the device and wrap in DDP when running on several processes."""
        module.to(self.device)
        if self.dist.world > 1 and any(p.requires_grad for p in module.parameters()):
            ids = [self.device.index] if self.device.type == "cuda" else None
            return nn.parallel.DistributedDataParallel(module, device_ids=ids)
        return module

    def add_optimizer(self, key: str, params: Any, lr: float | None = None, betas: tuple[float, float] | None = None,
                      weight_decay: float | None = None) -> torch.optim.Optimizer:
        """AdamW with the warm-up + cosine schedule of ``train`` (and a grad scaler for fp16)."""
        tc = self.tc
        opt = torch.optim.AdamW([p for p in params if p.requires_grad], lr=lr or tc.lr,
                                betas=betas or tc.betas,
                                weight_decay=tc.weight_decay if weight_decay is None else weight_decay)
        self.optimizers[key] = opt
        self.schedulers[key] = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: lr_factor(s, tc, self.time_frac))
        self.scalers[key] = torch.amp.GradScaler(self.device.type, enabled=self.amp_dtype == torch.float16)
        return opt

    def backward(self, loss: torch.Tensor, key: str, module: nn.Module | None = None, micro: int = 0) -> None:
        """Backward of ``loss / grad_accum`` (scaled under fp16); DDP syncs only on the last micro-batch."""
        ctx = contextlib.nullcontext()
        if isinstance(module, nn.parallel.DistributedDataParallel) and micro < self.tc.grad_accum - 1:
            ctx = module.no_sync()
        with ctx:
            self.scalers[key].scale(loss / self.tc.grad_accum).backward()

    def no_sync(self, module: nn.Module, micro: int) -> contextlib.AbstractContextManager:
        """Forward + backward of a non-final micro-batch must both run inside ``no_sync`` under DDP."""
        if isinstance(module, nn.parallel.DistributedDataParallel) and micro < self.tc.grad_accum - 1:
            return module.no_sync()
        return contextlib.nullcontext()

    def optimizer_step(self, key: str) -> float:
        """Unscale, clip, step, zero the grads, advance the schedule; returns the grad norm."""
        opt, scaler = self.optimizers[key], self.scalers[key]
        scaler.unscale_(opt)
        params = [p for g in opt.param_groups for p in g["params"]]
        norm = torch.nn.utils.clip_grad_norm_(params, self.tc.grad_clip if self.tc.grad_clip > 0 else float("inf"))
        scaler.step(opt)
        scaler.update()
        opt.zero_grad(set_to_none=True)
        self.schedulers[key].step()
        return float(norm)

    # ----- the step / accumulation / validation scaffold ---------------------------------------
    def micro_batches(self, fetch: Callable[[list[int], Any], B]) -> Iterator[B]:
        """The ``grad_accum`` micro-batches of this step, drawn lazily (one in memory at a time).

        Args:
            fetch: ``fetch(indices, rng)`` builds one micro-batch from ``batch_size`` indices of the
                training order and a NumPy generator seeded by ``(seed, rank, step, micro)``, so a
                resumed run draws exactly what an uninterrupted one draws.
        """
        for micro in range(self.tc.grad_accum):
            idx = self.order.next(self.tc.batch_size)
            yield fetch(idx, batch_rng(self.tc.seed, self.dist.rank, self.step, micro))

    def accumulate(self, key: str, net: nn.Module, batches: Iterable[B],
                   loss_fn: Callable[[B], tuple[torch.Tensor, dict[str, torch.Tensor | float]]], *,
                   loss_name: str | None = None, grad_norm_log: str | None = "train/grad_norm") -> dict[str, float]:
        """One optimiser step of ``key`` over micro-batches: the shared accumulation loop.

        For each micro-batch ``loss_fn(batch)`` runs under autocast and, under DDP, inside ``no_sync``
        for all but the last micro-batch (forward and backward both, as DDP requires); the loss is
        checked to be finite and back-propagated divided by ``grad_accum``. Then the gradients are
        unscaled, clipped and stepped (:meth:`optimizer_step`).

        Args:
            key: the optimiser (and grad scaler) to step.
            net: the (possibly DDP-wrapped) module whose gradients are synchronised.
            batches: the micro-batches (``grad_accum`` of them), e.g. :meth:`micro_batches`.
            loss_fn: ``batch -> (loss, logs)``; ``logs`` are scalars to log, averaged over micro-batches.
            loss_name: the loss's name in the non-finite error (default ``key``).
            grad_norm_log: the log key of the gradient norm before clipping (None: not logged).

        Returns:
            The averaged logs (plus the gradient norm).
        """
        logs: dict[str, float] = {}
        for micro, batch in enumerate(batches):
            with self.no_sync(net, micro), self.autocast():
                loss, parts = loss_fn(batch)
                self.check_finite({loss_name or key: loss})
                self.backward(loss, key)
            for k, v in parts.items():
                logs[k] = logs.get(k, 0.0) + float(v.detach() if isinstance(v, torch.Tensor) else v) / self.tc.grad_accum
        norm = self.optimizer_step(key)
        if grad_norm_log:
            logs[grad_norm_log] = norm
        return logs

    def val_chunks(self, items: list | None = None) -> Iterator[tuple[int, list]]:
        """``(start, items)`` chunks of ``batch_size`` validation items, at most ``train.val_batches`` of them
        (0: all); ``start`` is the index of the chunk's first item."""
        items = self.val_items if items is None else items
        bs = self.tc.batch_size
        n = (len(items) + bs - 1) // bs
        if self.tc.val_batches:
            n = min(n, self.tc.val_batches)
        for k in range(n):
            yield k * bs, items[k * bs : (k + 1) * bs]

    def check_finite(self, losses: dict[str, torch.Tensor | float]) -> None:
        """Stop with one clear line when a loss is NaN or infinite."""
        for k, v in losses.items():
            val = float(v.detach()) if isinstance(v, torch.Tensor) else float(v)
            if not math.isfinite(val):
                raise TrainingError(f"{self.name}: loss {k} is {val} at step {self.step}; stopping. The last good "
                                    f"checkpoint is in {self.run_dir / 'checkpoints' / 'last'}; try a lower "
                                    "train.lr, train.amp=off or a larger train.warmup_steps")

    def log_scalars(self, scalars: dict[str, float], step: int) -> None:
        if self.writer is not None:
            for k, v in scalars.items():
                self.writer.add_scalar(k, v, step)

    def log_mel_image(self, tag: str, mels: torch.Tensor, step: int) -> None:
        """Stack log-mels (N, n_mels, T) vertically into one grey image for TensorBoard."""
        if self.writer is None:
            return
        m = mels.detach().float().cpu()
        lo, hi = m.amin(), m.amax()
        img = ((m - lo) / (hi - lo + 1e-6)).flip(1)  # low frequencies at the bottom
        self.writer.add_image(tag, torch.cat(list(img), dim=0), step, dataformats="HW")

    def log_audio(self, tag: str, wav: torch.Tensor, sample_rate: int, step: int) -> None:
        if self.writer is not None:
            self.writer.add_audio(tag, wav.detach().float().cpu().clamp(-1, 1).reshape(-1), step, sample_rate)

    # ----- checkpoints -----------------------------------------------------------------------
    def _state(self, best: dict[str, Any]) -> dict[str, Any]:
        rng = {"torch": torch.get_rng_state()}
        if torch.cuda.is_available() and self.device.type == "cuda":
            rng["cuda"] = torch.cuda.get_rng_state(self.device)
        return {
            "step": self.step,
            "optimizers": {k: o.state_dict() for k, o in self.optimizers.items()},
            "schedulers": {k: s.state_dict() for k, s in self.schedulers.items()},
            "scalers": {k: s.state_dict() for k, s in self.scalers.items()},
            "rng": rng,
            "order": self.order.state_dict() if getattr(self, "order", None) is not None else None,
            "best": best,
            "train_seconds": self.train_seconds,
            "extra": self.extra_state(),
        }

    def save_checkpoint(self, best: dict[str, Any]) -> None:
        folder = self.run_dir / "checkpoints" / "last"
        state = self._state(best)
        comps = self.components()

        def write(tmp: Path) -> None:
            for name, m in comps.items():
                save_component(m, tmp / name, extra={"step": self.step})
            torch.save(state, tmp / STATE_NAME)

        atomic_write_dir(folder, write)

    def save_best(self, metrics: dict[str, float]) -> None:
        comps = self.components()

        def write(tmp: Path) -> None:
            for name, m in comps.items():
                save_component(m, tmp / name, extra={"step": self.step, **{k: float(v) for k, v in metrics.items()}})
            atomic_write_text(tmp / "best.json", json.dumps({"step": self.step, **metrics}, indent=2) + "\n")

        atomic_write_dir(self.run_dir / "best", write)

    def load_checkpoint(self) -> dict[str, Any]:
        """Restore weights (component folders, strictly) and the training state; returns ``best``."""
        from vividsound.checkpoint import load_state

        folder = self.run_dir / "checkpoints" / "last"
        recover_dir(folder)  # a kill during the last save: its last complete checkpoint goes back in place
        if not (folder / STATE_NAME).is_file():
            raise TrainingError(f"cannot resume: {folder} holds no {STATE_NAME} (no checkpoint was written yet)")
        for name, m in self.components().items():
            load_state(folder / name, m)
        try:
            state = torch.load(folder / STATE_NAME, map_location="cpu", weights_only=True)
        except (OSError, RuntimeError, EOFError, ValueError, pickle.UnpicklingError) as e:
            raise TrainingError(f"cannot resume: {folder / STATE_NAME} is truncated or corrupt "
                                f"({type(e).__name__}: {str(e).splitlines()[0][:120] if str(e) else ''})") from None
        if not isinstance(state, dict) or "step" not in state:
            raise TrainingError(f"cannot resume: {folder / STATE_NAME} is not a vividsound training state")
        self.step = int(state["step"])
        self.train_seconds = float(state.get("train_seconds", 0.0))
        for k, o in self.optimizers.items():
            o.load_state_dict(state["optimizers"][k])
        for k, s in self.schedulers.items():
            s.load_state_dict(state["schedulers"][k])
        for k, s in self.scalers.items():
            s.load_state_dict(state["scalers"][k])
        torch.set_rng_state(state["rng"]["torch"])
        if "cuda" in state["rng"] and self.device.type == "cuda":
            torch.cuda.set_rng_state(state["rng"]["cuda"], self.device)
        if state.get("order") is not None:
            self.order.load_state_dict(state["order"])
        self.load_extra_state(state.get("extra") or {})
        return state.get("best") or {}


class _StopOnInterrupt:
    """The first Ctrl-C finishes the current step, saves a checkpoint and stops; a second one aborts.

    (Single-process runs only: under torchrun every rank would stop at a different step.)
    """

    def __init__(self, enabled: bool) -> None:
        self.requested = False
        self._old = None
        if enabled and threading.current_thread() is threading.main_thread():
            self._old = signal.signal(signal.SIGINT, self._handle)

    def _handle(self, signum, frame) -> None:
        if self.requested:
            raise KeyboardInterrupt
        self.requested = True
        print("\nvividsound: stopping after this step (Ctrl-C again to abort without saving)", file=sys.stderr)

    def restore(self) -> None:
        if self._old is not None:
            signal.signal(signal.SIGINT, self._old)
            self._old = None


def _agreed_seconds(seconds: float, d: Dist) -> float:
    """Rank 0's training time on every rank (under torchrun all ranks must stop and decay alike)."""
    if d.world == 1:
        return seconds
    t = torch.tensor([seconds], dtype=torch.float64, device=d.device)
    dist.broadcast(t, 0)
    return float(t.item())


def _better(new: float, old: float | None, mode: str) -> bool:
    return old is None or (new < old if mode == "min" else new > old)


def _open_writer(run_dir: Path, enabled: bool):
    if not enabled:
        return None
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError:
        print("vividsound: tensorboard is not installed; no TensorBoard logs (pip install tensorboard)",
              file=sys.stderr)
        return None
    return SummaryWriter(str(run_dir / "tb"))


def run_stage(stage_cls: type[Stage], cfg: Any, run_dir: str | Path, *, resume: bool = False,
              on_end: Callable[[Stage], None] | None = None) -> Path:
    """Train one stage end to end (or resume it) and export it; returns the export folder.

    Everything that can be wrong with the input (config, run folder, data) fails before the first step.
    ``on_end(stage)`` is called on every rank after training (tests read the weights of each rank).
    """
    run_dir = Path(run_dir)
    tc: TrainConfig = cfg.train
    d = init_dist(tc.device)
    if d.main:
        check_run_dir(run_dir, cfg, resume)
    d.barrier()
    if tc.threads:
        torch.set_num_threads(tc.threads)
    torch.manual_seed(tc.seed)
    stage = stage_cls(cfg, run_dir, d)
    stage.setup()
    best: dict[str, Any] = {}
    if resume:
        best = stage.load_checkpoint()
    if d.main:
        run_dir.mkdir(parents=True, exist_ok=True)
        save_config(cfg, run_dir / "config.yaml")
        stage.writer = _open_writer(run_dir, tc.tensorboard)
    metrics_file = run_dir / "metrics.jsonl"

    def record(kind: str, values: dict[str, float]) -> None:
        if d.main:
            with metrics_file.open("a", encoding="utf-8") as f:
                f.write(json.dumps({"kind": kind, "step": stage.step, "time": time.time(), **values}) + "\n")

    def do_validate() -> None:
        m = stage.validate()
        record("val", m)
        stage.log_scalars(m, stage.step)
        if d.main and stage.best_key in m and _better(m[stage.best_key], best.get("value"), stage.best_mode):
            best.update(value=float(m[stage.best_key]), step=stage.step)
            stage.save_best(m)

    bar = None
    if d.main and tc.progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=tc.steps, initial=stage.step, desc=f"train {stage.name}", unit="step", dynamic_ncols=True)
    started, t0 = stage.step, time.time()
    seconds0 = stage.train_seconds
    out_of_time = False
    stop = _StopOnInterrupt(enabled=d.world == 1)
    try:
        while stage.step < tc.steps:
            if (tc.stop_after and stage.step - started >= tc.stop_after) or stop.requested:
                break
            stage.train_seconds = seconds0 + time.time() - t0
            if tc.max_minutes:
                stage.train_seconds = _agreed_seconds(stage.train_seconds, d)
                stage.time_frac = stage.train_seconds / (60.0 * tc.max_minutes)
                if stage.time_frac >= 1.0:
                    out_of_time = True
                    break
            logs = stage.train_step()
            stage.step += 1
            if bar is not None:
                bar.update(1)
                bar.set_postfix({k.split("/")[-1]: f"{v:.3g}" for k, v in list(logs.items())[:3]}, refresh=False)
            if stage.step % tc.log_every == 0 or stage.step == tc.steps:
                lr = stage.schedulers[next(iter(stage.schedulers))].get_last_lr()[0] if stage.schedulers else 0.0
                logs = {**logs, "train/lr": lr, "train/steps_per_s": (stage.step - started) / (time.time() - t0)}
                record("train", logs)
                stage.log_scalars(logs, stage.step)
            if tc.val_every and stage.step % tc.val_every == 0 and stage.step < tc.steps:
                do_validate()
            if tc.ckpt_every and stage.step % tc.ckpt_every == 0 and stage.step < tc.steps:
                if d.main:
                    stage.save_checkpoint(best)
                d.barrier()
    finally:
        stop.restore()
        if bar is not None:
            bar.close()
    stage.train_seconds = seconds0 + time.time() - t0
    if stop.requested and d.main:
        print(f"vividsound: interrupted; checkpoint of step {stage.step} saved, continue with --resume", file=sys.stderr)
    if out_of_time and d.main:
        print(f"vividsound: train.max_minutes={tc.max_minutes:g} reached at step {stage.step} of {tc.steps}; "
              "validating and exporting", file=sys.stderr)
    finished = stage.step >= tc.steps or out_of_time
    if finished:
        do_validate()
    if d.main:
        stage.save_checkpoint(best)
        if finished:
            stage.export(run_dir / "export")
            atomic_write_text(run_dir / "DONE", json.dumps({"step": stage.step, "best": best}) + "\n")
        if stage.writer is not None:
            stage.writer.close()
    if on_end is not None:
        on_end(stage)
    d.barrier()
    return run_dir / "export"

