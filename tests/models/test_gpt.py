import pytest
import torch

from vividsound.models.gpt import ConditionalGPT, GPTConfig


def _gpt(seed=0, cond_len=4, **kw):
    torch.manual_seed(seed)
    cfg = GPTConfig(vocab_size=50, block_size=30, rows=5, cond_dim=12, cond_len=cond_len, n_layer=2, n_head=2,
                    n_embd=16, **kw)
    return ConditionalGPT(cfg).eval()


def _cond(B=3, L=4, seed=0):
    g = torch.Generator().manual_seed(seed)
    c = torch.randn(B, L, 12, generator=g)
    m = torch.ones(B, L, dtype=torch.bool)
    m[0, 2:] = False  # a padded prompt
    return c, m


def test_causality_later_tokens_do_not_change_earlier_logits():
    gpt = _gpt()
    c, m = _cond()
    toks = torch.randint(0, 50, (3, 20))
    a = gpt(toks, c, m)
    toks2 = toks.clone()
    toks2[:, 12:] = torch.randint(0, 50, (3, 8))
    b = gpt(toks2, c, m)
    assert torch.allclose(a[:, :13], b[:, :13], atol=1e-5)
    assert not torch.allclose(a[:, 14:], b[:, 14:], atol=1e-3)


def test_padding_features_are_ignored():
    gpt = _gpt()
    c, m = _cond()
    toks = torch.randint(0, 50, (3, 10))
    c2 = c.clone()
    c2[0, 2:] = 100.0  # garbage behind the mask
    assert torch.allclose(gpt(toks, c, m)[0], gpt(toks, c2, m)[0], atol=1e-5)


def test_null_condition_uses_learned_prefix():
    gpt = _gpt()
    c, _ = _cond()
    null = torch.zeros(3, 4, dtype=torch.bool)
    toks = torch.randint(0, 50, (3, 6))
    a = gpt(toks, c, null)
    b = gpt(toks, torch.randn_like(c), null)
    assert torch.allclose(a, b, atol=1e-6)  # features are irrelevant when the condition is null


@pytest.mark.parametrize("kw", [dict(top_k=10), dict(top_p=0.8, temperature=0.7), dict(top_k=20, cfg_scale=3.0),
                                dict()])
def test_kv_cache_equals_full_recomputation(kw):
    gpt = _gpt()
    c, m = _cond()
    seeds = [1, 2, 3]
    fast = gpt.generate(c, m, 25, seeds=seeds, **kw)
    slow = gpt.generate_uncached(c, m, 25, seeds=seeds, **kw)
    assert fast.shape == (3, 25)
    assert torch.equal(fast, slow)


def test_a_row_depends_only_on_its_seed_and_condition():
    gpt = _gpt()
    c, m = _cond(B=3)
    full = gpt.generate(c, m, 15, seeds=[5, 6, 7], top_k=10)
    alone = gpt.generate(c[1:2], m[1:2], 15, seeds=[6], top_k=10)
    assert torch.equal(full[1:2], alone)
    other = gpt.generate(c[1:2], m[1:2], 15, seeds=[99], top_k=10)
    assert not torch.equal(alone, other)


def test_top_k_one_is_greedy():
    gpt = _gpt()
    c, m = _cond()
    toks = gpt.generate(c, m, 10, seeds=[0, 1, 2], top_k=1)
    toks2 = gpt.generate(c, m, 10, seeds=[7, 8, 9], top_k=1)
    assert torch.equal(toks, toks2)
    logits = gpt(toks, c, m)
    assert torch.equal(logits.argmax(-1), toks)


def test_filter_logits():
    logits = torch.tensor([[4.0, 3.0, 2.0, 1.0, 0.0]])
    k = ConditionalGPT.filter_logits(logits, 2, None, 1.0)
    assert torch.isfinite(k).sum() == 2 and torch.isfinite(k[0, :2]).all()
    p = ConditionalGPT.filter_logits(logits, None, 0.5, 1.0)
    assert torch.isfinite(p).sum() == 1  # the top token alone has ~64 % of the mass
    p9 = ConditionalGPT.filter_logits(logits, None, 0.9, 1.0)
    assert torch.isfinite(p9).sum() == 3  # 64 + 24 = 88 % < 90 %, the third crosses it
    t = ConditionalGPT.filter_logits(logits, None, None, 2.0)
    assert torch.allclose(t, logits / 2)


def test_sampling_follows_the_distribution():
    gpt = _gpt()
    logits = torch.tensor([0.0, 1.0, 2.0]).log_softmax(-1)
    noise = ConditionalGPT.gumbel_noise(list(range(4000)), 1, 3, torch.device("cpu"))[:, 0]
    picks = (logits + noise).argmax(-1)
    freq = torch.bincount(picks, minlength=3).float() / 4000
    assert torch.allclose(freq, logits.exp(), atol=0.03)
    del gpt


def test_limits():
    gpt = _gpt()
    c, m = _cond()
    with pytest.raises(ValueError, match="block_size"):
        gpt.generate(c, m, 31, seeds=[0, 1, 2])
    with pytest.raises(ValueError, match="one seed per row"):
        gpt.generate(c, m, 5, seeds=[0])
    with pytest.raises(ValueError, match="width"):
        gpt.generate(torch.zeros(3, 4, 7), m, 5, seeds=[0, 1, 2])
    with pytest.raises(ValueError, match="divisible"):
        GPTConfig(n_embd=10, n_head=3)


@pytest.mark.slow
def test_compiled_step_gives_the_same_tokens():
    gpt = _gpt()
    c, m = _cond()
    kw = dict(seeds=[1, 2, 3], top_k=10, cfg_scale=2.0)
    assert torch.equal(gpt.generate(c, m, 25, **kw), gpt.generate(c, m, 25, compile=True, **kw))


@pytest.mark.parametrize("kw", [dict(top_k=10), dict(top_k=None, top_p=0.8, temperature=0.7),
                                dict(top_k=8, cfg_scale=2.5)])
def test_static_decoder_gives_the_same_tokens(kw):
    """The CUDA-graph code path (static buffers, position / noise index advanced on the device), with each
    replay run eagerly: the same tokens as the plain loop, also on a second call that reuses the kept
    buffers with another condition and other seeds, and with known leading tokens."""
    gpt = _gpt()
    c, m = _cond()
    for seeds, cond in (([1, 2, 3], c), ([7, 8, 9], c.flip(0))):
        want = gpt.generate(cond, m, 25, seeds=seeds, **kw)
        got = gpt.generate(cond, m, 25, seeds=seeds, _replay_eagerly=True, **kw)
        assert torch.equal(want, got)
    prompt = want[:, :5]
    want = gpt.generate(c, m, 10, seeds=[4, 5, 6], prompt_tokens=prompt, **kw)
    assert torch.equal(want, gpt.generate(c, m, 10, seeds=[4, 5, 6], prompt_tokens=prompt, _replay_eagerly=True,
                                          **kw))
    one = gpt.generate(c, m, 1, seeds=[1, 2, 3], _replay_eagerly=True, **kw)
    assert torch.equal(one, gpt.generate(c, m, 1, seeds=[1, 2, 3], **kw))


def test_static_decoders_are_kept_per_model_and_bounded():
    from vividsound.models.gpt import _STATIC_DECODERS

    gpt = _gpt()
    c, m = _cond()
    for n in (5, 10, 5, 15):
        gpt.generate(c, m, n, seeds=[1, 2, 3], top_k=10, _replay_eagerly=True)
    kept = _STATIC_DECODERS[gpt]
    assert len(kept) == 2  # the two most recent shapes: 5 and 15 tokens
    assert sorted(k[3] for k in kept) == [5, 15]
    gpt.double()  # re-cast weights: new addresses, so a kept graph must not be reused
    gpt.generate(c.double(), m, 5, seeds=[1, 2, 3], top_k=10, _replay_eagerly=True)
    assert len(kept) == 2 and sorted(k[3] for k in kept) == [5, 15]
    assert any(k[4] == torch.float64 for k in kept)


def test_static_decoder_reads_only_a_bucket_of_the_cache(monkeypatch):
    """Small key/value buckets (many graphs, each reading a prefix of the cache): the same tokens."""
    import vividsound.models.gpt as g

    monkeypatch.setattr(g, "KV_BUCKET", 3)
    gpt = _gpt()
    c, m = _cond()
    kw = dict(seeds=[1, 2, 3], top_k=10, cfg_scale=1.5)
    assert torch.equal(gpt.generate(c, m, 25, **kw), gpt.generate(c, m, 25, _replay_eagerly=True, **kw))
    dec = next(iter(g._STATIC_DECODERS[gpt].values()))
    assert [dec.kv_len(p) for p in (4, 5, 6, 28)] == [6, 6, 9, 29]  # 29 = the whole buffer (4 + 25)


# ------------------------------------------------------------------------------------- fill in the middle
def _fim_gpt(seed=0):
    gpt = _gpt(seed, fim=True)
    with torch.no_grad():
        gpt.fim_emb.normal_(0.0, 0.5)  # trained segment vectors are not zero
    return gpt


def test_fim_layout_orders_left_right_middle_and_plain_rows_are_unchanged():
    gpt = _fim_gpt()
    order, seg = gpt.fim_layout(torch.tensor([[1, 3], [-1, -1]]), 20)  # rows=5: columns of 5 tokens
    assert order[0].tolist() == list(range(5)) + list(range(15, 20)) + list(range(5, 15))
    assert seg[0].tolist() == [0] * 5 + [1] * 5 + [2] * 10
    assert order[1].tolist() == list(range(20)) and seg[1].tolist() == [0] * 20
    c, m = _cond()
    toks = torch.randint(0, 50, (3, 20))
    plain = torch.full((3, 2), -1)
    assert torch.allclose(gpt(toks, c, m), gpt(toks, c, m, plain), atol=1e-5)  # a plain row reads as before
    with pytest.raises(ValueError, match="1 <= a < b"):
        gpt.fim_layout(torch.tensor([[0, 2]]), 20)  # no left part
    with pytest.raises(ValueError, match="without fill-in-the-middle"):
        _gpt()(toks, c, m, torch.tensor([[1, 2]] * 3))


def test_fim_sampling_reads_the_right_side_and_matches_the_teacher_forced_order():
    gpt = _fim_gpt()
    c, m = _cond()
    toks = torch.randint(0, 50, (3, 30))
    a, b = 2, 4  # columns 2..3 are the middle of a 6-column clip
    left, right = toks[:, : a * 5], toks[:, b * 5 :]
    mid = gpt.generate(c, m, (b - a) * 5, seeds=[0, 1, 2], top_k=1, prompt_tokens=left, suffix_tokens=right)
    full = torch.cat([left, mid, right], 1)
    spans = torch.tensor([[a, b]] * 3)
    _, seg = gpt.fim_layout(spans, 30)
    # greedy sampling picks, at every middle token, the argmax of the teacher-forced fill-in-the-middle logits
    assert torch.equal(gpt(full, c, m, spans).argmax(-1)[seg == 2].view(3, -1), mid)
    # the right side is read: another right part changes the middle's distribution (in the plain order it
    # could not, the right part comes after the middle)
    other = torch.cat([left, mid, torch.randint(0, 50, right.shape)], 1)
    lf, lo = gpt(full, c, m, spans)[seg == 2], gpt(other, c, m, spans)[seg == 2]
    assert not torch.allclose(lf, lo, atol=1e-3)
    assert torch.allclose(gpt(full, c, m)[:, a * 5 : b * 5], gpt(other, c, m)[:, a * 5 : b * 5], atol=1e-5)
    # guidance runs the same layout for the conditional and the null rows
    g = gpt.generate(c, m, (b - a) * 5, seeds=[0, 1, 2], cfg_scale=3.0, prompt_tokens=left, suffix_tokens=right)
    assert g.shape == mid.shape
    with pytest.raises(ValueError, match="trained to fill in the middle"):
        _gpt().generate(c, m, 5, seeds=[0, 1, 2], prompt_tokens=left, suffix_tokens=right)
    with pytest.raises(ValueError, match="needs prompt_tokens and suffix_tokens"):
        gpt.generate(c, m, 5, seeds=[0, 1, 2], suffix_tokens=right)
