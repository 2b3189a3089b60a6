"""The aiSFX network loads with weights_only=True and gives deterministic, content-dependent outputs."""

import importlib.util
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from vividsound.errors import CheckpointError

# The weights come from the aisfx package (CI installs it: `pip install --no-deps aisfx==0.1.2`); the front
# end is our own code and is tested without it.
needs_weights = pytest.mark.skipif(importlib.util.find_spec("aisfx") is None, reason="aisfx not installed")
GOLDEN = Path(__file__).resolve().parent / "golden"

SR = 22050


def _tone(freq: float, seconds: float = 3.0) -> torch.Tensor:
    t = np.arange(int(SR * seconds)) / SR
    return torch.from_numpy((0.3 * np.sin(2 * np.pi * freq * t)).astype(np.float32))


@pytest.fixture(scope="module")
def model():
    if importlib.util.find_spec("aisfx") is None:
        pytest.skip("aisfx not installed")
    from vividsound.eval.aisfx import load_aisfx

    return load_aisfx()


def test_loads_all_heads(model):
    assert model.heads["ucsMixed"] == 69  # the UCS category head
    assert len(model.heads) == 9


def test_deterministic_embeddings(model):
    x = torch.stack([_tone(440.0), _tone(2000.0)])
    a = model.embed_audio(x, SR)
    b = model.embed_audio(x.clone(), SR)
    assert a.embedding.shape == (2, 512)
    assert torch.equal(a.embedding, b.embedding)
    for name, p in a.probs.items():
        assert p.shape == (2, model.heads[name])
        assert torch.allclose(p.sum(dim=1), torch.ones(2), atol=1e-5)
    # the two tones differ, so their embeddings must too; a silent-ish net would fail this
    assert (a.embedding[0] - a.embedding[1]).abs().max() > 1e-2
    assert a.embedding.abs().sum() > 0


def test_short_clip_is_padded_to_one_block(model):
    out = model.embed_audio([_tone(440.0, 0.5)], SR)
    assert out.embedding.shape == (1, 512) and torch.isfinite(out.embedding).all()


def test_front_end_shape_and_range():
    from vividsound.eval.aisfx import aisfx_mel

    spec = aisfx_mel(_tone(440.0, 2.0), SR)
    # 2 s at 44.1 kHz = 88200 samples -> 1 + 88200 // 1024 = 87 centred frames of 96 bands
    assert spec.shape == (87, 96)
    assert 0.0 <= float(spec.min()) and float(spec.max()) <= 1.2


def test_front_end_matches_librosa_path():
    # golden values written once by librosa 0.11.0, the package's own front end (tests/eval/golden/make_golden.py)
    from vividsound.eval.aisfx import LOG_MAX, aisfx_mel, aisfx_mel_filterbank

    sys.path.insert(0, str(GOLDEN))
    try:
        from make_golden import golden_signal
    finally:
        sys.path.remove(str(GOLDEN))
    g = np.load(GOLDEN / "aisfx_librosa.npz")
    assert np.abs(g["filterbank"] - aisfx_mel_filterbank()).max() < 1e-6
    ref = np.log10(g["mel_power"] * 1e4 + 1) / LOG_MAX
    assert np.abs(aisfx_mel(golden_signal(), 44100).numpy() - ref).max() < 1e-4


def test_matches_the_package_network(model):
    try:
        from aisfx.models.cnn2d import CrossNet, EmbeddingNet
    except Exception as e:  # the package's own imports may not fit this environment
        pytest.skip(f"aisfx network not importable: {e}")
    from vividsound.eval.aisfx import _blocks, _safe_load, aisfx_mel, default_weights_path

    state, ds = _safe_load(default_weights_path())
    ref = CrossNet(EmbeddingNet("max", 3, 1, 64), ds, "cpu")
    ref.load_state_dict(state)
    ref.eval()
    blocks = _blocks(aisfx_mel(_tone(440.0, 4.0), SR))
    with torch.no_grad():
        assert torch.allclose(ref.get_embedding(blocks), model.forward_blocks(blocks)[0], atol=1e-5)


@needs_weights
def test_unreadable_weights_are_a_clear_error(tmp_path):
    from vividsound.eval.aisfx import load_aisfx

    bad = tmp_path / "checkpoint.pth"
    bad.write_bytes(b"not a checkpoint")
    with pytest.raises(CheckpointError, match="cannot load aisfx weights"):
        load_aisfx(bad)
    with pytest.raises(CheckpointError, match="not found"):
        load_aisfx(tmp_path / "missing.pth")
