"""``vividsound serve``: argument handling, the bind-address rule, and one real start-up."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from vividsound.cli import main
from vividsound.errors import ConfigError
from vividsound.server.config import ServerConfig, check_bind, is_loopback

KEY = "serve-test-key-abcdef"


@pytest.mark.parametrize("host, loop", [("127.0.0.1", True), ("127.8.9.1", True), ("localhost", True),
                                        ("::1", True), ("[::1]", True), ("0.0.0.0", False), ("::", False),
                                        ("192.168.1.5", False), ("example.org", False)])
def test_is_loopback(host, loop):
    assert is_loopback(host) is loop


def test_public_host_needs_a_key():
    check_bind(ServerConfig(host="127.0.0.1"))
    check_bind(ServerConfig(host="0.0.0.0", api_key=KEY))
    with pytest.raises(ConfigError, match="refusing to bind to 0.0.0.0 without an API key"):
        check_bind(ServerConfig(host="0.0.0.0"))


@pytest.fixture
def fake_uvicorn(monkeypatch):
    import uvicorn

    calls = []
    monkeypatch.setattr(uvicorn, "run", lambda app, **kw: calls.append((app, kw)))
    monkeypatch.delenv("VIVIDSOUND_API_KEY", raising=False)
    return calls


def test_serve_refuses_public_host_without_key(fake_uvicorn, tiny_model_dir, capsys):
    assert main(["serve", "--host", "0.0.0.0", "--model", str(tiny_model_dir)]) == 2
    assert "refusing to bind" in capsys.readouterr().err
    assert fake_uvicorn == []


def test_serve_takes_key_from_environment(fake_uvicorn, tiny_model_dir, tmp_path, monkeypatch):
    monkeypatch.setenv("VIVIDSOUND_API_KEY", KEY)
    rc = main(["serve", "--host", "0.0.0.0", "--port", "8123", "--model", str(tiny_model_dir),
               "--output-dir", str(tmp_path / "o"), "--max-queue", "5", "--timeout", "30", "--max-duration", "1"])
    assert rc == 0
    app, kw = fake_uvicorn[0]
    assert kw["host"] == "0.0.0.0" and kw["port"] == 8123
    cfg = app.state.config
    assert cfg.api_key == KEY and cfg.max_queue == 5 and cfg.timeout_s == 30
    assert app.state.limits.max_duration == 1.0 and app.state.store.root == (tmp_path / "o").resolve()


@pytest.mark.parametrize("argv, needle", [
    (["--api-key", "short"], "at least 12"),
    (["--max-queue", "0"], "max_queue"),
    (["--port", "70000"], "port"),
    (["--timeout", "-1"], "timeout_s"),
])
def test_serve_bad_options(fake_uvicorn, tiny_model_dir, argv, needle, capsys):
    assert main(["serve", "--model", str(tiny_model_dir), *argv]) == 2
    assert needle in capsys.readouterr().err


def test_serve_without_a_model_says_so(fake_uvicorn, capsys, tmp_path):
    assert main(["serve", "--model", str(tmp_path / "missing")]) == 2
    assert "model folder not found" in capsys.readouterr().err


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_serve_starts_a_real_server(tiny_model_dir, tmp_path):
    port = _free_port()
    src = Path(__file__).resolve().parents[2] / "src"
    env = {**os.environ, "PYTHONPATH": f"{src}{os.pathsep}{os.environ.get('PYTHONPATH', '')}",
           "VIVIDSOUND_API_KEY": KEY, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
    proc = subprocess.Popen([sys.executable, "-m", "vividsound", "serve", "--port", str(port), "--model",
                             str(tiny_model_dir), "--output-dir", str(tmp_path / "out"), "--log-level", "warning"],
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 90
        while True:
            try:
                r = httpx.get(url + "/v1/health", headers={"X-API-Key": KEY}, timeout=2)
                break
            except httpx.TransportError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    log = proc.stdout.read() if proc.poll() is not None else ""
                    raise AssertionError(f"server did not start: {log}") from None
                time.sleep(0.2)
        assert r.status_code == 200 and r.json()["auth"] is True
        assert httpx.get(url + "/v1/health", timeout=5).status_code == 401
        g = httpx.post(url + "/v1/generate", json={"prompt": "a bell", "duration": 0.05, "seed": 2},
                       headers={"Authorization": f"Bearer {KEY}"}, timeout=60)
        assert g.status_code == 200 and g.content[:4] == b"RIFF"
        assert "server" not in g.headers  # uvicorn's banner header is off
    finally:
        proc.terminate()
        out, _ = proc.communicate(timeout=30)
    assert proc.returncode in (0, -15), out
    assert f"serving tiny-random on http://127.0.0.1:{port}/" in out
