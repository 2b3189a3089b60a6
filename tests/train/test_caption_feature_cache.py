"""cached_caption_features: one caption encoded at a time, cached on disk, older whole-item caches read."""

import torch

from vividsound.data.manifest import ManifestItem
from vividsound.train.data import _key, cached_caption_features


def _item():
    return ManifestItem(id="x/1", audio="a.wav", captions=["a dog barks", "a dog is barking", "barking"])


def test_encodes_only_the_caption_asked_for_and_caches_it(tmp_path):
    calls = []

    def encode(caps):
        calls.append(list(caps))
        return {c: torch.full((2, 3), float(len(c))) for c in caps}

    mem = {}
    f = cached_caption_features(_item(), "a dog is barking", tmp_path, mem, encode, keep=False)
    assert calls == [["a dog is barking"]] and torch.equal(f, torch.full((2, 3), 16.0))
    again = cached_caption_features(_item(), "a dog is barking", tmp_path, mem, encode, keep=True)
    assert calls == [["a dog is barking"]] and torch.equal(again, f)  # read from disk, not re-encoded
    assert "a dog is barking" in mem
    cached_caption_features(_item(), "barking", tmp_path, {}, encode, keep=False)
    assert calls[-1] == ["barking"] and len(list(tmp_path.glob("*.pt"))) == 2


def test_reads_an_older_whole_item_cache(tmp_path):
    torch.save({"a dog barks": torch.ones(1, 3), "barking": torch.zeros(1, 3)}, tmp_path / f"{_key('x/1')}.pt")

    def encode(caps):
        raise AssertionError("must not encode a cached caption")

    assert torch.equal(cached_caption_features(_item(), "barking", tmp_path, {}, encode, keep=False), torch.zeros(1, 3))
