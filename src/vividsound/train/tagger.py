"""``vividsound train tagger``: a multi-label CNN tagger with binary cross-entropy over the corpus tags."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from vividsound.checkpoint import save_component
from vividsound.models.tagger import Tagger, TaggerConfig
from vividsound.train.data import (BatchOrder, DataConfig, DataError, load_items, mel_batch,
                                   prepare_cache, tag_targets, tag_vocabulary)
from vividsound.train.loop import Stage, TrainConfig, unwrap


@dataclass(frozen=True)
class TaggerStageConfig:
    data: DataConfig = field(default_factory=DataConfig)  # manifest, cache, crops
    model: TaggerConfig = field(default_factory=TaggerConfig)  # mel + CNN (tags are filled from the manifest)
    train: TrainConfig = field(default_factory=TrainConfig)  # optimisation and logging
    min_tag_count: int = 1  # tags seen in fewer training items are dropped from the vocabulary
    pos_weight: float = 1.0  # weight of positive labels in the BCE (tags are sparse)


class TaggerStage(Stage):
    name = "tagger"
    config_class = TaggerStageConfig
    best_key = "val/mAP"
    best_mode = "max"

    def setup(self) -> None:
        cfg, d = self.cfg, self.dist
        self.train_items, root = load_items(cfg.data, cfg.data.train_split)
        self.val_items, vroot = load_items(cfg.data, cfg.data.val_split, limit=cfg.data.val_items)
        tags = list(cfg.model.tags) or tag_vocabulary(self.train_items, cfg.min_tag_count)
        if not tags:
            raise DataError(f"manifest {cfg.data.manifest}: the {cfg.data.train_split!r} items carry no tags; "
                            "the tagger needs the manifest's 'tags'")
        mel = cfg.model.mel
        self.cache = prepare_cache(cfg.data, self.run_dir, mel, self.train_items + self.val_items, root,
                                   rank=d.rank, world=d.world, progress=self.tc.progress, barrier=d.barrier)
        torch.manual_seed(self.tc.seed)
        self.model = Tagger(dataclasses.replace(cfg.model, tags=tuple(tags)))
        self.net = self.wrap(self.model)
        self.add_optimizer("tagger", self.model.parameters())
        self.y_train = tag_targets(self.train_items, tags)
        self.y_val = tag_targets(self.val_items, tags)
        self.order = BatchOrder(len(self.train_items), self.tc.seed, d.rank, d.world)

    def _loss(self, logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        pw = torch.full((y.shape[1],), self.cfg.pos_weight, device=y.device)
        return F.binary_cross_entropy_with_logits(logits.float(), y, pos_weight=pw)

    def train_step(self) -> dict[str, float]:
        self.net.train()

        def fetch(idx: list[int], rng) -> tuple[torch.Tensor, torch.Tensor]:
            b = mel_batch(self.cache, [self.train_items[i] for i in idx], self.cfg.data.crop_frames,
                          self.cfg.model.mel, rng)
            return b.mel.to(self.device), self.y_train[idx].to(self.device)

        def loss_fn(batch: tuple[torch.Tensor, torch.Tensor]) -> tuple[torch.Tensor, dict]:
            loss = self._loss(self.net(batch[0]), batch[1])
            return loss, {"train/bce": loss}

        return self.accumulate("tagger", self.net, self.micro_batches(fetch), loss_fn, loss_name="bce")

    @torch.no_grad()
    def validate(self) -> dict[str, float]:
        m = unwrap(self.net).eval()
        probs, losses = [], []
        for start, items in self.val_chunks():
            b = mel_batch(self.cache, items, self.cfg.data.crop_frames, self.cfg.model.mel, None)
            with self.autocast():
                logits = m(b.mel.to(self.device)).float()
            y = self.y_val[start : start + len(items)].to(self.device)
            losses.append(float(self._loss(logits, y)) * len(items))
            probs.append(torch.sigmoid(logits).cpu())
        p = torch.cat(probs)
        y = self.y_val[: p.shape[0]]
        return {"val/loss": sum(losses) / p.shape[0], "val/mAP": mean_average_precision(p, y),
                "val/top1_acc": top1_accuracy(p, y)}

    def components(self) -> dict[str, torch.nn.Module]:
        return {"tagger": self.model}

    def export(self, folder: Path) -> None:
        save_component(self.model, folder / "tagger", extra={"trained_steps": self.step})


def mean_average_precision(probs: torch.Tensor, y: torch.Tensor) -> float:
    """Mean over tags with at least one positive of the average precision (N, n_tags) inputs."""
    aps = []
    for j in range(y.shape[1]):
        pos = y[:, j] > 0.5
        if not pos.any():
            continue
        order = torch.argsort(probs[:, j], descending=True)
        hits = pos[order].float()
        prec = hits.cumsum(0) / torch.arange(1, len(hits) + 1)
        aps.append(float((prec * hits).sum() / hits.sum()))
    return float(np.mean(aps)) if aps else 0.0


def top1_accuracy(probs: torch.Tensor, y: torch.Tensor) -> float:
    """How often the top-scored tag is one of the item's tags (items with tags only)."""
    has = y.sum(1) > 0
    if not has.any():
        return 0.0
    top = probs[has].argmax(1)
    return float(y[has].gather(1, top[:, None]).mean())
