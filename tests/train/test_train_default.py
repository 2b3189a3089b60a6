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


RECIPE = CONFIGS / "default" / "recipe.yaml"


@pytest.mark.parametrize("kind", ["default", "paper"])
@pytest.mark.parametrize("stage", ["tagger", "vqgan", "clap", "gpt", "melgan", "captioner"])
def test_configs_load(kind, stage):
    load_stage_config(stage, CONFIGS / kind / f"{stage}.yaml")


def test_default_recipe_loads_and_every_stage_config_is_valid():
    from vividsound.train.recipe import load_recipe

    r = load_recipe(RECIPE)
    r.check_configs()
    assert r.names == ("tagger", "vqgan", "vqgan_decoder", "clap", "gpt", "gpt_full", "gpt_gpu", "gpt_gpu_tail",
                       "gpt_gpu_focus", "melgan")
    assert {s.name for s in r.stages if s.when == "cuda"} == {"gpt_gpu", "gpt_gpu_tail", "gpt_gpu_focus"}
    assert r.stage("melgan").when == "asked"
    # every GPT reads the fine-tuned decoder's VQGAN (its codes are the vqgan stage's) and the CLAP text tower
    assert all(dict(s.inputs) == {"vqgan": "vqgan_decoder", "text.path": "clap"} for s in r.stages if s.trainer == "gpt")
    assert [(s.name, s.init) for s in r.stages if s.init] == [
        ("vqgan_decoder", "vqgan"), ("gpt_full", "gpt"), ("gpt_gpu", "gpt_full"), ("gpt_gpu_tail", "gpt_gpu"),
        ("gpt_gpu_focus", "gpt_gpu_tail")]
    assert {s.pack for s in r.stages if s.pack} == {"codes"}
    # a stage's config by name, as `vividsound train gpt --config recipe.yaml#gpt_full` reads it
    assert load_stage_config("gpt", f"{RECIPE}#gpt_full") == load_stage_config("gpt", r.stage_config("gpt_full"))
    with pytest.raises(ConfigError, match="trained by gpt, not vqgan"):
        load_stage_config("vqgan", f"{RECIPE}#gpt_full")


def test_default_gpt_full_is_the_gpt_on_whole_clips():
    g = load_stage_config("gpt", f"{RECIPE}#gpt")
    f = load_stage_config("gpt", f"{RECIPE}#gpt_full")
    assert (f.crop_columns, f.crop_start) == (f.model.max_columns, "head") and g.crop_start == "random"
    assert f.model == g.model and f.text == g.text and f.export == g.export


def test_default_vqgan_decoder_fine_tunes_the_default_vqgan_on_long_grids():
    v = load_stage_config("vqgan", f"{RECIPE}#vqgan")
    d = load_stage_config("vqgan", f"{RECIPE}#vqgan_decoder")
    assert d.model == v.model and d.train_parts == "decoder"  # init_from the vqgan stage's export must fit
    t = v.model.downsample[1]
    assert d.data.crop_frames == 54 * t and d.min_crop_frames == v.data.crop_frames  # 1.5 s .. 10 s grids
    assert d.loss.disc_start > d.train.steps and d.loss.revive_every == 0


def test_default_gpu_phase_configs_continue_gpt_full():
    """gpt_gpu trains gpt_full's model and text features on whole clips from a resident pack, for a time
    budget; gpt_gpu_tail continues it with a lower peak learning rate and another data order, and differs
    from it in nothing else (so the pair is one recipe, not two)."""
    import dataclasses

    f = load_stage_config("gpt", f"{RECIPE}#gpt_full")
    g = load_stage_config("gpt", f"{RECIPE}#gpt_gpu")
    t = load_stage_config("gpt", f"{RECIPE}#gpt_gpu_tail")
    # the same model, plus the fill-in-the-middle segment vectors that a quarter of its rows train
    assert g.model == dataclasses.replace(f.model, fim=True) and g.fim_rate == 0.25 and f.fim_rate == 0
    assert g.text == f.text and g.export == f.export and g.crop_start == "head"
    assert g.resident and g.train.max_minutes > 0
    assert t.train.lr < g.train.lr and t.train.seed != g.train.seed and 0 < t.train.max_minutes
    same = dataclasses.replace(t, train=dataclasses.replace(t.train, lr=g.train.lr, warmup_steps=g.train.warmup_steps,
                                                            seed=g.train.seed, max_minutes=g.train.max_minutes))
    assert same == g


def test_default_focus_config_fine_tunes_on_the_loudness_supplement():
    """gpt_gpu_focus = gpt_gpu at a lower learning rate on the corpus builder's loudness supplement plus a
    seeded sample of the other training clips; nothing else differs."""
    import dataclasses

    g = load_stage_config("gpt", f"{RECIPE}#gpt_gpu")
    f = load_stage_config("gpt", f"{RECIPE}#gpt_gpu_focus")
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
    g = load_stage_config("gpt", f"{RECIPE}#gpt_gpu_focus")  # the last GPT stage: the shipped shape
    vqgan = VQGAN(vq)
    gpt = ConditionalGPT(GPTConfig(vocab_size=vq.quantizer.n_codes, block_size=g.model.max_columns * vq.rows,
                                   rows=vq.rows, cond_dim=384, cond_len=g.text.max_tokens, n_layer=g.model.n_layer,
                                   n_head=g.model.n_head, n_embd=g.model.n_embd))
    adapter = 2 * 384 * 384 + 4 * 384
    n = sum(p.numel() for m in (vqgan, gpt) for p in m.state_dict().values() if p.is_floating_point()) + adapter
    assert n * 2 < 40e6, f"{n * 2 / 1e6:.1f} MB in fp16"
    assert 4 <= g.model.n_layer <= 8 and 256 <= g.model.n_embd <= 384 and g.export.fp16
    assert g.model.max_columns * vq.downsample[1] >= 861  # 10 s at 22,050 Hz


def _tiny_recipe(cdir, tiny_bert_dir, *, extra_stage=""):
    """The default recipe's stages (names, trainers, inputs, init, packs, when, like) on tiny base configs and
    schedules."""
    cdir.mkdir()
    quiet = {"train": {"steps": 2, "batch_size": 4, "progress": False, "tensorboard": False, "threads": 1,
                       "val_every": 0, "ckpt_every": 0, "warmup_steps": 1}, "data": {"crop_frames": 32}}

    def write(name, sets):
        d = json.loads(json.dumps(quiet))
        for s in sets:
            k, v = s.split("=", 1)
            node = d
            *path, last = k.split(".")
            for p in path:
                node = node.setdefault(p, {})
            node[last] = yaml.safe_load(v)
        (cdir / f"{name}.yaml").write_text(yaml.safe_dump(d))

    gpt = [s for s in TINY_GPT if not s.startswith("text.")] + ["text.encoder=clap", "text.mode=sequence",
                                                                "text.max_tokens=8"]
    write("tagger", TINY_CNN)
    write("vqgan", TINY_VQ + ["loss.disc_start=1"])
    write("clap", TINY_CNN_CLAP + ["model.text.backbone=hf", f"model.text.path={tiny_bert_dir}", "model.text.dim=32",
                                   "model.embed_dim=16"])
    write("gpt", gpt)
    write("melgan", ["model.ngf=4", "model.n_residual=1", "discriminator.scales=1", "discriminator.ndf=4",
                     "discriminator.n_layers=1", "data.crop_frames=8"])
    (cdir / "recipe.yaml").write_text(f"""
name: tiny-default
stages:
  - {{name: tagger, trainer: tagger, config: tagger.yaml}}
  - {{name: vqgan, trainer: vqgan, config: vqgan.yaml, inputs: {{loss.tagger: tagger}}}}
  - name: vqgan_decoder
    trainer: vqgan
    config: vqgan.yaml
    init: vqgan
    inputs: {{loss.tagger: tagger}}
    set: {{train_parts: decoder, data.crop_frames: 64, min_crop_frames: 16, loss.revive_every: 0,
           loss.disc_start: 100}}
  - {{name: clap, trainer: clap, config: clap.yaml}}
  - {{name: gpt, trainer: gpt, config: gpt.yaml, inputs: {{vqgan: vqgan_decoder, text.path: clap}}, keep: best}}
  - name: gpt_full
    trainer: gpt
    config: gpt.yaml
    init: gpt
    keep: best
    inputs: {{vqgan: vqgan_decoder, text.path: clap}}
    set: {{crop_start: head}}
  - name: gpt_gpu
    trainer: gpt
    config: gpt.yaml
    when: cuda
    init: gpt_full
    keep: best
    inputs: {{vqgan: vqgan_decoder, text.path: clap}}
    pack: codes
    set: {{crop_start: head, crop_columns: 32, resident: true, lead_silence: 0.5, lead_silence_seconds: [0.1, 0.3],
           export.fp16: true}}
    schedule: {{steps: 4, lr: 0.001, val_every: 2, max_minutes: 5.0}}
  - {{name: gpt_gpu_tail, like: gpt_gpu, init: gpt_gpu, schedule: {{steps: 3, lr: 0.0005, seed: 5}}}}
  - name: gpt_gpu_focus
    like: gpt_gpu
    init: gpt_gpu_tail
    set: {{train_subset.relations: [sweep], train_subset.others: 2}}
    schedule: {{steps: 3, lr: 0.0001}}
  - {{name: melgan, trainer: melgan, config: melgan.yaml, when: asked}}
{extra_stage}""")
    return cdir / "recipe.yaml"


def test_train_default_runs_every_stage_and_resumes(corpus, tiny_bert_dir, tmp_path, capsys):
    from vividsound.pipeline import TextToSound
    from vividsound.train.default_cli import train_default

    recipe = _tiny_recipe(tmp_path / "configs", tiny_bert_dir)
    out = tmp_path / "out"
    pipe = train_default(corpus.parent, out, device="cpu", recipe=recipe, stop_after="vqgan")
    assert pipe == out / "vqgan" and not (out / "clap").exists()
    pipe = train_default(corpus.parent, out, device="cpu", recipe=recipe, overrides=["gpt_full.train.log_every=1"])
    assert "tagger: done already" in capsys.readouterr().out
    rec = json.loads((out / "stages.json").read_text())
    assert all(rec[s]["done"] and rec[s]["wall_s"] > 0 and rec[s]["sessions"][0]["device"].startswith("cpu")
               for s in ("tagger", "vqgan", "vqgan_decoder", "clap", "gpt", "gpt_full"))
    assert not any(s in rec for s in ("gpt_gpu", "melgan", "pack:codes"))  # when: cuda / asked, on a CPU
    assert rec["recipe"]["name"] == "tiny-default" and (out / "recipe.yaml").read_text() == recipe.read_text()
    assert [s["stages"] for s in rec["sittings"]] == [["tagger", "vqgan", "vqgan_decoder", "clap", "gpt", "gpt_full"]] * 2
    assert [s["overrides"] for s in rec["sittings"]] == [[], ["gpt_full.train.log_every=1"]]
    # the decoder fine-tune starts from the vqgan stage; the GPTs and the pipeline use its VQGAN, whose codes
    # are the vqgan stage's
    dec = yaml.safe_load((out / "vqgan_decoder" / "config.yaml").read_text())
    assert dec["init_from"] == str((out / "vqgan" / "export" / "vqgan").resolve())
    assert dec["loss"]["tagger"] == str((out / "tagger" / "export" / "tagger").resolve())
    for s in ("gpt", "gpt_full"):
        assert yaml.safe_load((out / s / "config.yaml").read_text())["vqgan"] == str(
            (out / "vqgan_decoder" / "export" / "vqgan").resolve())
    assert (pipe / "vqgan" / "model.safetensors").read_bytes() == (
        out / "vqgan_decoder" / "export" / "vqgan" / "model.safetensors").read_bytes()
    assert rec["pipeline"]["bytes"] > 0
    full = yaml.safe_load((out / "gpt_full" / "config.yaml").read_text())
    assert full["init_from"] == str((out / "gpt" / "export" / "gpt").resolve()) and full["crop_start"] == "head"
    # the pipeline is the last GPT stage's export
    assert (pipe / "gpt" / "model.safetensors").read_bytes() == (
        out / "gpt_full" / "export" / "gpt" / "model.safetensors").read_bytes()
    tts = TextToSound.from_pretrained(pipe)
    assert tts.text_encoder.config.adapter == "mlp"
    assert tts("a low tone hums", duration=0.1).waveform.shape[1] == round(0.1 * 22050)
    # one run, one recipe: a later sitting with a changed recipe is refused before anything runs
    recipe.write_text(recipe.read_text().replace("crop_start: head}", "crop_start: random}"))
    with pytest.raises(ConfigError, match="another recipe"):
        train_default(corpus.parent, out, device="cpu", recipe=recipe)


def test_default_configs_ship_inside_the_package():
    """train-default must find its recipe and configs after `pip install .`, not only in a source checkout."""
    import vividsound
    from vividsound.train.default_cli import default_config_dir, default_recipe
    from vividsound.train.recipe import load_recipe

    d = default_config_dir()
    assert d == Path(vividsound.__file__).resolve().parent / "configs" / "default"
    assert default_recipe() == d / "recipe.yaml"
    assert all(s.config.parent == d and s.config.is_file() for s in load_recipe(default_recipe()).stages)
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

    recipe = _tiny_recipe(tmp_path / "configs", tiny_bert_dir)
    out = tmp_path / "out"
    # auto on a CPU: the GPU stages are left out
    train_default(corpus.parent, out, device="cpu", recipe=recipe, stop_after="gpt_full")
    with pytest.raises(ConfigError, match="not part of this run"):
        train_default(corpus.parent, out, device="cpu", recipe=recipe, stop_after="gpt_gpu")
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
    pipe = train_default(corpus.parent, out, device="cpu", recipe=recipe, gpu_phase="on")
    rec = json.loads((out / "stages.json").read_text())
    pack_path = out / "packs" / "codes.npz"
    assert rec["pack:codes"]["done"] and rec["pack:codes"]["bytes"] == pack_path.stat().st_size
    assert all(rec[s]["done"] for s in ("gpt_gpu", "gpt_gpu_tail", "gpt_gpu_focus"))
    pack = CodePack.read(pack_path)
    assert len(pack.items) > 0 and any(pack.leads)
    n_train = len(pack.split("train"))
    n_sweep = sum(1 for it in pack.split("train") if it.meta.get("relation") == "sweep")
    assert 0 < n_sweep < n_train - 2
    g = yaml.safe_load((out / "gpt_gpu" / "config.yaml").read_text())
    t = yaml.safe_load((out / "gpt_gpu_tail" / "config.yaml").read_text())
    f = yaml.safe_load((out / "gpt_gpu_focus" / "config.yaml").read_text())
    assert g["init_from"] == str((out / "gpt_full" / "export" / "gpt").resolve())
    assert g["pack"] == t["pack"] == f["pack"] == str(pack_path.resolve()) and g["resident"]
    assert best_gpt(out / "gpt_gpu") == out / "gpt_gpu" / "best" / "gpt"  # step 2 (0.5) beat step 4 (0.9)
    assert t["init_from"] == str((out / "gpt_gpu" / "best" / "gpt").resolve())
    assert (t["train"]["lr"], t["train"]["seed"], t["crop_columns"]) == (0.0005, 5, 32)  # like gpt_gpu, but
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


def test_packed_path_runs_the_same_recipe_without_the_corpus(corpus, tiny_bert_dir, tmp_path, vqgan_dir, capsys):
    """The machine with the corpus writes the packs (--packs-only, earlier stages given); a machine without it
    trains the pack stages from them (--packs, the same --given) into a pipeline."""
    from vividsound.pipeline import TextToSound
    from vividsound.train.default_cli import train_default

    recipe = _tiny_recipe(tmp_path / "configs", tiny_bert_dir)
    here = tmp_path / "here"
    # first the text tower, trained here (a given needs a component folder)
    train_default(corpus.parent, here, device="cpu", recipe=recipe, stop_after="clap",
                  without=["tagger", "vqgan", "vqgan_decoder"], given={"vqgan_decoder": str(vqgan_dir)})
    clap = here / "clap" / "export" / "text_encoder"
    given = {"vqgan_decoder": str(vqgan_dir), "clap": str(clap), "gpt_full": str(tmp_path / "missing")}
    with pytest.raises(ConfigError, match="gpt_full=.*not a component folder"):
        train_default(corpus.parent, here, device="cpu", recipe=recipe, given=given, packs_only=True)
    # packs-only: the pack stages' packs, nothing trained
    packs = train_default(corpus.parent, tmp_path / "packer", device="cpu", recipe=recipe, gpu_phase="on",
                          without=["tagger", "vqgan", "gpt"], given={"vqgan_decoder": str(vqgan_dir), "clap": str(clap)},
                          packs_only=True, stop_after="gpt_gpu_focus")
    assert sorted(p.name for p in packs.glob("*.npz")) == ["codes.npz"]
    assert not any((tmp_path / "packer" / s).exists() for s in ("gpt_gpu", "gpt_gpu_tail", "gpt_gpu_focus"))
    # elsewhere, no corpus: a stage that would read it is refused before anything runs
    gpt_full = here / "given_gpt"
    train_default(corpus.parent, here, device="cpu", recipe=recipe, without=["tagger", "vqgan"], stop_after="gpt",
                  given={"vqgan_decoder": str(vqgan_dir)})
    import shutil

    shutil.copytree(here / "gpt" / "export" / "gpt", gpt_full)
    given = {"vqgan_decoder": str(vqgan_dir), "clap": str(clap), "gpt_full": str(gpt_full)}
    away = tmp_path / "away"
    with pytest.raises(ConfigError, match="stage gpt_gpu reads the corpus.*--packs"):
        train_default(None, away, device="cpu", recipe=recipe, gpu_phase="on", without=["tagger", "vqgan", "gpt"],
                      given=given)
    assert not away.exists()
    with pytest.raises(ConfigError, match="stage gpt_gpu needs stage gpt_full's gpt"):
        train_default(None, away, device="cpu", recipe=recipe, gpu_phase="on", packs=packs,
                      without=["tagger", "vqgan", "gpt", "gpt_full"], given={k: given[k] for k in ("vqgan_decoder", "clap")})
    pipe = train_default(None, away, device="cpu", recipe=recipe, gpu_phase="on", packs=packs,
                         without=["tagger", "vqgan", "gpt"], given=given)
    cfg = yaml.safe_load((away / "gpt_gpu" / "config.yaml").read_text())
    assert cfg["pack"] == str((packs / "codes.npz").resolve()) and cfg["init_from"] == str(gpt_full.resolve())
    assert cfg["data"]["manifest"] == "" and cfg["vqgan"] == str(vqgan_dir.resolve())
    rec = json.loads((away / "stages.json").read_text())
    assert rec["given"]["gpt_full"] == str(gpt_full.resolve()) and "pack:codes" not in rec
    assert TextToSound.from_pretrained(pipe)("a low tone hums", duration=0.1).waveform.shape[1] == round(0.1 * 22050)


@pytest.mark.parametrize("stage, error", [
    ("  - {name: extra, trainer: gpt, config: gpt.yaml, inputs: {vqgan: nowhere}}", "input vqgan: 'nowhere' is not an earlier"),
    ("  - {name: extra, trainer: gpt, config: gpt.yaml, init: vqgan}", "init 'vqgan' makes a vqgan, this stage a gpt"),
    ("  - {name: extra, like: nothing}", "like 'nothing' is not an earlier stage"),
    ("  - {name: tagger, trainer: tagger, config: tagger.yaml}", "a second stage of that name"),
    ("  - {name: extra, trainer: tagger, config: tagger.yaml, pack: x}", "cannot train from a pack"),
    ("  - {name: extra, trainer: gpt, config: gpt.yaml, stepz: 3}", "unknown key\\(s\\) stepz"),
    ("  - {name: extra, trainer: gpt, config: nope.yaml}", "config .*nope.yaml not found"),
    ("  - {name: extra, trainer: gpt, config: gpt.yaml, set: {train.steps: 3}}", "set train.steps: use schedule"),
    ("  - {name: extra, trainer: gpt, config: gpt.yaml, schedule: {stepz: 3}}", "stage extra: unknown config key.*stepz"),
    ("  - {name: extra, trainer: gpt, config: gpt.yaml, when: sometimes}", "when must be one of"),
    ("  - {name: Extra, trainer: gpt, config: gpt.yaml}", "lower-case identifier"),
])
def test_a_bad_recipe_is_refused_in_one_line_before_anything_runs(tmp_path, tiny_bert_dir, corpus, stage, error):
    from vividsound.train.default_cli import train_default

    recipe = _tiny_recipe(tmp_path / "configs", tiny_bert_dir, extra_stage=stage)
    with pytest.raises(ConfigError, match=error) as e:
        train_default(corpus.parent, tmp_path / "out", device="cpu", recipe=recipe)
    assert "\n" not in str(e.value) and not (tmp_path / "out").exists()


def test_train_default_options_are_checked(corpus, tiny_bert_dir, tmp_path):
    from vividsound.train.default_cli import train_default

    recipe = _tiny_recipe(tmp_path / "configs", tiny_bert_dir)
    out = tmp_path / "out"
    for kw, error in [({"gpu_phase": "yes"}, "gpu_phase"), ({"with_": ["gpt_xl"]}, "no stage 'gpt_xl'"),
                      ({"overrides": ["gptx.train.steps=3"]}, "must start with a stage name"),
                      ({"stop_after": "melgan"}, "not part of this run"),
                      ({"without": ["gpt"]}, "stage gpt_full needs stage gpt's gpt"),
                      ({"packs": tmp_path / "none"}, "no such folder"),
                      ({"given": ["vqgan"]}, "use STAGE=FOLDER")]:
        with pytest.raises(ConfigError, match=error):
            train_default(corpus.parent, out, device="cpu", recipe=recipe, **kw)
    with pytest.raises(ConfigError, match="no manifest.jsonl"):
        train_default(tmp_path, out, device="cpu", recipe=recipe)
    with pytest.raises(ConfigError, match="stage tagger reads the corpus: pass --corpus"):
        train_default(None, out, device="cpu", recipe=recipe)
    assert not out.exists()


def test_show_config_and_train_by_hand_from_a_recipe_stage(tmp_path, capsys):
    """`train-default --show-config STAGE` prints what `train KIND --config recipe.yaml#STAGE` trains with."""
    from vividsound.cli import main

    assert main(["train-default", "--show-config", "gpt_gpu_tail"]) == 0
    text = capsys.readouterr().out
    assert "init_from: stage gpt_gpu's gpt" in text and "pack: OUT/packs/codes.npz" in text
    assert load_stage_config("gpt", yaml.safe_load(text)) == load_stage_config("gpt", f"{RECIPE}#gpt_gpu_tail")


def test_gpu_recipe_script_trains_the_gpu_stages_from_packs_and_returns_a_pipeline(corpus, tiny_bert_dir, tmp_path,
                                                                                     vqgan_dir):
    """experiments/gpu_recipe.sh on the CPU, on tiny data: the recipe's GPU stages from a codes pack (no corpus
    given), and back come two archives: the pipeline's GPT with the run's record, and the logs."""
    import os
    import subprocess
    import sys
    import tarfile

    from vividsound.train.default_cli import train_default

    repo = Path(__file__).resolve().parents[2]
    recipe = _tiny_recipe(tmp_path / "configs", tiny_bert_dir)
    here = tmp_path / "here"
    train_default(corpus.parent, here, device="cpu", recipe=recipe, without=["tagger", "vqgan"], stop_after="gpt",
                  given={"vqgan_decoder": str(vqgan_dir)})
    clap, gpt = here / "clap" / "export" / "text_encoder", here / "gpt" / "export" / "gpt"
    bundle = tmp_path / "bundle"
    packs = train_default(corpus.parent, tmp_path / "packer", device="cpu", recipe=recipe, gpu_phase="on",
                          without=["tagger", "vqgan", "gpt"], packs_only=True,
                          given={"vqgan_decoder": str(vqgan_dir), "clap": str(clap)})
    bundle.mkdir()
    (bundle / "codes.npz").write_bytes((packs / "codes.npz").read_bytes())
    out = tmp_path / "returned"
    env = {**os.environ, "OUT_DIR": str(out), "BUNDLE": str(bundle), "RECIPE": str(recipe), "DEVICE": "cpu",
           "GIVEN": f"vqgan_decoder={vqgan_dir} clap={clap} gpt_full={gpt}", "OMP_NUM_THREADS": "1",
           "PYTHONPATH": str(repo / "src"), "PYTHON": sys.executable, "RUN_DIR": str(tmp_path / "run")}
    p = subprocess.run(["bash", str(repo / "experiments" / "gpu_recipe.sh")], env=env, capture_output=True, text=True,
                       timeout=600)
    assert p.returncode == 0, p.stdout[-3000:] + p.stderr[-3000:]
    assert sorted(f.name for f in out.iterdir()) == ["logs.tar.gz", "pipeline.tar.gz"]
    with tarfile.open(out / "pipeline.tar.gz") as t:
        t.extractall(tmp_path / "x")
    with tarfile.open(out / "logs.tar.gz") as t:
        t.extractall(tmp_path / "x")
    got = tmp_path / "x"
    rec = json.loads((got / "pipeline" / "stages.json").read_text())
    assert all(rec[s]["done"] for s in ("gpt_gpu", "gpt_gpu_tail", "gpt_gpu_focus"))
    assert rec["given"]["gpt_full"] == str(gpt.resolve()) and rec["recipe"]["name"] == "tiny-default"
    assert json.loads((got / "pipeline" / "gpt" / "config.json").read_text())["class"] == "ConditionalGPT"
    assert {f.name for f in (got / "logs").iterdir()} >= {"train.log", "gpt_gpu.metrics.jsonl",
                                                          "gpt_gpu_focus.metrics.jsonl"}
