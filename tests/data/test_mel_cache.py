"""The sharded fp16 mel cache: values, resume, and refusal of a mismatching MelConfig."""

from __future__ import annotations

import json

import numpy as np
import pytest
import soundfile as sf
import torch

from vividsound.audio import MelConfig, MelSpectrogram, load_audio
from vividsound.cli import main
from vividsound.data.cache import MelCache, MelCacheError, build_mel_cache
from vividsound.data.manifest import ManifestItem, write_manifest


@pytest.fixture()
def manifest(tmp_path):
    rng = np.random.default_rng(0)
    items = []
    for i in range(7):
        p = tmp_path / "a" / f"{i}.wav"
        p.parent.mkdir(exist_ok=True)
        sf.write(str(p), (0.1 * rng.standard_normal(4000 + 1000 * i)).astype(np.float32), 22050)
        items.append(ManifestItem(id=f"x{i}", audio=f"a/{i}.wav", captions=[f"noise {i}"], split="train"))
    (tmp_path / "a" / "bad.wav").write_bytes(b"not audio")
    items.append(ManifestItem(id="bad", audio="a/bad.wav", captions=["broken"], split="train"))
    write_manifest(tmp_path / "manifest.jsonl", items)
    return tmp_path


def test_cache_matches_mel_front_end_and_resumes(manifest, tmp_path):
    cfg = MelConfig()
    n = build_mel_cache(manifest, tmp_path / "cache", cfg, shard_size=3, progress=False)
    skipped = json.loads((tmp_path / "cache" / "skipped.json").read_text())
    assert n == 7 and [s["id"] for s in skipped] == ["bad"]
    cache = MelCache(tmp_path / "cache", cfg)
    assert len(cache) == 7
    mel, item = cache[4]
    ref = MelSpectrogram(cfg)(torch.from_numpy(load_audio(manifest / "a" / "4.wav", 22050)))[0]
    assert mel.dtype == torch.float16 and mel.shape == ref.shape and item.id == "x4"
    assert torch.allclose(mel.float(), ref, atol=0.02)
    shards = [tmp_path / "cache" / f"shard-{i:05d}.npy" for i in (0, 1)]
    before = [p.read_bytes() for p in shards]
    for p in shards:
        p.unlink()
    build_mel_cache(manifest, tmp_path / "cache", cfg, shard_size=3, progress=False, workers=2)
    assert [p.read_bytes() for p in shards] == before and len(MelCache(tmp_path / "cache")) == 7
    assert [s["id"] for s in json.loads((tmp_path / "cache" / "skipped.json").read_text())] == ["bad"]


def test_mismatching_mel_config_is_refused(manifest, tmp_path):
    build_mel_cache(manifest, tmp_path / "c", MelConfig(), shard_size=4, progress=False)
    with pytest.raises(MelCacheError, match="MelConfig"):
        MelCache(tmp_path / "c", MelConfig.paper())
    with pytest.raises(MelCacheError, match="MelConfig"):
        build_mel_cache(manifest, tmp_path / "c", MelConfig.paper(), shard_size=4, progress=False)
    assert main(["corpus", "cache", "--corpus", str(manifest), "--out", str(tmp_path / "c"),
                 "--mel-preset", "paper", "--shard-size", "4"]) == 2
    assert main(["corpus", "cache", "--corpus", str(manifest), "--out", str(tmp_path / "c"),
                 "--shard-size", "4"]) == 0
