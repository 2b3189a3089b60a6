import torch

from train_helpers import TINY_CNN, metrics, tiny_overrides
from vividsound.checkpoint import load_component
from vividsound.train import train

TINY_MELGAN = ["model.ngf=4", "model.n_residual=1", "discriminator.scales=2", "discriminator.ndf=4",
               "discriminator.n_layers=2", "data.crop_frames=8"]
TINY_CAP = TINY_CNN + ["model.d_model=32", "model.n_layer=1", "model.n_head=2", "model.max_len=8",
                       "model.dropout=0.0", "min_word_count=1"]


def test_melgan_runs_with_discriminator(corpus, shared_cache, tmp_path):
    run = tmp_path / "run"
    train("melgan", None, run, overrides=tiny_overrides(corpus, shared_cache, steps=3) + TINY_MELGAN +
          ["loss.disc_start=1"])
    m = metrics(run)
    assert "train/d_loss" not in m[0] and "train/d_loss" in m[1] and "train/feature_matching" in m[2]
    voc = load_component(run / "export" / "melgan", "MelGAN")
    wav = voc(torch.randn(1, 80, 10) - 5)
    assert wav.shape == (1, 2560) and wav.abs().max() <= 1
    import vividsound.models.melgan_discriminator  # noqa: F401  (registers the class)

    assert load_component(run / "export" / "discriminator", "MultiScaleDiscriminator").config.scales == 2


def test_melgan_overfits_one_batch(one_batch, tmp_path):
    run = tmp_path / "run"
    train("melgan", None, run, overrides=tiny_overrides(one_batch, tmp_path / "c", steps=40, lr=0.003) + TINY_MELGAN
          + ["loss.disc_start=1000", "train.batch_size=4"])
    m = metrics(run)
    assert m[-1]["train/mel_l1"] < 0.5 * m[0]["train/mel_l1"], (m[0], m[-1])


def test_captioner_runs_and_captions(corpus, shared_cache, tmp_path):
    run = tmp_path / "run"
    train("captioner", None, run, overrides=tiny_overrides(corpus, shared_cache, steps=3) + TINY_CAP)
    cap = load_component(run / "export" / "captioner", "Captioner")
    assert "hum" in cap.config.vocab and cap.words[:4] == ["<pad>", "<bos>", "<eos>", "<unk>"]
    x = torch.randn(2, 80, 32) - 5
    greedy, beam = cap.caption(x), cap.caption(x, beam_size=3)
    assert len(greedy) == len(beam) == 2 and all(isinstance(c, str) for c in greedy + beam)
    assert all(len(c.split()) <= 8 for c in greedy + beam)


def test_captioner_overfits_one_batch(one_batch, tmp_path):
    run = tmp_path / "run"
    train("captioner", None, run, overrides=tiny_overrides(one_batch, tmp_path / "c", steps=60, lr=0.003) + TINY_CAP
          + ["data.crop_frames=128"])
    m = metrics(run)
    assert m[-1]["train/ce"] < 0.3 * m[0]["train/ce"], (m[0], m[-1])
