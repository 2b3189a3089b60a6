"""Load benchmark for ``vividsound serve``: N concurrent clients on loopback.

Starts the server as a child process on 127.0.0.1 (never another host), sends a bounded number of
``POST /v1/generate`` requests from N concurrent clients for at most ``--max-seconds``, and reports
throughput, p50/p99 latency, errors and the server's peak memory (VmHWM). One server per
``--max-batch`` value, so micro-batching can be compared with one-request-at-a-time.

    PYTHONPATH=src python benchmarks/load.py                         # tiny random model, built here
    PYTHONPATH=src python benchmarks/load.py --model DIR --clients 16 --requests 200

The table is printed and written to ``benchmarks/results/server_load.md`` (with the machine, the
command and the date). This is a benchmark, not a test; it exits 1 if any request failed while the
clients stayed below the queue limit.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import os
import platform
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import httpx

HOST = "127.0.0.1"  # loopback only: this benchmark must never load another machine
ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"
TINY = "tiny random pipeline (vividsound.testing.tiny_pipeline, Griffin-Lim vocoder)"


@dataclass
class RunResult:
    max_batch: int
    clients: int
    requests: int
    ok: int
    errors: int
    error_kinds: dict[str, int]
    wall_s: float
    req_per_s: float
    audio_s_per_s: float
    p50_s: float
    p99_s: float
    mean_batch_rows: float
    peak_rss_mb: float


def _free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


def _peak_rss_mb(pid: int) -> float:
    """The process's high-water resident memory (Linux /proc), in MiB; NaN elsewhere."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return float("nan")


def _percentile(xs: list[float], q: float) -> float:
    if not xs:
        return float("nan")
    xs = sorted(xs)
    k = (len(xs) - 1) * q
    lo, hi = int(k), min(int(k) + 1, len(xs) - 1)
    return xs[lo] + (xs[hi] - xs[lo]) * (k - lo)


def _machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem = ""
    try:
        kb = int(Path("/proc/meminfo").read_text().split()[1])
        mem = f", {kb / 1024 / 1024:.0f} GiB RAM"
    except (OSError, ValueError, IndexError):
        pass
    import torch

    return (f"{cpu}, {os.cpu_count()} cores{mem}; {platform.system()} {platform.release()}; "
            f"Python {platform.python_version()}, torch {torch.__version__} (threads {torch.get_num_threads()})")


class Server:
    """``python -m vividsound serve`` on loopback, as a child process."""

    def __init__(self, model: Path, out: Path, max_batch: int, max_queue: int, timeout: float) -> None:
        self.port = _free_port()
        env = {**os.environ, "PYTHONPATH": f"{ROOT / 'src'}{os.pathsep}{os.environ.get('PYTHONPATH', '')}",
               "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
        env.pop("VIVIDSOUND_API_KEY", None)
        cmd = [sys.executable, "-m", "vividsound", "serve", "--host", HOST, "--port", str(self.port),
               "--model", str(model), "--output-dir", str(out), "--max-batch", str(max_batch),
               "--max-queue", str(max_queue), "--timeout", str(timeout), "--log-level", "warning",
               "--max-results", "100000"]
        self.proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        self.url = f"http://{HOST}:{self.port}"

    def wait_ready(self, timeout: float = 120.0) -> None:
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited: {self.proc.stderr.read() if self.proc.stderr else ''}")
            try:
                if httpx.get(self.url + "/v1/health", timeout=2).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.2)
        raise RuntimeError("server did not start in time")

    def stop(self) -> float:
        peak = _peak_rss_mb(self.proc.pid)
        self.proc.terminate()
        try:
            self.proc.wait(30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
        return peak


async def _load(url: str, clients: int, requests: int, max_seconds: float,
                body: dict) -> tuple[list[float], dict[str, int], list[int], float]:
    latencies: list[float] = []
    errors: dict[str, int] = {}
    batch_rows: list[int] = []
    counter = iter(range(requests))
    t_end = time.monotonic() + max_seconds

    async def client(i: int, c: httpx.AsyncClient) -> None:
        for n in counter:
            if time.monotonic() > t_end:
                return
            t0 = time.monotonic()
            try:
                r = await c.post("/v1/generate", json={**body, "seed": n})
            except httpx.HTTPError as e:
                errors[type(e).__name__] = errors.get(type(e).__name__, 0) + 1
                continue
            if r.status_code == 200:
                latencies.append(time.monotonic() - t0)
                batch_rows.append(r.json()["batch_rows"])
            else:
                errors[str(r.status_code)] = errors.get(str(r.status_code), 0) + 1

    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    async with httpx.AsyncClient(base_url=url, timeout=max_seconds + 60, limits=limits) as c:
        t0 = time.monotonic()
        await asyncio.gather(*(client(i, c) for i in range(clients)))
        wall = time.monotonic() - t0
    return latencies, errors, batch_rows, wall


def run_one(model: Path, args: argparse.Namespace, max_batch: int, work: Path) -> RunResult:
    server = Server(model, work / f"out-b{max_batch}", max_batch, args.max_queue, args.timeout)
    try:
        server.wait_ready()
        body = {"prompt": "a dog barks while rain falls", "duration": args.duration, "response": "json"}
        # One warm-up request (first-call costs: tokenizer, allocator) is not counted.
        httpx.post(server.url + "/v1/generate", json={**body, "seed": 0}, timeout=args.max_seconds)
        lat, errors, rows, wall = asyncio.run(_load(server.url, args.clients, args.requests, args.max_seconds, body))
    finally:
        peak = server.stop()
    ok = len(lat)
    return RunResult(max_batch=max_batch, clients=args.clients, requests=ok + sum(errors.values()), ok=ok,
                     errors=sum(errors.values()), error_kinds=errors, wall_s=round(wall, 2),
                     req_per_s=round(ok / wall, 3), audio_s_per_s=round(ok * args.duration / wall, 3),
                     p50_s=round(_percentile(lat, 0.5), 3), p99_s=round(_percentile(lat, 0.99), 3),
                     mean_batch_rows=round(statistics.fmean(rows), 2) if rows else float("nan"),
                     peak_rss_mb=round(peak, 1))


def table(results: list[RunResult]) -> str:
    head = ("| max batch | clients | requests | ok | errors | wall s | req/s | audio s/s | p50 s | p99 s "
            "| mean batch | peak RSS MiB |")
    lines = [head, "|" + "---|" * 12]
    for r in results:
        lines.append(f"| {r.max_batch} | {r.clients} | {r.requests} | {r.ok} | {r.errors} | {r.wall_s} | "
                     f"{r.req_per_s} | {r.audio_s_per_s} | {r.p50_s} | {r.p99_s} | {r.mean_batch_rows} | "
                     f"{r.peak_rss_mb} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--model", type=Path, help="pipeline folder (default: a tiny random model built in a temp folder)")
    p.add_argument("--clients", type=int, default=8, help="concurrent clients (default %(default)s)")
    p.add_argument("--requests", type=int, default=48, help="requests in all, per server (default %(default)s)")
    p.add_argument("--duration", type=float, default=0.25, help="seconds of audio per request (default %(default)s)")
    p.add_argument("--max-batch", type=int, nargs="+", default=[1, 8], help="server --max-batch values to compare")
    p.add_argument("--max-queue", type=int, default=32, help="server --max-queue (default %(default)s)")
    p.add_argument("--timeout", type=float, default=300, help="server --timeout (default %(default)s)")
    p.add_argument("--max-seconds", type=float, default=240, help="stop sending after this long (default %(default)s)")
    p.add_argument("--out", type=Path, default=RESULTS / "server_load.md", help="where to write the table")
    args = p.parse_args(argv)
    command = "PYTHONPATH=src python benchmarks/load.py " + " ".join(argv if argv is not None else sys.argv[1:])

    with tempfile.TemporaryDirectory(prefix="vividsound-load-") as tmp:
        work = Path(tmp)
        model = args.model
        if model is None:
            from vividsound.testing import tiny_pipeline

            model = work / "tiny"
            tiny_pipeline(model)
        load_before = os.getloadavg()
        results = [run_one(model, args, b, work) for b in args.max_batch]
        load_after = os.getloadavg()

    below_limit = args.clients <= args.max_queue
    text = table(results)
    print(text)
    doc = [
        "# Server load benchmark (`benchmarks/load.py`)", "",
        f"- date: {dt.datetime.now(dt.timezone.utc).strftime('%Y-%m-%d %H:%M UTC')}",
        f"- machine: {_machine()}",
        f"- command: `{command.strip()}`",
        f"- model: {TINY if args.model is None else args.model}",
        f"- each request: one {args.duration} s sound, `response: json`, seed = request number; "
        f"server on {HOST}, --max-queue {args.max_queue}; one warm-up request not counted",
        "- latency: client-side, request sent to answer received (queueing included); "
        "audio s/s: seconds of audio produced per wall-clock second",
        "- peak RSS: the server process's VmHWM at the end of the run",
        f"- load average (1 min) before / after: {load_before[0]:.1f} / {load_after[0]:.1f} "
        "(other jobs on a shared machine make the timings noisy; compare rows of one run only)", "",
        text, "",
    ]
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text("\n".join(doc), encoding="utf-8")
    args.out.with_suffix(".json").write_text(json.dumps([asdict(r) for r in results], indent=2) + "\n",
                                             encoding="utf-8")
    print(f"written: {args.out}")
    failed = below_limit and any(r.errors for r in results)
    if failed:
        print("FAIL: requests failed although the clients stayed below the queue limit", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
