"""Fixtures for the server tests: apps around the session's tiny random pipeline."""

from __future__ import annotations

import socket
import threading
import time
from typing import Any, Callable, Iterator

import pytest

pytest.importorskip("fastapi")
pytest.importorskip("httpx")


@pytest.fixture
def make_app(tiny_tts, tmp_path) -> Callable[..., Any]:
    """``make_app(**ServerConfig fields)`` -> a FastAPI app writing into this test's tmp folder."""
    from vividsound.server.app import create_app
    from vividsound.server.config import ServerConfig

    def make(**kw: Any):
        kw.setdefault("output_dir", tmp_path / "results")
        kw.setdefault("batch_window_ms", 0.0)
        return create_app(tiny_tts, ServerConfig(**kw))

    return make


@pytest.fixture
def client(make_app) -> Iterator[Any]:
    from fastapi.testclient import TestClient

    with TestClient(make_app()) as c:
        yield c


class LiveServer:
    """uvicorn serving ``app`` on 127.0.0.1 in a background thread (for the browser test)."""

    def __init__(self, app: Any) -> None:
        import uvicorn

        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        self.server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning"))
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> "LiveServer":
        self.thread.start()
        deadline = time.monotonic() + 20
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("uvicorn did not start")
            time.sleep(0.02)
        return self

    def __exit__(self, *exc: Any) -> None:
        self.server.should_exit = True
        self.thread.join(20)


@pytest.fixture
def live_server(make_app) -> Callable[..., LiveServer]:
    return lambda **kw: LiveServer(make_app(**kw))
