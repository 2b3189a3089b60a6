import math

import numpy as np
import pytest
import soundfile as sf
import torch

from vividsound.audio import (AudioError, MelConfig, MelSpectrogram, griffin_lim, load_audio, mel_filterbank,
                              num_frames, read_audio_metadata, save_audio)


def test_default_is_the_hifigan_convention():
    c = MelConfig()
    assert (c.sample_rate, c.n_fft, c.hop_length, c.win_length, c.n_mels, c.fmin, c.fmax, c.log_floor) == \
        (22050, 1024, 256, 1024, 80, 0.0, 8000.0, 1e-5)
    p = MelConfig.paper()
    assert p.sample_rate == 32000 and p.hop_length == 400 and p.win_length == 1600 and p.n_mels == 80
    assert p.hop_length / p.sample_rate == pytest.approx(0.0125) and p.win_length / p.sample_rate == pytest.approx(0.05)


@pytest.mark.parametrize("cfg", [MelConfig(), MelConfig.paper()])
@pytest.mark.parametrize("n", [1, 255, 256, 257, 1000, 22050, 220500])
def test_mel_frame_counts(cfg, n):
    mel = MelSpectrogram(cfg)(torch.zeros(2, n))
    assert mel.shape == (2, cfg.n_mels, num_frames(n, cfg))
    assert num_frames(n, cfg) == n // cfg.hop_length
    assert torch.allclose(mel, torch.full_like(mel, math.log(cfg.log_floor)), atol=1e-4)


def test_filterbank_shape_and_slaney_area_normalisation():
    fb = mel_filterbank(MelConfig())
    assert fb.shape == (80, 513) and (fb >= 0).all()
    assert (fb.sum(1) > 0).all()  # no empty band
    # Slaney normalisation: each triangle has area ~ 2 / bandwidth * bandwidth/2 = 1 in Hz units
    hz_per_bin = 22050 / 1024
    assert np.allclose(fb.sum(1) * hz_per_bin, 1.0, rtol=0.25)


def test_sine_energy_lands_in_the_right_band():
    sr = 22050
    t = torch.arange(sr) / sr
    mel = MelSpectrogram()(0.5 * torch.sin(2 * math.pi * 1000 * t))[0]
    fb = torch.from_numpy(mel_filterbank(MelConfig()))
    band_of_1khz = int(fb[:, round(1000 / (sr / 1024))].argmax())
    assert int(mel.mean(1).argmax()) == band_of_1khz


def test_invalid_mel_config():
    with pytest.raises(ValueError, match="fmax"):
        MelConfig(fmax=20000.0)
    with pytest.raises(ValueError, match="win_length"):
        MelConfig(win_length=2048)
    with pytest.raises(ValueError, match="unknown mel preset"):
        MelConfig.preset("nope")


def test_save_load_roundtrip_with_metadata(tmp_path):
    sr = 22050
    wav = 0.3 * np.sin(2 * np.pi * 220 * np.arange(sr) / sr).astype(np.float32)
    for ext in ("wav", "flac"):
        p = save_audio(tmp_path / f"a.{ext}", wav, sr, {"prompt": "a hum", "seed": 7, "top_k": 5})
        back = load_audio(p)
        assert back.shape == wav.shape
        assert np.abs(back - wav).max() < 1e-3
        meta = read_audio_metadata(p)
        assert meta["prompt"] == "a hum" and meta["seed"] == 7 and meta["top_k"] == 5
    assert not list(tmp_path.glob(".tmp-*"))


def test_load_downmixes_and_resamples(tmp_path):
    sr = 44100
    t = np.arange(sr) / sr
    stereo = np.stack([np.sin(2 * np.pi * 440 * t), np.sin(2 * np.pi * 440 * t)], 1).astype(np.float32) * 0.5
    sf.write(tmp_path / "s.flac", stereo, sr)
    y = load_audio(tmp_path / "s.flac", 22050)
    assert y.ndim == 1 and abs(len(y) - 22050) <= 1
    spec = np.abs(np.fft.rfft(y))
    assert abs(np.argmax(spec) * 22050 / len(y) - 440) < 3


def test_audio_errors(tmp_path):
    with pytest.raises(AudioError, match="not found"):
        load_audio(tmp_path / "missing.wav")
    bad = tmp_path / "bad.wav"
    bad.write_bytes(b"RIFF1234WAVEnot really audio")
    with pytest.raises(AudioError, match="cannot read"):
        load_audio(bad)
    assert save_audio(tmp_path / "new" / "x.wav", np.zeros(10), 22050).is_file()  # missing folders are created
    (tmp_path / "adir.wav").mkdir()
    with pytest.raises(AudioError, match="is a folder"):
        save_audio(tmp_path / "adir.wav", np.zeros(10), 22050)
    with pytest.raises(AudioError, match="must end in"):
        save_audio(tmp_path / "x.mp4", np.zeros(10), 22050)


def test_griffin_lim_inverts_a_mel():
    sr = 22050
    t = torch.arange(sr // 2) / sr
    wav = 0.5 * torch.sin(2 * math.pi * 600 * t)
    front = MelSpectrogram()
    mel = front(wav)
    y = griffin_lim(mel, MelConfig(), n_iter=16)
    assert y.shape == (1, mel.shape[-1] * 256)
    mel2 = front(y)
    other = front(0.5 * torch.sin(2 * math.pi * 3000 * t))
    err = (mel2 - mel)[..., 4:-4].abs().mean()
    assert err < 0.5 * (other - mel)[..., 4:-4].abs().mean()


@pytest.mark.parametrize("fmt, subtype", [("OGG", "VORBIS"), ("MP3", "MPEG_LAYER_III")])
def test_load_compressed_formats(tmp_path, fmt, subtype):
    if fmt not in sf.available_formats():
        pytest.skip(f"this libsndfile cannot write {fmt}")
    sr = 44100
    wav = (0.4 * np.sin(2 * np.pi * 330 * np.arange(sr) / sr)).astype(np.float32)
    p = tmp_path / f"a.{fmt.lower()}"
    sf.write(p, wav, sr, format=fmt, subtype=subtype)
    y = load_audio(p, 22050)
    assert abs(len(y) - 22050) < 2000  # mp3 adds encoder padding
    spec = np.abs(np.fft.rfft(y))
    assert abs(np.argmax(spec) * 22050 / len(y) - 330) < 3


def test_saved_audio_has_the_usual_file_mode(tmp_path):
    import os
    import stat

    from vividsound.audio import save_audio

    mask = os.umask(0o022)
    os.umask(mask)
    p = save_audio(tmp_path / "a.wav", np.zeros(100, dtype=np.float32), 22050)
    assert stat.S_IMODE(p.stat().st_mode) == 0o666 & ~mask  # not mkstemp's private 0600
