"""``vividsound train vocos``: adversarial steps run, the mel loss falls, waveform packs round-trip."""

import numpy as np
import pytest
import torch

from train_helpers import metrics, tiny_overrides
from vividsound.checkpoint import load_component
from vividsound.train import load_stage_config, train, write_codes_pack
from vividsound.train.data import DataError
from vividsound.train.vocos import read_wave_pack

TINY_VOCOS = ["model.dim=16", "model.intermediate=32", "model.n_layers=2", "discriminator.periods=[2,3]",
              "discriminator.period_channels=[4,8]", "discriminator.resolutions=[[256,64],[512,128]]",
              "discriminator.resolution_channels=4", "data.crop_frames=8"]


def test_vocos_runs_with_discriminators_and_exports(corpus, shared_cache, tmp_path):
    run = tmp_path / "run"
    train("vocos", None, run, overrides=tiny_overrides(corpus, shared_cache, steps=3) + TINY_VOCOS +
          ["loss.disc_start=1"])
    m = metrics(run)
    assert "train/d_loss" not in m[0] and "train/d_loss" in m[1] and "train/feature_matching" in m[2]
    voc = load_component(run / "export" / "vocos", "Vocos")
    assert voc(torch.randn(1, 80, 10) - 5).shape == (1, 2560)
    assert load_component(run / "export" / "discriminator", "VocosDiscriminator").config.periods == (2, 3)


def test_vocos_mel_loss_falls_on_one_batch(one_batch, tmp_path):
    run = tmp_path / "run"
    train("vocos", None, run, overrides=tiny_overrides(one_batch, tmp_path / "c", steps=40, lr=0.01) + TINY_VOCOS
          + ["loss.disc_start=1000", "train.batch_size=4"])
    m = metrics(run)
    assert m[-1]["train/mel_l1"] < 0.6 * m[0]["train/mel_l1"], (m[0], m[-1])


def test_waveform_pack_round_trip_and_training_from_it(corpus, shared_cache, tmp_path):
    base = tiny_overrides(corpus, shared_cache, steps=2) + TINY_VOCOS + ["pack_seconds=0.5"]
    path = write_codes_pack("vocos", None, tmp_path / "w", tmp_path / "wave.npz", overrides=base)
    items, waves = read_wave_pack(path, 22050)
    cfg = load_stage_config("vocos", None, base)
    assert {it.split for it in items} == {"train", "val"}
    n = round(0.5 * 22050 / 256) * 256
    assert all(len(w) == n and w.dtype == np.float32 and np.abs(w).max() <= 1 for w in waves.values())
    assert cfg.pack_mb == 20.0
    # a pack over its budget keeps only what fits (validation items first)
    small = write_codes_pack("vocos", None, tmp_path / "w", tmp_path / "small.npz",
                             overrides=base + [f"pack_mb={(3 * n * 2 + 10) / 1e6}"])
    got, _ = read_wave_pack(small, 22050)
    assert len(got) == 3 and got[0].split == "val"
    run = tmp_path / "run"
    train("vocos", None, run, overrides=base + [f"pack={path}", "data.manifest=", "loss.disc_start=1"])
    assert "train/d_loss" in metrics(run)[-1]
    with pytest.raises(DataError, match="Hz"):
        read_wave_pack(path, 16000)
