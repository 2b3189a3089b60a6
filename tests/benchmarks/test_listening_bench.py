"""Smoke test of benchmarks/listening.py on a tiny synthetic test (well under a second)."""

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # the repository root: `benchmarks` package

pytest.importorskip("fastapi")
pytest.importorskip("httpx")

from benchmarks import listening  # noqa: E402


def test_listening_bench_rows():
    res = listening.run(raters=2, pages=2, clips=3, report_raters=2, report_prompts=3, replicates=100)
    assert len(res.save_ms) == 4 and all(t > 0 for t in res.save_ms)
    assert res.report_ratings == 2 * 3 * 3 and res.report_s > 0
    assert res.table().count("\n") == 4  # header, rule, three rows
