"""Opt-in CPU int8 mode (vividsound.quantize; issue 7) on the tiny random pipeline."""

import pytest
import torch
import torch.nn as nn

from vividsound.audio import read_audio_metadata
from vividsound.cli import main
from vividsound.errors import InputError
from vividsound.pipeline import TextToSound
from vividsound.quantize import Int8Linear, check_quantize


@pytest.fixture(scope="module")
def int8_tts(tiny_model_dir):
    return TextToSound.from_pretrained(tiny_model_dir, quantize="int8")


def _count(module: nn.Module, cls: type) -> int:
    return sum(type(m) is cls for m in module.modules())


def test_int8_generates_finite_audio_of_the_right_shape(int8_tts):
    out = int8_tts(["a dog barks", "rain"], duration=0.5, seed=0)
    assert out.waveform.shape == (2, round(0.5 * 22050))
    assert torch.isfinite(out.waveform).all() and out.waveform.abs().max() <= 1.0
    assert out.codes.shape == (2, 5, int8_tts.columns_for(0.5))
    assert out.codes.min() >= 0 and out.codes.max() < int8_tts.gpt.config.vocab_size


def test_linear_layers_are_replaced(int8_tts, tiny_tts):
    n_layer = int8_tts.gpt.config.n_layer
    assert _count(int8_tts.gpt.blocks, nn.Linear) == 0
    assert _count(int8_tts.gpt.blocks, Int8Linear) == 4 * n_layer  # qkv, proj, two MLP layers per block
    assert int8_tts.gpt.blocks[0].attn.qkv.weight_int8.dtype == torch.int8
    assert type(int8_tts.gpt.head) is nn.Linear and type(int8_tts.gpt.cond_proj) is nn.Linear  # stay fp32
    assert _count(tiny_tts.gpt.blocks, Int8Linear) == 0  # a separate load: the fp32 pipeline is untouched


def test_int8_linear_is_close_to_fp32_and_row_independent():
    torch.manual_seed(0)
    lin = nn.Linear(48, 40)
    q = Int8Linear.from_linear(lin)
    x = torch.randn(6, 3, 48)
    with torch.no_grad():
        ref, y = lin(x), q(x)
    assert y.shape == ref.shape and y.dtype == torch.float32
    assert (y - ref).abs().max() < 0.02 * ref.abs().max()  # int8 rounding, not garbage
    assert not torch.equal(y, ref)  # really quantised
    with torch.no_grad():  # a row alone == the same row in a batch, bit for bit (per-token scales)
        assert torch.equal(q(x[2:3]), y[2:3])
        assert torch.equal(q(x[4, 1]), y[4, 1])


def test_same_seed_same_int8_audio(int8_tts):
    a = int8_tts("rain on a tin roof", duration=0.5, seed=11)
    b = int8_tts("rain on a tin roof", duration=0.5, seed=11)
    c = int8_tts("rain on a tin roof", duration=0.5, seed=12)
    assert torch.equal(a.codes, b.codes) and torch.equal(a.waveform, b.waveform)
    assert not torch.equal(a.codes, c.codes)


def test_batch_composition_does_not_change_an_int8_sample(int8_tts):
    full = int8_tts(["a bell rings", "a cat meows", "wind"], duration=0.4, seed=3, num_samples=2, batch_size=6)
    alone = int8_tts("a cat meows", duration=0.4, seed=3, num_samples=2, batch_size=1)
    assert full.seeds[2:4] == [3, 4]
    assert torch.equal(full.codes[2:4], alone.codes)
    assert torch.allclose(full.waveform[2:4], alone.waveform, atol=1e-4)  # codes equal above; decoder rounding depends on the batch
    guided = int8_tts(["a bell rings", "wind"], duration=0.3, seed=5, cfg_scale=3.0, batch_size=2)
    guided_alone = int8_tts("wind", duration=0.3, seed=5, cfg_scale=3.0)
    assert torch.equal(guided.codes[1:], guided_alone.codes)


def test_int8_streaming_gives_the_call_codes(int8_tts):
    chunks = list(int8_tts.stream("a bird sings", duration=0.6, seed=2, chunk_columns=3, lookahead=1))
    final = chunks[-1]
    assert final.final and final.output is not None
    assert final.output.settings["quantize"] == "int8"
    assert torch.equal(final.output.codes, int8_tts("a bird sings", duration=0.6, seed=2).codes)
    assert sum(c.waveform.numel() for c in chunks) == round(0.6 * 22050)


def test_cuda_request_is_a_clean_input_error(tiny_model_dir, int8_tts):
    # checked before anything is loaded or moved, so no GPU is needed to test it
    with pytest.raises(InputError, match="CPU only") as e:
        TextToSound.from_pretrained(tiny_model_dir, device="cuda", quantize="int8")
    assert "\n" not in str(e.value)
    with pytest.raises(InputError, match="CPU only"):
        int8_tts.to("cuda:0")
    assert int8_tts.device.type == "cpu"
    with pytest.raises(InputError, match="CPU only"):
        int8_tts.gpt.blocks[0].attn.qkv.to("meta")  # the layer itself refuses to leave the CPU
    with pytest.raises(InputError, match="allowed"):
        check_quantize("int4", "cpu")
    assert check_quantize(None, "cuda") is None


def test_info_settings_and_metadata_report_int8(int8_tts, tiny_tts, tmp_path):
    info = int8_tts.info()
    assert info["quantize"]["mode"] == "int8" and info["quantize"]["gpt_linear_layers"] == 4 * info["gpt"]["n_layer"]
    assert tiny_tts.info()["quantize"] is None
    out = int8_tts("thunder", duration=0.2, seed=1)
    assert out.settings["quantize"] == "int8" and out.metadata(0)["quantize"] == "int8"
    assert "quantize" not in tiny_tts("thunder", duration=0.2, seed=1).settings
    out.save(tmp_path / "t.wav")
    assert read_audio_metadata(tmp_path / "t.wav")["quantize"] == "int8"
    with pytest.raises(InputError, match="quantised"):
        int8_tts.save_pretrained(tmp_path / "copy")


def test_cli_int8(tiny_model_dir, tmp_path, capsys):
    out = tmp_path / "q.wav"
    rc = main(["generate", "a dog barks", "-o", str(out), "--model", str(tiny_model_dir), "--duration", "0.3",
               "--seed", "4", "--int8"])
    assert rc == 0 and read_audio_metadata(out)["quantize"] == "int8"
    capsys.readouterr()
    rc = main(["generate", "a dog barks", "-o", str(out), "--model", str(tiny_model_dir), "--int8",
               "--device", "cuda"])
    err = capsys.readouterr().err.strip()
    assert rc == 2 and "CPU only" in err and len(err.splitlines()) == 1
