"""TextToSound.generate_rows: caller-assigned per-row seeds, the same audio as __call__, optional vocoder."""

import pytest
import torch

from vividsound.errors import InputError


def test_rows_equal_call_with_the_seed_rule(tiny_tts):
    out = tiny_tts(["a dog barks", "rain"], duration=0.4, seed=3, num_samples=2)
    rows = tiny_tts.generate_rows(["a dog barks", "a dog barks", "rain", "rain"], [3, 4, 3, 4], duration=0.4)
    assert rows.seeds == [3, 4, 3, 4] and rows.prompts == out.prompts
    assert torch.equal(rows.codes, out.codes)
    assert torch.allclose(rows.waveform, out.waveform, atol=1e-6)
    split = tiny_tts.generate_rows(rows.prompts, rows.seeds, duration=0.4, batch_size=3)
    assert torch.equal(split.codes, out.codes)  # the vocoder may differ by float rounding between batch shapes


def test_a_row_does_not_depend_on_its_neighbours(tiny_tts):
    alone = tiny_tts.generate_rows(["rain"], [11], duration=0.3)
    mixed = tiny_tts.generate_rows(["a dog barks", "rain", "wind"], [5, 11, 2], duration=0.3, batch_size=3)
    assert torch.equal(alone.codes[0], mixed.codes[1])


def test_without_vocoder_gives_the_same_mel_and_no_waveform(tiny_tts):
    full = tiny_tts.generate_rows(["rain", "wind"], [1, 2], duration=0.3)
    mel_only = tiny_tts.generate_rows(["rain", "wind"], [1, 2], duration=0.3, vocode=False)
    assert mel_only.waveform.shape == (2, 0)
    assert torch.equal(mel_only.codes, full.codes)
    assert torch.allclose(mel_only.mel, full.mel)
    assert mel_only.settings["vocoder"] is None


@pytest.mark.parametrize("prompts, seeds, match", [
    (["rain", "wind"], [1], "2 prompts but 1 seeds"),
    (["rain"], [-1], "seed"),
    (["rain"], [1.5], "seed"),
    ([""], [1], "empty"),
])
def test_bad_rows_are_clear_errors(tiny_tts, prompts, seeds, match):
    with pytest.raises(InputError, match=match) as e:
        tiny_tts.generate_rows(prompts, seeds, duration=0.3)
    assert "\n" not in str(e.value)


def test_decoding_in_chunks_gives_the_rows_of_one_big_decode(tiny_tts, monkeypatch):
    """A sampling batch larger than DECODE_ROWS is decoded in parts: same mels and audio as one call."""
    import vividsound.pipeline as pl

    whole = tiny_tts.generate_rows(["rain", "wind", "a dog barks"], [1, 2, 3], duration=0.3, batch_size=3)
    monkeypatch.setattr(pl, "DECODE_ROWS", 2)
    parts = tiny_tts.generate_rows(["rain", "wind", "a dog barks"], [1, 2, 3], duration=0.3, batch_size=3)
    mel_only = tiny_tts.generate_rows(["rain", "wind", "a dog barks"], [1, 2, 3], duration=0.3, batch_size=3,
                                      vocode=False)
    assert torch.equal(parts.codes, whole.codes)
    assert torch.allclose(parts.mel, whole.mel, atol=1e-5) and torch.allclose(mel_only.mel, whole.mel, atol=1e-5)
    assert torch.allclose(parts.waveform, whole.waveform, atol=1e-5)
