"""The column-parallel GPT (delay pattern): causality, cached == uncached sampling, order, seeds, CFG, I/O."""

import pytest
import torch

from vividsound.checkpoint import load_component, save_component
from vividsound.models.gpt_columns import ColumnGPT, ColumnGPTConfig, delay, undelay

R, V = 5, 40


def _gpt(seed=0, cond_len=4, columns=6, **kw):
    torch.manual_seed(seed)
    cfg = ColumnGPTConfig(vocab_size=V, block_size=columns * R, rows=R, cond_dim=12, cond_len=cond_len, n_layer=2,
                          n_head=2, n_embd=16, **kw)
    return ColumnGPT(cfg).eval()


def _cond(B=3, L=4, seed=0):
    g = torch.Generator().manual_seed(seed)
    c = torch.randn(B, L, 12, generator=g)
    m = torch.ones(B, L, dtype=torch.bool)
    m[0, 2:] = False  # a padded prompt
    return c, m


def test_delay_and_undelay_are_inverse():
    grid = torch.arange(2 * R * 4).view(2, R, 4)
    d = delay(grid, pad=-1)
    assert d.shape == (2, R, 4 + R - 1)
    assert d[0, 2, 2] == grid[0, 2, 0] and d[0, 2, 1] == -1 and d[0, 0, 4] == -1
    assert torch.equal(undelay(d.transpose(1, 2), 4).transpose(1, 2), grid)


def test_logits_depend_only_on_tokens_sampled_at_earlier_steps():
    """Token (row r, column c) is sampled at step c + r; its logit may read token j only if j's step is earlier."""
    gpt = _gpt()
    c, m = _cond()
    C = 5
    toks = torch.randint(0, V, (3, C * R), generator=torch.Generator().manual_seed(1))
    base = gpt(toks, c, m)
    step = lambda t: t // R + t % R  # noqa: E731 - column + row of column-major token t
    seen_some = False
    for j in range(C * R):
        t2 = toks.clone()
        t2[:, j] = (t2[:, j] + 1) % V
        changed = (gpt(t2, c, m) - base).abs().amax(dim=(0, 2)) > 1e-5  # (T,)
        for i in range(C * R):
            if step(j) >= step(i):
                assert not changed[i], (j, i)
        seen_some |= bool(changed.any())
    assert seen_some


def test_null_condition_ignores_features():
    gpt = _gpt()
    c, _ = _cond()
    null = torch.zeros(3, 4, dtype=torch.bool)
    toks = torch.randint(0, V, (3, 3 * R))
    assert torch.allclose(gpt(toks, c, null), gpt(toks, torch.randn_like(c), null), atol=1e-6)


@pytest.mark.parametrize("kw", [dict(top_k=10), dict(top_p=0.8, temperature=0.7), dict(top_k=20, cfg_scale=3.0),
                                dict()])
def test_kv_cache_equals_full_recomputation(kw):
    gpt = _gpt()
    c, m = _cond()
    fast = gpt.generate(c, m, 6 * R, seeds=[1, 2, 3], **kw)
    slow = gpt.generate_uncached(c, m, 6 * R, seeds=[1, 2, 3], **kw)
    assert fast.shape == (3, 6 * R)
    assert torch.equal(fast, slow)


def test_known_leading_columns_kv_cache_equals_recomputation():
    gpt = _gpt()
    c, m = _cond()
    prompt = torch.randint(0, V, (3, 2 * R), generator=torch.Generator().manual_seed(3))
    fast = gpt.generate(c, m, 3 * R, seeds=[1, 2, 3], top_k=10, prompt_tokens=prompt, cfg_scale=2.0)
    slow = gpt.generate_uncached(c, m, 3 * R, seeds=[1, 2, 3], top_k=10, prompt_tokens=prompt, cfg_scale=2.0)
    assert fast.shape == (3, 3 * R) and torch.equal(fast, slow)
    other = gpt.generate(c, m, 3 * R, seeds=[1, 2, 3], top_k=10, prompt_tokens=(prompt + 1) % V, cfg_scale=2.0)
    assert not torch.equal(fast, other)  # the known columns do condition the rest


def test_tokens_come_in_column_major_order():
    """Greedy tokens equal the argmax of the teacher-forced logits (laid out column-major) at every position."""
    gpt = _gpt()
    c, m = _cond()
    toks = gpt.generate(c, m, 6 * R, seeds=[0, 1, 2], top_k=1)
    assert torch.equal(gpt(toks, c, m).argmax(-1), toks)


def test_a_ten_second_clip_takes_at_most_sixty_steps(monkeypatch):
    gpt = _gpt(columns=54)
    calls = []
    orig = ColumnGPT._step
    monkeypatch.setattr(ColumnGPT, "_step", lambda self, *a: calls.append(1) or orig(self, *a))
    c, m = _cond(B=1)
    toks = gpt.generate(c, m, 54 * R, seeds=[0], top_k=10)
    assert toks.shape == (1, 270)
    assert 1 + len(calls) == 54 + R - 1 <= 60  # the prefill pass, then one step per later column of the delay


def test_a_row_depends_only_on_its_seed_and_condition():
    gpt = _gpt()
    c, m = _cond(B=3)
    full = gpt.generate(c, m, 4 * R, seeds=[5, 6, 7], top_k=10)
    alone = gpt.generate(c[1:2], m[1:2], 4 * R, seeds=[6], top_k=10)
    assert torch.equal(full[1:2], alone)
    assert not torch.equal(alone, gpt.generate(c[1:2], m[1:2], 4 * R, seeds=[99], top_k=10))


def test_guidance_scale_zero_samples_the_null_condition():
    gpt = _gpt()
    c, m = _cond()
    null = torch.zeros_like(m)
    g0 = gpt.generate(c, m, 4 * R, seeds=[1, 2, 3], top_k=10, cfg_scale=0.0)
    assert torch.equal(g0, gpt.generate(c, null, 4 * R, seeds=[1, 2, 3], top_k=10))
    assert not torch.equal(gpt.generate(c, m, 4 * R, seeds=[1, 2, 3], top_k=10, cfg_scale=3.0),
                           gpt.generate(c, m, 4 * R, seeds=[1, 2, 3], top_k=10))


def test_bad_token_counts_are_rejected():
    gpt = _gpt()
    c, m = _cond()
    with pytest.raises(ValueError, match="whole columns"):
        gpt.generate(c, m, 7, seeds=[1, 2, 3])
    with pytest.raises(ValueError, match="exceed"):
        gpt.generate(c, m, 7 * R, seeds=[1, 2, 3])


def test_save_load_round_trip(tmp_path):
    gpt = _gpt()
    save_component(gpt, tmp_path / "gpt")
    back = load_component(tmp_path / "gpt", ("ConditionalGPT", "ColumnGPT"))
    assert isinstance(back, ColumnGPT) and back.config == gpt.config
    c, m = _cond()
    assert torch.equal(back.generate(c, m, 3 * R, seeds=[1, 2, 3], top_k=5),
                       gpt.generate(c, m, 3 * R, seeds=[1, 2, 3], top_k=5))


def test_pipeline_with_a_column_gpt_streams_the_same_codes(tiny_tts, tmp_path):
    from vividsound.pipeline import TextToSound

    pipe = tiny_tts
    g = pipe.gpt.config
    torch.manual_seed(0)
    col = ColumnGPT(ColumnGPTConfig(vocab_size=g.vocab_size, block_size=g.block_size, rows=g.rows,
                                    cond_dim=g.cond_dim, cond_len=g.cond_len, n_layer=2, n_head=2, n_embd=32))
    TextToSound(pipe.text_encoder, col, pipe.vqgan, pipe.vocoder, name="tiny-columns").save_pretrained(tmp_path / "c")
    tts = TextToSound.from_pretrained(tmp_path / "c")
    assert isinstance(tts.gpt, ColumnGPT)
    out = tts("a dog barks", duration=0.5, seed=3, top_k=8)
    chunks = list(tts.stream("a dog barks", duration=0.5, seed=3, top_k=8, chunk_columns=3))
    assert torch.equal(chunks[-1].output.codes, out.codes)
    assert out.waveform.shape == (1, round(0.5 * 22050))


def test_editing_options_are_refused_not_ignored():
    from vividsound.errors import InputError

    gpt = _gpt()
    cond, mask = _cond(B=1)
    with pytest.raises(InputError, match="column GPT"):
        next(gpt.generate_iter(cond, mask, 5, seeds=[0], uncond=(cond, mask)))
    with pytest.raises(InputError, match="column GPT"):
        next(gpt.generate_iter(cond, mask, 5, seeds=[0], force_tokens=torch.zeros(1, 5, dtype=torch.long),
                               force_mask=torch.ones(1, 5, dtype=torch.bool)))
