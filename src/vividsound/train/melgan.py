"""``vividsound train melgan``: the paper's vocoder (MelGAN generator + multi-scale discriminator).

Generator loss = hinge adversarial over the scales + ``feature_weight`` x feature matching (L1 between
the discriminators' layer outputs on real and generated audio) + ``mel_weight`` x L1 between the log-mel of
the generated and the real segment. The discriminator trains with the hinge loss from ``disc_start`` on.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from vividsound.audio import MelSpectrogram
from vividsound.checkpoint import save_component
from vividsound.losses.gan import feature_matching_loss, multi_hinge_d_loss, multi_hinge_g_loss
from vividsound.models.melgan_discriminator import MultiScaleDiscriminator, MultiScaleDiscriminatorConfig
from vividsound.models.vocoders import MelGAN, MelGANConfig
from vividsound.train.data import BatchOrder, DataConfig, batch_rng, crop, load_items, prepare_cache
from vividsound.train.loop import Stage, TrainConfig, unwrap


@dataclass(frozen=True)
class MelGANLossConfig:
    mel_weight: float = 45.0  # L1 on log-mels of generated vs real audio
    feature_weight: float = 10.0  # feature matching (the MelGAN paper: 10)
    disc_start: int = 0  # step at which the adversarial terms start (before: mel loss only)


@dataclass(frozen=True)
class MelGANStageConfig:
    data: DataConfig = field(default_factory=DataConfig)  # crop_frames = mel frames per training segment
    model: MelGANConfig = field(default_factory=MelGANConfig)  # generator
    discriminator: MultiScaleDiscriminatorConfig = field(default_factory=MultiScaleDiscriminatorConfig)
    loss: MelGANLossConfig = field(default_factory=MelGANLossConfig)  # loss weights
    train: TrainConfig = field(default_factory=TrainConfig)  # optimisation and logging


class MelGANStage(Stage):
    name = "melgan"
    config_class = MelGANStageConfig
    best_key = "val/mel_l1"

    def setup(self) -> None:
        cfg, d = self.cfg, self.dist
        self.train_items, root = load_items(cfg.data, cfg.data.train_split)
        self.val_items, _ = load_items(cfg.data, cfg.data.val_split, limit=cfg.data.val_items)
        self.cache = prepare_cache(cfg.data, self.run_dir, cfg.model.mel, self.train_items + self.val_items, root,
                                   kind="wave", rank=d.rank, world=d.world, progress=self.tc.progress,
                                   barrier=d.barrier)
        self.front = MelSpectrogram(cfg.model.mel).to(self.device)
        torch.manual_seed(self.tc.seed)
        self.model = MelGAN(cfg.model)
        self.disc = MultiScaleDiscriminator(cfg.discriminator)
        self.net = self.wrap(self.model)
        self.dnet = self.wrap(self.disc)
        self.add_optimizer("melgan", self.model.parameters())
        self.add_optimizer("disc", self.disc.parameters())
        self.order = BatchOrder(len(self.train_items), self.tc.seed, d.rank, d.world)

    def segments(self, items, rng: np.random.Generator | None) -> torch.Tensor:
        """Waveform segments (B, crop_frames * hop) starting on frame boundaries."""
        hop = self.cfg.model.mel.hop_length
        n = self.cfg.data.crop_frames * hop
        return torch.from_numpy(np.stack([crop(self.cache.get_float(it.id), n, rng, 0.0, hop) for it in items]))

    def train_step(self) -> dict[str, float]:
        lc, tc = self.cfg.loss, self.tc
        self.net.train()
        self.dnet.train()
        adv = self.step >= lc.disc_start
        logs: dict[str, float] = {}
        pairs = []

        def add(k: str, v: torch.Tensor) -> None:
            logs[k] = logs.get(k, 0.0) + float(v.detach()) / tc.grad_accum

        for micro in range(tc.grad_accum):
            idx = self.order.next(tc.batch_size)
            rng = batch_rng(tc.seed, self.dist.rank, self.step, micro)
            wav = self.segments([self.train_items[i] for i in idx], rng).to(self.device)
            with torch.no_grad():
                mel = self.front(wav)
            with self.no_sync(self.net, micro), self.autocast():
                fake = self.net(mel)[:, : wav.shape[1]].float()
                mel_l1 = F.l1_loss(self.front(fake), mel)
                loss = lc.mel_weight * mel_l1
                if adv:
                    self.disc.requires_grad_(False)
                    out_fake = self.disc(fake)
                    with torch.no_grad():
                        out_real = self.disc(wav)
                    self.disc.requires_grad_(True)
                    g = multi_hinge_g_loss([o[-1] for o in out_fake])
                    fm = feature_matching_loss(out_real, out_fake)
                    loss = loss + g + lc.feature_weight * fm
                    add("train/g_loss", g)
                    add("train/feature_matching", fm)
                self.check_finite({"melgan": loss})
                self.backward(loss, "melgan")
            add("train/mel_l1", mel_l1)
            pairs.append((wav, fake.detach()))
        logs["train/grad_norm"] = self.optimizer_step("melgan")
        if adv:
            for micro, (wav, fake) in enumerate(pairs):
                with self.no_sync(self.dnet, micro), self.autocast():
                    d_loss = multi_hinge_d_loss([o[-1] for o in self.dnet(wav)], [o[-1] for o in self.dnet(fake)])
                    self.check_finite({"disc": d_loss})
                    self.backward(d_loss, "disc")
                add("train/d_loss", d_loss)
            self.optimizer_step("disc")
        else:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", UserWarning)
                self.schedulers["disc"].step()
        return logs

    @torch.no_grad()
    def validate(self) -> dict[str, float]:
        m = unwrap(self.net).eval()
        bs, total, n = self.tc.batch_size, 0.0, 0
        first = None
        for k in range(0, len(self.val_items), bs):
            wav = self.segments(self.val_items[k : k + bs], None).to(self.device)
            mel = self.front(wav)
            fake = m(mel)[:, : wav.shape[1]].float()
            total += float(F.l1_loss(self.front(fake), mel)) * wav.shape[0]
            n += wav.shape[0]
            if first is None:
                first = fake[0].cpu()
        if first is not None:
            self.log_audio("val/melgan", first, self.cfg.model.mel.sample_rate, self.step)
        return {"val/mel_l1": total / n}

    def components(self) -> dict[str, torch.nn.Module]:
        return {"melgan": self.model, "discriminator": self.disc}

    def export(self, folder: Path) -> None:
        save_component(self.model, folder / "melgan", extra={"trained_steps": self.step})
        save_component(self.disc, folder / "discriminator", extra={"trained_steps": self.step})
