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


def test_gpt_lead_silence_shifts_the_clip_and_prefixes_the_caption(corpus, shared_cache, vqgan_dir, tiny_bert_dir,
                                                                   tmp_path, monkeypatch):
    import pytest

    from vividsound.errors import ConfigError
    from vividsound.train.gpt import LEAD_PREFIX

    base = tiny_overrides(corpus, shared_cache) + TINY_GPT + [f"vqgan={vqgan_dir}", f"text.path={tiny_bert_dir}",
                                                              "crop_start=head", "crop_columns=32", "cond_dropout=0"]
    cfg = load_stage_config("gpt", None, base + ["lead_silence=0.6", "lead_silence_seconds=[0.1,0.3]"])
    st = GPTStage(cfg, tmp_path / "run", Dist())
    st.setup()
    t, C, silence = st.vq.frames_per_column, 32, st.vq.config.mel.silence_db
    items = st.train_items[:16]
    for it in items:
        st.code_grid(it)  # fill the code cache first: from here on the VQGAN encodes only shifted rows
    seen = []
    encode = st.vq.encode
    monkeypatch.setattr(st.vq, "encode", lambda m: seen.append(m.clone()) or encode(m))
    toks, cond, mask = st.batch(items, np.random.default_rng(0))
    monkeypatch.undo()
    shifted = 0
    for b, it in enumerate(items):
        feats = {c: st.caption_feature(it, c) for c in it.captions}
        row = cond[b, : int(mask[b].sum())]
        plain = any(torch.equal(row, f.float()) for f in feats.values())
        lead_f = [st.caption_feature(it, LEAD_PREFIX + c[:1].lower() + c[1:]).float() for c in it.captions]
        led = any(torch.equal(row, f) for f in lead_f)
        assert plain != led, b  # every row carries exactly one of the two kinds of caption
        grid = toks[b].view(C, 5).t()
        if not led:
            assert torch.equal(grid, st.code_grid(it).long()[:, :C])
            continue
        shifted += 1
        m = seen.pop(0)[0]  # (n_mels, frames): silence, then the cached mel, then silence
        clip = torch.from_numpy(st.cache.get_float(it.id))
        lead = int((m == silence).all(0).long().cumprod(0).sum()) // t  # whole columns of leading silence
        cs = st._column_seconds()
        assert max(1, round(0.1 / cs)) <= lead <= round(0.3 / cs), lead
        assert torch.equal(m[:, lead * t : lead * t + clip.shape[-1]], clip.float())
        assert torch.equal(grid, st.lead_grid(it, lead)[:, :C])
        assert not torch.equal(grid, st.code_grid(it).long()[:, :C])
    assert not seen and 4 <= shifted <= 14, shifted
    assert torch.equal(st.batch(items, None)[0], torch.stack(
        [st.vq.codes_to_sequence(st.code_grid(it).long()[None, :, :C])[0] for it in items]))  # validation: no shift
    for bad, msg in ((["lead_silence=0.5", "crop_start=random"], "crop_start=head"),
                     (["lead_silence=1.0"], "lead_silence=1.0"),
                     (["lead_silence=0.5", "lead_silence_seconds=[0.5,9]"], "lead_silence_seconds")):
        with pytest.raises(ConfigError, match=msg):
            GPTStage(load_stage_config("gpt", None, base + bad), tmp_path / "bad", Dist()).setup()


def test_gpt_edge_context_codes_clips_between_silence_and_exports_it(corpus, shared_cache, vqgan_dir, tiny_bert_dir,
                                                                     tmp_path):
    import json

    import pytest

    from vividsound.errors import ConfigError

    base = tiny_overrides(corpus, shared_cache, steps=2) + TINY_GPT + [f"vqgan={vqgan_dir}", f"text.path={tiny_bert_dir}"]
    st = GPTStage(load_stage_config("gpt", None, base + ["edge_context=2"]), tmp_path / "a", Dist())
    st.setup()
    plain = GPTStage(load_stage_config("gpt", None, base), tmp_path / "b", Dist())
    plain.setup()
    assert st.codes_dir != plain.codes_dir  # another code cache: the codes differ
    it = st.train_items[0]
    m = torch.from_numpy(st.cache.get_float(it.id))[None]
    m = torch.nn.functional.pad(m, (0, max(0, 8 * st.vq.frames_per_column - m.shape[-1])),
                                value=st.vq.config.mel.silence_db)
    with torch.no_grad():
        want = st.vq.encode_in_silence(st.vq.pad_mel(m), 2)[0]
    assert torch.equal(st.code_grid(it).long(), want.long())
    assert not torch.equal(plain.code_grid(it).long(), want.long())
    train("gpt", None, tmp_path / "run", overrides=base + ["edge_context=2"])
    assert json.loads((tmp_path / "run" / "export" / "pipeline.json").read_text())["edge_context"] == 2
    assert TextToSound.from_pretrained(tmp_path / "run" / "export").edge_context == 2
    with pytest.raises(ConfigError, match="edge_context=17"):
        GPTStage(load_stage_config("gpt", None, base + ["edge_context=17"]), tmp_path / "c", Dist()).setup()


def test_gpt_fill_in_the_middle_trains_reports_and_inpaints(corpus, shared_cache, vqgan_dir, tiny_bert_dir, tmp_path):
    """fim_rate: a share of rows is read left part, right part, middle; validation reports what the right side
    is worth; the exported pipeline inpaints by reading both sides."""
    import pytest

    from vividsound.errors import ConfigError
    from vividsound.train.gpt import draw_fim_spans

    base = tiny_overrides(corpus, shared_cache, steps=3) + TINY_GPT + [f"vqgan={vqgan_dir}", f"text.path={tiny_bert_dir}"]
    # the spans: a left part, a middle and a right part of at least one column; plain rows are [-1, -1]
    spans = draw_fim_spans(400, 8, 0.5, np.random.default_rng(0))
    fim = spans[:, 0] >= 0
    assert 150 < int(fim.sum()) < 250 and (spans[~fim] == -1).all()
    assert (spans[fim, 0] >= 1).all() and (spans[fim, 1] > spans[fim, 0]).all() and (spans[fim, 1] <= 7).all()
    # batches of a run without it are what they were (nothing more is drawn)
    plain = GPTStage(load_stage_config("gpt", None, base), tmp_path / "p", Dist())
    plain.setup()
    items = plain.train_items[:8]
    assert len(plain.batch(items, np.random.default_rng(0))) == 3
    st = GPTStage(load_stage_config("gpt", None, base + ["model.fim=true", "fim_rate=0.5"]), tmp_path / "f", Dist())
    st.setup()
    got = st.batch(items, np.random.default_rng(0))
    assert len(got) == 4 and all(torch.equal(x, y) for x, y in zip(got[:3], plain.batch(items, np.random.default_rng(0))))
    with pytest.raises(ConfigError, match="needs model.fim=true"):
        GPTStage(load_stage_config("gpt", None, base + ["fim_rate=0.5"]), tmp_path / "x", Dist()).setup()
    with pytest.raises(ConfigError, match="fim_rate"):
        GPTStage(load_stage_config("gpt", None, base + ["model.fim=true", "fim_rate=1.5"]), tmp_path / "y", Dist()).setup()
    # a plain GPT starts a fill-in-the-middle one (its segment vectors start at zero)
    train("gpt", None, tmp_path / "first", overrides=base)
    run = tmp_path / "run"
    train("gpt", None, run, overrides=base + ["model.fim=true", "fim_rate=0.5", f"init_from={tmp_path / 'first' / 'export' / 'gpt'}"])
    last = metrics(run, "val")[-1]
    assert np.isfinite(last["val/middle_loss_fim"]) and np.isfinite(last["val/middle_loss_left_only"])
    pipe = TextToSound.from_pretrained(run / "export")
    assert pipe.gpt.config.fim
    wav = pipe("a low tone hums", duration=1.0, seed=2).waveform[0].numpy()
    out = pipe.inpaint(wav, "a low tone hums", start=0.3, end=0.6, sample_rate=22050, seed=0, tries=2)
    assert out.settings["inpaint_method"].startswith("fill in the middle")
    sc, ec = out.settings["span_columns"]
    codes = pipe.encode_audio(wav, 22050)
    assert torch.equal(out.codes[0, :, :sc], codes[0, :, :sc]) and torch.equal(out.codes[0, :, ec:], codes[0, :, ec:])
    assert len(out.extra[0]["right_log_likelihoods"]) == 2
