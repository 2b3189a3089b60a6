"""Coding and decoding between columns of silence (``encode_in_silence`` / ``decode_codes(context=)``)."""

import pytest
import torch

from vividsound.checkpoint import load_component
from vividsound.models.vqgan import VQGAN
from vividsound.pipeline import DEFAULT_MODEL_DIR
from vividsound.testing import tiny_vqgan_config


def test_context_zero_is_the_plain_path_and_shapes_hold():
    torch.manual_seed(0)
    vq = VQGAN(tiny_vqgan_config()).eval()
    mel = torch.randn(2, 80, 32) - 5
    with torch.no_grad():
        plain = vq.encode(mel).indices
        assert torch.equal(vq.encode_in_silence(mel, 0), plain)
        assert torch.equal(vq.decode_codes(plain, 0), vq.decode_codes(plain))
        ctx = vq.encode_in_silence(mel, 3)
        assert ctx.shape == plain.shape
        out = vq.decode_codes(ctx, 3)
        assert out.shape == mel.shape and torch.isfinite(out).all()
        # the context is really there: decoding with it differs from decoding the same grid without
        assert not torch.allclose(out, vq.decode_codes(ctx))
    assert vq.silence_column().shape == (5,) and vq.training is False


@pytest.mark.skipif(not (DEFAULT_MODEL_DIR / "vqgan" / "model.safetensors").is_file(), reason="no shipped VQGAN")
def test_shipped_vqgan_codes_silence_without_edge_clicks():
    """The bug this fixes: the default VQGAN codes a silent clip's first and last 3 columns with edge-only codes
    that decode as bright clicks (with phase 3's decoder, > 3 nats above silence; the fine-tuned decoder of
    session 9 renders them softer, +3.4 and +2.0 nats); with 4 columns of context they do not."""
    vq = load_component(DEFAULT_MODEL_DIR / "vqgan", "VQGAN").float().eval()
    t = vq.frames_per_column
    mel = torch.full((1, 80, 20 * t), vq.config.mel.silence_db)
    with torch.no_grad():
        plain = vq.encode(mel).indices
        ctx = vq.encode_in_silence(mel, 4)
        level = vq.decode_codes(ctx, 4)[0].mean(0)  # mean log-mel per frame
        old = vq.decode_codes(plain)[0].mean(0)
    middle = float(old[8 * t : 12 * t].mean())
    assert not torch.equal(plain[0, :, 0], plain[0, :, 10]) and not torch.equal(plain[0, :, -1], plain[0, :, 10])
    assert torch.equal(ctx[0, :, 0], ctx[0, :, 10]) and torch.equal(ctx[0, :, -1], ctx[0, :, 10])
    assert float(old[:4].max()) > middle + 1.5 and float(old[-4:].max()) > middle + 1.5  # the clicks
    assert float((level - middle).abs().max()) < 1.0  # flat silence, edges included
