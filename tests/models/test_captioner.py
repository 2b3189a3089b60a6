import torch

from vividsound.models.captioner import BOS, EOS, UNK, Captioner, CaptionerConfig, tokenize
from vividsound.models.melgan_discriminator import MultiScaleDiscriminator, MultiScaleDiscriminatorConfig
from vividsound.models.tagger import MelCNNConfig


def _cap():
    torch.manual_seed(0)
    return Captioner(CaptionerConfig(vocab=("a", "dog", "barks"), cnn=MelCNNConfig(channels=(4, 8), embed_dim=8),
                                     d_model=16, n_layer=1, n_head=2, max_len=5)).eval()


def test_tokenize_and_ids():
    assert tokenize("A Dog, barks!") == ["a", "dog", "barks"]
    c = _cap()
    ids = c.encode_text("a dog meows")
    assert ids[0] == BOS and ids[-1] == EOS and ids[3] == UNK
    assert c.decode_ids(ids[1:]) == "a dog"
    assert len(c.encode_text("a " * 20)) == 5 + 2


def test_caption_greedy_and_beam():
    c = _cap()
    x = torch.randn(2, 80, 24) - 5
    assert c(x, torch.tensor([[BOS, 4], [BOS, 5]])).shape == (2, 2, c.vocab_size)
    g = c.caption(x)
    b = c.caption(x, beam_size=3)
    assert len(g) == len(b) == 2
    assert all(set(s.split()) <= {"a", "dog", "barks"} and len(s.split()) <= 5 for s in g + b)
    assert c.caption(x[:1]) == g[:1]  # a row's caption does not depend on the batch


def test_multiscale_discriminator_shapes():
    d = MultiScaleDiscriminator(MultiScaleDiscriminatorConfig(scales=3, ndf=4, n_layers=2))
    out = d(torch.randn(2, 4096))
    assert len(out) == 3 and len(out[0]) == 2 + 3
    assert out[0][-1].shape[:2] == (2, 1) and out[1][-1].shape[-1] < out[0][-1].shape[-1]
