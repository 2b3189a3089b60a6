"""Queueing, micro-batching, queue-full answers and per-request timeouts."""

from __future__ import annotations

import asyncio
import json
import threading
from typing import Any

import httpx
import pytest

from vividsound.server.app import create_app
from vividsound.server.config import ServerConfig

REQ = {"prompt": "a dog barks", "duration": 0.05, "seed": 1, "response": "json"}


class GatedModel:
    """The tiny pipeline, but every model call waits until the test opens the gate."""

    def __init__(self, tts: Any) -> None:
        self._tts = tts
        self.gate = threading.Event()
        self.calls: list[int] = []  # sounds per model call

    def __getattr__(self, name: str) -> Any:
        return getattr(self._tts, name)

    def sample_codes(self, prompts, seeds, columns, settings, on_token=None):
        self.calls.append(len(prompts))
        if not self.gate.wait(30):
            raise RuntimeError("test gate never opened")
        return self._tts.sample_codes(prompts, seeds, columns, settings, on_token)


async def _until(cond, timeout: float = 10.0) -> None:
    loop = asyncio.get_running_loop()
    end = loop.time() + timeout
    while not cond():
        if loop.time() > end:
            raise AssertionError("condition not reached")
        await asyncio.sleep(0.01)


def _run(app, scenario):
    async def main():
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test", timeout=60) as c:
            try:
                return await scenario(c)
            finally:
                app.state.batcher.stop()

    return asyncio.run(main())


def test_compatible_requests_share_one_model_call_and_match_solo_audio(tiny_tts, tmp_path):
    model = GatedModel(tiny_tts)
    app = create_app(model, ServerConfig(output_dir=tmp_path / "out", max_batch_rows=8, batch_window_ms=0))
    batcher = app.state.batcher

    async def scenario(c):
        first = asyncio.create_task(c.post("/v1/generate", json={**REQ, "prompt": "warm up"}))
        await _until(lambda: batcher.busy)
        same = [asyncio.create_task(c.post("/v1/generate", json={**REQ, "prompt": p, "seed": s}))
                for p, s in (("rain on a roof", 3), ("a dog barks", 1), ("birds sing", 9))]
        other = asyncio.create_task(c.post("/v1/generate", json={**REQ, "temperature": 0.5}))
        await _until(lambda: batcher.pending == 4)
        model.gate.set()
        rs = await asyncio.gather(first, *same, other)
        # The same request alone afterwards (a batch of one).
        solo = await c.post("/v1/generate", json={**REQ, "prompt": "rain on a roof", "seed": 3})
        return rs, solo

    rs, solo = _run(app, scenario)
    assert [r.status_code for r in rs] == [200] * 5
    assert model.calls[:3] == [1, 3, 1], model.calls  # warm-up, the three compatible ones, the odd one
    assert [r.json()["batch_rows"] for r in rs] == [1, 3, 3, 3, 1]
    import numpy as np
    import soundfile as sf

    batched, _ = sf.read(app.state.store.get(rs[1].json()["results"][0]["id"]).audio, dtype="int16")
    alone, _ = sf.read(app.state.store.get(solo.json()["results"][0]["id"]).audio, dtype="int16")
    # Per-sound seeds: batching changes speed, not the sound (same codes; float sums in a batch of 3
    # may round differently from a batch of 1, so allow a few 16-bit steps, far below audibility).
    diff = np.abs(batched.astype(np.int32) - alone.astype(np.int32))
    assert diff.max() <= 8, diff.max()
    assert np.abs(alone).max() > 100  # not silence


def test_full_queue_answers_503_with_retry_after(tiny_tts, tmp_path):
    model = GatedModel(tiny_tts)
    app = create_app(model, ServerConfig(output_dir=tmp_path / "out", max_queue=2, max_batch_rows=1,
                                         batch_window_ms=0))
    batcher = app.state.batcher

    async def scenario(c):
        running = asyncio.create_task(c.post("/v1/generate", json=REQ))
        await _until(lambda: batcher.busy)
        queued = [asyncio.create_task(c.post("/v1/generate", json={**REQ, "seed": s})) for s in (2, 3)]
        await _until(lambda: batcher.pending == 2)
        refused = await c.post("/v1/generate", json={**REQ, "seed": 4})
        health = (await c.get("/v1/health")).json()
        model.gate.set()
        done = await asyncio.gather(running, *queued)
        after = await c.post("/v1/generate", json={**REQ, "seed": 5})
        return refused, health, done, after

    refused, health, done, after = _run(app, scenario)
    assert refused.status_code == 503
    assert int(refused.headers["retry-after"]) >= 1
    assert "busy" in refused.json()["error"]
    assert health["queue"]["pending"] == 2 and health["queue"]["busy"] is True
    assert [r.status_code for r in done] == [200, 200, 200]  # below the limit: no errors
    assert after.status_code == 200


def test_request_time_limit_is_408_and_a_timed_out_job_is_skipped(tiny_tts, tmp_path):
    model = GatedModel(tiny_tts)
    app = create_app(model, ServerConfig(output_dir=tmp_path / "out", timeout_s=0.3, max_batch_rows=1,
                                         batch_window_ms=0))
    batcher = app.state.batcher

    async def scenario(c):
        first = asyncio.create_task(c.post("/v1/generate", json=REQ))
        await _until(lambda: batcher.busy)
        second = await c.post("/v1/generate", json={**REQ, "seed": 2})  # waits in the queue, times out
        r1 = await first
        model.gate.set()
        await _until(lambda: not batcher.busy and batcher.pending == 0)
        later = await c.post("/v1/generate", json={**REQ, "seed": 3})
        return r1, second, later

    r1, second, later = _run(app, scenario)
    assert r1.status_code == 408 and second.status_code == 408
    assert "0.3 s" in second.json()["error"]
    # The queued job was dropped, never generated: model calls are the first (running) one and the last.
    assert model.calls == [1, 1]
    assert later.status_code in (200, 408)  # 0.3 s may be too short for a cold CPU; it must not hang


def test_a_client_that_leaves_frees_its_queue_place(tiny_tts, tmp_path):
    model = GatedModel(tiny_tts)
    app = create_app(model, ServerConfig(output_dir=tmp_path / "out", max_batch_rows=1, batch_window_ms=0))
    batcher = app.state.batcher

    async def leaving_client() -> list[dict]:
        """A raw ASGI request whose client disconnects while the request waits in the queue."""
        body = json.dumps({**REQ, "seed": 2}).encode()
        gone = asyncio.Event()
        sent: list[dict] = []
        first = True

        async def receive():
            nonlocal first
            if first:
                first = False
                return {"type": "http.request", "body": body, "more_body": False}
            await gone.wait()
            return {"type": "http.disconnect"}

        async def send(message):
            sent.append(message)

        scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "POST",
                 "scheme": "http", "path": "/v1/generate", "raw_path": b"/v1/generate", "query_string": b"",
                 "root_path": "", "headers": [(b"content-type", b"application/json"), (b"host", b"test")],
                 "client": ("127.0.0.1", 5000), "server": ("127.0.0.1", 80)}
        task = asyncio.create_task(app(scope, receive, send))
        await _until(lambda: batcher.pending == 1)
        gone.set()
        await asyncio.wait_for(task, 10)
        return sent

    async def scenario(c):
        running = asyncio.create_task(c.post("/v1/generate", json=REQ))
        await _until(lambda: batcher.busy)
        sent = await leaving_client()
        model.gate.set()
        return sent, await running

    sent, running = _run(app, scenario)
    assert running.status_code == 200
    assert sent[0]["status"] == 408
    assert model.calls == [1]  # the abandoned request never reached the model


def test_generation_failure_is_reported_not_hung(tiny_tts, tmp_path):
    class Broken(GatedModel):
        def sample_codes(self, *a, **k):
            raise RuntimeError("out of memory (simulated)")

    app = create_app(Broken(tiny_tts), ServerConfig(output_dir=tmp_path / "out"))

    async def scenario(c):
        return await c.post("/v1/generate", json=REQ)

    r = _run(app, scenario)
    assert r.status_code == 500 and "RuntimeError" in r.json()["error"]


def test_batcher_config_errors():
    from vividsound.errors import ConfigError

    with pytest.raises(ConfigError, match="max_queue"):
        ServerConfig(max_queue=0)
    with pytest.raises(ConfigError, match="timeout_s"):
        ServerConfig(timeout_s=0)
    with pytest.raises(ConfigError, match="at least 12"):
        ServerConfig(api_key="short")
