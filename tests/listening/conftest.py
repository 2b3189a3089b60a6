"""Fixtures for the listening-test tests: a tiny corpus, a tiny test folder made by the real CLI, a server."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any, Iterator

import numpy as np
import pytest
import torch

from live_helpers import chromium_browser
from lt_helpers import CAPTIONS, PROMPTS, create_args


@pytest.fixture(autouse=True, scope="module")
def _one_torch_thread() -> Iterator[None]:
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="session")
def lt_corpus(tmp_path_factory) -> Path:
    """Six tone clips with captions: items 0-1 in the test split, 2-5 in train."""
    from vividsound.audio import save_audio
    from vividsound.data.manifest import ManifestItem, write_manifest

    root = tmp_path_factory.mktemp("lt-corpus")
    (root / "audio").mkdir()
    items = []
    sr = 22050
    t = np.arange(int(sr * 0.5)) / sr
    for i, cap in enumerate(CAPTIONS):
        save_audio(root / f"audio/{i}.wav", 0.3 * np.sin(2 * np.pi * (220 + 110 * i) * t), sr)
        items.append(ManifestItem(id=f"item{i}", audio=f"audio/{i}.wav", captions=[cap],
                                  split="test" if i < 2 else "train"))
    write_manifest(root / "manifest.jsonl", items)
    return root


@pytest.fixture(scope="session")
def lt_second_model(tmp_path_factory, tiny_bert_dir) -> Path:
    """A second tiny random pipeline (other weights than ``tiny_model_dir``)."""
    from vividsound.testing import tiny_pipeline

    folder = tmp_path_factory.mktemp("lt-models") / "other"
    tiny_pipeline(folder, bert_folder=tiny_bert_dir, seed=1)
    return folder


@pytest.fixture(scope="session")
def lt_made(tmp_path_factory, tiny_model_dir, lt_second_model, lt_corpus) -> dict[str, Path]:
    """A complete test folder (2 systems, reference, retrieval, noise; 3 prompts) made by the CLI."""
    from vividsound.cli import main

    root = tmp_path_factory.mktemp("lt-test")
    prompts = root / "prompts.txt"
    prompts.write_text(PROMPTS, encoding="utf-8")
    out = root / "test"
    args = create_args(out, tiny_model_dir, lt_second_model, lt_corpus, prompts)
    assert main(args) == 0
    return {"dir": out, "prompts": prompts, "m1": tiny_model_dir, "m2": lt_second_model, "corpus": lt_corpus}


@pytest.fixture
def lt_dir(lt_made, tmp_path) -> Path:
    """A private copy of the made test folder (ratings are written into it)."""
    dst = tmp_path / "test"
    shutil.copytree(lt_made["dir"], dst)
    return dst


@pytest.fixture
def browser() -> Iterator[Any]:
    # the autoplay flag lets the page's script start clips itself
    yield from chromium_browser(["--autoplay-policy=no-user-gesture-required"])
