"""Issue 26 against a real ``vividsound serve`` process: abandoned requests, options, ports, timeouts."""

from __future__ import annotations

import json
import socket
import time

import httpx
import pytest

from serve_process import ServeProcess, free_port, post_and_vanish

BODY = json.dumps({"prompt": "a bell rings", "duration": 0.05, "seed": 1}).encode()


def _health(url: str) -> dict:
    return httpx.get(url + "/v1/health", timeout=5).json()


def test_abandoned_requests_leave_the_queue(tiny_model_dir, tmp_path):
    """--max-queue 2 --max-batch 1: two clients that disconnect while queued free their places."""
    with ServeProcess(tiny_model_dir, tmp_path / "out", "--max-queue", "2", "--max-batch", "1",
                      "--batch-window-ms", "0", slow_s=2.0) as srv:
        with httpx.Client(timeout=30) as first:
            import threading

            answers = []
            t = threading.Thread(target=lambda: answers.append(first.post(srv.url + "/v1/generate", content=BODY,
                                                                       headers={"Content-Type": "application/json"})))
            t.start()
            deadline = time.monotonic() + 10
            while not _health(srv.url)["queue"]["busy"]:  # the first request holds the model
                assert time.monotonic() < deadline
                time.sleep(0.05)
            post_and_vanish(srv.port, BODY)
            post_and_vanish(srv.port, BODY)
            time.sleep(1.5)  # the server polls for gone clients every 0.5 s
            q = _health(srv.url)["queue"]
            assert q["pending"] == 0, q  # only live requests are counted
            r = httpx.post(srv.url + "/v1/generate", content=BODY, headers={"Content-Type": "application/json"},
                           timeout=30)
            assert r.status_code == 200, r.text  # not 503: the abandoned ones hold no places
            t.join(30)
            assert answers and answers[0].status_code == 200
        assert _health(srv.url)["queue"]["pending"] == 0
