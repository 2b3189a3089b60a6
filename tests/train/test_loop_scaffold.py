"""The step / accumulation / validation scaffold every stage uses (Stage.micro_batches, accumulate, val_chunks)."""

import dataclasses
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from vividsound.train.data import BatchOrder
from vividsound.train.loop import Dist, Stage, TrainConfig, TrainingError


def _stage(tmp_path: Path, **train) -> Stage:
    tc = TrainConfig(device="cpu", lr=0.1, warmup_steps=0, grad_clip=0.0, **train)
    st = Stage(SimpleNamespace(train=tc), tmp_path, Dist())
    st.order = BatchOrder(10, seed=0)
    st.val_items = list(range(10))
    return st


def test_val_chunks_cover_the_split_and_honour_val_batches(tmp_path):
    st = _stage(tmp_path, batch_size=4)
    assert [(s, len(c)) for s, c in st.val_chunks()] == [(0, 4), (4, 4), (8, 2)]
    assert [x for _, c in st.val_chunks() for x in c] == list(range(10))
    st.tc = dataclasses.replace(st.tc, val_batches=2)
    assert [(s, c) for s, c in st.val_chunks()] == [(0, [0, 1, 2, 3]), (4, [4, 5, 6, 7])]


def test_micro_batches_draw_the_order_with_per_micro_batch_seeds(tmp_path):
    st = _stage(tmp_path, batch_size=3, grad_accum=2, seed=5)
    got = list(st.micro_batches(lambda idx, rng: (idx, float(rng.random()))))
    ref = BatchOrder(10, seed=0)
    assert [g[0] for g in got] == [ref.next(3), ref.next(3)]
    # the rng of micro-batch m is a pure function of (seed, rank, step, m): resume draws the same
    assert [g[1] for g in got] == [float(np.random.default_rng([5, 0, 0, m]).random()) for m in range(2)]


def test_accumulate_averages_gradients_and_logs_and_steps_once(tmp_path):
    st = _stage(tmp_path, batch_size=1, grad_accum=2)
    w = torch.nn.Parameter(torch.zeros(1))
    st.add_optimizer("w", [w])
    seen = []

    def loss_fn(x):
        seen.append(x)
        loss = (w * x).sum()  # d loss / d w = x
        return loss, {"train/x": torch.tensor(x)}

    logs = st.accumulate("w", torch.nn.Linear(1, 1), [1.0, 3.0], loss_fn)
    assert seen == [1.0, 3.0]
    assert logs["train/x"] == pytest.approx(2.0)  # the mean over micro-batches
    assert logs["train/grad_norm"] == pytest.approx(2.0)  # the mean gradient, (1 + 3) / 2
    assert w.grad is None and float(w.detach()) < 0  # one AdamW step down the gradient, grads cleared
    assert st.schedulers["w"].last_epoch == 1


def test_accumulate_stops_on_a_non_finite_loss_naming_it(tmp_path):
    st = _stage(tmp_path, batch_size=1, grad_accum=1)
    w = torch.nn.Parameter(torch.zeros(1))
    st.add_optimizer("w", [w])
    with pytest.raises(TrainingError, match="loss ce is nan"):
        st.accumulate("w", torch.nn.Linear(1, 1), [0], lambda _: (w.sum() * float("nan"), {}), loss_name="ce")
