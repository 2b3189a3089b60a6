"""experiments/decoder_detail.py: decoders compared on real clips; the vocoder-only row is the reference itself,
two copies of one decoder score alike, and the detail ratios see smoothing and level."""

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

REPO = Path(__file__).resolve().parents[1]
SCRIPT = REPO / "experiments" / "decoder_detail.py"
VQGAN = REPO / "src" / "vividsound" / "default_model" / "vqgan"

pytestmark = pytest.mark.skipif(importlib.util.find_spec("aisfx") is None, reason="aisfx not installed")


def _script():
    spec = importlib.util.spec_from_file_location("decoder_detail", SCRIPT)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_detail_ratios_see_smoothing_and_level():
    import torch

    g = torch.Generator().manual_seed(0)
    ref = torch.randn(1, 80, 100, generator=g) - 4.0
    dt, df, bias = _script().detail(ref, ref)
    assert (dt, df, bias) == (1.0, 1.0, 0.0)
    smooth_t = torch.nn.functional.avg_pool1d(ref, 5, stride=1, padding=2, count_include_pad=False)
    dt, df, _ = _script().detail(smooth_t, ref)
    assert dt < 0.6 and df < 1.0  # averaging over time removes most frame-to-frame change
    dt, df, bias = _script().detail(ref - 0.5, ref)
    assert dt == pytest.approx(1.0) and df == pytest.approx(1.0) and bias == pytest.approx(-0.5)


def test_decoder_detail_table(tmp_path):
    corpus = tmp_path / "corpus"
    (corpus / "audio").mkdir(parents=True)
    t = np.arange(22050 * 2) / 22050
    rows = []
    for i in range(2):
        x = 0.3 * np.sin(2 * np.pi * (300 + 200 * i) * t)
        x[::4000] += 0.8  # clicks: time detail
        sf.write(corpus / "audio" / f"c{i}.wav", x.astype(np.float32), 22050)
        rows.append({"id": f"c{i}", "audio": f"audio/c{i}.wav", "captions": ["a tone"], "split": "test"})
    (corpus / "manifest.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    out = tmp_path / "table.md"
    res = subprocess.run([sys.executable, str(SCRIPT), "--vqgan", f"a={VQGAN}", "--vqgan", f"b={VQGAN}",
                          "--corpus", str(corpus), "--sample", "2",
                          "--duration", "1", "--out", str(out)], capture_output=True, text=True)
    assert res.returncode == 0, res.stderr[-2000:]
    lines = [ln for ln in out.read_text().splitlines() if ln.startswith("| ") and not ln.startswith("| decoder")]
    cells = {ln.split("|")[1].strip(): [c.strip() for c in ln.split("|")[2:-1]] for ln in lines}
    assert list(cells) == ["vocoder only (reference log-mel)", "a", "b"]
    ref = cells["vocoder only (reference log-mel)"]
    assert ref[:4] == ["–", "1.000", "1.000", "+0.000"]
    assert cells["a"] == cells["b"]  # the same decoder twice: the same numbers
    assert 5 < float(cells["a"][0]) < 60 and float(cells["a"][1]) < 1.0  # a codec round trip loses detail
    res = subprocess.run([sys.executable, str(SCRIPT), "--vqgan", str(VQGAN), "--corpus", str(corpus)],
                         capture_output=True, text=True)
    assert res.returncode != 0 and "NAME=DIR" in res.stderr
