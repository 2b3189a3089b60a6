import pytest
import torch

from vividsound.models.quantizer import QuantizerConfig, VectorQuantizer


@pytest.mark.parametrize("update", ["ema", "straight_through"])
@pytest.mark.parametrize("l2", [False, True])
def test_codes_in_range_and_lookup_equals_quantized(update, l2):
    torch.manual_seed(0)
    q = VectorQuantizer(QuantizerConfig(n_codes=32, code_dim=8, update=update, l2_normalize=l2)).eval()
    z = torch.randn(3, 8, 5, 7)
    out = q(z)
    assert out.indices.shape == (3, 5, 7) and out.indices.dtype == torch.long
    assert out.indices.min() >= 0 and out.indices.max() < 32
    assert torch.allclose(q.lookup(out.indices), out.z_q, atol=1e-6)
    assert 1.0 <= out.perplexity.item() <= 32 and 0 < out.usage.item() <= 1


def test_nearest_code_is_the_argmin():
    torch.manual_seed(1)
    q = VectorQuantizer(QuantizerConfig(n_codes=16, code_dim=4)).eval()
    z = torch.randn(1, 4, 2, 3)
    idx = q(z).indices
    flat = z.permute(0, 2, 3, 1).reshape(-1, 4)
    brute = torch.cdist(flat, q.codebook).argmin(1)
    assert torch.equal(idx.reshape(-1), brute)


def test_straight_through_gradient_reaches_encoder_and_codebook():
    q = VectorQuantizer(QuantizerConfig(n_codes=16, code_dim=4, update="straight_through"))
    z = torch.randn(2, 4, 3, 3, requires_grad=True)
    out = q(z)
    (out.z_q.sum() + out.loss).backward()
    assert z.grad is not None and z.grad.abs().sum() > 0
    assert q.codebook.grad is not None and q.codebook.grad.abs().sum() > 0


def test_ema_moves_codes_toward_data():
    torch.manual_seed(0)
    q = VectorQuantizer(QuantizerConfig(n_codes=4, code_dim=2, ema_decay=0.5)).train()
    z = torch.full((1, 2, 4, 4), 3.0)
    before = q.codebook.clone()
    for _ in range(20):
        out = q(z)
    used = out.indices.unique()
    assert torch.allclose(q.codebook[used], torch.full((len(used), 2), 3.0), atol=1e-2)
    assert not torch.allclose(before, q.codebook)


def test_dead_codes_are_revived():
    torch.manual_seed(0)
    q = VectorQuantizer(QuantizerConfig(n_codes=8, code_dim=2, dead_after=2)).train()
    z = torch.zeros(1, 2, 2, 2) + 10.0  # all latents far from the random codes -> one code used
    for _ in range(3):
        q(z)
    latents = torch.randn(50, 2) + 10.0
    used = int(q(z).indices[0, 0, 0])
    before_used = q.codebook[used].clone()
    n = q.revive_dead_codes(latents)
    assert n == 7
    dead = [i for i in range(8) if i != used]
    assert (q.codebook[dead] - 10.0).abs().max() < 5.0  # moved onto the data
    assert torch.equal(q.codebook[used], before_used)  # the live code is untouched
    assert q.revive_dead_codes(latents) == 0  # just revived: not dead any more
