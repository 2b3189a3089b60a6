"""configs/ load and keep their promises; train-default runs every stage and resumes stage by stage."""

import json
from pathlib import Path

import pytest
import yaml

from train_helpers import TINY_CNN, TINY_CNN_CLAP, TINY_GPT, TINY_VQ
from vividsound.train import load_stage_config

CONFIGS = Path(__file__).resolve().parents[2] / "configs"


@pytest.mark.parametrize("kind", ["default", "paper"])
@pytest.mark.parametrize("stage", ["tagger", "vqgan", "clap", "gpt", "melgan", "captioner"])
def test_configs_load(kind, stage):
    load_stage_config(stage, CONFIGS / kind / f"{stage}.yaml")


def test_default_gpt_full_is_the_gpt_on_whole_clips():
    g = load_stage_config("gpt", CONFIGS / "default" / "gpt.yaml")
    f = load_stage_config("gpt", CONFIGS / "default" / "gpt_full.yaml")
    assert (f.crop_columns, f.crop_start) == (f.model.max_columns, "head") and g.crop_start == "random"
    assert f.model == g.model and f.text == g.text and f.export == g.export


def test_paper_sizes():
    vq = load_stage_config("vqgan", CONFIGS / "paper" / "vqgan.yaml")
    assert vq.model.mel.n_mels == 80 and vq.model.downsample == (16, 16)
    assert (vq.model.quantizer.n_codes, vq.model.quantizer.code_dim) == (1024, 256)
    assert vq.loss.disc_start == 30001 and vq.data.crop_frames // 16 == 53
    g = load_stage_config("gpt", CONFIGS / "paper" / "gpt.yaml")
    assert (g.model.n_layer, g.model.n_head, g.model.n_embd, g.export.top_k) == (24, 16, 1024, 512)


def test_default_model_is_small_enough_to_ship():
    import torch

    from vividsound.models.gpt import ConditionalGPT, GPTConfig
    from vividsound.models.vqgan import VQGAN

    vq = load_stage_config("vqgan", CONFIGS / "default" / "vqgan.yaml").model
    g = load_stage_config("gpt", CONFIGS / "default" / "gpt.yaml")
    vqgan = VQGAN(vq)
    gpt = ConditionalGPT(GPTConfig(vocab_size=vq.quantizer.n_codes, block_size=g.model.max_columns * vq.rows,
                                   rows=vq.rows, cond_dim=384, cond_len=g.text.max_tokens, n_layer=g.model.n_layer,
                                   n_head=g.model.n_head, n_embd=g.model.n_embd))
    adapter = 2 * 384 * 384 + 4 * 384
    n = sum(p.numel() for m in (vqgan, gpt) for p in m.state_dict().values() if p.is_floating_point()) + adapter
    assert n * 2 < 40e6, f"{n * 2 / 1e6:.1f} MB in fp16"
    assert 4 <= g.model.n_layer <= 8 and 256 <= g.model.n_embd <= 384 and g.export.fp16
    assert g.model.max_columns * vq.downsample[1] >= 861  # 10 s at 22,050 Hz


def test_train_default_runs_every_stage_and_resumes(corpus, tiny_bert_dir, tmp_path, capsys):
    from vividsound.pipeline import TextToSound
    from vividsound.train.default_cli import train_default

    cdir = tmp_path / "configs"
    cdir.mkdir()
    quiet = {"train": {"steps": 2, "batch_size": 4, "progress": False, "tensorboard": False, "threads": 1,
                       "val_every": 0, "ckpt_every": 0, "warmup_steps": 1}, "data": {"crop_frames": 32}}

    def write(stage, sets):
        d = json.loads(json.dumps(quiet))
        for s in sets:
            k, v = s.split("=", 1)
            node = d
            *path, last = k.split(".")
            for p in path:
                node = node.setdefault(p, {})
            node[last] = yaml.safe_load(v)
        (cdir / f"{stage}.yaml").write_text(yaml.safe_dump(d))

    write("tagger", TINY_CNN)
    write("vqgan", TINY_VQ + ["loss.disc_start=1"])
    write("clap", TINY_CNN_CLAP + ["model.text.backbone=hf", f"model.text.path={tiny_bert_dir}", "model.text.dim=32",
                                   "model.embed_dim=16"])
    write("gpt", [s for s in TINY_GPT if not s.startswith("text.")] + ["text.encoder=clap", "text.mode=sequence",
                                                                        "text.max_tokens=8"])
    write("gpt_full", [s for s in TINY_GPT if not s.startswith("text.")] + ["text.encoder=clap", "text.mode=sequence",
                                                                             "text.max_tokens=8", "crop_start=head"])
    out = tmp_path / "out"
    pipe = train_default(corpus.parent, out, device="cpu", configs=cdir, stop_after="vqgan")
    assert pipe == out / "vqgan" and not (out / "clap").exists()
    pipe = train_default(corpus.parent, out, device="cpu", configs=cdir)
    assert "tagger: done already" in capsys.readouterr().out
    rec = json.loads((out / "stages.json").read_text())
    assert all(rec[s]["done"] and rec[s]["wall_s"] > 0 and rec[s]["sessions"][0]["device"].startswith("cpu")
               for s in ("tagger", "vqgan", "clap", "gpt", "gpt_full"))
    assert rec["pipeline"]["bytes"] > 0
    full = yaml.safe_load((out / "gpt_full" / "config.yaml").read_text())
    assert full["init_from"] == str((out / "gpt" / "export" / "gpt").resolve()) and full["crop_start"] == "head"
    # the pipeline is the second GPT phase's export
    assert (pipe / "gpt" / "model.safetensors").read_bytes() == (
        out / "gpt_full" / "export" / "gpt" / "model.safetensors").read_bytes()
    tts = TextToSound.from_pretrained(pipe)
    assert tts.text_encoder.config.adapter == "mlp"
    assert tts("a low tone hums", duration=0.1).waveform.shape[1] == round(0.1 * 22050)


def test_default_configs_ship_inside_the_package():
    """train-default must find its configs after `pip install .`, not only in a source checkout."""
    import vividsound
    from vividsound.train.default_cli import ORDER, default_config_dir

    d = default_config_dir()
    assert d == Path(vividsound.__file__).resolve().parent / "configs" / "default"
    assert all((d / f"{s}.yaml").is_file() for s in ORDER)
    assert (CONFIGS / "default").resolve() == d.resolve()  # the checkout's configs/ is the same folder
