"""Helpers of the listening-test tests (importable by name, unlike conftest.py)."""

from __future__ import annotations

from pathlib import Path
from typing import Any


CAPTIONS = ["a dog barks", "rain falls on a roof", "a bell rings", "a car engine idles", "birds sing", "a door slams"]
PROMPTS = "# three prompts, each naming a corpus item\n@item0\n@item1 water drips on a tin roof\n@item2\n"
DURATION = 0.3


def create_args(out: Path, m1: Path, m2: Path, corpus: Path, prompts: Path, *extra: str) -> list[str]:
    return ["listening-test", "create", "--system", f"alpha={m1}", "--system", f"beta={m2}", "--prompts", str(prompts),
            "--per-prompt", "1", "--corpus", str(corpus), "--reference", "--retrieval", "--duration", str(DURATION),
            "--batch-size", "2", "--quiet", "--out", str(out), *extra]


def make_app(test_dir: Path, **kw: Any) -> Any:
    from vividsound.listening.app import create_listening_app
    from vividsound.listening.spec import DB_FILE, load_test
    from vividsound.listening.store import RatingStore

    test = load_test(test_dir, check_clips=True)
    return create_listening_app(test, RatingStore(test_dir / DB_FILE, test.id), **kw)
