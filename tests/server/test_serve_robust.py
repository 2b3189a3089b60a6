"""Issue 26 against a real ``vividsound serve`` process: abandoned requests, option checks, ports, read
timeouts, unparseable bodies, seeds and durations, and a short soak (the long one is marked slow)."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
import time

import httpx
import pytest

from serve_process import SRC, ServeProcess, free_port, post_and_vanish

BODY = json.dumps({"prompt": "a bell rings", "duration": 0.05, "seed": 1}).encode()
JSON = {"Content-Type": "application/json"}
HEADER_TIMEOUT, BODY_TIMEOUT = 1.0, 1.0
MAX_QUEUE = 4


@pytest.fixture(scope="module")
def server(tiny_model_dir, tmp_path_factory):
    """One real server for the module: queue of 4, two sounds per batch, 1 s header and body deadlines."""
    out = tmp_path_factory.mktemp("serve") / "out"
    with ServeProcess(tiny_model_dir, out, "--max-queue", str(MAX_QUEUE), "--max-batch", "2", "--batch-window-ms", "0",
                      "--header-timeout", str(HEADER_TIMEOUT), "--body-timeout", str(BODY_TIMEOUT),
                      "--timeout", "20") as srv:
        yield srv


def _health(url: str) -> dict:
    return httpx.get(url + "/v1/health", timeout=10).json()


def _wait_idle(url: str, seconds: float = 30) -> dict:
    deadline = time.monotonic() + seconds
    while True:
        h = _health(url)
        if h["queue"]["pending"] == 0 and not h["queue"]["busy"]:
            return h
        assert time.monotonic() < deadline, f"the server did not drain: {h}"
        time.sleep(0.1)


def test_abandoned_requests_leave_the_queue(server):
    """Clients that disconnect while queued free their places: a full queue of abandoned requests
    (issue 26 used --max-queue 2 --max-batch 1) no longer answers the next client 503."""
    server.set_slow(2.0)
    try:
        answers: list[httpx.Response] = []
        t = threading.Thread(target=lambda: answers.append(httpx.post(server.url + "/v1/generate", content=BODY,
                                                                      headers=JSON, timeout=30)))
        t.start()
        deadline = time.monotonic() + 10
        while not _health(server.url)["queue"]["busy"]:  # the first request holds the model
            assert time.monotonic() < deadline
            time.sleep(0.05)
        before = _health(server.url)["queue"]
        for _ in range(MAX_QUEUE):
            post_and_vanish(server.port, BODY)
        time.sleep(1.2)  # the server looks for gone clients every 0.5 s
        q = _health(server.url)["queue"]
        assert q["pending"] == 0, q  # only live requests are counted
        assert q["cancelled"] - before["cancelled"] == MAX_QUEUE, q
        r = httpx.post(server.url + "/v1/generate", content=BODY, headers=JSON, timeout=30)
        assert r.status_code == 200, r.text  # not 503: the abandoned ones hold no places
        t.join(30)
        assert answers and answers[0].status_code == 200
    finally:
        server.set_slow(0.0)
    h = _wait_idle(server.url)
    assert h["queue"]["accepted"] == h["queue"]["finished"] + h["queue"]["cancelled"]


def test_slow_headers_are_cut_off_and_the_server_keeps_answering(server):
    """Slow-loris: 40 sockets dribbling their headers are closed after --header-timeout (408)."""
    socks = []
    for _ in range(40):
        s = socket.create_connection(("127.0.0.1", server.port), timeout=10)
        s.sendall(b"POST /v1/generate HTTP/1.1\r\nHost: x\r\n")
        socks.append(s)
    t0 = time.monotonic()
    assert httpx.get(server.url + "/v1/health", timeout=5).status_code == 200  # still answering meanwhile
    for s in socks:
        s.sendall(b"X-Slow: 1\r\n")  # a byte now and then does not extend the deadline
    answers = []
    for s in socks:
        s.settimeout(HEADER_TIMEOUT + 10)
        data = b""
        try:
            while chunk := s.recv(4096):
                data += chunk
        except OSError:
            pass
        answers.append(data)
        s.close()
    waited = time.monotonic() - t0
    assert all(a.startswith(b"HTTP/1.1 408") for a in answers), answers[:2]
    assert waited < HEADER_TIMEOUT + 10


def test_slow_body_gets_408(server):
    s = socket.create_connection(("127.0.0.1", server.port), timeout=10)
    s.sendall(b"POST /v1/generate HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 60\r\n\r\n"
              b'{"prompt": ')
    t0 = time.monotonic()
    s.settimeout(BODY_TIMEOUT + 10)
    data = b""
    while chunk := s.recv(4096):  # the server closes after its answer; headers and body may come apart
        data += chunk
    s.close()
    assert data.startswith(b"HTTP/1.1 408"), data
    assert b"did not arrive within" in data and time.monotonic() - t0 < BODY_TIMEOUT + 5


@pytest.mark.parametrize("body, needle", [
    (b'{"prompt": "caf\xe9"}', "not UTF-8"),
    (b"[" * 100_000 + b"]" * 100_000, "nests too deeply"),
    (b'{"prompt": "a", "duration": NaN}', "duration"),
    (b'{"prompt": "a", "duration": 1e-9}', "duration"),
    (b'{"prompt": "a", "seed": 9223372036854775808}', "seed"),
    (b'{"prompt": "a", "seed": 9223372036854775807, "num_samples": 2}', "exceeds the largest seed"),
])
def test_bad_bodies_are_422_with_one_line(server, body, needle):
    if len(body) > 64 * 1024:
        body = b"[" * 30_000 + b"]" * 30_000  # stay under the body limit (413) to reach the parser
    r = httpx.post(server.url + "/v1/generate", content=body, headers=JSON, timeout=20)
    assert r.status_code == 422, r.text
    assert needle in r.json()["error"] and "\n" not in r.json()["error"]


def _serve(args: list[str], timeout: float = 120) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": f"{SRC}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
    return subprocess.run([sys.executable, "-m", "vividsound", "serve", *args], capture_output=True, text=True,
                          env=env, timeout=timeout)


@pytest.mark.parametrize("args, needle", [
    (["--batch-window-ms", "nan"], "batch_window_ms is nan"),
    (["--timeout", "inf"], "timeout_s is inf"),
    (["--output-dir", "{file}"], "it is a file, not a folder"),
    (["--output-dir", "{file}/sub"], "cannot write results there"),
    (["--port", "{busy}"], "is in use"),
])
def test_bad_serve_setups_fail_in_one_line_before_the_model_loads(args, needle, tmp_path):
    """A real process: exit 2, one line, no 'serving on'; --model names nothing, so reaching the model
    loader would give another error: the option was refused first."""
    (tmp_path / "afile").write_text("x")
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        argv = [a.replace("{file}", str(tmp_path / "afile")).replace("{busy}", str(port)) for a in args]
        if "--port" not in argv:
            argv += ["--port", str(free_port())]
        if "--output-dir" not in argv:
            argv += ["--output-dir", str(tmp_path / "out")]
        r = _serve(["--model", str(tmp_path / "no-model-here"), *argv])
    assert r.returncode == 2, r.stderr
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("vividsound: error:") and needle in lines[0], r.stderr
    assert "serving" not in r.stdout


def test_read_only_output_dir_fails_before_the_model_loads(tmp_path, readonly_dir):
    r = _serve(["--model", str(tmp_path / "no-model-here"), "--output-dir", str(readonly_dir),
                "--port", str(free_port())])
    assert r.returncode == 2 and "cannot write results there" in r.stderr and len(r.stderr.strip().splitlines()) == 1


# ------------------------------------------------------------------------------------------------ soak
def _soak(server: ServeProcess, seconds: float, clients: int = 6, seed: int = 0) -> dict:
    """Clients that make good requests, abandon them, send slow and bad bodies, for ``seconds``."""
    import random

    server.set_slow(0.05)
    url = server.url
    _wait_idle(url)
    httpx.post(url + "/v1/generate", content=BODY, headers=JSON, timeout=30)  # warm-up: first call allocates
    base = _health(url)["queue"]
    rss_start = server.rss_kb()
    counts: dict[str, int] = {}
    lock = threading.Lock()
    peak = [rss_start]
    stop = time.monotonic() + seconds

    def count(key: str) -> None:
        with lock:
            counts[key] = counts.get(key, 0) + 1

    def worker(k: int) -> None:
        rng = random.Random(seed * 100 + k)
        kinds = ["good", "abandon", "bad", "slow_body", "big", "good", "bad"]
        i = 0
        with httpx.Client(timeout=30) as c:
            while time.monotonic() < stop:
                # each client first goes once through every kind (from a different start), then at random
                kind = kinds[(k + i) % len(kinds)] if i < len(kinds) else rng.choice(kinds)
                i += 1
                try:
                    if kind == "good":
                        body = {"prompt": rng.choice(["rain", "a bell", "wind and birds"]),
                                "duration": rng.choice([0.05, 0.1]), "seed": rng.randrange(1000),
                                "response": rng.choice(["auto", "json"])}
                        r = c.post(url + "/v1/generate", json=body)
                        count(f"good {r.status_code}")
                    elif kind == "abandon":
                        post_and_vanish(server.port, BODY)
                        count("abandoned")
                    elif kind == "bad":
                        body = rng.choice([b"{", b'{"prompt": 5}', b'{"prompt": "a", "top_k": -1}', b"\xff\xfe",
                                           b'{"prompt": "a", "extra": 1}', b"[" * 5000 + b"]" * 5000])
                        r = c.post(url + "/v1/generate", content=body, headers=JSON)
                        count(f"bad {r.status_code}")
                    elif kind == "big":
                        r = c.post(url + "/v1/generate", content=b" " * (70 * 1024), headers=JSON)
                        count(f"big {r.status_code}")
                    else:
                        s = socket.create_connection(("127.0.0.1", server.port), timeout=10)
                        s.sendall(b"POST /v1/generate HTTP/1.1\r\nHost: x\r\nContent-Length: 40\r\n\r\n{")
                        if rng.random() < 0.5:
                            s.close()  # gone mid-body
                            count("slow_body gone")
                        else:
                            s.settimeout(BODY_TIMEOUT + 10)
                            data = s.recv(64)
                            s.close()
                            count(f"slow_body {data[9:12].decode() or 'closed'}")
                except httpx.HTTPError as e:
                    count(f"{kind} {type(e).__name__}")

    def sample_memory() -> None:
        while time.monotonic() < stop:
            peak[0] = max(peak[0], server.rss_kb())
            time.sleep(0.25)

    threads = [threading.Thread(target=worker, args=(k,)) for k in range(clients)]
    threads.append(threading.Thread(target=sample_memory))
    for t in threads:
        t.start()
    for t in threads:
        t.join(seconds + 60)
    end = _wait_idle(url)["queue"]
    time.sleep(0.5)
    final = httpx.post(url + "/v1/generate", content=BODY, headers=JSON, timeout=30)
    return {"counts": dict(sorted(counts.items())), "accepted": end["accepted"] - base["accepted"],
            "finished": end["finished"] - base["finished"], "cancelled": end["cancelled"] - base["cancelled"],
            "pending": end["pending"], "rss_start_mb": rss_start / 1024, "rss_peak_mb": peak[0] / 1024,
            "rss_end_mb": server.rss_kb() / 1024, "final_status": final.status_code}


def _check_soak(r: dict) -> None:
    print(json.dumps(r, indent=1))
    c = r["counts"]
    assert r["accepted"] > 0 and r["pending"] == 0
    assert r["accepted"] == r["finished"] + r["cancelled"], r  # every accepted request answered or cancelled
    assert not [k for k in c if k.split()[-1].startswith("5") and k.split()[-1] != "503"], c  # no 500s
    assert all(k.split()[-1] in ("422", "413") for k in c if k.startswith(("bad", "big"))), c
    assert all(k.split()[-1] in ("200", "503", "408") for k in c if k.startswith("good")), c
    assert c.get("good 200", 0) > 0
    assert r["rss_end_mb"] < r["rss_start_mb"] + 100, r  # memory back near its start
    assert r["final_status"] == 200


def test_soak_short(server):
    _check_soak(_soak(server, seconds=12))


@pytest.mark.slow
def test_soak_long(server):
    """The figures in docs/SERVER.md: ``VIVIDSOUND_SOAK_S`` seconds (default 180)."""
    _check_soak(_soak(server, seconds=float(os.environ.get("VIVIDSOUND_SOAK_S", "180")), clients=12))
