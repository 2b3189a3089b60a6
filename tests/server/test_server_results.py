"""The server's result folder: pruning while other requests are writing."""

import os
import time

import torch

from vividsound.server.results import ResultStore


def test_prune_skips_temporary_files_and_keeps_the_newest(tmp_path, monkeypatch):
    store = ResultStore(tmp_path, max_results=2)
    ids = []
    for i in range(4):
        r = store.save(torch.zeros(100), torch.zeros(4, 3), 16000, "wav", {"prompt": f"p{i}"})
        os.utime(tmp_path / f"{r.id}.json", (time.time() + i, time.time() + i))
        ids.append(r.id)
    # another request's atomic write in progress: a hidden temporary name that also ends in .json, which
    # disappears (renamed) between the listing and the stat
    tmp = tmp_path / f".{ids[0]}.json.tmp-abc.json"
    tmp.write_text("{}")
    real_stat = type(tmp).stat

    def stat(self, *a, **k):
        if self.name.startswith("."):
            raise FileNotFoundError(self)
        return real_stat(self, *a, **k)

    monkeypatch.setattr(type(tmp), "stat", stat)
    assert store.prune() == 2
    monkeypatch.undo()
    left = sorted(p.name for p in tmp_path.glob("*.json") if not p.name.startswith("."))
    assert left == sorted(f"{i}.json" for i in ids[2:])
    assert tmp.exists()  # not ours to delete
