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
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from vividsound.checkpoint import atomic_write_bytes
from vividsound.data.manifest import ManifestItem
from vividsound.errors import ConfigError
from vividsound.losses.gan import feature_matching_loss, multi_hinge_d_loss, multi_hinge_g_loss
from vividsound.models.vocos import Vocos, VocosConfig
from vividsound.models.vocos_discriminator import VocosDiscriminator, VocosDiscriminatorConfig
from vividsound.train.data import DataConfig, DataError, crop
from vividsound.train.loop import TrainConfig
from vividsound.train.melgan import MelGANStage

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


class VocosStage(MelGANStage):
    """The MelGAN stage's training with a Vocos vocoder, period + resolution discriminators, and waveform packs."""

    name = "vocos"
    config_class = VocosStageConfig
    best_key = "val/mel_l1"

    def setup(self) -> None:
        lc = self.cfg.loss
        if lc.mel_weight < 0 or lc.feature_weight < 0 or lc.mrd_weight < 0:
            raise ConfigError("loss.mel_weight, loss.feature_weight and loss.mrd_weight must be >= 0")
        super().setup()

    def load_data(self) -> None:
        cfg = self.cfg
        self.waves: dict[str, np.ndarray] | None = None
        self.cache = None
        if not cfg.pack:
            super().load_data()
            return
        items, self.waves = read_wave_pack(cfg.pack, cfg.model.mel.sample_rate)
        self.train_items = [it for it in items if it.split == cfg.data.train_split]
        self.val_items = [it for it in items if it.split == cfg.data.val_split][: cfg.data.val_items]
        for split, got in ((cfg.data.train_split, self.train_items), (cfg.data.val_split, self.val_items)):
            if not got:
                raise DataError(f"waveform pack {cfg.pack} has no items in split {split!r}")

    def build(self) -> tuple[torch.nn.Module, torch.nn.Module]:
        return Vocos(self.cfg.model), VocosDiscriminator(self.cfg.discriminator)

    def wave(self, item: ManifestItem) -> np.ndarray:
        return self.waves[item.id] if self.waves is not None else self.cache.get_float(item.id)

    def adversarial_terms(self, out_fake, out_real) -> tuple[torch.Tensor, torch.Tensor]:
        """Period terms + mrd_weight x resolution terms."""
        lc = self.cfg.loss
        (pf, rf), (pr, rr) = out_fake, out_real
        g = multi_hinge_g_loss([o[-1] for o in pf]) + lc.mrd_weight * multi_hinge_g_loss([o[-1] for o in rf])
        fm = feature_matching_loss(pr, pf) + lc.mrd_weight * feature_matching_loss(rr, rf)
        return g, fm

    def disc_loss(self, wav: torch.Tensor, fake: torch.Tensor) -> torch.Tensor:
        (pr, rr), (pf, rf) = self.dnet(wav), self.dnet(fake)
        return multi_hinge_d_loss([o[-1] for o in pr], [o[-1] for o in pf]) + \
            self.cfg.loss.mrd_weight * multi_hinge_d_loss([o[-1] for o in rr], [o[-1] for o in rf])

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
