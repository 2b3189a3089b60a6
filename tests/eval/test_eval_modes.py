"""Batched generation, the mel domain, probes per type, the retrieval baseline and the CLI's probe checker."""

import json
import sys
import types

import numpy as np
import pytest
import torch

from eval_fakes import FakeClap, FakeGenerator, FakeTagger, fake_check, write_corpus, write_probes
from vividsound.audio import MelConfig, load_audio, num_frames
from vividsound.data.manifest import read_manifest
from vividsound.errors import InputError
from vividsound.eval.retrieval import RetrievalGenerator
from vividsound.eval.runner import Components, EvalConfig, evaluate, read_probes


class MelTagger:
    """A tagger on the pipelines' own MelConfig (band means of the log-mel), for mel-domain runs."""

    tags = ["low", "mid", "high", "noise"]
    mel_config = MelConfig()

    def embed(self, log_mel):
        return log_mel.mean(-1)

    def predict(self, log_mel):
        m = log_mel.mean(-1)
        return torch.sigmoid(torch.stack([m[:, :10].mean(1), m[:, 10:30].mean(1), m[:, 30:60].mean(1),
                                          m[:, 60:].mean(1)], 1))


class RowsOnly:
    """The tiny pipeline behind a proxy that counts generate_rows calls."""

    def __init__(self, tts):
        self.tts, self.calls, self.mel_config = tts, [], tts.mel_config

    def generate_rows(self, prompts, seeds, **kw):
        self.calls.append(len(prompts))
        return self.tts.generate_rows(prompts, seeds, **kw)


class CallOnly:
    """The tiny pipeline with only __call__ (no generate_rows): the one-item-at-a-time path."""

    def __init__(self, tts):
        self.tts, self.mel_config = tts, tts.mel_config

    def __call__(self, prompts, **kw):
        return self.tts(prompts, **kw)


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    return write_corpus(tmp_path_factory.mktemp("corpus"))


def _items(corpus):
    return read_manifest(corpus, split="test")


def test_batched_generation_gives_the_same_clips(corpus, tiny_tts, tmp_path):
    cfg1 = EvalConfig(duration=0.5, num_samples=2, batch_size=1)
    cfg4 = EvalConfig(duration=0.5, num_samples=2, batch_size=4)
    one = evaluate(Components(generator=CallOnly(tiny_tts), tagger=FakeTagger()), _items(corpus), corpus.parent,
                   tmp_path / "one", cfg1, show_progress=False)
    gen = RowsOnly(tiny_tts)
    four = evaluate(Components(generator=gen, tagger=FakeTagger()), _items(corpus), corpus.parent,
                    tmp_path / "four", cfg4, show_progress=False)
    assert gen.calls == [8, 4]  # 6 items x 2 samples: 4 items, then 2
    for name in sorted((tmp_path / "one" / "cache").glob("*.npz")):
        a, b = np.load(name), np.load(tmp_path / "four" / "cache" / name.name)
        np.testing.assert_allclose(a["mel"], b["mel"], atol=1e-5)
    for key in ("psnr", "fd_tagger", "mmkl", "diversity_mel"):
        assert four["systems"]["Generated"][key] == pytest.approx(one["systems"]["Generated"][key], rel=1e-4, abs=1e-6)


def test_mel_domain_skips_the_vocoder(corpus, tiny_tts, tmp_path):
    probes = read_probes(write_probes(tmp_path / "probes"))
    rep = evaluate(Components(generator=RowsOnly(tiny_tts), tagger=MelTagger(), aisfx=object()), _items(corpus),
                   corpus.parent, tmp_path / "mel", EvalConfig(duration=0.5, batch_size=3, domain="mel"), probes,
                   show_progress=False)
    g = rep["systems"]["Generated"]
    assert isinstance(g["psnr"], float) and isinstance(g["mmkl"], float) and g["mmkl"] > 0
    assert rep["systems"]["Original"]["mmkl"] == pytest.approx(0.0, abs=1e-9)
    assert g["fd_aisfx"].startswith("unavailable: needs waveforms")
    assert rep["probes"].startswith("n/a: the probe checkers need waveforms")
    assert not list((tmp_path / "mel" / "audio").glob("*.wav"))
    mel = np.load(sorted((tmp_path / "mel" / "cache").glob("*.npz"))[0])["mel"]
    assert mel.shape[-1] == num_frames(round(0.5 * 22050), MelConfig())


def test_mel_domain_rejects_helpers_on_another_mel(corpus, tiny_tts, tmp_path):
    with pytest.raises(InputError, match="MelConfig"):
        evaluate(Components(generator=RowsOnly(tiny_tts), tagger=FakeTagger()), _items(corpus), corpus.parent,
                 tmp_path, EvalConfig(duration=0.5, domain="mel"), show_progress=False)


def test_mel_domain_needs_generate_rows(corpus, tmp_path):
    with pytest.raises(InputError, match="generate_rows"):
        evaluate(Components(generator=FakeGenerator()), _items(corpus), corpus.parent, tmp_path,
                 EvalConfig(domain="mel"), show_progress=False)


@pytest.mark.parametrize("kw", [{"domain": "spectrum"}, {"batch_size": 0}, {"probes_per_type": 0}])
def test_bad_eval_options(kw):
    with pytest.raises(InputError):
        EvalConfig(**kw)


def test_probes_per_type(corpus, tmp_path):
    probes = read_probes(write_probes(tmp_path / "probes"))  # two "pitch", one "pitch_mid"
    comp = Components(generator=FakeGenerator(), probe_checker=fake_check)
    rep = evaluate(comp, _items(corpus), corpus.parent, tmp_path / "r", EvalConfig(probes_per_type=1), probes,
                   show_progress=False)
    assert rep["probes"]["count_by_type"] == {"pitch": 1, "pitch_mid": 1}
    assert rep["probes"]["accuracy_by_type"] == {"pitch": 1.0, "pitch_mid": 1.0}


# ----- the retrieval baseline --------------------------------------------------------------------

def test_retrieval_plays_the_clip_of_the_nearest_caption(corpus, tiny_tts, tmp_path):
    items = _items(corpus)
    r = RetrievalGenerator(items, corpus.parent, tiny_tts.text_encoder, MelConfig(), cache_file=tmp_path / "i.pt")
    out = r.generate_rows(["a mid beep"], [0], duration=1.5)
    (item,) = [it for it in items if it.id == out.retrieved[0]]
    assert item.captions[0] == "a mid beep" and out.similarity[0] == pytest.approx(1.0, abs=1e-3)
    audio = load_audio(item.audio_path(corpus.parent), 22050)
    n = round(1.5 * 22050)
    assert out.waveform.shape == (1, n)
    np.testing.assert_allclose(out.waveform[0, : len(audio)].numpy(), audio, atol=1e-6)
    assert float(out.waveform[0, len(audio):].abs().max()) == 0.0  # silence after the clip
    assert out.mel.shape[:2] == (1, 80)


def test_retrieval_seed_picks_among_clips_sharing_the_caption(corpus, tiny_tts):
    r = RetrievalGenerator(_items(corpus), corpus.parent, tiny_tts.text_encoder, MelConfig())
    picked = {r.generate_rows(["a low hum"], [s], duration=0.5).retrieved[0] for s in range(12)}
    assert picked == {"low-0", "low-4"}
    out = r(["a low hum"], duration=0.5, seed=3, num_samples=2)
    assert out.seeds == [3, 4] and out.waveform.shape[0] == 2


def test_retrieval_index_is_cached_and_rebuilt_when_damaged(corpus, tiny_tts, tmp_path, monkeypatch):
    path = tmp_path / "index.pt"
    first = RetrievalGenerator(_items(corpus), corpus.parent, tiny_tts.text_encoder, MelConfig(), cache_file=path)
    calls = []
    real = RetrievalGenerator.embed
    monkeypatch.setattr(RetrievalGenerator, "embed", lambda self, t: calls.append(len(t)) or real(self, t))
    again = RetrievalGenerator(_items(corpus), corpus.parent, tiny_tts.text_encoder, MelConfig(), cache_file=path)
    assert calls == [] and torch.equal(again.index, first.index)
    path.write_bytes(b"not a torch file")
    rebuilt = RetrievalGenerator(_items(corpus), corpus.parent, tiny_tts.text_encoder, MelConfig(), cache_file=path)
    assert calls and torch.equal(rebuilt.index, first.index)


def test_retrieval_in_the_evaluator_matches_the_original_classes(corpus, tiny_tts, tmp_path):
    items = _items(corpus)
    r = RetrievalGenerator(items, corpus.parent, tiny_tts.text_encoder, MelConfig())
    rep = evaluate(Components(generator=r, tagger=FakeTagger(), clap=FakeClap()), items, corpus.parent, tmp_path,
                   EvalConfig(relevance_k=1, duration=1.0), show_progress=False)
    s = rep["systems"]
    assert s["Generated"]["class_relevance"] == pytest.approx(s["Original"]["class_relevance"])
    assert s["Generated"]["class_relevance"] > s["Shuffled references"]["class_relevance"]


def test_retrieval_bad_input(corpus, tiny_tts):
    with pytest.raises(InputError, match="captions must be"):
        RetrievalGenerator(_items(corpus), corpus.parent, tiny_tts.text_encoder, MelConfig(), captions="some")
    r = RetrievalGenerator(_items(corpus), corpus.parent, tiny_tts.text_encoder, MelConfig())
    with pytest.raises(InputError, match="seeds"):
        r.generate_rows(["a", "b"], [1], duration=1.0)


# ----- the command line -------------------------------------------------------------------------

def test_cli_uses_the_corpus_probe_checkers_and_retrieval(corpus, tiny_tts, tmp_path, monkeypatch):
    from vividsound.data import checkers
    from vividsound.eval.cli import load_components

    fake = types.ModuleType("vividsound.pipeline")
    fake.TextToSound = types.SimpleNamespace(from_pretrained=lambda path: tiny_tts)
    monkeypatch.setitem(sys.modules, "vividsound.pipeline", fake)
    (tmp_path / "model").mkdir()
    args = types.SimpleNamespace(model=str(tmp_path / "model"), corpus=str(corpus.parent), tagger=None,
                                 captioner=None, clap=None, no_aisfx=True, retrieval=True, retrieval_captions="all",
                                 out=str(tmp_path / "out"), no_progress=True)
    comp = load_components(args)
    assert comp.probe_checker is checkers.check
    assert isinstance(comp.generator, RetrievalGenerator)
    assert [it.id for it in comp.generator.items] == ["train-0"]  # the train split only
    assert (tmp_path / "out" / "cache" / "retrieval-index.pt").is_file()
    assert json.loads(json.dumps(comp.reasons))["aisfx"] == "skipped (--no-aisfx)"


# ----- comparing reports -------------------------------------------------------------------------

def test_compare_reports(corpus, tmp_path, capsys):
    from vividsound.eval.compare import compare_table, load_report, main

    items = _items(corpus)
    probes = read_probes(write_probes(tmp_path / "probes"))
    for name, gen in (("good", FakeGenerator()), ("wrong", FakeGenerator(wrong=True))):
        evaluate(Components(generator=gen, tagger=FakeTagger(), probe_checker=fake_check), items, corpus.parent,
                 tmp_path / name, EvalConfig(relevance_k=1), probes, show_progress=False)
    named = [("good", load_report(tmp_path / "good")), ("wrong", load_report(tmp_path / "wrong"))]
    table = compare_table(named, original=True, probes=True, metrics=["class_relevance", "mmkl"])
    lines = table.strip().splitlines()
    assert lines[0].startswith("| system | class relevance (in-house tagger) ↑ | MMKL tagger (in-house) ↓ | probe pitch ↑")
    assert [ln.split("|")[1].strip() for ln in lines[2:]] == ["good", "wrong", "Original (reference audio)",
                                                              "Shuffled references"]
    good_rel = float(lines[2].split("|")[2])
    wrong_rel = float(lines[3].split("|")[2])
    assert good_rel > wrong_rel
    assert main([f"good={tmp_path / 'good'}", f"wrong={tmp_path / 'wrong'}", "--metrics", "psnr"]) == 0
    assert "| good |" in capsys.readouterr().out
    evaluate(Components(generator=FakeGenerator()), items[:3], corpus.parent, tmp_path / "fewer", EvalConfig(),
             show_progress=False)
    assert main([f"good={tmp_path / 'good'}", f"fewer={tmp_path / 'fewer'}"]) == 2
    assert "different items" in capsys.readouterr().out
    assert main(["nonsense"]) == 2


def test_sample_is_a_seeded_subset_in_manifest_order(corpus):
    from vividsound.eval.runner import select_items

    items = _items(corpus)
    a = select_items(items, EvalConfig(sample=3, sample_seed=1))
    assert len(a) == 3 == len({it.id for it in a})
    order = [it.id for it in items]
    assert [order.index(it.id) for it in a] == sorted(order.index(it.id) for it in a)
    assert [it.id for it in select_items(items, EvalConfig(sample=3, sample_seed=1))] == [it.id for it in a]
    picks = {tuple(it.id for it in select_items(items, EvalConfig(sample=3, sample_seed=s))) for s in range(8)}
    assert len(picks) > 1  # the seed matters
    assert select_items(items, EvalConfig(sample=100)) == items
    assert select_items(items, EvalConfig(max_items=2)) == items[:2]
    with pytest.raises(InputError, match="not both"):
        EvalConfig(sample=3, max_items=2)
    with pytest.raises(InputError, match="sample must be"):
        EvalConfig(sample=1)
