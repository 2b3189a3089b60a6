"""A run interrupted midway and resumed ends with exactly the weights of an uninterrupted run."""

import pytest
import torch

from train_helpers import TINY_CNN, TINY_GPT, TINY_VQ, tiny_overrides
from vividsound.checkpoint import load_component
from vividsound.train import train
from vividsound.train.loop import TrainingError


def _same_weights(a, b, names):
    for n in names:
        sa = load_component(a / "checkpoints" / "last" / n).state_dict()
        sb = load_component(b / "checkpoints" / "last" / n).state_dict()
        assert sa.keys() == sb.keys()
        for k in sa:
            assert torch.equal(sa[k], sb[k]), f"{n}.{k} differs after resume"


def _check_resume(stage, overrides, tmp_path, names, steps=6, stop=3):
    full, part = tmp_path / "full", tmp_path / "part"
    o = overrides + [f"train.steps={steps}", f"train.ckpt_every={stop}"]
    train(stage, None, full, overrides=o)
    train(stage, None, part, overrides=o + [f"train.stop_after={stop}"])
    assert not (part / "export").exists() and (part / "checkpoints" / "last" / "state.pt").is_file()
    at_stop = {n: load_component(part / "checkpoints" / "last" / n).state_dict() for n in names}
    train(stage, None, part, overrides=o, resume=True)
    _same_weights(full, part, names)
    # and every component's weights changed after the resume, so the comparison means something (a resume
    # that trained nothing, or a stage whose steps leave the weights alone, would not pass)
    for n in names:
        end = load_component(part / "checkpoints" / "last" / n).state_dict()
        assert any(not torch.equal(at_stop[n][k], end[k]) for k in end), f"{n}: no weight changed after the resume"
    assert (part / "export").is_dir()


def test_resume_tagger_exact(corpus, tmp_path):
    _check_resume("tagger", tiny_overrides(corpus, tmp_path / "c") + TINY_CNN + ["model.cnn.dropout=0.3"],
                  tmp_path, ["tagger"])


def test_resume_vqgan_exact_across_discriminator_start(corpus, tmp_path, tagger_dir):
    _check_resume("vqgan", tiny_overrides(corpus, tmp_path / "c", grad_accum=2) + TINY_VQ +
                  [f"loss.tagger={tagger_dir}", "loss.disc_start=2"], tmp_path, ["vqgan", "discriminator"])


def test_resume_gpt_exact(corpus, shared_cache, vqgan_dir, tiny_bert_dir, tmp_path):
    _check_resume("gpt", tiny_overrides(corpus, shared_cache) + TINY_GPT +
                  [f"vqgan={vqgan_dir}", f"text.path={tiny_bert_dir}", "model.dropout=0.2", "cond_dropout=0.3"],
                  tmp_path, ["gpt"])


def test_resume_refuses_other_config_and_fresh_run_refuses_used_folder(corpus, tmp_path):
    o = tiny_overrides(corpus, tmp_path / "c", steps=2) + TINY_CNN
    train("tagger", None, tmp_path / "run", overrides=o)
    with pytest.raises(TrainingError, match="already holds a run"):
        train("tagger", None, tmp_path / "run", overrides=o)
    with pytest.raises(TrainingError, match=r"config differs at train.lr"):
        train("tagger", None, tmp_path / "run", overrides=o + ["train.lr=0.01"], resume=True)
    with pytest.raises(TrainingError, match="holds no run"):
        train("tagger", None, tmp_path / "empty", overrides=o, resume=True)


def test_ctrl_c_saves_after_the_step_and_resume_is_exact(corpus, tmp_path, monkeypatch):
    import os
    import signal

    from vividsound.train.tagger import TaggerStage

    o = tiny_overrides(corpus, tmp_path / "c") + TINY_CNN + ["train.steps=5"]
    train("tagger", None, tmp_path / "full", overrides=o)
    orig = TaggerStage.train_step

    def interrupted(self):
        logs = orig(self)
        if self.step == 1:  # during the second step
            os.kill(os.getpid(), signal.SIGINT)
        return logs

    monkeypatch.setattr(TaggerStage, "train_step", interrupted)
    train("tagger", None, tmp_path / "part", overrides=o)
    monkeypatch.setattr(TaggerStage, "train_step", orig)
    state = torch.load(tmp_path / "part" / "checkpoints" / "last" / "state.pt", weights_only=True)
    assert state["step"] == 2 and not (tmp_path / "part" / "DONE").exists()
    train("tagger", None, tmp_path / "part", overrides=o, resume=True)
    _same_weights(tmp_path / "full", tmp_path / "part", ["tagger"])
