"""``vividsound finetune``: LoRA adapters on a tiny pipeline, their folder, resume, and bad input."""

import json
import shutil

import numpy as np
import pytest
import soundfile as sf
import torch
from safetensors.torch import load_file

from vividsound.cli import main
from vividsound.errors import CheckpointError, InputError
from vividsound.finetune import finetune
from vividsound.finetune.adapters import resolve_base, save_finetuned
from vividsound.finetune.data import caption_from_name, find_clips
from vividsound.finetune.lora import GPT_TARGETS, adapter_state, attach, expand_targets, merge
from vividsound.finetune.trainer import text_tail
from vividsound.pipeline import DEFAULT_MODEL_DIR, TextToSound

SR = 22050
FAST = {"steps": 8, "batch_size": 3, "warmup_steps": 2, "lr": 0.01}


def _tone(path, freq, seconds=0.6, amp=0.5):
    t = np.arange(int(SR * seconds)) / SR
    sf.write(path, (amp * np.sin(2 * np.pi * freq * t)).astype(np.float32), SR)


@pytest.fixture(scope="module")
def clips_dir(tmp_path_factory):
    """Four tones with captions in metadata.csv (one caption left empty), plus files that must be skipped."""
    d = tmp_path_factory.mktemp("clips")
    rows = ["file_name,caption"]
    for i, f in enumerate((300, 500, 700, 900)):
        _tone(d / f"Tone_{f}_0{i}.wav", f)
        rows.append(f"Tone_{f}_0{i}.wav," + ("" if i == 0 else f"a steady beep at {f} hertz"))
    sf.write(d / "quiet.wav", np.zeros(SR, np.float32), SR)  # silent
    sf.write(d / "blip.wav", np.full(8, 0.5, np.float32), SR)  # shorter than one code column
    (d / "broken.wav").write_bytes(b"RIFF-not-really")  # unreadable
    rows += ["quiet.wav,nothing at all", "blip.wav,a blip", "broken.wav,a broken file"]
    (d / "metadata.csv").write_text("\n".join(rows) + "\n")
    return d


@pytest.fixture(scope="module")
def tuned(clips_dir, tiny_model_dir, tmp_path_factory):
    """The tiny model fine-tuned on ``clips_dir`` for 8 steps (shared: several tests read it)."""
    out = tmp_path_factory.mktemp("tuned") / "ft"
    return finetune(clips_dir, out, base=tiny_model_dir, options=FAST, progress=False)


def _adapters(folder):
    meta = json.loads((folder / "pipeline.json").read_text())
    return load_file(str(folder / meta["adapters"]["file"])), meta


def test_metadata_csv_and_file_name_captions(clips_dir):
    clips, skipped = find_clips(clips_dir)
    by = {c.name: c for c in clips}
    assert by["Tone_300_00.wav"].captions == ["tone"] and by["Tone_300_00.wav"].caption_from == "file name"
    assert by["Tone_500_01.wav"].captions == ["a steady beep at 500 hertz"]
    assert caption_from_name("sfx/Door_Creak-03.wav") == "door creak"
    assert caption_from_name("kennel/001.wav") == "kennel"
    assert caption_from_name("DogBarkLoud_v2.flac") == "dog bark loud"
    assert caption_from_name("0001.wav") == ""


def test_folder_without_metadata_uses_file_names(tmp_path):
    _tone(tmp_path / "engine_idle_01.wav", 80)
    (tmp_path / "sub").mkdir()
    _tone(tmp_path / "sub" / "002.wav", 90)
    _tone(tmp_path / "003.wav", 90)
    clips, skipped = find_clips(tmp_path)
    assert {c.name: c.captions[0] for c in clips} == {"engine_idle_01.wav": "engine idle", "sub/002.wav": "sub"}
    assert skipped.by_reason == {"no caption (no words in the file or folder name)": ["003.wav"]}


def test_finetune_changes_outputs_and_saves_only_adapters(tuned, tiny_model_dir):
    res = tuned
    assert res.written and res.finished and res.step == 8
    assert sorted(res.skipped.by_reason) == ["shorter than one code column (0.046 s)",
                                            "silent (peak below -60 dBFS)", "unreadable"]
    files = sorted(p.name for p in res.out.iterdir())
    assert files[1] == "pipeline.json" and files[0].startswith("adapters-") and len(files) == 2  # state removed
    tensors, meta = _adapters(res.out)
    assert tensors and all(k.endswith((".lora_a", ".lora_b")) for k in tensors)
    base_gpt = (tiny_model_dir / "gpt" / "model.safetensors").stat().st_size
    assert sum(v.numel() * 4 for v in tensors.values()) < base_gpt
    rec = meta["finetune"]
    assert [c["file"] for c in rec["clips"]] == ["Tone_300_00.wav", "Tone_500_01.wav", "Tone_700_02.wav",
                                                "Tone_900_03.wav"]
    assert all(len(c["sha256"]) == 64 for c in rec["clips"]) and rec["captions"] == 4
    assert rec["settings"]["steps"] == 8 and rec["skipped"]["unreadable"] == ["broken.wav"]
    base = TextToSound.from_pretrained(tiny_model_dir)
    tuned = TextToSound.from_pretrained(res.out)
    assert tuned.name == "ft"
    a = base(["a steady beep at 500 hertz"], duration=0.5, seed=3, top_k=8)
    b = tuned(["a steady beep at 500 hertz"], duration=0.5, seed=3, top_k=8)
    assert not torch.equal(a.codes, b.codes)
    # every adapted layer moved by exactly B @ A * alpha / rank; nothing else changed
    scale = meta["adapters"]["alpha"] / meta["adapters"]["rank"]
    for name, p in tuned.gpt.state_dict().items():
        layer = name.rsplit(".", 1)[0]
        want = base.gpt.state_dict()[name]
        if name.endswith("weight") and f"gpt.{layer}.lora_a" in tensors:
            want = want + tensors[f"gpt.{layer}.lora_b"] @ tensors[f"gpt.{layer}.lora_a"] * scale
        torch.testing.assert_close(p, want, rtol=0, atol=1e-6)


def test_resume_is_exact(clips_dir, tiny_model_dir, tuned, tmp_path):
    part = finetune(clips_dir, tmp_path / "twice", base=tiny_model_dir, options=FAST, progress=False, stop_after=3)
    assert not part.written and part.step == 3 and (tmp_path / "twice" / ".finetune" / "state.pt").is_file()
    with pytest.raises(InputError, match="unfinished fine-tune; pass --resume"):
        finetune(clips_dir, tmp_path / "twice", base=tiny_model_dir, options=FAST, progress=False)
    with pytest.raises(InputError, match=r"settings differ: lr=0.02 \(the run's 0.01\)"):
        finetune(clips_dir, tmp_path / "twice", base=tiny_model_dir, options={**FAST, "lr": 0.02}, resume=True,
                 progress=False)
    done = finetune(clips_dir, tmp_path / "twice", base=tiny_model_dir, options={}, resume=True, progress=False)
    assert done.finished and done.step == 8
    a, _ = _adapters(tuned.out)
    b, _ = _adapters(tmp_path / "twice")
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def test_minutes_limit_writes_model_and_keeps_state(clips_dir, tiny_model_dir, tmp_path):
    res = finetune(clips_dir, tmp_path / "ft", base=tiny_model_dir, options={**FAST, "minutes": 1e-9},
                   progress=False)
    assert res.written and not res.finished and res.step == 0
    assert (tmp_path / "ft" / ".finetune" / "state.pt").is_file()
    assert TextToSound.from_pretrained(tmp_path / "ft").name == "ft"


def test_base_mismatch_is_refused(clips_dir, tiny_model_dir, tmp_path):
    base = tmp_path / "base"
    shutil.copytree(tiny_model_dir, base)
    finetune(clips_dir, tmp_path / "ft", base=base, options={**FAST, "steps": 1}, progress=False)
    assert json.loads((tmp_path / "ft" / "pipeline.json").read_text())["base"]["model"] == "../base"
    pipe = TextToSound.from_pretrained(base)
    with torch.no_grad():
        pipe.gpt.head.weight.mul_(1.01)
    pipe.save_pretrained(base)
    with pytest.raises(CheckpointError, match="adapters were trained on a base with sha256"):
        TextToSound.from_pretrained(tmp_path / "ft")
    assert main(["info", "--model", str(tmp_path / "ft")]) == 2
    shutil.rmtree(base)
    with pytest.raises(CheckpointError, match="base model '../base' is not found"):
        TextToSound.from_pretrained(tmp_path / "ft")


def test_default_model_is_a_base_by_name(tmp_path):
    name, folder = resolve_base("default")
    assert (name, folder) == ("default", DEFAULT_MODEL_DIR)
    from vividsound.finetune.adapters import base_files

    files = base_files(DEFAULT_MODEL_DIR)
    assert set(files) == {"gpt/model.safetensors", "vqgan/model.safetensors", "text_encoder/model.safetensors"}
    g = torch.Generator().manual_seed(0)
    a, b = torch.randn(2, 320, generator=g) * 0.1, torch.randn(960, 2, generator=g) * 0.1
    meta = json.loads((DEFAULT_MODEL_DIR / "pipeline.json").read_text())
    save_finetuned(tmp_path / "ft", name="mine", base_name="default", base_files_=files, base_meta=meta,
                   tensors={"gpt.blocks.2.attn.qkv.lora_a": a, "gpt.blocks.2.attn.qkv.lora_b": b},
                   lora={"rank": 2, "alpha": 2.0}, record={})
    tuned = TextToSound.from_pretrained(tmp_path / "ft")
    base = TextToSound.from_pretrained()
    assert tuned.name == "mine" and tuned.defaults == base.defaults
    w0, w1 = base.gpt.blocks[2].attn.qkv.weight, tuned.gpt.blocks[2].attn.qkv.weight
    torch.testing.assert_close(w1, w0 + b @ a, rtol=0, atol=1e-6)
    assert torch.equal(base.gpt.blocks[1].attn.qkv.weight, tuned.gpt.blocks[1].attn.qkv.weight)


def test_lora_merge_equals_wrapped_forward_and_text_tail_matches_encoder(tiny_tts):
    gpt = tiny_tts.gpt
    paths = expand_targets(gpt, GPT_TARGETS)
    assert len(paths) == 4 * gpt.config.n_layer
    toks = torch.randint(0, gpt.config.vocab_size, (2, 10))
    tf = tiny_tts.text_encoder(["a dog barks", "rain"])
    with torch.no_grad():
        before = gpt(toks, tf.features, tf.mask)
        ads = attach(gpt, paths, rank=2, alpha=4.0, seed=0)
        try:
            assert torch.equal(gpt(toks, tf.features, tf.mask), before)  # B = 0: a fresh adapter changes nothing
            for m in ads.values():
                m.lora_b.normal_(0, 0.5)
            wrapped = gpt(toks, tf.features, tf.mask)
            state = {k[len(""):]: v for k, v in adapter_state(ads).items()}
        finally:
            from vividsound.finetune.lora import detach

            detach(gpt, ads)
        assert not torch.allclose(wrapped, before)
        saved = {k: v.clone() for k, v in gpt.state_dict().items()}
        merge(gpt, state, 2.0, "test")
        try:
            torch.testing.assert_close(gpt(toks, tf.features, tf.mask), wrapped, rtol=1e-4, atol=1e-4)
        finally:
            gpt.load_state_dict(saved)
    enc = tiny_tts.text_encoder
    bb = enc.backbone_features(["a dog barks"])
    assert torch.equal(text_tail(enc, bb.features, bb.mask), enc(["a dog barks"]).features)


def test_bad_inputs_are_one_line_errors(clips_dir, tiny_model_dir, tmp_path, capsys):
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(InputError, match="holds no audio files"):
        finetune(empty, tmp_path / "o1", base=tiny_model_dir, progress=False)
    junk = tmp_path / "junk"
    junk.mkdir()
    sf.write(junk / "hum.wav", np.zeros(SR, np.float32), SR)
    (junk / "noise.wav").write_bytes(b"xx")
    with pytest.raises(InputError, match=r"no usable clip .*silent .*: hum.wav; .*unreadable: noise.wav"):
        finetune(junk, tmp_path / "o2", base=tiny_model_dir, progress=False)
    assert not (tmp_path / "o2" / "pipeline.json").exists()
    capsys.readouterr()
    assert main(["finetune", str(junk), "--out", str(tmp_path / "o2"), "--model", str(tiny_model_dir), "--quiet"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "hum.wav" in err[0] and "noise.wav" in err[0]
    (junk / "metadata.csv").write_text("path,caption\nhum.wav,a hum\n")
    with pytest.raises(InputError, match="has no 'file_name' column"):
        find_clips(junk)
    with pytest.raises(InputError, match="does not exist"):
        find_clips(tmp_path / "nowhere")
    with pytest.raises(InputError, match=r"lr=-1.0; allowed: 0 < lr <= 1"):
        finetune(clips_dir, tmp_path / "o3", base=tiny_model_dir, options={"lr": -1.0}, progress=False)
    with pytest.raises(InputError, match="is not a pipeline folder"):
        finetune(clips_dir, tmp_path / "o4", base=tmp_path / "empty", progress=False)
    taken = tmp_path / "taken"
    taken.mkdir()
    (taken / "notes.txt").write_text("mine")
    capsys.readouterr()
    rc = main(["finetune", str(clips_dir), "--out", str(taken), "--model", str(tiny_model_dir), "--quiet"])
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 2 and len(err) == 1 and "other files in it" in err[0]
    assert (taken / "notes.txt").read_text() == "mine"
    rc = main(["finetune", str(clips_dir), "--out", str(tmp_path / "o5"), "--model", str(tiny_model_dir),
               "--resume"])
    assert rc == 2 and "holds no unfinished fine-tune" in capsys.readouterr().err


def test_cli_finetune_then_generate(clips_dir, tiny_model_dir, tmp_path, capsys):
    out = tmp_path / "ft"
    rc = main(["finetune", str(clips_dir), "--out", str(out), "--model", str(tiny_model_dir), "--steps", "2",
               "--batch-size", "2", "--quiet"])
    assert rc == 0 and f"wrote {out}" in capsys.readouterr().out
    assert main(["finetune", str(clips_dir), "--out", str(out), "--model", str(tiny_model_dir), "--quiet"]) == 2
    assert "already holds a model" in capsys.readouterr().err
    rc = main(["generate", "a steady beep", "-o", str(tmp_path / "b.wav"), "--model", str(out), "--duration", "0.3"])
    assert rc == 0 and (tmp_path / "b.wav").is_file()
    capsys.readouterr()
    assert main(["info", "--model", str(out), "--json"]) == 0  # described through its base, adapters named
    info = json.loads(capsys.readouterr().out)
    assert info["finetuned"]["adapters"]["file"] and info["gpt"]["vocab_size"] > 0


def test_text_adapter_is_trained_saved_and_merged(clips_dir, tiny_model_dir, tmp_path):
    from vividsound.models.text import TextEncoder

    pipe = TextToSound.from_pretrained(tiny_model_dir)
    with pytest.raises(InputError, match="has no trained adapter"):
        finetune(clips_dir, tmp_path / "x", base=tiny_model_dir, options={**FAST, "text_adapter": True}, progress=False)
    cfg = pipe.text_encoder.config
    torch.manual_seed(0)
    pipe.text_encoder = TextEncoder(type(cfg)(**{**cfg.__dict__, "adapter": "mlp"}))
    with torch.no_grad():
        pipe.text_encoder.adapter[-1].weight.normal_(0, 0.1)  # a trained adapter is not zero
    pipe.save_pretrained(tmp_path / "base")
    finetune(clips_dir, tmp_path / "ft", base=tmp_path / "base", options={**FAST, "text_adapter": True},
             progress=False)
    tensors, meta = _adapters(tmp_path / "ft")
    assert {"text_encoder.adapter.1.lora_a", "text_encoder.adapter.3.lora_b"} <= set(tensors)
    assert meta["finetune"]["settings"]["text_adapter"] is True
    base, tuned = TextToSound.from_pretrained(tmp_path / "base"), TextToSound.from_pretrained(tmp_path / "ft")
    assert not torch.allclose(base.text_encoder(["a beep"]).features, tuned.text_encoder(["a beep"]).features)


def test_prior_prompts_are_seeded_generic_captions():
    from vividsound.data.labels import EVENTS
    from vividsound.finetune.trainer import prior_prompts

    pool = {ev.clauses[0] for ev in EVENTS.values()}
    a = prior_prompts(40, 0)
    assert a == prior_prompts(40, 0) and a != prior_prompts(40, 1)
    assert set(a) <= pool and len(set(a)) == 40  # no repeat while the pool lasts
    assert len(prior_prompts(len(pool) + 5, 0)) == len(pool) + 5


def test_prior_prompts_mix_in_the_corpus_compositions():
    """Half of the default prior captions are compositions worded by the corpus builder's templates: order,
    counts, loudness, background and leading silence, as the probes ask; the other half as before."""
    from vividsound.data.labels import EVENTS
    from vividsound.finetune.trainer import prior_prompts

    pool = {ev.clauses[0] for ev in EVENTS.values()}
    a = prior_prompts(48, 0, 0.5)
    assert a == prior_prompts(48, 0, 0.5) and len(a) == 48
    assert a[:24] == prior_prompts(24, 0) and not set(a[24:]) & pool
    comp = " | ".join(a[24:])
    for marker in (", then ", "silence, then ", "background", "loudly", "quietly"):
        assert marker in comp, marker
    assert any(w in comp for w in ("twice", "three times", "four times"))
    assert prior_prompts(10, 0, 1.0) != prior_prompts(10, 0, 0.0)


def _nll(pipe, grids, prompts):
    """Mean teacher-forced cross-entropy of code grids under their captions."""
    with torch.no_grad():
        toks = pipe.vqgan.codes_to_sequence(grids)
        cond = pipe.text_encoder(prompts)
        logits = pipe.gpt(toks, cond.features, cond.mask)
        return float(torch.nn.functional.cross_entropy(logits.reshape(-1, logits.shape[-1]), toks.reshape(-1)))


def test_prior_rows_keep_the_base_closer_and_resume_exactly(clips_dir, tiny_model_dir, tmp_path):
    from vividsound.finetune.trainer import sample_prior

    strong = {**FAST, "steps": 12, "lr": 0.03}
    plain = finetune(clips_dir, tmp_path / "plain", base=tiny_model_dir, options={**strong, "prior_rows": 0},
                     progress=False)
    opts = {**strong, "prior_rows": 3, "prior_clips": 6}
    kept = finetune(clips_dir, tmp_path / "kept", base=tiny_model_dir, options=opts, progress=False)
    assert kept.written and kept.finished and not (tmp_path / "kept" / ".finetune").exists()
    meta = json.loads((tmp_path / "kept" / "pipeline.json").read_text())
    assert meta["finetune"]["settings"]["prior_rows"] == 3 and meta["finetune"]["settings"]["prior_clips"] == 6
    # the base's own samples (same seeds as the run's) stay likelier under the model trained with them
    base = TextToSound.from_pretrained(tiny_model_dir)
    full = base.gpt.config.block_size // base.gpt.config.rows  # the base's rows: its whole window
    assert meta["finetune"]["settings"]["columns"] < full and meta["finetune"]["settings"]["prior_full_length"]
    prompts, grids = sample_prior(base, 6, full, 0, tmp_path / "p", compositional=0.5)
    nll = {k: _nll(TextToSound.from_pretrained(tmp_path / k), grids, prompts) for k in ("plain", "kept")}
    assert nll["kept"] < nll["plain"], nll
    # interrupted and resumed: the same adapters as one uninterrupted run
    part = finetune(clips_dir, tmp_path / "twice", base=tiny_model_dir, options=opts, progress=False, stop_after=5)
    assert not part.written and (tmp_path / "twice" / ".finetune" / "prior.pt").is_file()
    done = finetune(clips_dir, tmp_path / "twice", base=tiny_model_dir, options={}, resume=True, progress=False)
    a, _ = _adapters(tmp_path / "kept")
    b, _ = _adapters(tmp_path / "twice")
    assert done.finished and all(torch.equal(a[k], b[k]) for k in a)


def test_auto_steps_pays_the_base_rows_from_the_same_budget():
    from vividsound.finetune.trainer import auto_steps

    assert auto_steps(100, 8, 300) == 240  # 100 clips of 10 s: the budget, not 30 passes
    assert auto_steps(100, 8, 300, prior_rows=8) == 120  # twice the rows a step: half the steps
    assert auto_steps(9, 8, 85, prior_rows=8) == auto_steps(9, 8, 85) == 100  # small sets: the minimum
    # the base's rows at full length cost their own length: 8 x 300 + 8 x 300 positions a step
    assert auto_steps(100, 8, 300, prior_rows=8, prior_positions=300) == 120
    assert auto_steps(100, 8, 85, prior_rows=8, prior_positions=300) == 240 * 300 // (85 + 300)
