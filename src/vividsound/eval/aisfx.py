"""Embeddings and class heads of the pretrained aiSFX sound-effects CNN, independent of anything we train.

Model and weights: A. B. Ma and A. Lerch, "Representation Learning for the Automatic Indexing of Sound
Effects Libraries", ISMIR 2022; PyPI package ``aisfx`` (0.1.2), weights licensed CC BY 4.0. Reports
that use these features must credit it (see :data:`ATTRIBUTION`). Its embedding network follows the
DCASE 2018 cross-task baseline CNN (Kong et al.).

The package's own loader calls ``torch.load`` without ``weights_only`` and fails on torch >= 2.6 (the
pickle holds numpy scalars). We read the same file with ``torch.load(weights_only=True)``, allow-listing
only numpy's scalar constructor and dtype classes (needed for the integer head indices), rebuild the
network here, and load its state dict strictly. The package is imported only to locate the file.

Front end (the package's librosa path, which its ``main`` offers next to the Essentia one the paper
used): audio resampled to 44.1 kHz and peak-normalised to 1; power STFT with n_fft = window = 2048
(periodic Hann), hop 1024, centred with zero padding; 96 HTK-mel bands from 0 to 22,050 Hz, each filter
normalised to unit sum; ``log10(1e4 * mel + 1)``; divided by the cross-dataset maximum 9.4578
("original" normalisation). The network sees blocks of 100 frames (~2.3 s) with a hop of 50 frames and
returns a 512-d embedding per block; we average blocks into one clip embedding and average per-block
softmax outputs into one distribution per head. Clips shorter than one block are zero-padded to it.
"""

from __future__ import annotations

import importlib.util
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from vividsound.errors import CheckpointError, InputError

__all__ = ["ATTRIBUTION", "AisfxModel", "AisfxOutput", "aisfx_mel", "aisfx_mel_filterbank", "load_aisfx",
           "default_weights_path"]

ATTRIBUTION = ("aiSFX sound-effects embeddings: A. B. Ma and A. Lerch, 'Representation Learning for the "
               "Automatic Indexing of Sound Effects Libraries', ISMIR 2022; pretrained weights from the "
               "PyPI package aisfx, CC BY 4.0.")

SAMPLE_RATE = 44100
N_FFT = 2048
HOP = 1024
N_MELS = 96
FMAX = 22050.0
LOG_MAX = 9.457798957824707  # the package's "original" min-max normalisation (min 0)
BLOCK = 100  # frames per embedding block
BLOCK_HOP = 50  # emb_hop_size 0.5
DEFAULT_HEAD = "ucsMixed"  # the 69-category Universal Category System head


def default_weights_path() -> Path:
    """Path of ``checkpoint.pth`` inside the installed ``aisfx`` package (not imported)."""
    spec = importlib.util.find_spec("aisfx")
    if spec is None or not spec.submodule_search_locations:
        raise CheckpointError("the aisfx package is not installed (pip install --no-deps aisfx==0.1.2)")
    return Path(list(spec.submodule_search_locations)[0]) / "models" / "checkpoint.pth"


# --------------------------------------------------------------------------------------------------
# Front end
# --------------------------------------------------------------------------------------------------

def aisfx_mel_filterbank() -> np.ndarray:
    """HTK-mel triangular filters (96, 1025) for 44.1 kHz / n_fft 2048, each row summing to 1."""
    def hz_to_mel(f: np.ndarray) -> np.ndarray:
        return 2595.0 * np.log10(1.0 + np.asarray(f, dtype=np.float64) / 700.0)

    def mel_to_hz(m: np.ndarray) -> np.ndarray:
        return 700.0 * (10.0 ** (np.asarray(m, dtype=np.float64) / 2595.0) - 1.0)

    fft_freqs = np.linspace(0.0, SAMPLE_RATE / 2, N_FFT // 2 + 1)
    hz = mel_to_hz(np.linspace(hz_to_mel(0.0), hz_to_mel(FMAX), N_MELS + 2))
    fdiff = np.diff(hz)
    ramps = hz[:, None] - fft_freqs[None, :]
    lower = -ramps[:-2] / fdiff[:-1, None]
    upper = ramps[2:] / fdiff[1:, None]
    w = np.maximum(0.0, np.minimum(lower, upper))
    w /= np.clip(w.sum(axis=1, keepdims=True), 1e-12, None)
    return w.astype(np.float32)


def aisfx_mel(wav: torch.Tensor | np.ndarray, sample_rate: int) -> torch.Tensor:
    """The aiSFX input spectrogram of one waveform.

    Args:
        wav: mono waveform (N,), float.
        sample_rate: its rate in Hz; resampled to 44.1 kHz with soxr when different.

    Returns:
        (T, 96) float32 tensor, normalised as the model expects (T = 1 + N_44k // 1024).
    """
    x = wav.detach().cpu().float().numpy() if isinstance(wav, torch.Tensor) else np.asarray(wav, np.float32)
    x = x.reshape(-1)
    if x.size == 0 or not np.isfinite(x).all():
        raise InputError("aisfx input waveform is empty or holds non-finite samples")
    if sample_rate != SAMPLE_RATE:
        import soxr

        x = soxr.resample(x, sample_rate, SAMPLE_RATE, quality="HQ").astype(np.float32)
    peak = float(np.abs(x).max())
    x = x / (peak if peak > 0 else 1.0)
    t = torch.from_numpy(np.ascontiguousarray(x))
    spec = torch.stft(t, N_FFT, hop_length=HOP, win_length=N_FFT, window=torch.hann_window(N_FFT),
                      center=True, pad_mode="constant", return_complex=True)
    power = spec.real.pow(2) + spec.imag.pow(2)  # (1025, T)
    mel = torch.from_numpy(aisfx_mel_filterbank()) @ power  # (96, T)
    return (torch.log10(mel * 1e4 + 1.0) / LOG_MAX).T.contiguous()


def _blocks(spec: torch.Tensor) -> torch.Tensor:
    """Cut (T, 96) into (num_blocks, 100, 96): hop 50, the last partial block dropped, short clips padded."""
    t = spec.shape[0]
    if t <= BLOCK:
        return F.pad(spec, (0, 0, 0, BLOCK - t))[None]
    n = (t - BLOCK) // BLOCK_HOP + 1
    return torch.stack([spec[i * BLOCK_HOP : i * BLOCK_HOP + BLOCK] for i in range(n)])


# --------------------------------------------------------------------------------------------------
# Network (same layer names as the checkpoint, so the state dict loads strictly)
# --------------------------------------------------------------------------------------------------

class _ConvBlock(nn.Module):
    def __init__(self, cin: int, cout: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, padding=1, bias=False)
        self.conv2 = nn.Conv2d(cout, cout, 3, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.bn2 = nn.BatchNorm2d(cout)

    def forward(self, x: torch.Tensor, pool: int) -> torch.Tensor:
        x = F.relu(self.bn1(self.conv1(x)))
        x = F.relu(self.bn2(self.conv2(x)))
        return F.max_pool2d(x, kernel_size=pool)


class _EmbeddingNet(nn.Module):
    """Four conv blocks (64-128-256-512), mean over frequency, max over time -> (B, 512)."""

    def __init__(self, width: int = 64) -> None:
        super().__init__()
        self.conv_block1 = _ConvBlock(1, width)
        self.conv_block2 = _ConvBlock(width, width * 2)
        self.conv_block3 = _ConvBlock(width * 2, width * 4)
        self.conv_block4 = _ConvBlock(width * 4, width * 8)

    def forward(self, spec: torch.Tensor) -> torch.Tensor:  # (B, T, F) -> (B, 512)
        x = spec[:, None]  # (B, 1, T, F)
        x = self.conv_block1(x, 2)
        x = self.conv_block2(x, 2)
        x = self.conv_block3(x, 2)
        x = self.conv_block4(x, 1)  # (B, 512, T/8, F/8)
        return x.mean(dim=3).amax(dim=2)


@dataclass
class AisfxOutput:
    """Clip-level aiSFX outputs of a batch."""

    embedding: torch.Tensor  # (B, 512) mean of the per-block embeddings
    probs: dict[str, torch.Tensor]  # head name -> (B, n_classes) mean of per-block softmax outputs


class AisfxModel(nn.Module):
    """The aiSFX CNN: an embedding network and one softmax head per training library.

    Build it with :func:`load_aisfx`. ``heads`` maps head name -> number of classes, in checkpoint order.
    The class names of the heads are not shipped with the weights, so heads give unnamed distributions
    (fine for KL and Inception score, not for naming sounds).
    """

    def __init__(self, heads: dict[str, int]) -> None:
        super().__init__()
        self.heads = dict(heads)
        self.embedding_net = _EmbeddingNet()
        self.fc = nn.ModuleList(
            nn.Sequential(nn.Linear(512, 256), nn.ReLU(), nn.Linear(256, 128), nn.ReLU(), nn.Linear(128, c))
            for c in self.heads.values()
        )

    @torch.no_grad()
    def forward_blocks(self, blocks: torch.Tensor) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """Per-block embeddings (n, 512) and softmax outputs per head of spectrogram blocks (n, 100, 96)."""
        emb = self.embedding_net(blocks)
        probs = {name: head(emb).softmax(dim=-1) for name, head in zip(self.heads, self.fc)}
        return emb, probs

    @torch.no_grad()
    def embed_audio(self, waveforms: torch.Tensor | list, sample_rate: int) -> AisfxOutput:
        """Clip embeddings and head distributions of a batch of waveforms.

        Args:
            waveforms: (B, N) tensor or a list of B 1-D waveforms of any lengths.
            sample_rate: their rate in Hz.

        Returns:
            :class:`AisfxOutput` with ``embedding`` (B, 512) and ``probs[head]`` (B, C_head).
        """
        if isinstance(waveforms, torch.Tensor):
            if waveforms.dim() == 1:
                waveforms = waveforms[None]
            if waveforms.dim() != 2:
                raise InputError(f"waveforms must be (B, N), got shape {tuple(waveforms.shape)}")
        self.eval()
        embs, probs = [], {name: [] for name in self.heads}
        for w in waveforms:
            e, p = self.forward_blocks(_blocks(aisfx_mel(w, sample_rate)))
            embs.append(e.mean(dim=0))
            for name in self.heads:
                probs[name].append(p[name].mean(dim=0))
        return AisfxOutput(embedding=torch.stack(embs), probs={k: torch.stack(v) for k, v in probs.items()})


def _safe_load(path: Path) -> Any:
    """``torch.load(weights_only=True)`` allowing only numpy scalars and dtypes besides tensors."""
    import numpy.dtypes as npd

    try:
        from numpy._core.multiarray import scalar as np_scalar  # numpy >= 2
    except ImportError:  # pragma: no cover - numpy 1.x
        from numpy.core.multiarray import scalar as np_scalar  # type: ignore[no-redef]
    allowed: list[Any] = [(np_scalar, "numpy.core.multiarray.scalar"), np.dtype]
    allowed += [getattr(npd, n) for n in ("Int64DType", "Int32DType", "Float64DType", "Float32DType")
                if hasattr(npd, n)]
    with torch.serialization.safe_globals(allowed):
        return torch.load(str(path), map_location="cpu", weights_only=True)


def load_aisfx(path: str | Path | None = None) -> AisfxModel:
    """Load the pretrained aiSFX network (CPU, eval mode) from the package's ``checkpoint.pth``.

    Raises:
        CheckpointError: when the package or file is missing, the file cannot be read as weights only,
            or its tensors do not fit the network.
    """
    p = Path(path) if path is not None else default_weights_path()
    if not p.is_file():
        raise CheckpointError(f"aisfx weights not found: {p}")
    try:
        obj = _safe_load(p)
    except Exception as e:  # pickle.UnpicklingError, RuntimeError, ... from torch.load
        raise CheckpointError(f"cannot load aisfx weights {p} with weights_only=True: {str(e).splitlines()[0]}") from None
    if not (isinstance(obj, (tuple, list)) and len(obj) == 2 and isinstance(obj[0], dict) and isinstance(obj[1], dict)):
        raise CheckpointError(f"aisfx weights {p} are not a (state_dict, heads) pair")
    state, ds = obj
    try:
        order = sorted(ds.items(), key=lambda kv: int(kv[1][0]))
        heads = {str(name): int(v[1]) for name, v in order}
    except (TypeError, ValueError, IndexError):
        raise CheckpointError(f"aisfx weights {p} hold an unreadable head table") from None
    if [int(v[0]) for _, v in order] != list(range(len(order))):
        raise CheckpointError(f"aisfx weights {p} have non-contiguous head indices")
    model = AisfxModel(heads)
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as e:
        raise CheckpointError(f"aisfx weights {p} do not fit the network: {str(e).splitlines()[0]}") from None
    model.eval()
    if any(not math.isfinite(float(t.float().abs().sum())) for t in model.state_dict().values()):
        raise CheckpointError(f"aisfx weights {p} hold non-finite values")
    return model
