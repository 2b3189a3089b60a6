"""configs/ load and keep their promises; train-default runs every stage and resumes stage by stage."""

import json
from pathlib import Path

import pytest
import torch
import yaml

from train_helpers import TINY_CNN, TINY_CNN_CLAP, TINY_GPT, TINY_VQ
from vividsound.errors import ConfigError
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


def test_default_vqgan_decoder_fine_tunes_the_default_vqgan_on_long_grids():
    v = load_stage_config("vqgan", CONFIGS / "default" / "vqgan.yaml")
    d = load_stage_config("vqgan", CONFIGS / "default" / "vqgan_decoder.yaml")
    assert d.model == v.model and d.train_parts == "decoder"  # init_from the vqgan stage's export must fit
    t = v.model.downsample[1]
    assert d.data.crop_frames == 54 * t and d.min_crop_frames == v.data.crop_frames  # 1.5 s .. 10 s grids
    assert d.loss.disc_start > d.train.steps and d.loss.revive_every == 0


def test_default_gpu_phase_configs_continue_gpt_full():
    """gpt_gpu trains gpt_full's model and text features on whole clips from a resident pack, for a time
    budget; gpt_gpu_tail continues it with a lower peak learning rate and another data order, and differs
    from it in nothing else (so the pair is one recipe, not two)."""
    import dataclasses

    f = load_stage_config("gpt", CONFIGS / "default" / "gpt_full.yaml")
    g = load_stage_config("gpt", CONFIGS / "default" / "gpt_gpu.yaml")
    t = load_stage_config("gpt", CONFIGS / "default" / "gpt_gpu_tail.yaml")
    assert g.model == f.model and g.text == f.text and g.export == f.export and g.crop_start == "head"
    assert g.resident and g.train.max_minutes > 0
    assert t.train.lr < g.train.lr and t.train.seed != g.train.seed and 0 < t.train.max_minutes
    same = dataclasses.replace(t, train=dataclasses.replace(t.train, lr=g.train.lr, warmup_steps=g.train.warmup_steps,
                                                            seed=g.train.seed, max_minutes=g.train.max_minutes))
    assert same == g


def test_default_focus_config_fine_tunes_on_the_loudness_supplement():
    """gpt_gpu_focus = gpt_gpu at a lower learning rate on the corpus builder's loudness supplement plus a
    seeded sample of the other training clips; nothing else differs."""
    import dataclasses

    g = load_stage_config("gpt", CONFIGS / "default" / "gpt_gpu.yaml")
    f = load_stage_config("gpt", CONFIGS / "default" / "gpt_gpu_focus.yaml")
    assert f.train.lr < g.train.lr and f.train.max_minutes > 0
    assert f.train_subset.others > 0  # the supplement alone would teach loudness and forget the rest
    same = dataclasses.replace(f, train_subset=g.train_subset,
                               train=dataclasses.replace(f.train, lr=g.train.lr, max_minutes=g.train.max_minutes))
    assert same == g
    # the relations are those of the corpus builder's loudness supplement
    from vividsound.data.builder import BuildConfig

    assert set(f.train_subset.relations) == {r for r, _ in BuildConfig(out="x").supplement}


def test_paper_sizes():
    vq = load_stage_config("vqgan", CONFIGS / "paper" / "vqgan.yaml")
    assert vq.model.mel.n_mels == 80 and vq.model.downsample == (16, 16)
    assert (vq.model.quantizer.n_codes, vq.model.quantizer.code_dim) == (1024, 256)
    assert vq.loss.disc_start == 30001 and vq.data.crop_frames // 16 == 53
    g = load_stage_config("gpt", CONFIGS / "paper" / "gpt.yaml")
    assert (g.model.n_layer, g.model.n_head, g.model.n_embd, g.export.top_k) == (24, 16, 1024, 512)


def test_default_model_is_small_enough_to_ship():
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


def _tiny_configs(cdir, tiny_bert_dir, gpu=True):
    """Tiny versions of every default stage (and, with ``gpu``, of the GPU phase's two configs)."""
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

    gpt = [s for s in TINY_GPT if not s.startswith("text.")] + ["text.encoder=clap", "text.mode=sequence",
                                                                "text.max_tokens=8"]
    write("tagger", TINY_CNN)
    write("vqgan", TINY_VQ + ["loss.disc_start=1"])
    write("vqgan_decoder", TINY_VQ + ["train_parts=decoder", "data.crop_frames=64", "min_crop_frames=16",
                                      "loss.revive_every=0", "loss.disc_start=100"])
    write("clap", TINY_CNN_CLAP + ["model.text.backbone=hf", f"model.text.path={tiny_bert_dir}", "model.text.dim=32",
                                   "model.embed_dim=16"])
    write("gpt", gpt)
    write("gpt_full", gpt + ["crop_start=head"])
    if gpu:
        long = gpt + ["crop_start=head", "crop_columns=32", "resident=true", "lead_silence=0.5",
                      "lead_silence_seconds=[0.1,0.3]", "train.val_every=2", "train.max_minutes=5.0", "export.fp16=true"]
        write("gpt_gpu", long + ["train.steps=4", "train.lr=0.001"])  # validated at steps 2 and 4
        write("gpt_gpu_tail", long + ["train.steps=3", "train.lr=0.0005", "train.seed=5"])
        write("gpt_gpu_focus", long + ["train.steps=3", "train.lr=0.0001", "train_subset.relations=[sweep]",
                                       "train_subset.others=2"])


def test_train_default_runs_every_stage_and_resumes(corpus, tiny_bert_dir, tmp_path, capsys):
    from vividsound.pipeline import TextToSound
    from vividsound.train.default_cli import train_default

    cdir = tmp_path / "configs"
    _tiny_configs(cdir, tiny_bert_dir, gpu=False)
    out = tmp_path / "out"
    pipe = train_default(corpus.parent, out, device="cpu", configs=cdir, stop_after="vqgan")
    assert pipe == out / "vqgan" and not (out / "clap").exists()
    pipe = train_default(corpus.parent, out, device="cpu", configs=cdir)
    assert "tagger: done already" in capsys.readouterr().out
    rec = json.loads((out / "stages.json").read_text())
    assert all(rec[s]["done"] and rec[s]["wall_s"] > 0 and rec[s]["sessions"][0]["device"].startswith("cpu")
               for s in ("tagger", "vqgan", "vqgan_decoder", "clap", "gpt", "gpt_full"))
    # the decoder fine-tune starts from the vqgan stage; the GPTs and the pipeline use its VQGAN, whose codes
    # are the vqgan stage's
    dec = yaml.safe_load((out / "vqgan_decoder" / "config.yaml").read_text())
    assert dec["init_from"] == str((out / "vqgan" / "export" / "vqgan").resolve())
    for s in ("gpt", "gpt_full"):
        assert yaml.safe_load((out / s / "config.yaml").read_text())["vqgan"] == str(
            (out / "vqgan_decoder" / "export" / "vqgan").resolve())
    assert (pipe / "vqgan" / "model.safetensors").read_bytes() == (
        out / "vqgan_decoder" / "export" / "vqgan" / "model.safetensors").read_bytes()
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


def test_train_default_gpu_phase_writes_a_pack_and_continues_from_the_best_gpt(corpus, tiny_bert_dir, tmp_path,
                                                                                 monkeypatch, capsys):
    """--gpu-phase on: pack of every clip (with relations), gpt_gpu from gpt_full's GPT, gpt_gpu_tail from
    gpt_gpu's best GPT, gpt_gpu_focus from gpt_gpu_tail's best GPT on a subset of the pack, and the pipeline
    holds gpt_gpu_focus's best GPT in fp16 (here on the CPU, with a few steps)."""
    from safetensors.torch import load_file

    from vividsound.pipeline import TextToSound
    from vividsound.train.codepack import CodePack
    from vividsound.train.default_cli import best_gpt, train_default

    cdir = tmp_path / "configs"
    _tiny_configs(cdir, tiny_bert_dir)
    out = tmp_path / "out"
    # auto on a CPU: the GPU phase is left out
    train_default(corpus.parent, out, device="cpu", configs=cdir, stop_after="gpt_full")
    with pytest.raises(ConfigError, match="not part of this run"):
        train_default(corpus.parent, out, device="cpu", configs=cdir, stop_after="gpt_gpu")
    # make the best validation fall before the last step in gpt_gpu and gpt_gpu_focus, so "best" is a real choice
    losses = iter([0.5, 0.9, 0.7, 0.6, 0.4, 0.8])  # gpt_gpu: steps 2, 4; gpt_gpu_tail: 2, 3; gpt_gpu_focus: 2, 3
    from vividsound.train.gpt import GPTStage

    real = GPTStage.validate

    def fake_validate(self):
        m = real(self)
        m["val/loss"] = next(losses)
        return m

    monkeypatch.setattr(GPTStage, "validate", fake_validate)
    capsys.readouterr()
    pipe = train_default(corpus.parent, out, device="cpu", configs=cdir, gpu_phase="on")
    rec = json.loads((out / "stages.json").read_text())
    assert rec["pack"]["done"] and rec["pack"]["bytes"] == (out / "pack" / "codes.npz").stat().st_size
    assert all(rec[s]["done"] for s in ("gpt_gpu", "gpt_gpu_tail", "gpt_gpu_focus"))
    pack = CodePack.read(out / "pack" / "codes.npz")
    assert len(pack.items) > 0 and any(pack.leads)
    n_train = len(pack.split("train"))
    n_sweep = sum(1 for it in pack.split("train") if it.meta.get("relation") == "sweep")
    assert 0 < n_sweep < n_train - 2
    g = yaml.safe_load((out / "gpt_gpu" / "config.yaml").read_text())
    t = yaml.safe_load((out / "gpt_gpu_tail" / "config.yaml").read_text())
    f = yaml.safe_load((out / "gpt_gpu_focus" / "config.yaml").read_text())
    assert g["init_from"] == str((out / "gpt_full" / "export" / "gpt").resolve())
    assert g["pack"] == t["pack"] == f["pack"] == str((out / "pack" / "codes.npz").resolve()) and g["resident"]
    assert best_gpt(out / "gpt_gpu") == out / "gpt_gpu" / "best" / "gpt"  # step 2 (0.5) beat step 4 (0.9)
    assert t["init_from"] == str((out / "gpt_gpu" / "best" / "gpt").resolve())
    assert (t["train"]["lr"], t["train"]["seed"]) == (0.0005, 5)
    # gpt_gpu_tail: step 2 scored 0.7, step 3 0.6 -> its export (last step) is the best; phase 4 starts there
    assert best_gpt(out / "gpt_gpu_tail") == out / "gpt_gpu_tail" / "export" / "gpt"
    assert f["init_from"] == str((out / "gpt_gpu_tail" / "export" / "gpt").resolve())
    assert f["train_subset"] == {"relations": ["sweep"], "others": 2, "seed": 0} and f["train"]["lr"] == 0.0001
    assert f"train_subset keeps {n_sweep + 2} of {n_train} training items" in capsys.readouterr().err
    # gpt_gpu_focus: step 2 scored 0.4, step 3 0.8 -> the pipeline holds its step-2 GPT, in fp16
    assert best_gpt(out / "gpt_gpu_focus") == out / "gpt_gpu_focus" / "best" / "gpt"
    assert rec["pipeline_gpt"] == str(out / "gpt_gpu_focus" / "best" / "gpt")
    w = load_file(str(pipe / "gpt" / "model.safetensors"))
    ref = load_file(str(out / "gpt_gpu_focus" / "best" / "gpt" / "model.safetensors"))
    last = load_file(str(out / "gpt_gpu_focus" / "export" / "gpt" / "model.safetensors"))
    assert all(v.dtype == torch.float16 for v in w.values() if v.is_floating_point())
    assert all(torch.equal(w[k], ref[k].half()) for k in ref)
    assert not all(torch.equal(w[k], last[k]) for k in last)
    assert TextToSound.from_pretrained(pipe)("a low tone hums", duration=0.1).waveform.shape[1] == round(0.1 * 22050)


def test_train_default_gpu_phase_needs_gpt_full(corpus, tiny_bert_dir, tmp_path):
    from vividsound.train.default_cli import train_default

    cdir = tmp_path / "configs"
    _tiny_configs(cdir, tiny_bert_dir)
    (cdir / "gpt_full.yaml").unlink()
    with pytest.raises(ConfigError, match="gpt_full"):
        train_default(corpus.parent, tmp_path / "out", device="cpu", configs=cdir, gpu_phase="on")
    with pytest.raises(ConfigError, match="gpu_phase"):
        train_default(corpus.parent, tmp_path / "out", device="cpu", configs=cdir, gpu_phase="yes")
