"""Bad input fails with one clear line before training starts."""

import json

import pytest

from train_helpers import TINY_CNN, tiny_overrides
from vividsound.cli import main
from vividsound.errors import ConfigError
from vividsound.train import load_stage_config, train
from vividsound.train.data import DataError


def test_unknown_key_and_wrong_type():
    with pytest.raises(ConfigError, match="unknown config key.*train.stepz"):
        load_stage_config("tagger", None, ["train.stepz=3"])
    with pytest.raises(ConfigError, match="train.steps: expected an integer"):
        load_stage_config("vqgan", None, ["train.steps=many"])
    with pytest.raises(ConfigError, match="unknown stage"):
        load_stage_config("diffusion", None)


def test_config_file_unknown_key(tmp_path):
    f = tmp_path / "c.yaml"
    f.write_text("train:\n  steps: 3\nmodel:\n  widht: 3\n")
    with pytest.raises(ConfigError, match="model.widht"):
        load_stage_config("gpt", f)


def test_missing_audio_and_empty_split(corpus, tmp_path):
    lines = corpus.read_text().splitlines()
    (tmp_path / "audio").symlink_to(corpus.parent / "audio")
    bad = tmp_path / "manifest.jsonl"
    d = json.loads(lines[0])
    d["audio"] = str(corpus.parent / "audio" / "gone.flac")
    bad.write_text("\n".join([json.dumps(d)] + lines[1:]) + "\n")
    with pytest.raises(DataError, match=r"1 audio file\(s\) of split 'train' are missing, e.g. .*gone.flac"):
        train("tagger", None, tmp_path / "r1", overrides=tiny_overrides(bad, tmp_path / "c") + TINY_CNN)
    novals = tmp_path / "noval.jsonl"
    novals.write_text("\n".join(l for l in lines if '"val"' not in l) + "\n")
    with pytest.raises(DataError, match="has no items in split 'val'"):
        train("tagger", None, tmp_path / "r2", overrides=tiny_overrides(novals, tmp_path / "c") + TINY_CNN)
    assert not (tmp_path / "r1").exists() and not (tmp_path / "r2").exists()


def test_cli_prints_one_line(corpus, tmp_path, capsys):
    rc = main(["train", "tagger", "--out", str(tmp_path / "r"), "--set", "train.steps=zero"])
    assert rc == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "train.steps" in err
    rc = main(["train", "tagger", "--out", str(tmp_path / "r"), "--set", f"data.manifest={corpus}",
               "--set", f"data.cache_dir={tmp_path / 'c'}", "--set", "train.steps=1", "--set", "train.progress=false",
               "--set", "train.threads=1", "--set", "train.tensorboard=false", "--set", "data.crop_frames=16",
               "--set", "model.cnn.channels=[4]", "--set", "model.cnn.embed_dim=4", "--set", "train.batch_size=2"])
    assert rc == 0 and (tmp_path / "r" / "export" / "tagger" / "model.safetensors").is_file()
    assert (tmp_path / "r" / "config.yaml").read_text().count("\n  steps: 1\n") == 1
