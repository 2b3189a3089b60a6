"""The column GPT on a CUDA device: the CUDA-graph step loop gives the eager loop's tokens (run by the GPU script)."""

import pytest
import torch

from vividsound.models.gpt_columns import ColumnGPT, ColumnGPTConfig

pytestmark = pytest.mark.gpu


@pytest.fixture()
def gpt():
    if not torch.cuda.is_available():
        pytest.skip("needs a CUDA device")
    torch.manual_seed(0)
    return ColumnGPT(ColumnGPTConfig(vocab_size=64, block_size=20 * 5, rows=5, cond_dim=12, cond_len=4, n_layer=2,
                                     n_head=2, n_embd=32)).cuda().eval()


@pytest.mark.parametrize("kw", [dict(top_k=10), dict(top_p=0.8, temperature=0.7), dict(top_k=20, cfg_scale=3.0)])
def test_cuda_graph_tokens_equal_eager_tokens(gpt, kw):
    c = torch.randn(3, 4, 12, device="cuda")
    m = torch.ones(3, 4, dtype=torch.bool, device="cuda")
    eager = gpt.generate(c, m, 12 * 5, seeds=[1, 2, 3], **kw)
    graph = gpt.generate(c, m, 12 * 5, seeds=[1, 2, 3], compile=True, **kw)
    again = gpt.generate(c, m, 12 * 5, seeds=[1, 2, 3], compile=True, **kw)  # the kept graph, replayed
    assert torch.equal(eager, graph) and torch.equal(graph, again)
    ref = gpt.generate_uncached(c, m, 12 * 5, seeds=[1, 2, 3], **kw)
    assert torch.equal(eager, ref)


def test_cuda_graph_known_columns_and_batch_independence(gpt):
    c = torch.randn(2, 4, 12, device="cuda")
    m = torch.ones(2, 4, dtype=torch.bool, device="cuda")
    prompt = torch.randint(0, 64, (2, 10), device="cuda")
    full = gpt.generate(c, m, 30, seeds=[4, 5], top_k=8, prompt_tokens=prompt, compile=True)
    alone = gpt.generate(c[1:], m[1:], 30, seeds=[5], top_k=8, prompt_tokens=prompt[1:], compile=True)
    assert torch.equal(full[1:], alone)
    assert torch.equal(full, gpt.generate(c, m, 30, seeds=[4, 5], top_k=8, prompt_tokens=prompt))
