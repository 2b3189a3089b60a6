"""Editing and long sounds (issue 21) on the tiny random pipeline: continuation, inpainting, variations,
negative prompts, windowed long generation, best-of-N and their bad-input errors."""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch

from vividsound.errors import InputError


@pytest.fixture(scope="module")
def clip(tiny_tts):
    """A 1 s generated clip (mono, the model's rate)."""
    out = tiny_tts("a dog barks", duration=1.0, seed=3)
    return out.waveform[0].numpy(), out.sample_rate


@pytest.fixture(scope="module")
def steerable_tts(tiny_tts):
    """The tiny pipeline with a GPT whose text condition matters (random weights barely read it)."""
    t = copy.deepcopy(tiny_tts)
    with torch.no_grad():
        t.gpt.cond_proj.weight.mul_(60.0)
    return t


# ---------------------------------------------------------------------------------------------- continue
def test_continuation_keeps_the_given_codes_and_audio(tiny_tts, clip):
    wav, sr = clip
    out = tiny_tts.continue_audio(wav, "a dog barks", duration=2.5, sample_rate=sr, seed=1)  # past the window
    P = out.settings["given_columns"]
    J, fade = P * tiny_tts.samples_per_column, round(out.settings["crossfade_s"] * sr)
    assert P == len(wav) // tiny_tts.samples_per_column
    assert out.codes.shape[2] == tiny_tts.columns_for(2.5) and out.waveform.shape[1] == round(2.5 * sr)
    assert torch.equal(out.codes[:, :, :P], tiny_tts.encode_audio(wav, sr, open_end=True))  # bit-exact codes
    assert np.array_equal(out.waveform[0, : J - fade].numpy(), wav[: J - fade])  # bit-exact audio
    # the crossfade is between the given audio and its codec reconstruction: no step at the join
    step = np.abs(np.diff(out.waveform[0, J - fade - 1 : J + 1].numpy())).max()
    assert step < 4 * np.abs(np.diff(wav)).max() + 1e-6
    again = tiny_tts.continue_audio(wav, "a dog barks", duration=2.5, sample_rate=sr, seed=1)
    assert torch.equal(again.codes, out.codes) and torch.equal(again.waveform, out.waveform)


def test_continuation_resamples_other_rates_and_channels(tiny_tts, clip, tmp_path):
    import soundfile as sf

    wav, sr = clip
    stereo = np.stack([wav, 0.5 * wav]).T  # (N, 2) at another rate
    path = tmp_path / "stereo16k.wav"
    import soxr

    sf.write(path, soxr.resample(stereo, sr, 16000), 16000, subtype="FLOAT")
    out = tiny_tts.continue_audio(path, "a dog barks", duration=1.5, seed=0)
    assert out.sample_rate == sr and out.waveform.shape == (1, round(1.5 * sr))
    assert torch.equal(out.codes[:, :, : out.settings["given_columns"]], tiny_tts.encode_audio(path, open_end=True))


# ---------------------------------------------------------------------------------------------- inpaint
def test_inpainting_changes_only_the_span(tiny_tts, clip):
    wav, sr = clip
    out = tiny_tts.inpaint(wav, "a cat meows", start=0.3, end=0.55, sample_rate=sr, tries=3, seed=2, num_samples=2)
    sc, ec = out.settings["span_columns"]
    col_s = tiny_tts.seconds_per_column
    assert sc == int(0.3 // col_s) and ec == int(np.ceil(0.55 / col_s))
    enc = tiny_tts.encode_audio(wav, sr)[0]
    outside = torch.ones(enc.shape[1], dtype=torch.bool)
    outside[sc:ec] = False
    a, b = (round(x * sr) for x in out.settings["span_seconds"])
    for i in range(2):
        assert torch.equal(out.codes[i][:, outside], enc[:, outside])  # codes outside: bit-exact
        assert not torch.equal(out.codes[i][:, sc:ec], enc[:, sc:ec])
        assert np.array_equal(out.waveform[i, :a].numpy(), wav[:a])  # audio outside: bit-exact
        assert np.array_equal(out.waveform[i, b:].numpy(), wav[b:])
        assert not np.array_equal(out.waveform[i, a:b].numpy(), wav[a:b])
    assert out.waveform.shape == (2, len(wav))


def test_inpainting_keeps_the_try_the_right_side_likes_best(tiny_tts, clip):
    wav, sr = clip
    out = tiny_tts.inpaint(wav, "a cat meows", start=0.2, end=0.4, sample_rate=sr, tries=4, seed=5)
    e = out.extra[0]
    lls = e["right_log_likelihoods"]
    assert len(lls) == 4 and len(set(lls)) > 1 and e["kept_try"] == int(np.argmax(lls))
    # recompute the kept try's score independently: teacher-forced log-probs of the right-hand codes
    Lc, Rc = out.settings["context_columns"]
    sc, ec = out.settings["span_columns"]
    window = out.codes[:, :, sc - Lc : ec + Rc]
    seq = tiny_tts.vqgan.codes_to_sequence(window)
    f = tiny_tts.text_encoder(["a cat meows"])
    with torch.no_grad():
        logp = tiny_tts.gpt(seq, f.features, f.mask).log_softmax(-1).gather(-1, seq[..., None])[..., 0]
    R = tiny_tts.gpt.config.rows
    assert abs(float(logp[0, -Rc * R :].sum()) - max(lls)) < 1e-2
    # a span at the end has nothing on its right to rank by: one try
    end = tiny_tts.inpaint(wav, "a cat meows", start=0.8, end=1.0, sample_rate=sr, tries=4, seed=5)
    assert end.extra[0]["tries"] == 1 and np.array_equal(end.waveform[0, : round(0.75 * sr)].numpy(),
                                                         wav[: round(0.75 * sr)])


# ---------------------------------------------------------------------------------------------- vary
def test_variation_strength_controls_how_much_is_kept(tiny_tts, clip):
    wav, sr = clip
    enc = tiny_tts.encode_audio(wav, sr)
    same = tiny_tts.vary(wav, strength=0.0, sample_rate=sr, seed=4)
    assert torch.equal(same.codes, enc)
    changed = []
    for x in (0.2, 0.6, 1.0):
        v = tiny_tts.vary(wav, "a dog barks", strength=x, sample_rate=sr, seed=4)
        assert abs(v.extra[0]["kept_share"] - (1 - x)) < 0.2
        changed.append(float((v.codes != enc).float().mean()))
        assert v.waveform.shape == (1, len(wav))
    assert changed[0] < changed[1] < changed[2]


# ---------------------------------------------------------------------------------------------- negative
def test_negative_prompt_replaces_the_null_condition(steerable_tts):
    t = steerable_tts
    kw = dict(duration=0.5, seed=7)
    plain = t("a dog barks", cfg_scale=1.0, **kw)
    guided = t("a dog barks", cfg_scale=3.0, **kw)
    neg = t("a dog barks", negative_prompt="heavy rain on a roof", cfg_scale=3.0, **kw)
    assert not torch.equal(neg.codes, guided.codes)  # the negative changes the sampled tokens
    assert neg.settings["negative_prompt"] == "heavy rain on a roof"
    # negative == prompt: guidance cancels exactly, so the tokens are the unguided ones
    cancel = t("a dog barks", negative_prompt="a dog barks", cfg_scale=3.0, **kw)
    assert torch.equal(cancel.codes, plain.codes)
    # unset cfg_scale: the negative prompt gets the documented default scale
    from vividsound.editing import NEGATIVE_CFG_SCALE

    assert t("a dog barks", negative_prompt="rain", duration=0.2).settings["cfg_scale"] == NEGATIVE_CFG_SCALE


# ---------------------------------------------------------------------------------------------- long
def test_long_generation_is_windowed_deterministic_and_batch_independent(tiny_tts):
    d = 3.0  # the tiny GPT's window is 1.86 s (40 columns): windows of 40, 10, 10 and 5 new columns
    one = tiny_tts(["a dog barks", "wind"], duration=d, seed=11, batch_size=2)
    assert one.codes.shape[2] == tiny_tts.columns_for(d) and one.waveform.shape[1] == round(d * one.sample_rate)
    alone = tiny_tts.generate_rows(["wind"], [11], duration=d)
    assert torch.equal(alone.codes[0], one.codes[1])
    assert torch.allclose(alone.waveform[0], one.waveform[1], atol=1e-4)  # conv arithmetic varies with batch size
    again = tiny_tts(["a dog barks", "wind"], duration=d, seed=11, batch_size=1)
    assert torch.equal(again.codes, one.codes)
    # the first window is the plain sample of the same seed; later windows differ from a re-run of it
    short = tiny_tts("a dog barks", duration=tiny_tts.max_duration, seed=11)
    W = tiny_tts.gpt.config.max_columns
    assert torch.equal(one.codes[0, :, :W], short.codes[0])
    assert not torch.equal(one.codes[0, :, W : 2 * W - 10], one.codes[0, :, :W - 10])


def test_long_stream_has_the_same_codes_and_length(tiny_tts):
    chunks = list(tiny_tts.stream("rain falls", duration=3.0, seed=2, chunk_columns=6))
    final = chunks[-1]
    assert final.final and sum(len(c.waveform) for c in chunks) == round(3.0 * final.sample_rate)
    assert [c.start for c in chunks] == sorted(c.start for c in chunks)
    full = tiny_tts("rain falls", duration=3.0, seed=2)
    assert torch.equal(final.output.codes, full.codes)


# ---------------------------------------------------------------------------------------------- best of N
def test_best_of_n_keeps_the_best_scored_sample(tiny_tts, tiny_clap_dir):
    out = tiny_tts(["a dog barks", "wind"], duration=0.5, seed=1, candidates=3, scorer=tiny_clap_dir)
    scorer = tiny_tts.scorer(tiny_clap_dir)
    for i, prompt in enumerate(["a dog barks", "wind"]):
        e = out.extra[i]
        assert e["candidates"] == 3 and e["score"] == max(e["candidate_scores"])
        assert out.seeds[i] == e["candidate_seeds"][int(np.argmax(e["candidate_scores"]))]
        # the kept seed reproduces the kept sound, and the scorer gives it the recorded score
        again = tiny_tts(prompt, duration=0.5, seed=out.seeds[i])
        assert torch.equal(again.codes[0], out.codes[i])
        assert torch.allclose(again.waveform[0], out.waveform[i], atol=1e-4)  # decoded in another batch
        # this scorer reads the model's own mel settings: it scored the decoded spectrogram (no vocoder)
        assert scorer.reads_mel(tiny_tts.mel_config)
        assert abs(float(scorer.score_mel(again.mel, [prompt])[0]) - e["score"]) < 1e-3
        assert out.metadata(i)["candidate_scores"] == e["candidate_scores"]
    assert out.settings["vocoder"] == type(tiny_tts.vocoder).__name__
    # generate_rows (the evaluator's and the server's call) keeps the same best of N for the same row seeds
    rows = tiny_tts.generate_rows(["a dog barks", "wind"], [1, 1], duration=0.5, candidates=3, scorer=tiny_clap_dir)
    assert torch.equal(rows.codes, out.codes) and rows.seeds == out.seeds
    assert torch.allclose(rows.waveform, out.waveform, atol=1e-4)
    mel_only = tiny_tts.generate_rows(["a dog barks"], [1], duration=0.5, candidates=3, scorer=tiny_clap_dir, vocode=False)
    assert mel_only.waveform.shape[1] == 0 and torch.equal(mel_only.codes[0], out.codes[0])
    with pytest.raises(InputError, match="needs a scorer"):
        tiny_tts("a dog", duration=0.2, candidates=2)


def test_best_of_n_scores_waveforms_when_the_scorer_reads_other_mels(tiny_tts, tiny_clap_dir):
    """A CLAP made for another mel front end cannot read the decoded spectrogram: the candidates are vocoded
    and scored on their audio, resampled to the scorer's rate."""
    import dataclasses

    from vividsound.scoring import ClapScorer

    clap = ClapScorer.load(tiny_clap_dir).clap
    other = dataclasses.replace(tiny_tts.mel_config, sample_rate=tiny_tts.mel_config.sample_rate * 2)
    clap.config = dataclasses.replace(clap.config, mel=other)
    scorer = ClapScorer(clap, name="clap:other-mels")
    assert not scorer.reads_mel(tiny_tts.mel_config)
    out = tiny_tts("a dog barks", duration=0.5, seed=1, candidates=2, scorer=scorer)
    again = tiny_tts("a dog barks", duration=0.5, seed=out.seeds[0])
    assert abs(float(scorer.score(again.waveform, again.sample_rate, ["a dog barks"])[0]) - out.extra[0]["score"]) < 1e-3
    # without the vocoder (mel-domain evaluation) the same candidate is kept, and no audio is returned
    mel_only = tiny_tts.generate_rows(["a dog barks"], [1], duration=0.5, candidates=2, scorer=scorer, vocode=False)
    assert mel_only.waveform.shape == (1, 0) and mel_only.seeds == out.seeds


# ---------------------------------------------------------------------------------------------- errors
@pytest.mark.parametrize("call, match", [
    (lambda t, w, sr: t.inpaint(w, "x", start=0.5, end=2.0, sample_rate=sr), "allowed: 0 <= start < end"),
    (lambda t, w, sr: t.inpaint(w, "x", start=0.5, end=0.51, sample_rate=sr), "shorter than one code column"),
    (lambda t, w, sr: t.inpaint(w, "x", start=-1, end=0.5, sample_rate=sr), "allowed: 0 <= start"),
    (lambda t, w, sr: t.continue_audio(w, "x", duration=0.5, sample_rate=sr), "longer than the given"),
    (lambda t, w, sr: t.continue_audio(w, "x", duration=500.0, sample_rate=sr), "duration"),
    (lambda t, w, sr: t.continue_audio(w[:100], "x", duration=2.0, sample_rate=sr), "at least one code column"),
    (lambda t, w, sr: t.continue_audio(w[:0], "x", duration=2.0, sample_rate=sr), "holds no samples"),
    (lambda t, w, sr: t.continue_audio(w, "x", duration=2.0), "needs its sample_rate"),
    (lambda t, w, sr: t.vary(w, strength=1.5, sample_rate=sr), "strength"),
    (lambda t, w, sr: t.vary(w, negative_prompt="rain", sample_rate=sr), "needs a prompt"),
    (lambda t, w, sr: t("a dog", negative_prompt="rain", cfg_scale=1.0), "cfg_scale > 1"),
    (lambda t, w, sr: t("a dog", duration=121.0), "duration"),
    (lambda t, w, sr: t.vary(np.full(2000, np.nan), sample_rate=sr), "non-finite"),
])
def test_bad_edit_input_gets_a_one_line_error(tiny_tts, clip, call, match):
    wav, sr = clip
    with pytest.raises(InputError, match=match) as e:
        call(tiny_tts, wav, sr)
    assert "\n" not in str(e.value)
