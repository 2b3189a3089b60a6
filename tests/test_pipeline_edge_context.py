"""A pipeline's ``edge_context``: decoded between silence columns, saved in pipeline.json, checked on load."""

import json

import pytest
import torch

from vividsound.errors import CheckpointError
from vividsound.pipeline import TextToSound


def _with_context(tts: TextToSound, k: int) -> TextToSound:
    return TextToSound(tts.text_encoder, tts.gpt, tts.vqgan, tts.vocoder, defaults=tts.defaults, name="ctx",
                       edge_context=k)


def test_generation_decodes_between_silence_columns(tiny_tts):
    ctx = _with_context(tiny_tts, 2)
    a, b = tiny_tts("a low tone hums", duration=0.5, seed=3), ctx("a low tone hums", duration=0.5, seed=3)
    assert torch.equal(a.codes, b.codes)  # sampling is untouched
    with torch.no_grad():
        want = tiny_tts.vqgan.decode_codes(b.codes, 2)
    assert torch.allclose(b.mel, want) and not torch.allclose(a.mel, b.mel)
    assert b.waveform.shape == a.waveform.shape
    rows = ctx.generate_rows(["a low tone hums"], [3], duration=0.5, vocode=False)
    assert torch.allclose(rows.mel, b.mel)
    final = list(ctx.stream("a low tone hums", duration=0.5, seed=3, chunk_columns=2))[-1].output
    assert torch.equal(final.codes, b.codes) and torch.allclose(final.mel, b.mel)


def test_edge_context_round_trips_and_is_checked(tiny_tts, tmp_path):
    ctx = _with_context(tiny_tts, 3)
    ctx.save_pretrained(tmp_path / "m")
    meta = json.loads((tmp_path / "m" / "pipeline.json").read_text())
    assert meta["edge_context"] == 3
    assert TextToSound.from_pretrained(tmp_path / "m").edge_context == 3
    _with_context(tiny_tts, 0).save_pretrained(tmp_path / "plain")  # older folders have no key: 0
    assert "edge_context" not in json.loads((tmp_path / "plain" / "pipeline.json").read_text())
    assert TextToSound.from_pretrained(tmp_path / "plain").edge_context == 0
    meta["edge_context"] = "four"
    (tmp_path / "m" / "pipeline.json").write_text(json.dumps(meta))
    with pytest.raises(CheckpointError, match=r"pipeline.json: edge_context='four'"):
        TextToSound.from_pretrained(tmp_path / "m")
    with pytest.raises(CheckpointError, match="edge_context=-1"):
        _with_context(tiny_tts, -1)
