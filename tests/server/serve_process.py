"""Run ``vividsound serve`` as a real process for the robustness tests, optionally with a slow model.

``python serve_process.py SLOW_FILE ARGS...`` runs ``vividsound serve ARGS...`` (the real CLI, uvicorn and
sockets) after making every model call wait the number of seconds written in SLOW_FILE (read at each
call, so a test can change it), to hold requests in the queue long enough to disconnect from them.
``ServeProcess`` starts it and waits for the health route.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

SRC = Path(__file__).resolve().parents[2] / "src"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class ServeProcess:
    """``vividsound serve`` in a subprocess on a free loopback port; a context manager."""

    def __init__(self, model: Path, out: Path, *args: str, slow_s: float = 0.0, port: int | None = None,
                 env: dict[str, str] | None = None) -> None:
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.slow_file = Path(out).parent / f"slow-{self.port}.txt"
        self.slow_file.parent.mkdir(parents=True, exist_ok=True)
        self.set_slow(slow_s)
        self.argv = [sys.executable, __file__, str(self.slow_file), "serve", "--port", str(self.port), "--model", str(model),
                     "--output-dir", str(out), "--log-level", "warning", *args]
        self.env = {**os.environ, "PYTHONPATH": f"{SRC}{os.pathsep}{os.environ.get('PYTHONPATH', '')}",
                    "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "OMP_NUM_THREADS": "1", **(env or {})}
        self.proc: subprocess.Popen | None = None
        self.output = ""

    def __enter__(self) -> "ServeProcess":
        import httpx

        self.proc = subprocess.Popen(self.argv, env=self.env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                     text=True)
        deadline = time.monotonic() + 300  # a loaded 2-core machine can take minutes to import torch
        while True:
            try:
                httpx.get(self.url + "/v1/health", timeout=2)
                return self
            except httpx.TransportError:
                if self.proc.poll() is not None or time.monotonic() > deadline:
                    self.stop()
                    raise AssertionError(f"server did not start: {self.output}") from None
                time.sleep(0.1)

    def set_slow(self, seconds: float) -> None:
        """Make each model call of the running server wait this long first."""
        self.slow_file.write_text(str(seconds))

    def rss_kb(self) -> int:
        """Resident memory of the server process (Linux /proc), in kB."""
        for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
        return 0

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
        if self.proc is not None:
            try:
                out, _ = self.proc.communicate(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                out, _ = self.proc.communicate()
            self.output = out or ""

    def __exit__(self, *exc: Any) -> None:
        self.stop()


def post_and_vanish(port: int, body: bytes, path: str = "/v1/generate") -> None:
    """Send a whole POST request on a raw socket, then close it without reading the answer."""
    s = socket.create_connection(("127.0.0.1", port), timeout=5)
    s.sendall(b"POST " + path.encode() + b" HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
              b"Content-Length: " + str(len(body)).encode() + b"\r\n\r\n" + body)
    time.sleep(0.05)
    s.close()


if __name__ == "__main__":
    slow_file = Path(sys.argv[1])
    from vividsound.pipeline import TextToSound

    real = TextToSound.sample_codes

    def sample_codes(self, *a, **kw):
        try:
            time.sleep(float(slow_file.read_text() or 0))
        except (OSError, ValueError):
            pass
        return real(self, *a, **kw)

    TextToSound.sample_codes = sample_codes
    from vividsound.cli import main

    sys.exit(main(sys.argv[2:]))
