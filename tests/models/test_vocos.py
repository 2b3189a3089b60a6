"""The Vocos-style vocoder: the iSTFT head inverts the mel front end's framing, lengths, save/load, pipeline."""

import json

import pytest
import torch

from vividsound.audio import MelConfig
from vividsound.checkpoint import load_component, save_component
from vividsound.errors import CheckpointError
from vividsound.models.vocos import Vocos, VocosConfig, istft_same
from vividsound.models.vocos_discriminator import VocosDiscriminator, VocosDiscriminatorConfig

TINY = dict(dim=16, intermediate=32, n_layers=2)


def test_istft_same_inverts_the_mel_front_end_framing():
    """STFT framed like the mel (reflect pad (n_fft - hop) / 2, center=False, Hann) -> istft_same = the input."""
    mel = MelConfig()
    n_fft, hop = mel.n_fft, mel.hop_length
    g = torch.Generator().manual_seed(0)
    wav = torch.randn(2, 40 * hop, generator=g) * 0.1
    pad = (n_fft - hop) // 2
    win = torch.hann_window(n_fft)
    x = torch.nn.functional.pad(wav[:, None], (pad, pad), mode="reflect")[:, 0]
    spec = torch.stft(x, n_fft, hop, window=win, center=False, return_complex=True)  # (B, F, T)
    assert spec.shape[-1] == 40
    back = istft_same(spec, n_fft, hop, win)
    assert back.shape == wav.shape
    assert torch.allclose(back, wav, atol=1e-5)


@pytest.mark.parametrize("frames", [1, 7, 32])
def test_output_length_is_hop_times_frames(frames):
    voc = Vocos(VocosConfig(**TINY)).eval()
    with torch.no_grad():
        y = voc(torch.randn(2, 80, frames) - 5)
    assert y.shape == (2, frames * 256) and torch.isfinite(y).all() and y.abs().max() <= 1


def test_wrong_mel_width_is_rejected():
    with pytest.raises(ValueError, match="80"):
        Vocos(VocosConfig(**TINY))(torch.randn(1, 64, 10))


def test_save_load_round_trip(tmp_path):
    torch.manual_seed(0)
    voc = Vocos(VocosConfig(**TINY)).eval()
    save_component(voc, tmp_path / "vocos")
    back = load_component(tmp_path / "vocos", "Vocos")
    mel = torch.randn(1, 80, 12) - 5
    with torch.no_grad():
        assert torch.equal(back(mel), voc(mel))
    disc = VocosDiscriminator(VocosDiscriminatorConfig(periods=(2, 3), period_channels=(4, 8), resolution_channels=4))
    save_component(disc, tmp_path / "disc")
    assert load_component(tmp_path / "disc", "VocosDiscriminator").config.periods == (2, 3)


def test_discriminator_returns_layer_outputs_per_discriminator():
    disc = VocosDiscriminator(VocosDiscriminatorConfig(periods=(2, 3), period_channels=(4, 8),
                                                       resolutions=((256, 64),), resolution_channels=4))
    period, res = disc(torch.randn(2, 4000))
    assert len(period) == 2 and len(res) == 1
    assert all(len(o) == 4 for o in period) and len(res[0]) == 6
    assert period[0][-1].shape[:2] == (2, 1) and res[0][-1].shape[:2] == (2, 1)


def test_selectable_by_name_in_the_pipeline(tiny_model_dir, tmp_path):
    import shutil

    from vividsound.pipeline import TextToSound

    folder = tmp_path / "m"
    shutil.copytree(tiny_model_dir, folder)
    with pytest.raises(CheckpointError, match="Vocos has no bundled weights"):
        TextToSound.from_pretrained(folder, vocoder="vocos")
    torch.manual_seed(0)
    save_component(Vocos(VocosConfig(**TINY)), folder / "vocos")
    tts = TextToSound.from_pretrained(folder, vocoder="vocos")
    assert isinstance(tts.vocoder, Vocos)
    out = tts("a dog barks", duration=0.3, seed=1)
    assert out.waveform.shape == (1, round(0.3 * 22050)) and out.settings["vocoder"] == "Vocos"
    # as the pipeline's own vocoder component too
    shutil.rmtree(folder / "vocoder")
    shutil.copytree(folder / "vocos", folder / "vocoder")
    assert isinstance(TextToSound.from_pretrained(folder).vocoder, Vocos)
    assert json.loads((folder / "vocoder" / "config.json").read_text())["class"] == "Vocos"
