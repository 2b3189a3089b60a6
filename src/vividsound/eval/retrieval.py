"""The retrieval baseline: answer a prompt with the training clip whose caption is nearest to it.

A generator must beat this to be worth its sampling time: it plays *real* recordings, so its audio
quality is the corpus's own, and it is as relevant as the text embedding's nearest neighbour. It
cannot compose what the corpus never recorded together, which is where a generator can win.

The captions of the index (each training item's first caption by default, or all of them) are
embedded once with a pooled text encoder, L2-normalised and cached on disk; a prompt is embedded the
same way and matched by cosine similarity. Items that share the nearest caption are picked from by
the row's seed, so different seeds can return different clips.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np
import torch

from vividsound.audio import MelConfig, MelSpectrogram, load_audio
from vividsound.checkpoint import atomic_torch_save
from vividsound.data.manifest import ManifestItem
from vividsound.errors import InputError
from vividsound.models.text import TextEncoder, check_prompts, with_mode

__all__ = ["RetrievalGenerator", "RetrievalOutput", "pooled_encoder"]


def pooled_encoder(enc: TextEncoder) -> TextEncoder:
    """The same text encoder (same weights and adapter) giving one pooled feature per text."""
    return with_mode(enc, "pooled").eval()


@dataclass(frozen=True)
class RetrievalOutput:
    """What :class:`RetrievalGenerator` returns (the evaluator's ``AudioOutputLike``)."""

    waveform: torch.Tensor  # (B, N) float32
    sample_rate: int
    mel: torch.Tensor  # (B, n_mels, T) log-mel of the retrieved clip
    prompts: list[str]
    seeds: list[int]
    retrieved: list[str] = field(default_factory=list)  # item id of each row
    similarity: list[float] = field(default_factory=list)  # cosine similarity of the matched caption


class RetrievalGenerator:
    """Nearest-caption retrieval over ``items`` (normally the training split).

    Args:
        items: the clips that can be returned (each with at least one caption).
        corpus_root: folder the items' audio paths are relative to.
        text_encoder: any :class:`TextEncoder`; it is used in pooled mode.
        mel_config: sample rate and mel definition of the returned audio and mels.
        captions: ``"first"`` (each item's first caption) or ``"all"`` captions in the index.
        cache_file: where the caption embeddings are kept between runs (keyed by the items, the encoder
            weights and ``captions``); None = no cache.
    """

    def __init__(self, items: Sequence[ManifestItem], corpus_root: str | Path, text_encoder: TextEncoder,
                 mel_config: MelConfig, *, captions: str = "first", cache_file: str | Path | None = None,
                 batch_size: int = 256, progress: Callable[[Any], Any] = lambda x: x) -> None:
        if captions not in ("first", "all"):
            raise InputError(f"captions must be 'first' or 'all', got {captions!r}")
        items = [it for it in items if it.captions]
        if not items:
            raise InputError("the retrieval baseline needs at least one captioned item to retrieve from")
        self.items = items
        self.defaults: Any = None  # the sampling defaults of the model it stands in for (their duration is used)
        self.root = Path(corpus_root)
        self.encoder = pooled_encoder(text_encoder)
        self.mel_config = mel_config
        self.name = f"retrieval ({len(items)} clips, {captions} captions)"
        owner: dict[str, list[int]] = {}
        for k, it in enumerate(items):
            for c in (it.captions if captions == "all" else it.captions[:1]):
                owner.setdefault(" ".join(c.split()), []).append(k)
        self.captions = sorted(owner)
        self.owners = [owner[c] for c in self.captions]
        self.index = self._load_or_embed(cache_file, captions, batch_size, progress)
        self._mel = MelSpectrogram(mel_config)

    # ----- index -------------------------------------------------------------------------------
    def _key(self, captions: str) -> str:
        h = hashlib.sha1()
        h.update(json.dumps({"encoder": dataclasses.asdict(self.encoder.config), "captions": captions}).encode())
        for v in self.encoder.state_dict().values():
            h.update(v.detach().float().cpu().numpy().tobytes())
        for it in self.items:
            h.update(it.id.encode())
            h.update(b"\0")
        for c in self.captions:
            h.update(c.encode())
            h.update(b"\0")
        return h.hexdigest()

    @torch.no_grad()
    def embed(self, texts: list[str]) -> torch.Tensor:
        """(len(texts), D) L2-normalised pooled text features."""
        f = self.encoder(texts).features[:, 0].float()
        return torch.nn.functional.normalize(f, dim=-1)

    def _load_or_embed(self, cache_file: str | Path | None, captions: str, batch_size: int,
                       progress: Callable[[Any], Any]) -> torch.Tensor:
        key = self._key(captions)
        path = Path(cache_file) if cache_file else None
        if path is not None and path.is_file():
            try:
                got = torch.load(path, weights_only=True)
                if got.get("key") == key and got["index"].shape[0] == len(self.captions):
                    return got["index"].float()
            except Exception:  # noqa: BLE001 - a damaged cache is rebuilt, never trusted
                pass
        chunks = range(0, len(self.captions), batch_size)
        index = torch.cat([self.embed(self.captions[i : i + batch_size]) for i in progress(chunks)])
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
            atomic_torch_save({"key": key, "index": index.half()}, path)
            index = index.half().float()  # the same values whether the index came from the cache or not
        return index

    # ----- generation --------------------------------------------------------------------------
    def nearest(self, prompts: list[str], seeds: list[int]) -> list[tuple[int, float]]:
        """For each row, the (item index, caption similarity) it plays."""
        q = self.embed(prompts)
        sims = q @ self.index.T
        best = sims.argmax(dim=1)
        out = []
        for r, c in enumerate(best.tolist()):
            cands = self.owners[c]
            rng = np.random.default_rng(seeds[r])
            out.append((cands[int(rng.integers(len(cands)))], float(sims[r, c])))
        return out

    def generate_rows(self, prompts: Sequence[str], seeds: Sequence[int], *, duration: float,
                      vocode: bool = True, **_: Any) -> RetrievalOutput:
        """One clip per row, cut or silence-padded to ``duration`` seconds (sampler settings are ignored)."""
        prompts = check_prompts(list(prompts))
        seeds = [int(s) for s in seeds]
        if len(seeds) != len(prompts):
            raise InputError(f"generate_rows: {len(prompts)} prompts but {len(seeds)} seeds")
        if not duration > 0:
            raise InputError(f"duration must be > 0 seconds, got {duration}")
        sr = self.mel_config.sample_rate
        n = int(round(duration * sr))
        picks = self.nearest(prompts, seeds)
        wavs = []
        for k, _sim in picks:
            a = load_audio(self.items[k].audio_path(self.root), sr)
            wavs.append(np.pad(a, (0, max(0, n - len(a))))[:n])
        wav = torch.from_numpy(np.stack(wavs)).float()
        with torch.no_grad():
            mel = self._mel(wav)
        return RetrievalOutput(wav if vocode else torch.zeros(len(prompts), 0), sr, mel, prompts, seeds,
                               [self.items[k].id for k, _ in picks], [s for _, s in picks])

    def __call__(self, prompts: list[str], *, duration: float, seed: int, num_samples: int = 1,
                 **_: Any) -> RetrievalOutput:
        """Row (prompt, j) uses ``seed + j``, as ``TextToSound.__call__`` does."""
        prompts = check_prompts(prompts)
        rows = [p for p in prompts for _ in range(num_samples)]
        seeds = [seed + j for _ in prompts for j in range(num_samples)]
        return self.generate_rows(rows, seeds, duration=duration)
