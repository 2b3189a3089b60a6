"""The evaluation runner end to end on fake components and a tiny corpus written by the test."""

import json
import sys
import types

import pytest

from eval_fakes import (FakeCaptioner, FakeClap, FakeGenerator, FakeTagger, fake_check, write_corpus,
                        write_probes)
from vividsound.data.manifest import read_manifest
from vividsound.errors import InputError
from vividsound.eval.runner import Components, EvalConfig, evaluate, read_probes


def _full(gen=None):
    return Components(generator=gen or FakeGenerator(), tagger=FakeTagger(), captioner=FakeCaptioner(),
                      clap=FakeClap(), probe_checker=fake_check, reasons={"spice": "no java here (test)"})


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    root = tmp_path_factory.mktemp("corpus")
    return write_corpus(root)


@pytest.fixture(scope="module")
def report(corpus, tmp_path_factory):
    out = tmp_path_factory.mktemp("report")
    items = read_manifest(corpus, split="test")
    probes = read_probes(write_probes(tmp_path_factory.mktemp("probes")))
    rep = evaluate(_full(), items, corpus.parent, out, EvalConfig(num_samples=2, grid_items=2, relevance_k=1), probes,
                   meta={"model": "fake"}, show_progress=False)
    return rep, out


def test_writes_report_files(report):
    rep, out = report
    on_disk = json.loads((out / "report.json").read_text())
    assert on_disk["systems"] == rep["systems"]
    assert set(rep["systems"]) == {"Generated", "Original", "Shuffled references"}
    md = (out / "report.md").read_text()
    assert "| CIDEr-D (in-house captioner) ↑ |" in md and "### In-house judges" in md and "Original" in md and "Shuffled references" in md
    png = (out / "spectrograms.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 5000
    assert rep["num_items"] == 6 and len(list((out / "audio").glob("*.wav"))) == 6


def test_original_beats_shuffled_references(report):
    # The mismatched caption-audio control: every caption-aware metric must prefer the true pairs.
    rows = report[0]["systems"]
    orig, shuf = rows["Original"], rows["Shuffled references"]
    assert orig["psnr"] == 100.0 and shuf["psnr"] < 100.0
    assert orig["mmkl"] == pytest.approx(0.0, abs=1e-9) and shuf["mmkl"] > 0.05
    assert orig["kl_aisfx"] == "unavailable: no aisfx given"
    assert orig["clap_score"] > shuf["clap_score"] + 0.3
    assert orig["class_relevance"] > shuf["class_relevance"]
    assert orig["class_relevance"] == 1.0
    assert orig["cider_d"] > shuf["cider_d"] + 1.0
    # set-level FD does not depend on the pairing: the shuffled row has the same (zero) FD
    assert orig["fd_tagger"] == pytest.approx(0.0, abs=1e-9) and shuf["fd_tagger"] == pytest.approx(orig["fd_tagger"], abs=1e-9)
    # 6 clips -> one IS split; four distinct sounds give an IS well above 1 (1 is the degenerate value)
    assert orig["is_tagger"] > 1.5 and orig["is_tagger"] == pytest.approx(shuf["is_tagger"], rel=1e-12)


def test_generated_row_and_diversity(report):
    gen = report[0]["systems"]["Generated"]
    # the fake generator renders what the prompt names, so it is recognised
    assert gen["class_relevance"] == 1.0
    assert gen["clap_score"] > report[0]["systems"]["Shuffled references"]["clap_score"]
    assert 0 < gen["diversity_mel"] < 1 and gen["diversity_tagger"] > 0
    assert report[0]["systems"]["Original"]["diversity_mel"].startswith("n/a:")
    assert gen["spice"] == "unavailable: no java here (test)"
    assert len(report[0]["items"][0]["captions_back"]) == 2


def test_probes_per_type(report):
    probes = report[0]["probes"]
    assert probes["accuracy_by_type"] == {"pitch": 1.0, "pitch_mid": 1.0}
    assert probes["count_by_type"] == {"pitch": 4, "pitch_mid": 2}


def test_text_ignoring_generator_scores_worse(corpus, tmp_path):
    items = read_manifest(corpus, split="test")
    cfg = EvalConfig(relevance_k=1)
    rep = evaluate(_full(FakeGenerator(wrong=True)), items, corpus.parent, tmp_path, cfg, show_progress=False)
    good = evaluate(_full(), items, corpus.parent, tmp_path / "good", cfg, show_progress=False)
    bad, ok = rep["systems"]["Generated"], good["systems"]["Generated"]
    assert bad["class_relevance"] < ok["class_relevance"]
    assert bad["mmkl"] > ok["mmkl"]
    assert bad["cider_d"] < ok["cider_d"]


def test_missing_models_are_unavailable_not_invented(corpus, tmp_path):
    items = read_manifest(corpus, split="test")
    comp = Components(generator=FakeGenerator(), reasons={"tagger": "no tagger (pass --tagger DIR)"})
    rep = evaluate(comp, items, corpus.parent, tmp_path, EvalConfig(max_items=3), show_progress=False)
    g = rep["systems"]["Generated"]
    assert isinstance(g["psnr"], float)
    for key in ("fd_tagger", "mmkl", "is_tagger", "class_relevance"):
        assert g[key] == "unavailable: no tagger (pass --tagger DIR)"
    for key in ("clap_score", "cider_d", "spice", "fd_aisfx"):
        assert g[key].startswith("unavailable:")
    assert rep["probes"].startswith("n/a:")
    assert rep["num_items"] == 3


def test_resume_reuses_cached_generations(corpus, tmp_path):
    items = read_manifest(corpus, split="test")
    gen = FakeGenerator()
    first = evaluate(_full(gen), items, corpus.parent, tmp_path, EvalConfig(), show_progress=False)
    calls = gen.calls
    again = evaluate(_full(gen), items, corpus.parent, tmp_path, EvalConfig(), show_progress=False)
    assert gen.calls == calls == 6
    assert again["systems"] == first["systems"]
    evaluate(_full(gen), items, corpus.parent, tmp_path, EvalConfig(seed=5), show_progress=False)
    assert gen.calls == 12  # a different seed is a different request


def test_too_few_items(corpus, tmp_path):
    items = read_manifest(corpus, split="test")[:1]
    with pytest.raises(InputError, match="at least 2 items"):
        evaluate(_full(), items, corpus.parent, tmp_path, EvalConfig(), show_progress=False)


def test_cli_end_to_end(corpus, tmp_path, monkeypatch):
    from vividsound.cli import main

    fake = types.ModuleType("vividsound.pipeline")
    fake.TextToSound = types.SimpleNamespace(from_pretrained=lambda path: FakeGenerator())
    monkeypatch.setitem(sys.modules, "vividsound.pipeline", fake)
    model = tmp_path / "model"
    model.mkdir()
    out = tmp_path / "out"
    code = main(["evaluate", "--model", str(model), "--corpus", str(corpus.parent), "--num-samples", "1",
                 "--max-items", "3", "--no-aisfx", "--no-progress", "--out", str(out)])
    assert code == 0
    rep = json.loads((out / "report.json").read_text())
    assert rep["split"] == "test" and rep["num_items"] == 3
    # in-house judges are used only when asked for; the generator is not told the reference's length
    assert rep["systems"]["Generated"]["mmkl"] == ("unavailable: in-house judge not requested "
                                                   "(pass --tagger DIR or --in-house)")
    assert rep["unavailable_components"]["aisfx"] == "skipped (--no-aisfx)"
    assert rep["config"]["duration"] == 1.0 and rep["config"]["match_reference_length"] is False
    assert {it["duration"] for it in rep["items"]} == {1.0}
    code = main(["evaluate", "--model", str(model), "--corpus", str(corpus.parent), "--max-items", "2",
                 "--no-aisfx", "--no-progress", "--in-house", "--out", str(tmp_path / "out2")])
    rep = json.loads((tmp_path / "out2" / "report.json").read_text())
    assert rep["systems"]["Generated"]["mmkl"].startswith("unavailable: no tagger (pass --tagger DIR;")


def test_match_reference_length_tells_the_generator_only_when_asked(corpus, tmp_path):
    items = read_manifest(corpus, split="test")[:3]  # 1 s references
    gen = FakeGenerator()
    gen.defaults = types.SimpleNamespace(duration=0.75)
    rep = evaluate(Components(generator=gen), items, corpus.parent, tmp_path / "fixed", EvalConfig(),
                   show_progress=False)
    assert [it["duration"] for it in rep["items"]] == [0.75] * 3
    rep = evaluate(Components(generator=gen), items, corpus.parent, tmp_path / "match",
                   EvalConfig(match_reference_length=True), show_progress=False)
    assert [it["duration"] for it in rep["items"]] == [1.0] * 3
    assert "its reference's length" in (tmp_path / "match" / "report.md").read_text()
    with pytest.raises(InputError, match="not both"):
        EvalConfig(duration=2.0, match_reference_length=True)


def test_nan_features_stop_the_evaluation(corpus, tmp_path):
    class NaNTagger(FakeTagger):
        def embed(self, log_mel):
            e = super().embed(log_mel)
            e[0, 0] = float("nan")
            return e

    items = read_manifest(corpus, split="test")[:3]
    comp = Components(generator=FakeGenerator(), tagger=NaNTagger())
    with pytest.raises(InputError, match="tagger.embed returned NaN or infinite values for 1 of 1 clip"):
        evaluate(comp, items, corpus.parent, tmp_path, EvalConfig(), show_progress=False)
    assert not (tmp_path / "report.json").exists()


def test_metric_columns_say_who_judges(report):
    from vividsound.eval.runner import METRIC_INFO, METRIC_JUDGE

    header = report[0]["metrics"]
    for key in ("fd_tagger", "mmkl", "kl_sigmoid_tagger", "is_tagger", "clap_score", "cider_d", "spice",
                "class_relevance", "diversity_tagger"):
        assert METRIC_JUDGE[key] == header[key]["judge"] == "in-house" and "in-house" in header[key]["label"]
    for key in ("fd_aisfx", "kl_aisfx", "is_aisfx", "psnr", "diversity_mel"):
        assert METRIC_JUDGE[key] == "independent" and "in-house" not in METRIC_INFO[key][0]
    gen = report[0]["systems"]["Generated"]
    # the published-form KL sits beside MMKL, and is a different number
    assert isinstance(gen["kl_sigmoid_tagger"], float) and gen["kl_sigmoid_tagger"] != pytest.approx(gen["mmkl"])


def test_cli_without_pipeline_is_a_clean_error(corpus, tmp_path, monkeypatch, capsys):
    from vividsound.cli import main

    monkeypatch.setitem(sys.modules, "vividsound.pipeline", None)  # import fails
    model = tmp_path / "model"
    model.mkdir()
    code = main(["evaluate", "--model", str(model), "--corpus", str(corpus.parent), "--out", str(tmp_path / "o")])
    assert code == 2
    assert "no vividsound.pipeline" in capsys.readouterr().err


@pytest.mark.skipif(__import__("importlib").util.find_spec("aisfx") is None, reason="aisfx not installed")
def test_aisfx_metrics_in_the_runner(corpus, tmp_path):
    from vividsound.eval.aisfx import ATTRIBUTION, load_aisfx

    items = read_manifest(corpus, split="test")[:2]
    comp = _full()
    comp.aisfx = load_aisfx()
    rep = evaluate(comp, items, corpus.parent, tmp_path, EvalConfig(relevance_k=1), show_progress=False)
    orig, shuf = rep["systems"]["Original"], rep["systems"]["Shuffled references"]
    # the published form adds 1e-6 to the generation's probabilities: Original is ~ -1e-5, not exactly 0
    assert orig["kl_aisfx"] == pytest.approx(0.0, abs=1e-4) and shuf["kl_aisfx"] > 0.01
    assert orig["fd_aisfx"] == pytest.approx(0.0, abs=1e-9) and isinstance(rep["systems"]["Generated"]["fd_aisfx"], float)
    assert rep["attribution"] == [ATTRIBUTION]
    assert "CC BY 4.0" in (tmp_path / "report.md").read_text()
