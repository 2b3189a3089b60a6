"""``vividsound train vocos``: the fast iSTFT vocoder (:mod:`vividsound.models.vocos`) trained adversarially.

Generator loss (Vocos, Siuzdak 2023, Sec. 3): ``mel_weight`` x L1 between the log-mels of the generated and
the real segment + hinge adversarial and ``feature_weight`` x feature-matching terms of the multi-period
discriminator + the same terms of the multi-resolution discriminator scaled by ``mrd_weight``. The
discriminators train with the hinge loss from ``disc_start`` on. Losses come from :mod:`vividsound.losses.gan`.

Data: waveform segments of ``data.crop_frames`` mel frames, from the manifest's audio (cached like the
MelGAN stage's), or with ``pack=FILE`` from a waveform pack (:func:`write_wave_pack`, ``--write-pack``): a
random excerpt of ``pack_seconds`` of each item as 16-bit PCM in one ``.npz``, small enough to carry to a GPU
machine (20 MB hold ~7.5 minutes of 22,050 Hz audio). The log-mel input is computed from the waveform
on the training device, so a pack needs no mels.
"""

from __future__ import annotations

import io
import json
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from vividsound.audio import MelSpectrogram
from vividsound.checkpoint import atomic_write_bytes, save_component
from vividsound.data.manifest import ManifestItem
from vividsound.errors import ConfigError
from vividsound.losses.gan import feature_matching_loss, multi_hinge_d_loss, multi_hinge_g_loss
from vividsound.models.vocos import Vocos, VocosConfig
from vividsound.models.vocos_discriminator import VocosDiscriminator, VocosDiscriminatorConfig
from vividsound.train.data import BatchOrder, DataConfig, DataError, crop, load_items, prepare_cache
from vividsound.train.loop import Stage, TrainConfig, unwrap

WAVE_PACK_FORMAT = "vividsound-wave-pack"
WAVE_PACK_VERSION = 1


@dataclass(frozen=True)
class VocosLossConfig:
    mel_weight: float = 45.0  # L1 on log-mels of generated vs real audio (Vocos, HiFi-GAN: 45)
    feature_weight: float = 2.0  # feature matching (L1 per layer, averaged over a discriminator's layers)
    mrd_weight: float = 0.1  # multi-resolution terms relative to the multi-period ones (Vocos: 0.1)
    disc_start: int = 0  # step at which the adversarial terms start (before: mel loss only)


@dataclass(frozen=True)
class VocosStageConfig:
    data: DataConfig = field(default_factory=lambda: DataConfig(crop_frames=64))  # crop_frames: frames per segment
    model: VocosConfig = field(default_factory=VocosConfig)  # the vocoder
    discriminator: VocosDiscriminatorConfig = field(default_factory=VocosDiscriminatorConfig)
    loss: VocosLossConfig = field(default_factory=VocosLossConfig)  # loss weights
    pack: str = ""  # a waveform pack (--write-pack) read instead of data.manifest and the audio
    pack_seconds: float = 2.0  # --write-pack: seconds of audio kept per item (a random excerpt)
    pack_mb: float = 20.0  # --write-pack: most megabytes of audio in the pack (items beyond it are left out)
    train: TrainConfig = field(default_factory=TrainConfig)  # optimisation and logging


# ----- waveform packs --------------------------------------------------------------------------------
def write_wave_pack(path: str | Path, sample_rate: int, hop: int, items: list[tuple[ManifestItem, np.ndarray]],
                    max_bytes: int) -> Path:
    """Write ``(item, float waveform)`` pairs as 16-bit PCM into one ``.npz``, atomically, up to ``max_bytes``
    of audio (the items after the budget are left out; validation items should come first)."""
    parts, offsets, meta_items, used = [], [0], [], 0
    for it, wav in items:
        pcm = (np.clip(wav, -1.0, 1.0) * 32767.0).round().astype(np.int16)
        if used + pcm.nbytes > max_bytes:
            break
        parts.append(pcm)
        used += pcm.nbytes
        offsets.append(offsets[-1] + len(pcm))
        meta_items.append({"id": it.id, "split": it.split})
    if not parts:
        raise DataError("a waveform pack needs at least one item within its size budget")
    meta = {"format": WAVE_PACK_FORMAT, "version": WAVE_PACK_VERSION, "sample_rate": sample_rate, "hop": hop,
            "items": meta_items}
    buf = io.BytesIO()
    np.savez(buf, meta=np.frombuffer(json.dumps(meta).encode("utf-8"), dtype=np.uint8),
             audio=np.concatenate(parts), offsets=np.asarray(offsets, dtype=np.int64))
    atomic_write_bytes(Path(path), buf.getvalue())
    return Path(path)


def read_wave_pack(path: str | Path, sample_rate: int) -> tuple[list[ManifestItem], dict[str, np.ndarray]]:
    """Items and their float32 waveforms; a missing, foreign or mismatched pack raises one DataError line."""
    p = Path(path)
    if not p.is_file():
        raise DataError(f"waveform pack {p} does not exist")
    try:
        with np.load(p, allow_pickle=False) as z:
            meta = json.loads(bytes(z["meta"]).decode("utf-8"))
            audio, offsets = z["audio"], z["offsets"]
    except (OSError, ValueError, KeyError, EOFError, UnicodeDecodeError) as e:
        raise DataError(f"waveform pack {p} is unreadable or corrupt: {e}") from None
    if not isinstance(meta, dict) or meta.get("format") != WAVE_PACK_FORMAT or meta.get("version") != WAVE_PACK_VERSION:
        raise DataError(f"{p} is not a vividsound waveform pack (version {WAVE_PACK_VERSION})")
    if meta["sample_rate"] != sample_rate:
        raise DataError(f"waveform pack {p} is at {meta['sample_rate']} Hz; this vocoder's mel is at {sample_rate} Hz")
    items, waves = [], {}
    for i, m in enumerate(meta["items"]):
        items.append(ManifestItem(id=m["id"], audio="", captions=[], split=m["split"]))
        waves[m["id"]] = audio[int(offsets[i]) : int(offsets[i + 1])].astype(np.float32) / 32767.0
    return items, waves


class VocosStage(Stage):
    name = "vocos"
    config_class = VocosStageConfig
    best_key = "val/mel_l1"

    def setup(self) -> None:
        cfg, d = self.cfg, self.dist
        if cfg.loss.mel_weight < 0 or cfg.loss.feature_weight < 0 or cfg.loss.mrd_weight < 0:
            raise ConfigError("loss.mel_weight, loss.feature_weight and loss.mrd_weight must be >= 0")
        self.waves: dict[str, np.ndarray] | None = None
        self.cache = None
        if cfg.pack:
            items, self.waves = read_wave_pack(cfg.pack, cfg.model.mel.sample_rate)
            self.train_items = [it for it in items if it.split == cfg.data.train_split]
            self.val_items = [it for it in items if it.split == cfg.data.val_split][: cfg.data.val_items]
            for split, got in ((cfg.data.train_split, self.train_items), (cfg.data.val_split, self.val_items)):
                if not got:
                    raise DataError(f"waveform pack {cfg.pack} has no items in split {split!r}")
        else:
            self.train_items, root = load_items(cfg.data, cfg.data.train_split)
            self.val_items, _ = load_items(cfg.data, cfg.data.val_split, limit=cfg.data.val_items)
            self.cache = prepare_cache(cfg.data, self.run_dir, cfg.model.mel, self.train_items + self.val_items, root,
                                       kind="wave", rank=d.rank, world=d.world, progress=self.tc.progress,
                                       barrier=d.barrier)
        self.front = MelSpectrogram(cfg.model.mel).to(self.device)
        torch.manual_seed(self.tc.seed)
        self.model = Vocos(cfg.model)
        self.disc = VocosDiscriminator(cfg.discriminator)
        self.net = self.wrap(self.model)
        self.dnet = self.wrap(self.disc)
        self.add_optimizer("vocos", self.model.parameters())
        self.add_optimizer("disc", self.disc.parameters())
        self.order = BatchOrder(len(self.train_items), self.tc.seed, d.rank, d.world)

    def wave(self, item: ManifestItem) -> np.ndarray:
        return self.waves[item.id] if self.waves is not None else self.cache.get_float(item.id)

    def segments(self, items, rng: np.random.Generator | None) -> torch.Tensor:
        """Waveform segments (B, crop_frames * hop) starting on frame boundaries."""
        hop = self.cfg.model.mel.hop_length
        n = self.cfg.data.crop_frames * hop
        return torch.from_numpy(np.stack([crop(self.wave(it), n, rng, 0.0, hop) for it in items]))

    def _adv_terms(self, outs_fake, outs_real) -> tuple[torch.Tensor, torch.Tensor]:
        """(adversarial, feature matching) generator terms: period ones + mrd_weight x resolution ones."""
        lc = self.cfg.loss
        (pf, rf), (pr, rr) = outs_fake, outs_real
        g = multi_hinge_g_loss([o[-1] for o in pf]) + lc.mrd_weight * multi_hinge_g_loss([o[-1] for o in rf])
        fm = feature_matching_loss(pr, pf) + lc.mrd_weight * feature_matching_loss(rr, rf)
        return g, fm

    def train_step(self) -> dict[str, float]:
        lc = self.cfg.loss
        self.net.train()
        self.dnet.train()
        adv = self.step >= lc.disc_start
        pairs: list[tuple[torch.Tensor, torch.Tensor]] = []  # (real, generated) per micro-batch, for the discriminators

        def fetch(idx: list[int], rng) -> tuple[torch.Tensor, torch.Tensor]:
            wav = self.segments([self.train_items[i] for i in idx], rng).to(self.device)
            with torch.no_grad():
                return wav, self.front(wav)

        def g_loss_fn(batch: tuple[torch.Tensor, torch.Tensor]) -> tuple[torch.Tensor, dict]:
            wav, mel = batch
            fake = self.net(mel).float()
            mel_l1 = F.l1_loss(self.front(fake), mel)
            loss = lc.mel_weight * mel_l1
            logs: dict[str, torch.Tensor] = {}
            if adv:
                self.disc.requires_grad_(False)
                out_fake = self.disc(fake)
                with torch.no_grad():
                    out_real = self.disc(wav)
                self.disc.requires_grad_(True)
                g, fm = self._adv_terms(out_fake, out_real)
                loss = loss + g + lc.feature_weight * fm
                logs.update({"train/g_loss": g, "train/feature_matching": fm})
            pairs.append((wav, fake.detach()))
            return loss, {**logs, "train/mel_l1": mel_l1}

        def d_loss_fn(pair: tuple[torch.Tensor, torch.Tensor]) -> tuple[torch.Tensor, dict]:
            wav, fake = pair
            (pr, rr), (pf, rf) = self.dnet(wav), self.dnet(fake)
            d_loss = multi_hinge_d_loss([o[-1] for o in pr], [o[-1] for o in pf]) + \
                lc.mrd_weight * multi_hinge_d_loss([o[-1] for o in rr], [o[-1] for o in rf])
            return d_loss, {"train/d_loss": d_loss}

        logs = self.accumulate("vocos", self.net, self.micro_batches(fetch), g_loss_fn)
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
            fake = m(mel).float()
            total += float(F.l1_loss(self.front(fake), mel)) * wav.shape[0]
            n += wav.shape[0]
            if first is None:
                first = fake[0].cpu()
        if first is not None:
            self.log_audio("val/vocos", first, self.cfg.model.mel.sample_rate, self.step)
        return {"val/mel_l1": total / n}

    def components(self) -> dict[str, torch.nn.Module]:
        return {"vocos": self.model, "discriminator": self.disc}

    def export(self, folder: Path) -> None:
        save_component(self.model, folder / "vocos", extra={"trained_steps": self.step})
        save_component(self.disc, folder / "discriminator", extra={"trained_steps": self.step})

    # ----- packs -----------------------------------------------------------------------------------
    def write_pack(self, path: str | Path) -> Path:
        """A waveform pack of the validation items (whole, up to ``pack_seconds``) and a seeded random
        ``pack_seconds`` excerpt of each training item, in a seeded random order, up to ``pack_mb``."""
        cfg = self.cfg
        if self.cache is None:
            raise ConfigError("this run reads a waveform pack; writing one needs data.manifest and the audio")
        mel = cfg.model.mel
        n = max(cfg.data.crop_frames, round(cfg.pack_seconds * mel.sample_rate / mel.hop_length)) * mel.hop_length
        rng = np.random.default_rng(self.tc.seed)
        train = [self.train_items[i] for i in rng.permutation(len(self.train_items))]
        pairs = [(it, crop(self.cache.get_float(it.id), n, None, 0.0)) for it in self.val_items]
        pairs += [(it, crop(self.cache.get_float(it.id), n, rng, 0.0, mel.hop_length)) for it in train]
        return write_wave_pack(path, mel.sample_rate, mel.hop_length, pairs, int(cfg.pack_mb * 1e6))
