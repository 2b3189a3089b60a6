"""``vividsound generate -o DIR``: one clip per file in a folder, resumable, split across processes.

Folder mode is chosen when ``-o`` names an existing folder, ends with a path separator, or the command
runs under ``torchrun`` (which sets ``WORLD_SIZE``)::

    vividsound generate --prompts-file prompts.txt -o clips/
    torchrun --nproc_per_node 4 -m vividsound generate --prompts-file prompts.txt -o clips/

Row ``i`` (prompt ``i // num_samples``, variation ``i % num_samples``, seed ``seed + variation``, as
in single-file mode) is written to ``DIR/{i:05d}.{fmt}``. The rows are cut into batches of
``--batch-size`` consecutive rows, as one process cuts them, and the batches are dealt round-robin to
the processes (batch ``b`` to rank ``b % world_size``). A row's codes depend only on its prompt, seed
and settings; the VQGAN decoder's and vocoder's rounding can depend on which rows share their batch
(convolution kernels are chosen per batch shape), so keeping one process's batches is what makes the
clips of N processes exactly, bit for bit, those of one process with the same ``--batch-size`` and
the same number of torch threads per process (torchrun gives each worker ``OMP_NUM_THREADS=1``; on the
CPU the rounding of the decoder depends on the thread count too, the codes never do).

Each file is written under a temporary name and renamed when complete, so a file with a clip's name
is a finished clip: a rerun skips batches whose clips all exist, and remakes a batch with a missing
clip whole (same batch, same rounding) but writes only its missing files. ``DIR/run.json`` records the
prompts and the settings (batch size included); a rerun with other prompts or settings into the same
folder is an input error, never a silent mix. When every clip is done, ``DIR/index.jsonl`` lists file,
prompt and seed per row.

Processes talk through ``torch.distributed`` (gloo on the CPU, nccl on CUDA) only to agree on the
folder's state before work starts and to wait for each other at the end.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from vividsound.errors import InputError

RUN_FILE = "run.json"
INDEX_FILE = "index.jsonl"
TMP_PREFIX = ".tmp-"  # vividsound.audio.save_audio's temporary names: never a finished clip


@dataclass(frozen=True)
class World:
    """This process's place among the processes started by torchrun (rank 0 of 1 without it)."""

    rank: int = 0
    size: int = 1
    local_rank: int = 0

    @classmethod
    def from_env(cls) -> "World":
        env = os.environ
        try:
            return cls(int(env.get("RANK", 0)), int(env.get("WORLD_SIZE", 1)), int(env.get("LOCAL_RANK", 0)))
        except ValueError:
            raise InputError(f"RANK / WORLD_SIZE / LOCAL_RANK must be integers, got {env.get('RANK')!r} / "
                             f"{env.get('WORLD_SIZE')!r} / {env.get('LOCAL_RANK')!r}") from None


def launched_by_torchrun() -> bool:
    return "WORLD_SIZE" in os.environ and "RANK" in os.environ


def wants_folder(output: str) -> bool:
    """Folder mode: ``-o`` is an existing folder, ends with a separator, or torchrun started us (an empty
    ``-o`` is never a folder: it is refused as empty)."""
    if not output.strip():
        return False
    return launched_by_torchrun() or output.endswith(("/", os.sep)) or Path(output).is_dir()


def clip_name(i: int, fmt: str) -> str:
    return f"{i:05d}.{fmt}"


def pending_batches(folder: Path, n_rows: int, batch_size: int, fmt: str, world: World) -> list[list[int]]:
    """This process's batches (batch ``b`` holds rows ``b*batch_size ...``; ``b % size == rank``) that
    still miss a clip file."""
    batches = [list(range(b, min(n_rows, b + batch_size))) for b in range(0, n_rows, batch_size)]
    return [rows for b, rows in enumerate(batches)
            if b % world.size == world.rank and not all((folder / clip_name(i, fmt)).is_file() for i in rows)]


def run_record(prompts: list[str], seeds: list[int], settings: dict[str, Any], fmt: str) -> dict[str, Any]:
    """What ``run.json`` holds: everything a clip depends on, so a rerun can tell it continues the same run."""
    return {"prompts": prompts, "seeds": seeds, "format": fmt, "settings": settings}


def prepare_folder(folder: Path, record: dict[str, Any]) -> int:
    """Rank 0: create the folder or check that it continues this run; drop stale temporary files.

    Returns the number of clips already finished. Raises :class:`InputError` if the folder holds another run.
    """
    if folder.exists() and not folder.is_dir():
        raise InputError(f"-o {folder} exists and is not a folder")
    if not folder.parent.is_dir():
        raise InputError(f"output folder's parent does not exist: {folder.parent}")
    folder.mkdir(exist_ok=True)
    if not os.access(folder, os.W_OK):
        raise InputError(f"output folder is not writable: {folder}")
    run_path = folder / RUN_FILE
    if run_path.is_file():
        try:
            old = json.loads(run_path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            old = None
        if old != record:
            what = "another" if not isinstance(old, dict) else ", ".join(
                k for k in record if old.get(k) != record[k]) or "another"
            raise InputError(f"-o {folder} holds clips of another run ({what} differ; see {run_path}); "
                             "use a new folder, or the same prompts and settings to resume")
    else:
        stray = [p.name for p in folder.iterdir() if not p.name.startswith(".")]
        if stray:
            raise InputError(f"-o {folder} is not empty and has no {RUN_FILE} (e.g. {stray[0]!r}); "
                             "use a new or empty folder")
        from vividsound.checkpoint import atomic_write_bytes

        atomic_write_bytes(run_path, (json.dumps(record, indent=1, sort_keys=True) + "\n").encode("utf-8"))
    for p in folder.glob(TMP_PREFIX + "*"):  # left by an interrupted write: never a finished clip
        p.unlink(missing_ok=True)
    return sum((folder / clip_name(i, record["format"])).is_file() for i in range(len(record["prompts"])))


class _FolderProgress:
    """Rank 0's bar over all processes' clips, read from the folder (no messages between processes)."""

    def __init__(self, folder: Path, names: list[str], done: int, enabled: bool) -> None:
        self.folder, self.names, self._stop = folder, names, threading.Event()
        self.bar, self._thread = None, None
        if enabled:
            from tqdm.auto import tqdm

            self.bar = tqdm(total=len(names), initial=done, unit="clip", desc="generating")
            self._thread = threading.Thread(target=self._poll, daemon=True)
            self._thread.start()

    def _count(self) -> int:
        return sum((self.folder / n).is_file() for n in self.names)

    def _poll(self) -> None:
        while not self._stop.wait(0.5):
            self.bar.n = self._count()
            self.bar.refresh()

    def close(self) -> None:
        if self.bar is not None:
            self._stop.set()
            self._thread.join()
            self.bar.n = self._count()
            self.bar.close()


def _collectives(world: World, device: str) -> tuple[Callable[[Any], Any], Callable[[], None], Callable[[], None]]:
    """(broadcast from rank 0, barrier, finish) over a process group; no-ops for one process."""
    if world.size == 1:
        return (lambda obj: obj), (lambda: None), (lambda: None)
    import torch.distributed as dist

    backend = "nccl" if device.startswith("cuda") else "gloo"
    dist.init_process_group(backend=backend, rank=world.rank, world_size=world.size)

    def broadcast(obj: Any) -> Any:
        box = [obj]
        dist.broadcast_object_list(box, src=0)
        return box[0]

    # gloo barriers need no device; for nccl the barrier runs on this process's GPU.
    barrier = (lambda: dist.barrier(device_ids=[world.local_rank])) if backend == "nccl" else dist.barrier
    return broadcast, barrier, dist.destroy_process_group


def run(args: argparse.Namespace, prompts: list[str], fmt: str) -> int:
    """Generate every row of ``prompts`` × ``--num-samples`` into the folder ``args.output``."""
    from vividsound.audio import save_audio
    from vividsound.pipeline import TextToSound

    world = World.from_env()
    if world.size < 1 or not 0 <= world.rank < world.size:
        raise InputError(f"RANK={world.rank} does not fit WORLD_SIZE={world.size}")
    folder = Path(args.output)
    from vividsound.devices import check_device, set_threads

    device = check_device(args.device)
    # The same thread count as single-file mode: CPU kernels may split sums by thread, so a different
    # count could change the rounding and break "the same clips as one file per call".
    set_threads(args.threads)
    from vividsound.quantize import check_quantize

    check_quantize("int8" if args.int8 else None, device)
    if device == "cuda" and world.size > 1:
        device = f"cuda:{world.local_rank}"  # one GPU per process
    if args.plot:
        raise InputError("--plot writes one image for the whole call; it is not available with -o DIR")
    broadcast, barrier, finish = _collectives(world, device)
    try:
        graphs = device.startswith("cuda") and not args.no_cuda_graphs
        tts = TextToSound.from_pretrained(args.model, device=device, vocoder=args.vocoder,
                                          quantize="int8" if args.int8 else None, compile=graphs)
        settings = tts.resolve_settings(duration=args.duration, top_k=args.top_k, top_p=args.top_p,
                                        temperature=args.temperature, cfg_scale=args.cfg_scale,
                                        num_samples=args.num_samples, batch_size=args.batch_size)
        rows, seeds = tts._items(prompts, args.num_samples, args.seed)
        record = run_record(rows, seeds, {**settings, "model": tts.name, "vocoder": type(tts.vocoder).__name__,
                                          "quantize": tts.quantize, "batch_size": args.batch_size}, fmt)
        # Rank 0 checks the folder; every process learns the verdict before any work starts.
        status: Any = None
        if world.rank == 0:
            try:
                status = ("ok", prepare_folder(folder, record))
            except InputError as e:
                status = ("error", str(e))
        status = broadcast(status)
        if status[0] == "error":
            raise InputError(status[1])
        already = status[1]
        mine = pending_batches(folder, len(rows), args.batch_size, fmt, world)
        names = [clip_name(i, fmt) for i in range(len(rows))]
        made = 0
        show = world.rank == 0 and not args.quiet and sys.stderr.isatty()
        progress = _FolderProgress(folder, names, already, show)
        t0 = time.perf_counter()
        try:
            for part in mine:
                out = tts.generate_rows([rows[i] for i in part], [seeds[i] for i in part],
                                        batch_size=args.batch_size, **settings)
                wav = out.numpy()
                for k, i in enumerate(part):
                    if not (folder / names[i]).is_file():  # a finished clip is never rewritten
                        save_audio(folder / names[i], wav[k], out.sample_rate, out.metadata(k))
                        made += 1
        finally:
            progress.close()
        elapsed = time.perf_counter() - t0
        barrier()
        if world.rank == 0:
            missing = [n for n in names if not (folder / n).is_file()]
            if missing:  # another process failed; its rows are left for a rerun
                raise InputError(f"{len(missing)} clip(s) missing in {folder} (e.g. {missing[0]}); rerun to finish")
            from vividsound.checkpoint import atomic_write_bytes

            lines = [json.dumps({"file": n, "prompt": p, "seed": s}, ensure_ascii=False)
                     for n, p, s in zip(names, rows, seeds)]
            atomic_write_bytes(folder / INDEX_FILE, ("\n".join(lines) + "\n").encode("utf-8"))
            print(folder)
        print(f"rank {world.rank}/{world.size}: {made} clip(s) made in {elapsed:.2f} s"
              + (f"; {already} of {len(rows)} were already done" if world.rank == 0 and already else ""),
              file=sys.stderr)
        return 0
    finally:
        finish()
