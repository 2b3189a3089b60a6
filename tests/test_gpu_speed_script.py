"""experiments/gpu_speed_and_train.sh --smoke: the GPU run of issue 22 end to end on tiny data, on the CPU."""

import json
import os
import subprocess
import tarfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_smoke_run_trains_benchmarks_and_returns_split_results(tmp_path):
    out = tmp_path / "out"
    env = {**os.environ, "SMOKE": "1", "OUT_DIR": str(out), "OMP_NUM_THREADS": "1"}
    p = subprocess.run(["bash", str(REPO / "experiments" / "gpu_speed_and_train.sh")], env=env, capture_output=True,
                       text=True, timeout=900)
    assert p.returncode == 0, p.stdout[-3000:] + p.stderr[-3000:]
    files = sorted(out.iterdir())
    assert len(files) <= 8 and all(f.stat().st_size <= 16 * 2**20 for f in files)
    parts = sorted(out.glob("results.tar.part-*"))
    assert parts
    joined = tmp_path / "results.tar"
    joined.write_bytes(b"".join(f.read_bytes() for f in parts))
    with tarfile.open(joined) as t:
        t.extractall(tmp_path / "x")
    res = tmp_path / "x" / "results"
    summary = json.loads((res / "summary.json").read_text())
    train = summary["train"]
    assert train["exit_codes"] == {"gpt_columns": 0, "gpt_flat": 0, "vocos": 0}
    assert train["gpt_columns"]["val"] and train["gpt_flat"]["val"] and train["vocos"]["val"]
    cfg = json.loads((res / "gpt_columns" / "gpt" / "config.json").read_text())
    assert cfg["class"] == "ColumnGPT"
    assert json.loads((res / "vocos" / "vocos" / "config.json").read_text())["class"] == "Vocos"
    bench = (res / "bench.md").read_text()
    for kind, steps in (("flat", 30), ("columns", 10)):  # 1 s = 6 columns x 5 rows; the delay adds 4 steps
        assert f"| tiny | {kind} | {steps} | 1 |" in bench and f"| tiny | {kind} | {steps} | 2 |" in bench
    assert "bench_error" not in summary
