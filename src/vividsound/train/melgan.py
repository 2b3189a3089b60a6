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
from vividsound.train.data import BatchOrder, DataConfig, crop, load_items, prepare_cache
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
        self.load_data()
        self.front = MelSpectrogram(cfg.model.mel).to(self.device)
        torch.manual_seed(self.tc.seed)
        self.model, self.disc = self.build()
        self.net = self.wrap(self.model)
        self.dnet = self.wrap(self.disc)
        self.add_optimizer(self.name, self.model.parameters())
        self.add_optimizer("disc", self.disc.parameters())
        self.order = BatchOrder(len(self.train_items), self.tc.seed, d.rank, d.world)

    # ----- what a vocoder stage of this shape chooses (the Vocos stage overrides these) ---------
    def load_data(self) -> None:
        """``train_items``, ``val_items`` and what :meth:`wave` reads them from."""
        cfg, d = self.cfg, self.dist
        self.train_items, root = load_items(cfg.data, cfg.data.train_split)
        self.val_items, _ = load_items(cfg.data, cfg.data.val_split, limit=cfg.data.val_items)
        self.cache = prepare_cache(cfg.data, self.run_dir, cfg.model.mel, self.train_items + self.val_items, root,
                                   kind="wave", rank=d.rank, world=d.world, progress=self.tc.progress,
                                   barrier=d.barrier)

    def build(self) -> tuple[torch.nn.Module, torch.nn.Module]:
        """(vocoder, discriminator), built after the stage's seed is set."""
        return MelGAN(self.cfg.model), MultiScaleDiscriminator(self.cfg.discriminator)

    def wave(self, item) -> np.ndarray:
        return self.cache.get_float(item.id)

    def adversarial_terms(self, out_fake, out_real) -> tuple[torch.Tensor, torch.Tensor]:
        """(adversarial, feature matching) terms of the vocoder's loss from the discriminator's outputs."""
        return multi_hinge_g_loss([o[-1] for o in out_fake]), feature_matching_loss(out_real, out_fake)

    def disc_loss(self, wav: torch.Tensor, fake: torch.Tensor) -> torch.Tensor:
        return multi_hinge_d_loss([o[-1] for o in self.dnet(wav)], [o[-1] for o in self.dnet(fake)])

    # ----- shared -------------------------------------------------------------------------------
    def segments(self, items, rng: np.random.Generator | None) -> torch.Tensor:
        """Waveform segments (B, crop_frames * hop) starting on frame boundaries."""
        hop = self.cfg.model.mel.hop_length
        n = self.cfg.data.crop_frames * hop
        return torch.from_numpy(np.stack([crop(self.wave(it), n, rng, 0.0, hop) for it in items]))

    def train_step(self) -> dict[str, float]:
        lc = self.cfg.loss
        self.net.train()
        self.dnet.train()
        adv = self.step >= lc.disc_start
        pairs: list[tuple[torch.Tensor, torch.Tensor]] = []  # (real, generated) per micro-batch, for the discriminator

        def fetch(idx: list[int], rng) -> tuple[torch.Tensor, torch.Tensor]:
            wav = self.segments([self.train_items[i] for i in idx], rng).to(self.device)
            with torch.no_grad():
                return wav, self.front(wav)

        def g_loss_fn(batch: tuple[torch.Tensor, torch.Tensor]) -> tuple[torch.Tensor, dict]:
            wav, mel = batch
            fake = self.net(mel)[:, : wav.shape[1]].float()
            mel_l1 = F.l1_loss(self.front(fake), mel)
            loss = lc.mel_weight * mel_l1
            logs: dict[str, torch.Tensor] = {}
            if adv:
                self.disc.requires_grad_(False)
                out_fake = self.disc(fake)
                with torch.no_grad():
                    out_real = self.disc(wav)
                self.disc.requires_grad_(True)
                g, fm = self.adversarial_terms(out_fake, out_real)
                loss = loss + g + lc.feature_weight * fm
                logs.update({"train/g_loss": g, "train/feature_matching": fm})
            pairs.append((wav, fake.detach()))
            return loss, {**logs, "train/mel_l1": mel_l1}

        def d_loss_fn(pair: tuple[torch.Tensor, torch.Tensor]) -> tuple[torch.Tensor, dict]:
            d_loss = self.disc_loss(*pair)
            return d_loss, {"train/d_loss": d_loss}

        logs = self.accumulate(self.name, self.net, self.micro_batches(fetch), g_loss_fn)
        if adv:
            logs.update(self.accumulate("disc", self.dnet, pairs, d_loss_fn, grad_norm_log=None))
        else:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", UserWarning)
                self.schedulers["disc"].step()
        return logs

    @torch.no_grad()
    def validate(self) -> dict[str, float]:
        m = unwrap(self.net).eval()
        total, n = 0.0, 0
        first = None
        for _, items in self.val_chunks():
            wav = self.segments(items, None).to(self.device)
            mel = self.front(wav)
            fake = m(mel)[:, : wav.shape[1]].float()
            total += float(F.l1_loss(self.front(fake), mel)) * wav.shape[0]
            n += wav.shape[0]
            if first is None:
                first = fake[0].cpu()
        if first is not None:
            self.log_audio(f"val/{self.name}", first, self.cfg.model.mel.sample_rate, self.step)
        return {"val/mel_l1": total / n}

    def components(self) -> dict[str, torch.nn.Module]:
        return {self.name: self.model, "discriminator": self.disc}

    def export(self, folder: Path) -> None:
        save_component(self.model, folder / self.name, extra={"trained_steps": self.step})
        save_component(self.disc, folder / "discriminator", extra={"trained_steps": self.step})
