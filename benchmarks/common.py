"""Helpers shared by the benchmark scripts: machine description, timing, markdown tables."""

from __future__ import annotations

import datetime as _dt
import os
import platform
import shlex
import statistics
import sys
import time
from pathlib import Path
from typing import Callable, Sequence

import torch

RESULTS_DIR = Path(__file__).resolve().parent / "results"


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def device_name(device: torch.device) -> str:
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    return f"{cpu_model()} ({os.cpu_count()} cores visible)"


def device_slug(device: torch.device) -> str:
    """Short file-name tag: ``cpu`` or the GPU model, e.g. ``nvidia-h100-80gb-hbm3``."""
    if device.type == "cuda":
        return "".join(c if c.isalnum() else "-" for c in torch.cuda.get_device_name(device).lower()).strip("-")
    return "cpu"


def loadavg() -> str:
    """1/5/15-minute load average: other processes on the machine skew CPU timings."""
    try:
        return " ".join(Path("/proc/loadavg").read_text().split()[:3])
    except OSError:
        return "n/a"


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def time_call(fn: Callable[[], object], device: torch.device, repeats: int, warmup: Callable[[], object] | None = None,
              cpu_out: list[float] | None = None) -> list[float]:
    """Run ``warmup`` (or ``fn``) once untimed, then ``fn`` ``repeats`` times; wall seconds of each run.

    ``cpu_out`` receives the process CPU seconds of each run (all threads): on a shared, overloaded
    machine, CPU time of a one-thread run is close to what the wall time would be on an idle one.
    """
    (warmup or fn)()
    sync(device)
    times = []
    for _ in range(repeats):
        sync(device)
        c = time.process_time()
        t = time.perf_counter()
        fn()
        sync(device)
        times.append(time.perf_counter() - t)
        if cpu_out is not None:
            cpu_out.append(time.process_time() - c)
    return times


def median(xs: Sequence[float]) -> float:
    return float(statistics.median(xs))


def header(device: torch.device, threads: int | str, load_at_start: str | None = None) -> list[str]:
    """Markdown lines describing the run: machine, versions, command, date, load.

    ``load_at_start``: the load average read when the run began (default: read it now).
    """
    now = _dt.datetime.now(_dt.timezone.utc)
    cmd = "PYTHONPATH=src python " + " ".join(shlex.quote(a) for a in sys.argv)
    lines = [
        f"- date: {now:%Y-%m-%d %H:%M} UTC",
        f"- device: {device_name(device)}",
        f"- torch {torch.__version__}, python {platform.python_version()}, torch threads {threads}",
        f"- command: `{cmd}`",
    ]
    if device.type == "cpu":
        lines.append(f"- load average at start (1/5/15 min): {load_at_start or loadavg()} — the machine is shared; "
                     "other processes inflate CPU timings")
    return lines


def markdown_table(columns: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    out = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    for r in rows:
        out.append("| " + " | ".join(str(c) for c in r) + " |")
    return "\n".join(out)


def today() -> str:
    return _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%d")


def fmt_s(x: float | None) -> str:
    if x is None:
        return "–"
    return f"{x:.3f}" if x < 10 else f"{x:.1f}"
