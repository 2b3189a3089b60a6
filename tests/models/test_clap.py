import torch

from vividsound.models.clap import CLAP, CLAPConfig, CLAPTextConfig, info_nce
from vividsound.models.tagger import MelCNNConfig


def test_info_nce_prefers_aligned_pairs():
    torch.manual_seed(0)
    a = torch.nn.functional.normalize(torch.randn(8, 16), dim=-1)
    aligned = info_nce(a, a, torch.tensor(20.0))
    shuffled = info_nce(a, a.roll(1, 0), torch.tensor(20.0))
    assert float(aligned) < 0.1 < float(shuffled)
    # symmetric: swapping towers gives the same loss
    b = torch.nn.functional.normalize(torch.randn(8, 16), dim=-1)
    assert torch.allclose(info_nce(a, b, torch.tensor(5.0)), info_nce(b, a, torch.tensor(5.0)))


def test_clap_embeddings_and_text_encoder(tiny_bert_dir):
    torch.manual_seed(0)
    cfg = CLAPConfig(audio=MelCNNConfig(channels=(4, 8), embed_dim=8, dropout=0.0),
                     text=CLAPTextConfig(backbone="hf", path=str(tiny_bert_dir), dim=32), embed_dim=6)
    m = CLAP(cfg).eval()
    a = m.embed_audio(torch.randn(3, 80, 20) - 5)
    t = m.embed_text(["a dog barks", "rain", "wind blows"])
    assert a.shape == t.shape == (3, 6)
    assert torch.allclose(t.norm(dim=-1), torch.ones(3), atol=1e-5)
    assert abs(float(m.scale.detach()) - 1 / 0.07) < 1e-3
    with torch.no_grad():
        m.text.adapter[-1].weight.normal_()
    enc = m.text_encoder("sequence", 8)
    assert enc.config.mode == "sequence" and enc.config.adapter == "mlp"
    assert torch.equal(enc.adapter[-1].weight, m.text.adapter[-1].weight)
    # only the adapter is saved on the text side: the backbone is not a registered module
    assert not any(k.startswith("text.") and "adapter" not in k for k in m.state_dict())
