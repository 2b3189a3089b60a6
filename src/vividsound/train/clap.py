"""``vividsound train clap``: contrastive audio-text pre-training (symmetric InfoNCE, learned temperature).

The text backbone is frozen, so its pooled features for every caption are computed once and cached; each
step trains the audio tower, the text adapter, both projections and the temperature. Negatives are the
other pairs of the local batch (no cross-rank gathering under DDP). The export holds ``clap/`` (for the
CLAP score) and ``text_encoder/`` (a TextEncoder with the trained adapter: the GPT's text option ``clap``).
"""

from __future__ import annotations

import dataclasses
import hashlib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from vividsound.checkpoint import save_component
from vividsound.models.clap import CLAP, CLAPConfig, info_nce
from vividsound.train.data import (BatchOrder, DataConfig, cached_caption_features, crop, load_items,
                                   prepare_cache)
from vividsound.train.loop import Stage, TrainConfig, unwrap


@dataclass(frozen=True)
class CLAPStageConfig:
    data: DataConfig = field(default_factory=DataConfig)  # manifest, cache, crops
    model: CLAPConfig = field(default_factory=CLAPConfig)  # audio tower, text tower, joint space
    train: TrainConfig = field(default_factory=TrainConfig)  # optimisation and logging


class CLAPStage(Stage):
    name = "clap"
    config_class = CLAPStageConfig

    def setup(self) -> None:
        cfg, d = self.cfg, self.dist
        self.train_items, root = load_items(cfg.data, cfg.data.train_split)
        self.val_items, _ = load_items(cfg.data, cfg.data.val_split, limit=cfg.data.val_items)
        items = self.train_items + self.val_items
        self.cache = prepare_cache(cfg.data, self.run_dir, cfg.model.mel, items, root, rank=d.rank, world=d.world,
                                   progress=self.tc.progress, barrier=d.barrier)
        torch.manual_seed(self.tc.seed)
        self.model = CLAP(cfg.model)
        key = repr(dataclasses.asdict(self.model.text.config)).encode()
        self.text_dir = self.cache.dir.parent / f"clap-text-{hashlib.sha1(key).hexdigest()[:12]}"
        self.text_dir.mkdir(parents=True, exist_ok=True)
        self.feats: dict[str, torch.Tensor] = {}
        self.net = self.wrap(self.model)
        self.add_optimizer("clap", self.model.parameters())
        self.order = BatchOrder(len(self.train_items), self.tc.seed, d.rank, d.world)

    def _caption_feature(self, item, caption: str) -> torch.Tensor:
        """Frozen backbone pooled feature (D,) of one caption; an item's captions are encoded together and
        cached on disk, so a feature never depends on the rest of the batch (exact resume)."""
        def encode(caps: list[str]) -> dict[str, torch.Tensor]:
            return dict(zip(caps, self.model.text.backbone_features(caps).features[:, 0].cpu()))

        return cached_caption_features(item, caption, self.text_dir, self.feats, encode, self.cfg.data.preload)

    def batch(self, items, rng: np.random.Generator | None) -> tuple[torch.Tensor, torch.Tensor]:
        """(log-mel crops (B, n_mels, frames), pooled caption features (B, D))."""
        mel = self.cfg.model.mel
        mels, texts = [], []
        for it in items:
            mels.append(crop(self.cache.get_float(it.id), self.cfg.data.crop_frames, rng, mel.silence_db))
            cap = it.captions[0] if rng is None else it.captions[int(rng.integers(len(it.captions)))]
            texts.append(self._caption_feature(it, cap))
        return torch.from_numpy(np.stack(mels)), torch.stack(texts).float()

    def train_step(self) -> dict[str, float]:
        self.net.train()

        def fetch(idx: list[int], rng) -> tuple[torch.Tensor, ...]:
            return tuple(v.to(self.device) for v in self.batch([self.train_items[i] for i in idx], rng))

        def loss_fn(batch: tuple[torch.Tensor, ...]) -> tuple[torch.Tensor, dict]:
            loss = info_nce(*self.net(*batch))
            return loss, {"train/info_nce": loss}

        logs = self.accumulate("clap", self.net, self.micro_batches(fetch), loss_fn, loss_name="info_nce")
        return {"train/info_nce": logs["train/info_nce"], "train/temperature": float(1 / self.model.scale.detach()),
                "train/grad_norm": logs["train/grad_norm"]}

    @torch.no_grad()
    def validate(self) -> dict[str, float]:
        m = unwrap(self.net).eval()
        A, T = [], []
        for _, items in self.val_chunks():
            x, t = (v.to(self.device) for v in self.batch(items, None))
            with self.autocast():
                a, e, _ = m(x, t)
            A.append(a.float().cpu())
            T.append(e.float().cpu())
        a, e = torch.cat(A), torch.cat(T)
        loss = float(info_nce(a, e, m.scale.detach().cpu()))
        sim = a @ e.t()
        # a caption may be shared by several clips: a retrieval is right when its caption text matches
        caps = [it.captions[0] for it in self.val_items[: a.shape[0]]]
        same = torch.tensor([[ci == cj for cj in caps] for ci in caps])
        top = sim.topk(min(5, sim.shape[1]), dim=1).indices
        r1 = float(same.gather(1, top[:, :1]).any(1).float().mean())
        r5 = float(same.gather(1, top).any(1).float().mean())
        return {"val/loss": loss, "val/audio_to_text_R@1": r1, "val/audio_to_text_R@5": r5}

    def components(self) -> dict[str, torch.nn.Module]:
        return {"clap": self.model}

    def export(self, folder: Path) -> None:
        save_component(self.model, folder / "clap", extra={"trained_steps": self.step})
        save_component(self.model.text_encoder("pooled"), folder / "text_encoder", extra={"trained_steps": self.step})
