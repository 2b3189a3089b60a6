"""Smoke tests of the benchmark scripts on tiny configs (seconds): right rows, positive timings."""

import sys
from pathlib import Path

import numpy as np
import pytest
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # the repository root: `benchmarks` package

from benchmarks import generate_cpu, generate_gpu, sampling  # noqa: E402


@pytest.fixture(autouse=True)
def _one_thread():
    n = torch.get_num_threads()
    torch.set_num_threads(1)  # tiny ops: one thread avoids OpenMP stalls on a busy machine
    yield
    torch.set_num_threads(n)


def test_sampling_rows_and_token_checks():
    pytest.importorskip("transformers")
    res = sampling.run("tiny", "cpu", batch_sizes=(1, 2), repeats=1, naive_max_batch=1, candidates=True,
                       log=lambda *_: None)
    got = [(r.sampler, r.batch) for r in res.rows]
    samplers = ["ours", "hf-gpt2 generate", "naive (recompute)", sampling.ICDF, "ours, bf16 weights",
                "ours, int8 dynamic Linear"]
    want = [(s, b) for b in (1, 2) for s in samplers if not (s.startswith("naive") and b > 1)]
    assert got == want
    assert all(t > 0 for r in res.rows for t in r.times)
    assert all(r.per_clip > 0 and r.clips_per_minute > 0 for r in res.rows)
    assert "fp32, batch 1: ours == naive loop tokens for the same seeds: True" in res.checks
    assert any("Hugging Face greedy == ours with top-k 1" in c and ": 100 % of tokens" in c for c in res.checks)
    table = res.table()
    assert table.count("\n") == 1 + len(res.rows)  # header, rule, one line per row


def test_naive_loop_equals_ours():
    torch.manual_seed(0)
    gpt = sampling.ConditionalGPT(sampling.CONFIGS["tiny"]).eval()
    cond = torch.randn(3, 4, 16)
    mask = torch.tensor([[1, 1, 0, 0], [1, 1, 1, 1], [0, 0, 0, 0]], dtype=torch.bool)  # short, full, null prompt
    a = sampling.naive_generate(gpt, cond, mask, 15, seeds=[3, 4, 5], top_k=10)
    b = gpt.generate(cond, mask, 15, seeds=[3, 4, 5], top_k=10)
    assert torch.equal(a, b)


def test_sampling_main_writes_markdown(tmp_path):
    out = tmp_path / "s.md"
    sampling.main(["--config", "tiny", "--batch-sizes", "1", "--repeats", "1", "--no-hf", "--threads", "1",
                   "--out", str(out)])
    text = out.read_text()
    assert "| fp32 | ours | 1 |" in text and "| fp32 | naive (recompute) | 1 |" in text
    assert "torch " + torch.__version__ in text


def test_generate_cpu_stages(tmp_path):
    res = generate_cpu.run("tiny", duration=0.5, repeats=1, variants=True, log=lambda *_: None)
    assert set(res.stages) == {"text encoding", "GPT sampling", "VQGAN decoding", "vocoder:melgan", "vocoder:griffinlim"}
    assert all(t > 0 for ts in res.stages.values() for t in ts)
    table = res.table()
    assert "| melgan |" in table and "| griffinlim |" in table
    stages = {v[0] for v in res.variants}
    assert {"GPT sampling", "VQGAN decoding", "vocoder"} <= stages
    assert all(t > 0 for v in res.variants for t in v[2])


def test_threads_cpu_children():
    from benchmarks import threads_cpu

    rows = threads_cpu.run("tiny", settings=((1, None), (1, "PASSIVE")), tokens=5, repeats=1, timeout=120,
                           log=lambda *_: None)
    assert [(r["threads"], r["policy"]) for r in rows] == [(1, "(default)"), (1, "PASSIVE")]
    assert all(r["wall"] > 0 and r["cpu"] > 0 for r in rows)
    assert threads_cpu.table(rows).count("\n") == 3


def test_icdf_candidate_is_per_row_and_greedy_at_top_k_1():
    torch.manual_seed(0)
    gpt = sampling.ConditionalGPT(sampling.CONFIGS["tiny"]).eval()
    cond, mask = torch.randn(3, 4, 16), torch.ones(3, 4, dtype=torch.bool)
    both = sampling.icdf_generate(gpt, cond, mask, 12, seeds=[5, 6, 7], top_k=20)
    alone = sampling.icdf_generate(gpt, cond[1:2], mask[1:2], 12, seeds=[6], top_k=20)
    assert torch.equal(both[1:2], alone)  # a row depends on its own seed only
    assert torch.equal(sampling.icdf_generate(gpt, cond, mask, 12, seeds=[5, 6, 7], top_k=1),
                       gpt.generate(cond, mask, 12, seeds=[5, 6, 7], top_k=1))
    assert int(both.min()) >= 0 and int(both.max()) < gpt.config.vocab_size


def test_icdf_candidate_draws_from_the_top_k_softmax():
    torch.manual_seed(1)
    gpt = sampling.ConditionalGPT(sampling.CONFIGS["tiny"]).eval()
    n, k = 20000, 8
    cond, mask = torch.randn(1, 4, 16).expand(n, -1, -1), torch.ones(n, 4, dtype=torch.bool)
    with torch.no_grad():
        logits = gpt(torch.zeros(1, 1, dtype=torch.long), cond[:1], mask[:1])[0, 0] * 20  # sharpen
    gpt.head.weight.data *= 20
    p = sampling.ConditionalGPT.filter_logits(logits[None], k, None, 1.0).softmax(-1)[0]
    first = sampling.icdf_generate(gpt, cond, mask, 1, seeds=list(range(n)), top_k=k)[:, 0]
    freq = torch.bincount(first, minlength=p.numel()).float() / n
    assert (freq - p).abs().sum() / 2 < 0.03  # total variation
    assert set(first.unique().tolist()) <= set(torch.topk(p, k).indices.tolist())


def test_generate_cpu_model_fp32_vs_int8(tiny_model_dir, tmp_path):
    out = tmp_path / "m.md"
    res = generate_cpu.main(["--model", str(tiny_model_dir), "--duration", "0.3", "--repeats", "2", "--threads", "1",
                             "--vocoders", "griffinlim,melgan", "--out", str(out)])
    assert set(res.runs) == {("fp32", "griffinlim"), ("int8", "griffinlim")}
    assert all(len(runs) == 2 and all(r[s] > 0 for r in runs for s in generate_cpu.MODEL_STAGES)
               for runs in res.runs.values())
    text = out.read_text()
    assert "| griffinlim | fp32 |" in text and "| griffinlim | int8 |" in text
    assert "melgan: not timed" in text and "load average" in text and "torch " + torch.__version__ in text
    assert "int8 tokens equal fp32 tokens" in text
    with pytest.raises(SystemExit):
        generate_cpu.main(["--model", str(tiny_model_dir), "--modes", "fp32,int4"])


def test_generate_gpu_tiny_runs_on_cpu(tmp_path):
    """The GPU text-to-waveform benchmark's code, tiny sizes on the CPU (plain loop only there)."""
    dev = torch.device("cpu")
    tts, notes = generate_gpu.build(None, tmp_path, dev, "tiny")
    cells, checks = generate_gpu.run(tts, dev, [3], repeats=1, duration=1.0, log=lambda *_: None)
    assert [(c.gpt, c.loop, c.batch) for c in cells] == [("fp32", "plain", 1), ("bf16", "plain", 1),
                                                         ("bf16", "plain", 3)]
    for c in cells:
        assert c.seconds > 0 and set(c.stages) == {"text", "GPT", "decode + vocoder"}
        assert sum(generate_gpu.median(v) for v in c.stages.values()) <= c.seconds * 1.5
    text = generate_gpu.report(cells, checks, notes + [generate_gpu.clip_note(tts, 1.0)], dev, "tiny")
    assert "| bf16 | plain | 3 |" in text and "1 s per clip" in text


def test_vocoder_benchmark_rows_and_speedups():
    from benchmarks import vocoder_cpu

    rows = vocoder_cpu.run(["hifigan", "vocos"], [1], repeats=1, seconds=0.5, size="tiny", log=lambda *_: None)
    assert [(r["threads"], r["vocoder"]) for r in rows] == [(1, "hifigan"), (1, "vocos")]
    assert rows[0]["speedup_wall"] == 1.0 and rows[1]["wall"] > 0 and rows[1]["speedup_cpu"] > 0
    assert "| 1 | vocos |" in vocoder_cpu.report(rows, 0.5, "n/a")


def test_columns_benchmark_counts_sequential_steps():
    from benchmarks import columns_cpu

    rows = columns_cpu.run(["tiny"], [1], repeats=1, columns=6, log=lambda *_: None)
    assert {r["gpt"]: r["steps"] for r in rows} == {"flat": 30, "columns": 10}  # 6 x 5 tokens; 6 + 5 - 1 steps
    assert all(r["wall"] > 0 and r["cpu"] >= 0 for r in rows)


def test_editing_paired_interval_brackets_the_mean_and_sees_a_shift():
    from benchmarks.editing import paired_interval

    rng = np.random.default_rng(0)
    a = rng.normal(0.0, 1.0, 200)
    m, lo, hi = paired_interval(a + 0.5, a)  # a constant paired shift: no spread at all
    assert m == pytest.approx(0.5) and lo == pytest.approx(0.5) and hi == pytest.approx(0.5)
    m, lo, hi = paired_interval(a, rng.normal(0.0, 1.0, 200))
    assert lo < m < hi and lo < 0 < hi  # two draws of the same noise: the interval holds zero


@pytest.mark.skipif(__import__("importlib").util.find_spec("aisfx") is None, reason="aisfx not installed")
def test_editing_benchmark_runs_every_section_on_the_tiny_model(tiny_model_dir, tmp_path):
    """benchmarks/editing.py end to end on the tiny pipeline: every section writes its table, and the seams
    are divided by the same clips' own boundaries and by plain clips."""
    import soundfile as sf

    from benchmarks import editing

    refs = tmp_path / "refs"
    refs.mkdir()
    rng = np.random.default_rng(0)
    for name in ("rain_1", "rain_2", "dog_1", "dog_2"):
        sf.write(refs / f"{name}.wav", (0.1 * rng.standard_normal(22050)).astype(np.float32), 22050)
    out = tmp_path / "editing.md"
    rc = editing.main(["--model", str(tiny_model_dir), "--refs", str(refs), "--pairs", "2", "--clip-seconds", "0.6",
                       "--seam-clips", "1", "--vary-clips", "1", "--long-clips", "1", "--long-seconds", "3",
                       "--tries", "2", "--out", str(out)])
    text = out.read_text()
    assert rc == 0
    for heading in ("## Negative prompts", "### Plain prompts", "### Rainy prompts", "## Seams", "## Variations",
                    "## Long sounds"):
        assert heading in text, heading
    seams = [ln for ln in text.splitlines() if ln.startswith("| continuation (the join)") or
             ln.startswith("| long sound (window joins)")]
    assert len(seams) == 2 and all(len(ln.split("|")) == 12 for ln in seams)  # 10 columns
    with pytest.raises(SystemExit, match="negative-sets"):
        editing.main(["--model", str(tiny_model_dir), "--refs", str(refs), "--sections", "negative",
                      "--negative-sets", "snowy", "--out", str(tmp_path / "x.md")])
