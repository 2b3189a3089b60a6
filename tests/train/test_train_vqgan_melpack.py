"""Mel packs: the VQGAN stage trains from one small file exactly as from the corpus it was written from."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from train_helpers import TINY_VQ, tiny_overrides

from vividsound.checkpoint import load_component
from vividsound.train import train, write_pack
from vividsound.train.data import DataError
from vividsound.train.melpack import HIGH, LOW, MelPack, dequantise, quantise


def test_quantisation_error_is_below_half_a_step():
    x = np.linspace(LOW - 1, HIGH + 1, 10_001).astype(np.float32)
    back = dequantise(quantise(x))
    inside = (x >= LOW) & (x <= HIGH)
    step = (HIGH - LOW) / 255
    assert np.abs(back[inside] - x[inside]).max() <= step / 2 + 1e-5
    assert back.min() == pytest.approx(LOW, abs=1e-5) and back.max() == pytest.approx(HIGH, abs=1e-4)


def test_pack_holds_the_cached_mels_and_trains_the_vqgan(corpus, shared_cache, tmp_path, vqgan_dir):
    base = tiny_overrides(corpus, shared_cache, steps=3) + TINY_VQ + ["loss.perceptual_weight=0",
                                                                       "data.crop_frames=64"]
    pack_path = write_pack("vqgan", None, tmp_path / "w", tmp_path / "mels.npz", overrides=base, budget_mb=0.05)
    pack = MelPack.read(pack_path)
    n_train, n_val = len(pack.split("train")), len(pack.split("val"))
    assert n_val == 4 and 0 < n_train < 16  # every val item, then train items up to the budget (625 frames)
    assert pack.mels.shape[1] <= 625 + 64 * 4 and all(int(m["frames"]) <= 64 for m in pack.meta["items"])
    # the pack's mels are the log-mels the stage's own front end computes, to the 8-bit step
    from vividsound.audio import MelConfig, MelSpectrogram, load_audio
    from vividsound.data.manifest import read_manifest

    item = next(it for it in read_manifest(corpus) if it.id == pack.items[0].id)
    ref = MelSpectrogram(MelConfig())(torch.from_numpy(load_audio(item.audio_path(corpus.parent), 22050))[None])[0]
    got, start = pack.get_float(item.id), int(pack.meta["items"][0]["start"])
    assert np.abs(got - ref.numpy()[:, start : start + got.shape[1]]).max() <= (HIGH - LOW) / 255 / 2 + 1e-3
    # a decoder fine-tune from the pack needs no manifest
    run = tmp_path / "run"
    train("vqgan", None, run, overrides=[o for o in base if not o.startswith("data.manifest")]
          + [f"pack={pack_path}", f"init_from={vqgan_dir}", "train_parts=decoder", "loss.disc_start=0"])
    after = load_component(run / "export" / "vqgan", "VQGAN")
    before = load_component(vqgan_dir, "VQGAN")
    assert any(not torch.equal(before.state_dict()[k].float(), v.float()) for k, v in after.state_dict().items()
               if k.startswith("decoder."))


def test_bad_packs_are_refused_in_one_line(corpus, shared_cache, tmp_path):
    (tmp_path / "junk.npz").write_bytes(b"not a zip")
    with pytest.raises(DataError, match="unreadable or corrupt"):
        MelPack.read(tmp_path / "junk.npz")
    with pytest.raises(DataError, match="does not exist"):
        MelPack.read(tmp_path / "none.npz")
    np.savez(tmp_path / "other.npz", meta=np.frombuffer(b'{"format": "x"}', dtype=np.uint8))
    with pytest.raises(DataError, match="not a vividsound mel pack"):
        MelPack.read(tmp_path / "other.npz")
    base = tiny_overrides(corpus, shared_cache) + TINY_VQ + ["loss.perceptual_weight=0", "data.crop_frames=64"]
    with pytest.raises(DataError, match="holds no training item"):
        write_pack("vqgan", None, tmp_path / "w", tmp_path / "tiny.npz", overrides=base, budget_mb=0.001)
    pack = write_pack("vqgan", None, tmp_path / "w", tmp_path / "ok.npz", overrides=base, budget_mb=0.05)
    with pytest.raises(DataError, match="another mel definition"):
        train("vqgan", None, tmp_path / "r", overrides=base + [f"pack={pack}", "model.mel.n_mels=64"])
