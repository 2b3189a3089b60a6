import pytest
import torch

from vividsound.audio import MelConfig
from vividsound.models.discriminator import DiscriminatorConfig, PatchDiscriminator
from vividsound.models.quantizer import QuantizerConfig
from vividsound.models.vqgan import VQGAN, VQGANConfig
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
