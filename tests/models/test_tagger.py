import pytest
import torch

from vividsound.audio import MelConfig
from vividsound.checkpoint import load_component, save_component
from vividsound.models.tagger import MelCNNConfig, Tagger, TaggerConfig

CNN = MelCNNConfig(channels=(4, 8, 8), embed_dim=12, dropout=0.0)


def test_tagger_api_shapes_and_roundtrip(tmp_path):
    torch.manual_seed(0)
    t = Tagger(TaggerConfig(tags=("dog", "rain"), cnn=CNN)).eval()
    x = torch.randn(2, 80, 50) - 5
    assert t.tags == ["dog", "rain"] and t.mel_config == MelConfig()
    feats = t.features(x)
    assert [tuple(f.shape) for f in feats] == [(2, 4, 80, 50), (2, 8, 40, 25), (2, 8, 20, 13)]
    assert t.embed(x).shape == (2, 12)
    p = t.predict(x)
    assert p.shape == (2, 2) and torch.allclose(p, torch.sigmoid(t.logits(x)))
    save_component(t, tmp_path / "tagger")
    t2 = load_component(tmp_path / "tagger", "Tagger")
    assert torch.equal(t2.predict(x), p) and t2.tags == t.tags
    with pytest.raises(ValueError, match=r"\(B, 80, T\)"):
        t.predict(torch.randn(2, 64, 50))
    with pytest.raises(ValueError, match="at least one tag"):
        Tagger(TaggerConfig(tags=(), cnn=CNN))
