import torch

from train_helpers import TINY_CNN, metrics, tiny_overrides
from vividsound.checkpoint import load_component
from vividsound.train import train


def test_tagger_runs_and_exports(tagger_dir, corpus):
    tagger = load_component(tagger_dir, "Tagger")
    assert tagger.tags == ["chirp", "high", "low", "noise", "tone"]
    x = torch.randn(3, 80, 40) - 5
    p = tagger.predict(x)
    assert p.shape == (3, 5) and (p >= 0).all() and (p <= 1).all()
    assert tagger.embed(x).shape == (3, 16)
    feats = tagger.features(x)
    assert [f.shape[1] for f in feats] == [8, 16] and feats[1].shape[2] == 40


def test_tagger_overfits_one_batch(one_batch, tmp_path):
    run = tmp_path / "run"
    train("tagger", None, run, overrides=tiny_overrides(one_batch, tmp_path / "c", steps=40, lr=0.003)
          + TINY_CNN + ["data.crop_frames=128"])
    m = metrics(run)
    assert m[-1]["train/bce"] < 0.35 * m[0]["train/bce"], (m[0], m[-1])
    best = (run / "best" / "best.json").read_text()
    assert "val/mAP" in best
