"""``vividsound generate -o DIR``: resumable folder output, and torchrun splitting prompts across processes."""

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from vividsound.audio import load_audio, read_audio_metadata
from vividsound.cli import main

PROMPTS = ["rain on a roof", "a dog barks", "thunder far away"]


@pytest.fixture(autouse=True)
def _not_under_torchrun(monkeypatch):
    for k in ("RANK", "WORLD_SIZE", "LOCAL_RANK"):
        monkeypatch.delenv(k, raising=False)


def _args(model, pf, out, *extra):
    return ["generate", "--prompts-file", str(pf), "-o", str(out), "--model", str(model), "--duration", "0.2",
            "--seed", "3", "--num-samples", "2", "--batch-size", "2", "--quiet", *extra]


def _clips(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.glob("*.wav"))}


def test_folder_output_is_resumable_and_equals_single_file_mode(tiny_model_dir, tmp_path, capsys):
    pf = tmp_path / "p.txt"
    pf.write_text("\n".join(PROMPTS) + "\n")
    out = tmp_path / "clips"
    assert main(_args(tiny_model_dir, pf, str(out) + "/")) == 0
    clips = _clips(out)
    assert list(clips) == [f"{i:05d}.wav" for i in range(6)]
    index = [json.loads(line) for line in (out / "index.jsonl").read_text().splitlines()]
    assert [r["prompt"] for r in index] == [p for p in PROMPTS for _ in range(2)]
    assert [r["seed"] for r in index] == [3, 4] * 3
    assert read_audio_metadata(out / "00003.wav")["prompt"] == "a dog barks"
    # The same clips as single-file mode with the same batch size.
    assert main(_args(tiny_model_dir, pf, tmp_path / "one.wav")) == 0
    for i in range(6):
        assert (load_audio(out / f"{i:05d}.wav") == load_audio(tmp_path / f"one_{i}.wav")).all(), i
    capsys.readouterr()

    # Rerun: nothing to do. Then an interrupted run: a missing clip and a leftover partial file.
    assert main(_args(tiny_model_dir, pf, out)) == 0
    assert "0 clip(s) made" in capsys.readouterr().err and _clips(out) == clips
    (out / "00001.wav").unlink()
    (out / ".tmp-abc.wav").write_bytes(b"RIFF partial")
    (out / "00004.wav").rename(out / ".tmp-00004.wav")  # a partial file never counts as finished
    keep = (out / "00000.wav").stat().st_mtime_ns
    assert main(_args(tiny_model_dir, pf, out)) == 0
    assert "2 clip(s) made" in capsys.readouterr().err
    assert (out / "00000.wav").stat().st_mtime_ns == keep  # its batch was remade, the finished file kept
    assert _clips(out) == clips and not list(out.glob(".tmp-*"))


def test_folder_of_another_run_is_an_input_error(tiny_model_dir, tmp_path, capsys):
    pf = tmp_path / "p.txt"
    pf.write_text("rain\nwind\n")
    out = tmp_path / "clips"
    out.mkdir()
    assert main(_args(tiny_model_dir, pf, out, "--num-samples", "1")) == 0
    before = _clips(out)
    capsys.readouterr()
    assert main(_args(tiny_model_dir, pf, out, "--num-samples", "1", "--top-k", "5")) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "holds clips of another run (settings differ" in err[0]
    pf.write_text("rain\nhail\n")
    assert main(_args(tiny_model_dir, pf, out, "--num-samples", "1")) == 2
    assert "prompts" in capsys.readouterr().err
    assert _clips(out) == before
    (tmp_path / "busy").mkdir()
    (tmp_path / "busy" / "notes.txt").write_text("x")
    assert main(_args(tiny_model_dir, pf, tmp_path / "busy")) == 2
    assert "not empty" in capsys.readouterr().err


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_torchrun_two_cpu_processes_give_the_clips_of_one(tiny_model_dir, tmp_path):
    pf = tmp_path / "p.txt"
    pf.write_text("\n".join(PROMPTS) + "\n")
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(Path(__file__).parents[1] / "src")}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_port",
           str(_free_port()), "-m", "vividsound", *_args(tiny_model_dir, pf, tmp_path / "two")]
    r = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=240)
    assert r.returncode == 0, r.stderr[-2000:]
    # 3 batches of 2 rows: batches 0 and 2 to rank 0, batch 1 to rank 1.
    assert "rank 0/2: 4 clip(s) made" in r.stderr and "rank 1/2: 2 clip(s) made" in r.stderr
    # One process with the workers' thread count (torchrun gives each worker OMP_NUM_THREADS=1): the
    # decoder's rounding depends on the thread count, the codes do not.
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        assert main(_args(tiny_model_dir, pf, str(tmp_path / "one") + "/")) == 0
    finally:
        torch.set_num_threads(threads)
    two, one = _clips(tmp_path / "two"), _clips(tmp_path / "one")
    assert len(one) == 6 and two == one  # byte for byte: same samples and metadata
    assert (tmp_path / "two" / "index.jsonl").read_text() == (tmp_path / "one" / "index.jsonl").read_text()


def test_folder_mode_sets_threads_like_single_file_mode(tiny_model_dir, tmp_path):
    # CPU kernels may split sums by thread, so both modes must run with the same thread count.
    import torch

    from vividsound.devices import default_threads

    pf = tmp_path / "p.txt"
    pf.write_text("rain\n")
    before = torch.get_num_threads()
    try:
        torch.set_num_threads(default_threads() + 3)
        assert main(_args(tiny_model_dir, pf, str(tmp_path / "a") + "/", "--num-samples", "1")) == 0
        assert torch.get_num_threads() == default_threads()
        assert main(_args(tiny_model_dir, pf, str(tmp_path / "b") + "/", "--num-samples", "1", "--threads", "1")) == 0
        assert torch.get_num_threads() == 1
    finally:
        torch.set_num_threads(before)
