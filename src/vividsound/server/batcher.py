"""A bounded request queue served by one worker thread that micro-batches requests onto the model.

Requests whose sampler settings agree (same duration, top-k, top-p, temperature, guidance) are joined
into one model call of at most ``max_batch_rows`` sounds. Every sound is sampled with its own seed
(``ConditionalGPT.generate_iter`` draws per-row noise), so a sound does not depend on which other
requests shared its batch: batching changes speed, never audio.

The model runs in one thread only, so at most one batch is in memory at a time; the event loop only
waits on :class:`concurrent.futures.Future` objects and never runs the model itself.
"""

from __future__ import annotations

import collections
import logging
import math
import threading
import time
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any, Callable, Protocol

import torch

log = logging.getLogger("vividsound.server")


class QueueFullError(Exception):
    """The queue holds ``max_queue`` requests; ``retry_after`` is a guess in whole seconds."""

    def __init__(self, pending: int, retry_after: int) -> None:
        super().__init__(f"the server is busy: {pending} requests are waiting; retry in {retry_after} s")
        self.pending, self.retry_after = pending, retry_after


class Model(Protocol):
    """What the worker needs of :class:`vividsound.pipeline.TextToSound`."""

    def sample_codes(self, prompts: list[str], seeds: list[int], columns: int, settings: dict[str, Any],
                     on_token: Callable[[int], None] | None = None) -> torch.Tensor: ...

    def decode(self, codes: torch.Tensor, num_samples: int | None = None) -> tuple[torch.Tensor, torch.Tensor]: ...


@dataclass(eq=False)  # a job is itself: the queue removes it by identity, never by equal fields
class Job:
    """One request's sounds: ``rows[i]`` is sampled with ``seeds[i]``."""

    rows: list[str]  # prompt of each sound
    seeds: list[int]  # seed of each sound
    settings: dict[str, Any]  # resolved sampler settings (TextToSound.resolve_settings)
    columns: int  # code columns to sample
    n_samples: int  # waveform length in samples
    tokens_per_sound: int = 0  # GPT tokens per sound (for progress reports only)
    future: Future = field(default_factory=Future)  # -> JobOutput
    enqueued: float = field(default_factory=time.monotonic)

    @property
    def key(self) -> tuple:
        """Jobs with equal keys can share a model call."""
        s = self.settings
        return (self.columns, self.n_samples, s["top_k"], s["top_p"], s["temperature"], s["cfg_scale"],
                s.get("negative_prompt"))


@dataclass
class CallJob:
    """Work that is not a plain generation (an edit): ``fn(progress)`` runs alone in the worker thread.

    ``progress(done, total)`` reports tokens for ``/v1/health``; the future gets ``fn``'s return value."""

    fn: Callable[[Callable[[int, int], None]], Any]
    rows: list[Any] = field(default_factory=lambda: [None])  # counts as one sound for queue estimates
    future: Future = field(default_factory=Future)
    enqueued: float = field(default_factory=time.monotonic)

    @property
    def key(self) -> tuple:
        return (id(self),)  # never joined with another job


@dataclass
class JobOutput:
    """A job's share of a batch (CPU tensors)."""

    waveform: torch.Tensor  # (n, samples)
    mel: torch.Tensor  # (n, n_mels, frames)
    queued_s: float  # seconds from enqueue to the start of its model call
    batch_rows: int  # sounds in that model call


class MicroBatcher:
    """Bounded FIFO of :class:`Job` s and the worker thread that runs them in micro-batches.

    Args:
        model: the pipeline (``sample_codes`` + ``decode``).
        max_queue: most jobs waiting (not counting the batch being generated).
        max_batch_rows: most sounds in one model call; a larger job runs alone, in one call.
        batch_window_ms: after taking a job, wait this long for compatible jobs when the batch is not full.
    """

    def __init__(self, model: Model, *, max_queue: int = 32, max_batch_rows: int = 8,
                 batch_window_ms: float = 5.0) -> None:
        self.model = model
        self.max_queue, self.max_batch_rows = max_queue, max_batch_rows
        self.batch_window = batch_window_ms / 1000.0
        self._pending: collections.deque[Job] = collections.deque()
        self._cond = threading.Condition()
        self._stop = False
        self._thread: threading.Thread | None = None
        self.busy = False
        self.tokens_done = 0
        self.tokens_total = 0
        self.batches = 0
        self.rows_done = 0
        self.accepted = 0  # jobs ever queued
        self.cancelled = 0  # jobs cancelled before they ran (client gone or timed out)
        self.finished = 0  # jobs that ran to a result or an error (answered, or dropped if their client left)
        self._batch_seconds = 1.0  # running mean of one model call (for Retry-After)

    # ------------------------------------------------------------------------------------------ control
    def start(self) -> None:
        if self._thread is None or not self._thread.is_alive():
            self._stop = False
            self._thread = threading.Thread(target=self._run, name="vividsound-batcher", daemon=True)
            self._thread.start()

    def stop(self, timeout: float = 30.0) -> None:
        """Stop after the current batch; jobs still waiting fail with RuntimeError."""
        with self._cond:
            self._stop = True
            waiting = list(self._pending)
            self._pending.clear()
            self._cond.notify_all()
        for job in waiting:
            if job.future.set_running_or_notify_cancel():
                job.future.set_exception(RuntimeError("the server is shutting down"))
                self.finished += 1
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None

    @property
    def pending(self) -> int:
        """Live requests waiting (a cancelled one leaves the queue at once, see :meth:`_forget`)."""
        with self._cond:
            return len(self._pending)

    def _forget(self, job: Job) -> None:
        """Drop a cancelled job from the queue, so requests nobody waits for hold no places (issue 26)."""
        with self._cond:
            try:
                self._pending.remove(job)
            except ValueError:
                pass  # already taken by the worker, which skips cancelled jobs
            self.cancelled += 1

    def retry_after(self) -> int:
        """Seconds until the queue has likely drained a batch's worth (at least 1)."""
        batches = max(1, math.ceil(sum(len(j.rows) for j in self._pending) / self.max_batch_rows))
        return int(min(600, max(1, math.ceil(self._batch_seconds * batches))))

    def submit(self, job: Job) -> Future:
        """Queue ``job``; raises :class:`QueueFullError` when ``max_queue`` jobs are waiting."""
        with self._cond:
            if self._stop:
                raise RuntimeError("the server is shutting down")
            if len(self._pending) >= self.max_queue:
                raise QueueFullError(len(self._pending), self.retry_after())
            self._pending.append(job)
            self.accepted += 1
            self._cond.notify_all()
        job.future.add_done_callback(lambda f: self._forget(job) if f.cancelled() else None)
        return job.future

    # ------------------------------------------------------------------------------------------ worker
    def _take_batch(self) -> list[Job] | None:
        """Block for the oldest job, then add compatible jobs (in arrival order) up to the row limit."""
        with self._cond:
            while not self._pending and not self._stop:
                self._cond.wait()
            if self._stop:
                return None
            first = self._pending.popleft()
            batch, rows = [first], len(first.rows)
            deadline = time.monotonic() + self.batch_window
            while True:
                for job in list(self._pending):
                    if job.key == first.key and rows + len(job.rows) <= self.max_batch_rows:
                        self._pending.remove(job)
                        batch.append(job)
                        rows += len(job.rows)
                left = deadline - time.monotonic()
                if rows >= self.max_batch_rows or left <= 0 or self._stop:
                    return batch
                self._cond.wait(left)

    def _run(self) -> None:
        while True:
            batch = self._take_batch()
            if batch is None:
                return
            # A job whose client gave up (timeout) was cancelled: skip it.
            batch = [j for j in batch if j.future.set_running_or_notify_cancel()]
            if batch and isinstance(batch[0], CallJob):
                self._call(batch[0])
            elif batch:
                self._generate(batch)

    def _call(self, job: CallJob) -> None:
        self.busy, self.tokens_done, self.tokens_total = True, 0, 0

        def progress(done: int, total: int) -> None:
            self.tokens_done, self.tokens_total = done, total

        try:
            result = job.fn(progress)
        except Exception as e:  # noqa: BLE001 - handed to the waiting request, which reports it
            log.info("an edit job failed: %s", e)
            job.future.set_exception(e)
            return
        finally:
            self.busy = False
        job.future.set_result(result)

    def _generate(self, batch: list[Job]) -> None:
        first = batch[0]
        prompts = [p for j in batch for p in j.rows]
        seeds = [s for j in batch for s in j.seeds]
        started = time.monotonic()
        self.busy, self.tokens_done = True, 0
        self.tokens_total = sum(j.tokens_per_sound * len(j.rows) for j in batch)

        def tick(n: int) -> None:
            self.tokens_done += n

        try:
            codes = self.model.sample_codes(prompts, seeds, first.columns, first.settings, tick)
            mel, wav = self.model.decode(codes, first.n_samples)
            mel, wav = mel.detach().float().cpu(), wav.detach().float().cpu()
        except Exception as e:  # noqa: BLE001 - handed to every waiting request, which reports it
            log.exception("generation failed for a batch of %d sounds", len(prompts))
            for j in batch:
                j.future.set_exception(e)
            self.finished += len(batch)
            return
        finally:
            self.busy = False
        took = time.monotonic() - started
        self._batch_seconds = 0.7 * self._batch_seconds + 0.3 * took
        self.batches += 1
        self.rows_done += len(prompts)
        i = 0
        for j in batch:
            n = len(j.rows)
            j.future.set_result(JobOutput(wav[i : i + n].clone(), mel[i : i + n].clone(), started - j.enqueued,
                                          len(prompts)))
            i += n
        self.finished += len(batch)
        log.debug("batch of %d sounds from %d requests in %.2f s", len(prompts), len(batch), took)
