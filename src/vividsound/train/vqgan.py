"""``vividsound train vqgan``: the spectrogram VQGAN (paper Sec. 2.1; SpecVQGAN / taming-transformers losses).

Generator loss per batch::

    nll  = l1 * |x - x̂| + l2 * (x - x̂)^2          (on the normalised log-mel)
         + perceptual * LPAPS-like(x, x̂)            (multi-scale tagger features; refuses to run untrained)
    loss = nll + codebook * (codebook + β commitment)
         + disc_on * λ_adapt * disc_weight * (-D(x̂))  (λ_adapt = ||∇nll|| / ||∇g|| at the decoder's last layer)

The patch discriminator trains with the hinge loss from ``loss.disc_start`` on (SpecVQGAN: step 30,001);
before that the adversarial part is exactly zero. Codebook usage and perplexity are logged, unused codes are
revived every ``loss.revive_every`` steps, and a NaN/inf loss stops the run with one line.

Fine-tuning: ``init_from`` starts from a trained VQGAN; ``train_parts: decoder`` freezes its encoder and
codebook (no gradient, no EMA update, no revival), so every code grid it made (a GPT's training data) still
means the same sound and only the decoder learns. ``min_crop_frames`` draws each step's crop length from
whole columns between it and ``data.crop_frames`` (the decoder's group norms see the whole grid, so it must
train on the grid lengths it will decode).
"""

from __future__ import annotations

import dataclasses
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import torch
import torch.nn as nn

from vividsound.audio import griffin_lim
from vividsound.checkpoint import load_component, save_component
from vividsound.errors import ConfigError
from vividsound.losses.gan import adaptive_weight, hinge_d_loss, hinge_g_loss
from vividsound.losses.perceptual import PerceptualLoss
from vividsound.models.discriminator import DiscriminatorConfig, PatchDiscriminator
from vividsound.models.vqgan import VQGAN, VQGANConfig
from vividsound.train.data import BatchOrder, DataConfig, DataError, batch_rng, load_items, mel_batch, prepare_cache
from vividsound.train.loop import Stage, TrainConfig, unwrap
from vividsound.train.melpack import MelPack


@dataclass(frozen=True)
class VQGANLossConfig:
    l1_weight: float = 1.0  # L1 reconstruction weight (normalised log-mel)
    l2_weight: float = 0.0  # L2 reconstruction weight
    codebook_weight: float = 1.0  # weight of the quantiser loss (codebook + beta * commitment)
    perceptual_weight: float = 1.0  # tagger-feature perceptual loss; 0 switches it off explicitly
    tagger: str = ""  # folder of a trained Tagger component (required when perceptual_weight > 0)
    perceptual_layers: tuple[float, ...] = ()  # weight per tagger feature scale (empty = all 1)
    disc_weight: float = 0.8  # scale of the adaptive adversarial weight
    disc_start: int = 30001  # optimiser step at which the discriminator and the adversarial loss start
    disc_lr_ratio: float = 1.0  # discriminator lr = train.lr * this
    adaptive_max: float = 10000.0  # clamp of the adaptive weight
    revive_every: int = 100  # steps between dead-code revivals (0 = never)


@dataclass(frozen=True)
class VQGANStageConfig:
    data: DataConfig = field(default_factory=DataConfig)  # manifest, cache, crops (crop_frames: whole columns)
    model: VQGANConfig = field(default_factory=VQGANConfig)  # the codec (its mel is the data's mel)
    discriminator: DiscriminatorConfig = field(default_factory=DiscriminatorConfig)  # patch discriminator
    loss: VQGANLossConfig = field(default_factory=VQGANLossConfig)  # loss weights and schedule
    train: TrainConfig = field(default_factory=TrainConfig)  # optimisation and logging
    init_from: str = ""  # a VQGAN component folder (e.g. src/vividsound/default_model/vqgan) that starts this run
    train_parts: str = "all"  # "all" | "decoder": encoder and codebook frozen (needs init_from; codes keep meaning)
    min_crop_frames: int = 0  # > 0: each step's crop is a whole number of columns in [this, data.crop_frames]
    pack: str = ""  # a mel pack (vividsound.train.melpack) to train from instead of data.manifest


TRAIN_PARTS = ("all", "decoder")
_CROP_STREAM = 2**31 - 1  # the micro-batch slot of batch_rng used for the crop-length draw (micro-batches are 0..)


class VQGANStage(Stage):
    name = "vqgan"
    config_class = VQGANStageConfig
    best_key = "val/nll"

    def setup(self) -> None:
        cfg, d, lc = self.cfg, self.dist, self.cfg.loss
        t = cfg.model.downsample[1]
        if cfg.data.crop_frames % t:
            raise ConfigError(f"data.crop_frames={cfg.data.crop_frames} must be a multiple of the VQGAN's time "
                              f"down-sampling {t}")
        if cfg.min_crop_frames and (cfg.min_crop_frames % t or not 0 < cfg.min_crop_frames <= cfg.data.crop_frames):
            raise ConfigError(f"min_crop_frames={cfg.min_crop_frames}: allowed 0 (off) or a multiple of {t} from "
                              f"{t} to data.crop_frames={cfg.data.crop_frames}")
        if cfg.train_parts not in TRAIN_PARTS:
            raise ConfigError(f"train_parts={cfg.train_parts!r}; allowed: {', '.join(TRAIN_PARTS)}")
        if cfg.train_parts == "decoder" and not cfg.init_from:
            raise ConfigError("train_parts=decoder freezes a trained encoder and codebook: set init_from to a "
                              "VQGAN component folder")
        mel = cfg.model.mel
        # The perceptual loss is built before anything heavy so a missing tagger fails first.
        self.perceptual = None
        if lc.perceptual_weight > 0:
            self.perceptual = PerceptualLoss.from_folder(lc.tagger, mel, lc.perceptual_layers or None).to(self.device)
        elif d.main:
            print("vividsound: loss.perceptual_weight=0: training the VQGAN WITHOUT the perceptual loss")
        if cfg.pack:  # everything from one file: no manifest, audio or cache needed
            pack = MelPack.read(cfg.pack)
            pack.check_mel(mel)
            self.train_items = pack.split(cfg.data.train_split)
            self.val_items = pack.split(cfg.data.val_split, limit=cfg.data.val_items)
            if not self.train_items or not self.val_items:
                raise DataError(f"mel pack {cfg.pack} has no {cfg.data.train_split!r} or no {cfg.data.val_split!r} "
                                "items")
            self.cache = pack
        else:
            self.train_items, root = load_items(cfg.data, cfg.data.train_split)
            self.val_items, _ = load_items(cfg.data, cfg.data.val_split, limit=cfg.data.val_items)
            self.cache = prepare_cache(cfg.data, self.run_dir, mel, self.train_items + self.val_items, root,
                                       rank=d.rank, world=d.world, progress=self.tc.progress, barrier=d.barrier)
        torch.manual_seed(self.tc.seed)
        self.model = VQGAN(cfg.model)
        if cfg.init_from:
            self._init_from(cfg.init_from)
        self.frozen = cfg.train_parts == "decoder"
        if self.frozen:
            self.model.encoder.requires_grad_(False)
            self.model.quantizer.requires_grad_(False)
        self.disc = PatchDiscriminator(cfg.discriminator)
        self.net = self.wrap(self.model)
        self.dnet = self.wrap(self.disc)
        self.add_optimizer("vqgan", self.model.parameters(), betas=(0.5, 0.9))
        self.add_optimizer("disc", self.disc.parameters(), lr=self.tc.lr * lc.disc_lr_ratio, betas=(0.5, 0.9))
        self.order = BatchOrder(len(self.train_items), self.tc.seed, d.rank, d.world)

    def _init_from(self, folder: str) -> None:
        """Start from a trained VQGAN; its architecture and mel must match ``model`` (the decode-time
        ``decode_norm_columns`` may differ)."""
        src = load_component(folder, "VQGAN")
        want = dataclasses.replace(self.cfg.model, decode_norm_columns=0)
        got = dataclasses.replace(src.config, decode_norm_columns=0)
        diff = [f"{f.name}: {getattr(got, f.name)} (init_from) vs {getattr(want, f.name)} (config)"
                for f in dataclasses.fields(want) if getattr(got, f.name) != getattr(want, f.name)]
        if diff:
            raise ConfigError(f"init_from={folder} does not match this VQGAN: " + "; ".join(diff))
        self.model.load_state_dict({k: v.float() for k, v in src.state_dict().items()})

    def crop_frames(self, step: int) -> int:
        """This step's crop length: ``data.crop_frames``, or a seeded draw of whole columns from
        ``min_crop_frames`` up (the same on every rank, so the batch shapes agree)."""
        hi, lo = self.cfg.data.crop_frames, self.cfg.min_crop_frames
        if not lo or lo == hi:
            return hi
        t = self.cfg.model.downsample[1]
        rng = batch_rng(self.tc.seed, 0, step, _CROP_STREAM)
        return int(rng.integers(lo // t, hi // t + 1)) * t

    def _nll(self, x: torch.Tensor, recon: torch.Tensor) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        lc, std = self.cfg.loss, self.cfg.model.norm_std
        diff = (x - recon.float()) / std
        parts = {"l1": diff.abs().mean(), "l2": diff.pow(2).mean()}
        nll = lc.l1_weight * parts["l1"] + lc.l2_weight * parts["l2"]
        if self.perceptual is not None:
            parts["perceptual"] = self.perceptual(x, recon.float())
            nll = nll + lc.perceptual_weight * parts["perceptual"]
        return nll, parts

    def train_step(self) -> dict[str, float]:
        lc, tc = self.cfg.loss, self.tc
        self.net.train()
        self.dnet.train()
        if self.frozen:  # no dropout in the encoder, no EMA update or usage count in the codebook
            self.model.encoder.eval()
            self.model.quantizer.eval()
        frames = self.crop_frames(self.step)
        disc_on = self.step >= lc.disc_start
        pairs: list[tuple[torch.Tensor, torch.Tensor]] = []  # (real, reconstruction) per micro-batch

        def fetch(idx: list[int], rng) -> torch.Tensor:
            return mel_batch(self.cache, [self.train_items[i] for i in idx], frames, self.cfg.model.mel,
                             rng).mel.to(self.device)

        def g_loss_fn(x: torch.Tensor) -> tuple[torch.Tensor, dict]:
            out = self.net(x)
            nll, parts = self._nll(x, out.recon)
            loss = nll + lc.codebook_weight * out.quant.loss.float()
            logs: dict[str, torch.Tensor | float] = {}
            if disc_on:
                self.disc.requires_grad_(False)  # the generator pass must not train the discriminator
                g_loss = hinge_g_loss(self.disc(self.model.normalize(out.recon)))
                self.disc.requires_grad_(True)
                w = lc.disc_weight * adaptive_weight(nll, g_loss, self.model.last_layer, lc.adaptive_max)
                loss = loss + w * g_loss
                logs.update({"train/g_loss": g_loss, "train/adaptive_weight": w})
            pairs.append((x, out.recon.detach().float()))
            return loss, {**logs, **{f"train/{k}": v for k, v in parts.items()}, "train/quant_loss": out.quant.loss,
                          "train/loss": loss, "train/usage": out.quant.usage, "train/perplexity": out.quant.perplexity}

        def d_loss_fn(pair: tuple[torch.Tensor, torch.Tensor]) -> tuple[torch.Tensor, dict]:
            real, fake = pair
            d_loss = hinge_d_loss(self.dnet(self.model.normalize(real)), self.dnet(self.model.normalize(fake)))
            return d_loss, {"train/d_loss": d_loss}

        logs = self.accumulate("vqgan", self.net, self.micro_batches(fetch), g_loss_fn)
        if disc_on:
            logs.update(self.accumulate("disc", self.dnet, pairs, d_loss_fn, grad_norm_log=None))
        else:
            with warnings.catch_warnings():  # keep both schedules on one clock while the discriminator waits
                warnings.simplefilter("ignore", UserWarning)
                self.schedulers["disc"].step()
        self._sync_codebook()
        if lc.revive_every and not self.frozen and (self.step + 1) % lc.revive_every == 0:
            with torch.no_grad():
                z = self.model.encoder(self.model.normalize(pairs[-1][0])[:, None])  # (B, C, h, w)
                flat = z.permute(0, 2, 3, 1).reshape(-1, z.shape[1])
                g = torch.Generator().manual_seed(tc.seed * 7919 + self.step)
                logs["train/revived"] = float(self.model.quantizer.revive_dead_codes(flat, g))
            self._broadcast_codebook()
        logs["train/disc_on"] = float(disc_on)
        logs["train/crop_frames"] = float(frames)
        return logs

    @torch.no_grad()
    def _sync_codebook(self) -> None:
        """Under DDP, make the codebook state global: EMA statistics averaged over ranks (the codebook is
        recomputed from them as the quantiser does), last-use steps maximised. (A no-op on one process.)"""
        if self.dist.world == 1 or self.frozen:
            return
        import torch.distributed as dist

        q = self.model.quantizer
        dist.all_reduce(q.last_used, op=dist.ReduceOp.MAX)
        if q.cfg.update != "ema":
            return  # a trainable codebook is already kept equal by DDP's gradient averaging
        for buf in (q.ema_size, q.ema_sum):
            dist.all_reduce(buf)
            buf.div_(self.dist.world)
        n, eps = q.ema_size.sum(), 1e-5
        smoothed = (q.ema_size + eps) / (n + q.cfg.n_codes * eps) * n  # as VectorQuantizer._ema_update
        q.codebook.copy_(q.ema_sum / smoothed[:, None])

    @torch.no_grad()
    def _broadcast_codebook(self) -> None:
        """After a revival (drawn from each rank's own latents), every rank takes rank 0's codebook."""
        if self.dist.world == 1:
            return
        import torch.distributed as dist

        for buf in self.model.quantizer.buffers():
            dist.broadcast(buf, 0)
        if self.model.quantizer.cfg.update != "ema":
            dist.broadcast(self.model.quantizer.codebook.data, 0)

    @torch.no_grad()
    def validate(self) -> dict[str, float]:
        m = unwrap(self.net).eval()
        sums: dict[str, float] = {}
        counts = torch.zeros(self.cfg.model.quantizer.n_codes)
        seen, first = 0, None
        for _, items in self.val_chunks():
            x = mel_batch(self.cache, items, self.cfg.data.crop_frames, self.cfg.model.mel, None).mel.to(self.device)
            with self.autocast():
                out = m(x)
            nll, parts = self._nll(x, out.recon)
            mse = (x - out.recon.float()).pow(2).mean(dim=(1, 2))
            peak = x.amax(dim=(1, 2)) - x.amin(dim=(1, 2))
            psnr = 10 * torch.log10(peak.pow(2) / mse.clamp_min(1e-10))
            for key, v in {"nll": nll, **parts}.items():
                sums[key] = sums.get(key, 0.0) + float(v) * len(items)
            sums["psnr"] = sums.get("psnr", 0.0) + float(psnr.sum())
            counts += torch.bincount(out.quant.indices.flatten().cpu(), minlength=counts.numel()).float()
            seen += len(items)
            if first is None:
                first = (x[:2].cpu(), out.recon[:2].float().cpu())
        p = counts / counts.sum()
        res = {f"val/{k}": v / seen for k, v in sums.items()}
        res["val/usage"] = float((counts > 0).float().mean())
        res["val/perplexity"] = float(torch.exp(-(p * p.clamp_min(1e-10).log()).sum()))
        if self.writer is not None and first is not None:
            ref, rec = first
            self.log_mel_image("val/reference_vs_recon", torch.cat([ref, rec]), self.step)
            wav = griffin_lim(rec[:1], self.cfg.model.mel, n_iter=16)
            self.log_audio("val/recon_griffinlim", wav[0], self.cfg.model.mel.sample_rate, self.step)
        return res

    def components(self) -> dict[str, nn.Module]:
        return {"vqgan": self.model, "discriminator": self.disc}

    def export(self, folder: Path) -> None:
        save_component(self.model, folder / "vqgan", extra={"trained_steps": self.step})
        save_component(self.disc, folder / "discriminator", extra={"trained_steps": self.step})
