"""Fixtures for the server tests: apps around the session's tiny random pipeline."""

from __future__ import annotations

from typing import Any, Callable, Iterator

import pytest

from live_helpers import LiveServer

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


@pytest.fixture
def live_server(make_app) -> Callable[..., LiveServer]:
    return lambda **kw: LiveServer(make_app(**kw))
