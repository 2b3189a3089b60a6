import numpy as np
import torch

from train_helpers import TINY_GPT, metrics, tiny_overrides
from vividsound.pipeline import TextToSound
from vividsound.train import load_stage_config, train
from vividsound.train.gpt import GPTStage
from vividsound.train.loop import Dist


def test_gpt_trains_and_exports_a_pipeline(corpus, shared_cache, vqgan_dir, tiny_bert_dir, tmp_path):
    run = tmp_path / "run"
    train("gpt", None, run, overrides=tiny_overrides(corpus, shared_cache, steps=3) + TINY_GPT +
          [f"vqgan={vqgan_dir}", f"text.path={tiny_bert_dir}", "train.tensorboard=true"])
    pipe = TextToSound.from_pretrained(run / "export")
    assert pipe.gpt.config.vocab_size == 32 and pipe.gpt.config.rows == 5 and pipe.gpt.config.cond_len == 8
    out = pipe("a low tone hums", duration=0.2, seed=1)
    assert out.waveform.shape == (1, round(0.2 * 22050)) and torch.isfinite(out.waveform).all()
    assert list((run / "tb").glob("events.out.tfevents.*"))
    assert "val/condition_gain" in metrics(run, "val")[-1]


def test_gpt_batches_crop_whole_columns_and_drop_conditions(corpus, shared_cache, vqgan_dir, tiny_bert_dir, tmp_path):
    cfg = load_stage_config("gpt", None, tiny_overrides(corpus, shared_cache) + TINY_GPT +
                            [f"vqgan={vqgan_dir}", f"text.path={tiny_bert_dir}", "cond_dropout=0.5", "text.mode=pooled"])
    st = GPTStage(cfg, tmp_path / "run", Dist())
    st.setup()
    items = st.train_items[:16]
    toks, cond, mask = st.batch(items, np.random.default_rng(0))
    assert toks.shape == (16, 8 * 5) and cond.shape == (16, 1, 32)
    dropped = int((~mask.any(1)).sum())
    assert 2 <= dropped <= 14  # about half the rows carry the null condition
    # every crop is a run of whole columns of the cached grid
    for b, it in enumerate(items):
        grid = st.code_grid(it).long()
        seq = toks[b].view(8, 5).t()  # (rows, cols)
        assert any(torch.equal(grid[:, s : s + 8], seq) for s in range(grid.shape[1] - 7))
    vtoks, _, vmask = st.batch(items, None)
    assert vmask.all() and torch.equal(vtoks, st.batch(items, None)[0])


def test_gpt_overfits_one_batch(one_batch, vqgan_dir, tiny_bert_dir, tmp_path):
    run = tmp_path / "run"
    train("gpt", None, run, overrides=tiny_overrides(one_batch, tmp_path / "c", steps=40, lr=0.005) + TINY_GPT +
          [f"vqgan={vqgan_dir}", f"text.path={tiny_bert_dir}", "crop_columns=32", "cond_dropout=0.0"])
    m = metrics(run)
    assert m[-1]["train/ce"] < 0.4 * m[0]["train/ce"], (m[0]["train/ce"], m[-1]["train/ce"])


def test_gpt_none_mode(corpus, shared_cache, vqgan_dir, tmp_path):
    run = tmp_path / "run"
    train("gpt", None, run, overrides=tiny_overrides(corpus, shared_cache, steps=2) + TINY_GPT +
          [f"vqgan={vqgan_dir}", "text.encoder=minilm", "text.mode=none", "text.dim=384"])
    pipe = TextToSound.from_pretrained(run / "export")
    assert pipe.text_encoder.config.mode == "none" and pipe.gpt.config.cond_len == 1


def test_gpt_head_crops_start_every_clip_at_its_start(corpus, shared_cache, vqgan_dir, tiny_bert_dir, tmp_path):
    cfg = load_stage_config("gpt", None, tiny_overrides(corpus, shared_cache) + TINY_GPT +
                            [f"vqgan={vqgan_dir}", f"text.path={tiny_bert_dir}", "crop_start=head"])
    st = GPTStage(cfg, tmp_path / "run", Dist())
    st.setup()
    items = st.train_items[:16]
    toks, _, _ = st.batch(items, np.random.default_rng(0))
    for b, it in enumerate(items):
        assert torch.equal(toks[b].view(8, 5).t(), st.code_grid(it).long()[:, :8])
    # the default (random) crops do move: some crop of these items starts later than column 0
    cfg_r = load_stage_config("gpt", None, tiny_overrides(corpus, shared_cache) + TINY_GPT +
                              [f"vqgan={vqgan_dir}", f"text.path={tiny_bert_dir}"])
    st_r = GPTStage(cfg_r, tmp_path / "run_r", Dist())
    st_r.setup()
    rtoks, _, _ = st_r.batch(items, np.random.default_rng(0))
    assert not torch.equal(rtoks, toks)


def test_gpt_init_from_a_trained_gpt(corpus, shared_cache, vqgan_dir, tiny_bert_dir, tmp_path):
    import pytest

    from vividsound.checkpoint import load_component
    from vividsound.errors import ConfigError

    base = tiny_overrides(corpus, shared_cache, steps=2) + TINY_GPT + [f"vqgan={vqgan_dir}", f"text.path={tiny_bert_dir}"]
    train("gpt", None, tmp_path / "first", overrides=base)
    src = load_component(tmp_path / "first" / "export" / "gpt", "ConditionalGPT")
    cfg = load_stage_config("gpt", None, base + [f"init_from={tmp_path / 'first' / 'export' / 'gpt'}"])
    st = GPTStage(cfg, tmp_path / "second", Dist())
    st.setup()
    for k, v in src.state_dict().items():
        assert torch.equal(st.model.state_dict()[k], v.float()), k
    fresh = GPTStage(load_stage_config("gpt", None, base), tmp_path / "third", Dist())
    fresh.setup()
    assert not torch.equal(fresh.model.pos_emb, st.model.pos_emb)
    wider = load_stage_config("gpt", None, base + ["model.n_embd=48", f"init_from={tmp_path / 'first' / 'export' / 'gpt'}"])
    with pytest.raises(ConfigError, match="n_embd: 32 .init_from. vs 48"):
        GPTStage(wider, tmp_path / "fourth", Dist()).setup()
    bad = load_stage_config("gpt", None, base + ["crop_start=middle"])
    with pytest.raises(ConfigError, match="crop_start"):
        GPTStage(bad, tmp_path / "fifth", Dist()).setup()
