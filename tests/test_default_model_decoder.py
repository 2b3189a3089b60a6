"""The shipped VQGAN's decoder and long grids (reads the shipped weights, 6 MB).

Its decoder was trained on 1.5 s crops; with whole-grid group-norm statistics a 10 s grid decodes one sound
~3 nats (~25 dB) louder than a 4 s grid does. ``decode_norm_columns`` (sliding-span statistics) keeps long
clips at their level; whether the shipped config turns it on is docs/MODEL_CARD.md's call.
"""

import dataclasses
from pathlib import Path

import numpy as np
import pytest
import torch

import vividsound
from vividsound.audio import MelSpectrogram
from vividsound.checkpoint import load_component
from vividsound.train import load_stage_config

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def shipped_vqgan():
    return load_component(Path(vividsound.__file__).parent / "default_model" / "vqgan").float().eval()


def _peak_after_coding(vq, seconds: int, gain_db: float) -> float:
    """Largest decoded log-mel value over a 1 s harmonic tone placed at 0.5 s in a ``seconds``-long clip."""
    sr = vq.config.mel.sample_rate
    t = np.arange(sr) / sr
    tone = sum(np.sin(2 * np.pi * 440 * k * t) / k for k in range(1, 6)) * np.exp(-3 * t)
    wav = np.zeros(seconds * sr, np.float32)
    wav[sr // 2: sr // 2 + sr] = tone / np.abs(tone).max() * 10 ** (gain_db / 20)
    with torch.no_grad():
        mel = MelSpectrogram(vq.config.mel)(torch.from_numpy(wav)[None])
        mel = mel[..., : mel.shape[-1] // vq.frames_per_column * vq.frames_per_column]
        out = vq.decode_codes(vq.encode(mel).indices)
    hop = vq.config.mel.hop_length
    return float(out[..., sr // 2 // hop: 3 * sr // 2 // hop].max())


def test_shipped_vqgan_decodes_as_the_default_config_says(shipped_vqgan):
    cfg = load_stage_config("vqgan", ROOT / "configs" / "default" / "vqgan.yaml").model
    assert shipped_vqgan.config.decode_norm_columns == cfg.decode_norm_columns


@pytest.mark.parametrize("gain_db", [-6.0, -26.0])
def test_a_long_clip_decodes_at_the_level_of_a_short_one_with_a_span(shipped_vqgan, gain_db):
    def with_span(columns):
        vq = type(shipped_vqgan)(dataclasses.replace(shipped_vqgan.config, decode_norm_columns=columns)).eval()
        vq.load_state_dict(shipped_vqgan.state_dict())
        return vq

    spanned, whole = with_span(24), with_span(0)
    short = _peak_after_coding(whole, 4, gain_db)
    assert _peak_after_coding(spanned, 4, gain_db) == short  # a 4 s grid (22 columns) is not affected
    assert abs(_peak_after_coding(spanned, 10, gain_db) - short) < 0.5
    # the defect the span fixes: whole-grid statistics make the 10 s clip far louder
    assert _peak_after_coding(whole, 10, gain_db) - short > 1.2
