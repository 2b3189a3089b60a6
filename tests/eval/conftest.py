"""Run the evaluator tests on one torch thread: on the 2-core machines the small STFTs and matmuls
of these tests are ~50x slower with 2 intra-op threads than with 1 (thread hand-off dominates)."""

import pytest
import torch


@pytest.fixture(autouse=True, scope="module")
def _one_torch_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
