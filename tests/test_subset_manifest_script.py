"""experiments/subset_manifest.py: validation items and the listed training items, in order; unknown ids refused."""

import gzip
import json
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SCRIPT = REPO / "experiments" / "subset_manifest.py"


def _run(*args):
    return subprocess.run([sys.executable, str(SCRIPT), *map(str, args)], capture_output=True, text=True)


def test_subset_keeps_val_and_listed_train_items_in_order(tmp_path):
    rows = [{"id": f"c{i}", "audio": f"a{i}.wav", "captions": ["x"], "split": s}
            for i, s in enumerate(["train", "val", "train", "test", "train", "val"])]
    man = tmp_path / "manifest.jsonl"
    man.write_text("".join(json.dumps(r) + "\n" for r in rows))
    ids = tmp_path / "ids.txt.gz"
    with gzip.open(ids, "wt") as f:
        f.write("c4\nc0\n")
    out = tmp_path / "sub.jsonl"
    res = _run("--manifest", man, "--ids", ids, "--out", out)
    assert res.returncode == 0, res.stderr
    assert [json.loads(x)["id"] for x in out.read_text().splitlines()] == ["c0", "c1", "c4", "c5"]
    # an id that is not a training item (a test item here) is refused and nothing is written
    (tmp_path / "bad.txt").write_text("c0\nc3\n")
    res = _run("--manifest", man, "--ids", tmp_path / "bad.txt", "--out", tmp_path / "bad.jsonl")
    assert res.returncode == 2 and "c3" in res.stderr and len(res.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "bad.jsonl").exists()
