"""``vividsound train captioner``: audio captioning (cross-entropy over next words, teacher forcing)."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from vividsound.checkpoint import save_component
from vividsound.models.captioner import PAD, Captioner, CaptionerConfig, tokenize
from vividsound.train.data import BatchOrder, DataConfig, DataError, crop, load_items, prepare_cache
from vividsound.train.loop import Stage, TrainConfig, unwrap


@dataclass(frozen=True)
class CaptionerStageConfig:
    data: DataConfig = field(default_factory=DataConfig)  # manifest, cache, crops
    model: CaptionerConfig = field(default_factory=CaptionerConfig)  # encoder/decoder (vocab from the captions)
    min_word_count: int = 2  # words rarer than this in the training captions become <unk>
    train: TrainConfig = field(default_factory=TrainConfig)  # optimisation and logging


def word_vocabulary(captions: list[str], min_count: int) -> list[str]:
    counts: dict[str, int] = {}
    for c in captions:
        for w in tokenize(c):
            counts[w] = counts.get(w, 0) + 1
    return sorted(w for w, n in counts.items() if n >= min_count)


class CaptionerStage(Stage):
    name = "captioner"
    config_class = CaptionerStageConfig

    def setup(self) -> None:
        cfg, d = self.cfg, self.dist
        self.train_items, root = load_items(cfg.data, cfg.data.train_split)
        self.val_items, _ = load_items(cfg.data, cfg.data.val_split, limit=cfg.data.val_items)
        vocab = list(cfg.model.vocab) or word_vocabulary([c for it in self.train_items for c in it.captions],
                                                         cfg.min_word_count)
        if not vocab:
            raise DataError("the training captions give an empty word vocabulary (lower data.min_word_count?)")
        self.cache = prepare_cache(cfg.data, self.run_dir, cfg.model.mel, self.train_items + self.val_items, root,
                                   rank=d.rank, world=d.world, progress=self.tc.progress, barrier=d.barrier)
        torch.manual_seed(self.tc.seed)
        self.model = Captioner(dataclasses.replace(cfg.model, vocab=tuple(vocab)))
        self.net = self.wrap(self.model)
        self.add_optimizer("captioner", self.model.parameters())
        self.order = BatchOrder(len(self.train_items), self.tc.seed, d.rank, d.world)

    def batch(self, items, rng: np.random.Generator | None) -> tuple[torch.Tensor, torch.Tensor]:
        """(log-mels (B, n_mels, frames), token ids (B, max_len + 2) padded with <pad>)."""
        mel = self.cfg.model.mel
        L = self.model.config.max_len + 2
        mels, toks = [], torch.full((len(items), L), PAD, dtype=torch.long)
        for b, it in enumerate(items):
            mels.append(crop(self.cache.get_float(it.id), self.cfg.data.crop_frames, rng, mel.silence_db))
            cap = it.captions[0] if rng is None else it.captions[int(rng.integers(len(it.captions)))]
            ids = self.model.encode_text(cap)
            toks[b, : len(ids)] = torch.tensor(ids)
        return torch.from_numpy(np.stack(mels)), toks

    def _loss(self, net, x: torch.Tensor, toks: torch.Tensor) -> torch.Tensor:
        logits = net(x, toks[:, :-1])
        return F.cross_entropy(logits.float().reshape(-1, logits.shape[-1]), toks[:, 1:].reshape(-1), ignore_index=PAD)

    def train_step(self) -> dict[str, float]:
        self.net.train()

        def fetch(idx: list[int], rng) -> tuple[torch.Tensor, ...]:
            return tuple(v.to(self.device) for v in self.batch([self.train_items[i] for i in idx], rng))

        def loss_fn(batch: tuple[torch.Tensor, ...]) -> tuple[torch.Tensor, dict]:
            loss = self._loss(self.net, *batch)
            return loss, {"train/ce": loss}

        return self.accumulate("captioner", self.net, self.micro_batches(fetch), loss_fn, loss_name="ce")

    @torch.no_grad()
    def validate(self) -> dict[str, float]:
        m = unwrap(self.net).eval()
        total, n = 0.0, 0
        for _, items in self.val_chunks():
            x, toks = (v.to(self.device) for v in self.batch(items, None))
            with self.autocast():
                total += float(self._loss(m, x, toks)) * x.shape[0]
            n += x.shape[0]
        if self.writer is not None:
            x, _ = self.batch(self.val_items[:3], None)
            lines = [f"{c!r} (reference: {it.captions[0]!r})" for c, it in zip(m.caption(x.to(self.device)),
                                                                                 self.val_items[:3])]
            self.writer.add_text("val/captions", "  \n".join(lines), self.step)
        return {"val/loss": total / n}

    def components(self) -> dict[str, torch.nn.Module]:
        return {"captioner": self.model}

    def export(self, folder: Path) -> None:
        save_component(self.model, folder / "captioner", extra={"trained_steps": self.step})
