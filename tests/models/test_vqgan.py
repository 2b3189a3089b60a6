import dataclasses
import threading

import pytest
import torch
import torch.nn.functional as F

from vividsound.audio import MelConfig
from vividsound.models.discriminator import DiscriminatorConfig, PatchDiscriminator
from vividsound.models.quantizer import QuantizerConfig
from vividsound.config import from_dict, to_dict
from vividsound.models.vqgan import _DECODE_SPAN, VQGAN, SpanGroupNorm, VQGANConfig, _decode_span
from vividsound.testing import tiny_vqgan_config


def test_grid_and_shapes():
    torch.manual_seed(0)
    vq = VQGAN(tiny_vqgan_config()).eval()
    mel = torch.randn(2, 80, 32) - 5
    out = vq(mel)
    assert out.recon.shape == mel.shape
    assert out.quant.indices.shape == (2, 5, 8)
    assert torch.allclose(vq.decode_codes(out.quant.indices), out.recon, atol=1e-4)


def test_paper_grid_is_5_by_53():
    cfg = VQGANConfig(ch=8, ch_mult=(1, 1, 1, 1, 1), num_res_blocks=1, downsample=(16, 16),
                      quantizer=QuantizerConfig(n_codes=1024, code_dim=256))
    vq = VQGAN(cfg).eval()
    with torch.no_grad():
        q = vq.encode(torch.zeros(1, 80, 848) - 5)
    assert q.indices.shape == (1, 5, 53)


def test_column_major_order():
    vq = VQGAN(tiny_vqgan_config())
    grid = torch.arange(2 * 5 * 3).reshape(2, 5, 3)
    seq = vq.codes_to_sequence(grid)
    assert seq[0, :5].tolist() == grid[0, :, 0].tolist()  # the whole first column first
    assert seq[0, 5:10].tolist() == grid[0, :, 1].tolist()
    assert torch.equal(vq.sequence_to_codes(seq), grid)


def test_pad_and_errors():
    vq = VQGAN(tiny_vqgan_config())
    padded = vq.pad_mel(torch.zeros(1, 80, 10))
    assert padded.shape[-1] == 12 and torch.allclose(padded[..., 10:], torch.tensor(MelConfig().silence_db))
    with pytest.raises(ValueError, match="multiple"):
        vq.encode(torch.zeros(1, 80, 10))
    with pytest.raises(ValueError, match="power of two"):
        VQGANConfig(downsample=(12, 16))
    with pytest.raises(ValueError, match="stages"):
        VQGANConfig(ch_mult=(1, 2), downsample=(16, 16))


def test_discriminator_patch_output():
    d = PatchDiscriminator(DiscriminatorConfig(ndf=8, n_layers=2))
    y = d(torch.randn(2, 80, 64))
    assert y.dim() == 4 and y.shape[0] == 2 and y.shape[1] == 1 and y.shape[2] > 1 and y.shape[3] > 1


def test_span_group_norm_is_group_norm_until_given_a_span():
    torch.manual_seed(0)
    norm = SpanGroupNorm(4, 16, eps=1e-6)
    norm.weight.data.normal_()
    norm.bias.data.normal_()
    # 20 quiet steps, then 20 loud ones: a span inside the loud half varies more than the whole input
    scale = torch.cat([torch.full((20,), 0.1), torch.full((20,), 3.0)])
    x = torch.randn(2, 16, 5, 40) * scale + 1
    whole = F.group_norm(x, 4, norm.weight, norm.bias, 1e-6)
    with _decode_span(0.25):  # not a decoder's norm: no span
        assert torch.equal(norm(x), whole)
    norm.follows_decode_span = True
    assert torch.equal(norm(x), whole)  # outside a long decode: no span
    with _decode_span(1.0):  # a span as long as the input: the plain statistics
        assert torch.equal(norm(x), whole)
    with _decode_span(0.25):  # 10 of 40 steps
        y = norm(x)
    # loud step 30 is normalised like the middle of steps 25..34; the last steps like steps 30..39 (the
    # span shifted inwards at the edge)
    middle = F.group_norm(x[..., 25:35], 4, norm.weight, norm.bias, 1e-6)
    last = F.group_norm(x[..., 30:], 4, norm.weight, norm.bias, 1e-6)
    assert torch.allclose(y[..., 30], middle[..., 5], atol=1e-5)
    assert torch.allclose(y[..., 36:], last[..., 6:], atol=1e-5)
    assert not torch.allclose(y[..., 30], whole[..., 30], atol=1e-2)
    # quiet steps keep the whole input's statistics (their own small variance would amplify them)
    assert torch.allclose(y[..., :15], whole[..., :15], atol=1e-5)


def test_decode_norm_columns_only_changes_grids_longer_than_the_span():
    torch.manual_seed(0)
    base = tiny_vqgan_config()  # 4 frames a column
    vq = VQGAN(base).eval()
    spanned = VQGAN(dataclasses.replace(base, decode_norm_columns=8)).eval()
    spanned.load_state_dict(vq.state_dict())
    short, long = torch.randint(0, 64, (2, 5, 8)), torch.randint(0, 64, (2, 5, 24))
    with torch.no_grad():
        assert torch.equal(spanned.decode_codes(short), vq.decode_codes(short))
        assert not torch.allclose(spanned.decode_codes(long), vq.decode_codes(long), atol=1e-3)
        # only the decoder's norms follow the span, and only while a long grid decodes in this thread
        assert {m.follows_decode_span for m in spanned.encoder.modules() if isinstance(m, SpanGroupNorm)} == {False}
        assert {m.follows_decode_span for m in spanned.decoder.modules() if isinstance(m, SpanGroupNorm)} == {True}
        assert getattr(_DECODE_SPAN, "fraction", 0.0) == 0.0
        mel = torch.randn(1, 80, 24 * 4) - 5
        assert torch.equal(spanned.encode(mel).indices, vq.encode(mel).indices)
        out = {}
        worker = threading.Thread(target=lambda: out.setdefault("long", spanned.decode_codes(long)))
        worker.start()
        worker.join()
        assert torch.equal(out["long"], spanned.decode_codes(long))
        assert torch.equal(spanned.decode_codes(short), vq.decode_codes(short))
        long_mel = torch.randn(1, 80, 24 * 4) - 5  # training's forward keeps whole-input statistics
        assert torch.equal(spanned(long_mel).recon, vq(long_mel).recon)
    for bad in (-1, 2.5, True, "8"):
        with pytest.raises(ValueError, match="decode_norm_columns"):
            VQGANConfig(decode_norm_columns=bad)


def test_old_configs_load_without_decode_norm_columns():
    d = to_dict(VQGANConfig())
    del d["decode_norm_columns"]
    assert from_dict(VQGANConfig, d).decode_norm_columns == 0
