"""CUDA-only checks of the CUDA-graph sampler (``compile=True`` on a GPU). Marked ``gpu`` (deselected by default;
``pytest -m gpu`` runs them) and skipped where there is no GPU: CI has none; they were run on a lent H100 (benchmarks/README.md says when). The same code path runs on the
CPU in tests/models/test_gpt.py (``_replay_eagerly``)."""

import pytest
import torch

from vividsound.models.gpt import ConditionalGPT, GPTConfig

pytestmark = [pytest.mark.gpu, pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")]


def _gpt():
    torch.manual_seed(0)
    cfg = GPTConfig(vocab_size=50, block_size=30, rows=5, cond_dim=12, cond_len=4, n_layer=2, n_head=2, n_embd=16)
    return ConditionalGPT(cfg).eval().cuda()


def _cond(B=3):
    g = torch.Generator().manual_seed(0)
    c = torch.randn(B, 4, 12, generator=g)
    m = torch.ones(B, 4, dtype=torch.bool)
    m[0, 2:] = False
    return c.cuda(), m.cuda()


@pytest.mark.parametrize("kw", [dict(top_k=10), dict(top_k=None, top_p=0.8, temperature=0.7),
                                dict(top_k=8, cfg_scale=2.5)])
def test_graph_tokens_equal_plain_tokens(kw):
    gpt = _gpt()
    c, m = _cond()
    for seeds, cond in (([1, 2, 3], c), ([7, 8, 9], c.flip(0)), ([1, 2, 3], c)):  # capture, then replays
        assert torch.equal(gpt.generate(cond, m, 25, seeds=seeds, **kw),
                           gpt.generate(cond, m, 25, seeds=seeds, compile=True, **kw))
    p = gpt.generate(c, m, 5, seeds=[4, 5, 6], **kw)
    assert torch.equal(gpt.generate(c, m, 10, seeds=[4, 5, 6], prompt_tokens=p, **kw),
                       gpt.generate(c, m, 10, seeds=[4, 5, 6], prompt_tokens=p, compile=True, **kw))


def test_a_row_does_not_depend_on_the_batch_on_cuda():
    gpt = _gpt()
    c, m = _cond()
    batch = gpt.generate(c, m, 20, seeds=[1, 2, 3], top_k=10, compile=True)
    alone = gpt.generate(c[1:2], m[1:2], 20, seeds=[2], top_k=10, compile=True)
    assert torch.equal(batch[1], alone[0])


def test_pipeline_on_cuda_with_graphs(tiny_model_dir):
    from vividsound.pipeline import TextToSound

    plain = TextToSound.from_pretrained(tiny_model_dir, device="cuda")
    graph = TextToSound.from_pretrained(tiny_model_dir, device="cuda", compile=True)
    a = plain.generate_rows(["rain", "a dog barks"], [1, 2], duration=0.5, batch_size=2)
    b = graph.generate_rows(["rain", "a dog barks"], [1, 2], duration=0.5, batch_size=2)
    assert torch.equal(a.codes, b.codes)
    chunks = list(graph.stream("rain", duration=0.5, seed=1, chunk_columns=1, lookahead=0))
    assert torch.equal(chunks[-1].output.codes[0], a.codes[0])
