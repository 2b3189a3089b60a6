"""The one mel definition of vividsound, audio I/O, the torch mel front end and Griffin-Lim.

Every component stores the :class:`MelConfig` it was built for; a pipeline whose components disagree
on it refuses to load (see :func:`check_same_mel`).

The default preset matches the HiFi-GAN "universal" vocoder exactly (22,050 Hz, n_fft 1024, hop 256,
window 1024, 80 Slaney mel bands from 0 to 8 kHz, reflect padding of (n_fft - hop) / 2 on both sides
with ``center=False``, magnitude ``sqrt(re^2 + im^2 + 1e-9)``, natural log of ``max(x, 1e-5)``), so
that its pretrained weights vocode our spectrograms without any training.
"""

from __future__ import annotations

import dataclasses
import errno
import json
import math
import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

import numpy as np

from vividsound.checkpoint import atomic_write_files
from vividsound.errors import CheckpointError, VividsoundError

__all__ = [
    "MelConfig",
    "MelSpectrogram",
    "AudioError",
    "load_audio",
    "save_audio",
    "read_audio_metadata",
    "mel_filterbank",
    "griffin_lim",
    "check_same_mel",
    "num_frames",
]


class AudioError(VividsoundError):
    """An audio file could not be read or written."""


@dataclass(frozen=True)
class MelConfig:
    """How waveforms become log-mel spectrograms. One instance is embedded in every component."""

    sample_rate: int = 22050  # Hz of the waveform the mel is computed from
    n_fft: int = 1024  # FFT size of the STFT
    hop_length: int = 256  # samples between frames: frames = num_samples // hop_length
    win_length: int = 1024  # Hann window length (<= n_fft)
    n_mels: int = 80  # mel bands
    fmin: float = 0.0  # lowest mel band edge, Hz
    fmax: float = 8000.0  # highest mel band edge, Hz (<= sample_rate / 2)
    log_floor: float = 1e-5  # log-mel = ln(max(mel, log_floor)); the silence level is ln(log_floor)
    mag_eps: float = 1e-9  # magnitude = sqrt(re^2 + im^2 + mag_eps), as HiFi-GAN computes it

    def __post_init__(self) -> None:
        for name in ("sample_rate", "n_fft", "hop_length", "win_length", "n_mels"):
            v = getattr(self, name)
            if not isinstance(v, int) or isinstance(v, bool) or v <= 0:
                raise ValueError(f"MelConfig.{name} must be a positive integer, got {v!r}")
        if self.win_length > self.n_fft:
            raise ValueError(f"MelConfig.win_length ({self.win_length}) must be <= n_fft ({self.n_fft})")
        if self.hop_length > self.n_fft:
            raise ValueError(f"MelConfig.hop_length ({self.hop_length}) must be <= n_fft ({self.n_fft})")
        if not (0 <= self.fmin < self.fmax <= self.sample_rate / 2):
            raise ValueError(
                f"MelConfig needs 0 <= fmin < fmax <= sample_rate/2, got fmin={self.fmin}, "
                f"fmax={self.fmax}, sample_rate={self.sample_rate}"
            )
        if not self.log_floor > 0:
            raise ValueError(f"MelConfig.log_floor must be > 0, got {self.log_floor}")

    @classmethod
    def hifigan(cls) -> "MelConfig":
        """The default: the HiFi-GAN universal vocoder's mel, so the bundled vocoder works untrained."""
        return cls()

    @classmethod
    def paper(cls) -> "MelConfig":
        """The paper's setting (Sec. 3.1): 32 kHz audio, 12.5 ms hop, 50 ms window, 80 mel bands."""
        return cls(sample_rate=32000, n_fft=2048, hop_length=400, win_length=1600, n_mels=80,
                   fmin=0.0, fmax=16000.0)

    @classmethod
    def preset(cls, name: str) -> "MelConfig":
        presets = {"hifigan": cls.hifigan, "default": cls.hifigan, "paper": cls.paper}
        if name not in presets:
            raise ValueError(f"unknown mel preset {name!r}; choose one of {sorted(presets)}")
        return presets[name]()

    @property
    def silence_db(self) -> float:
        """The log-mel value of digital silence."""
        return math.log(self.log_floor)

    @property
    def frame_rate(self) -> float:
        return self.sample_rate / self.hop_length

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> "MelConfig":
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = set(d) - known
        if unknown:
            raise ValueError(f"unknown MelConfig keys {sorted(unknown)}")
        return cls(**dict(d))


def num_frames(num_samples: int, cfg: MelConfig) -> int:
    """Mel frames for a waveform of ``num_samples`` samples (reflect-padded, ``center=False``)."""
    return max(0, num_samples) // cfg.hop_length


def check_same_mel(configs: Mapping[str, MelConfig]) -> MelConfig:
    """Return the shared mel config of several components, or raise naming the ones that differ."""
    items = list(configs.items())
    if not items:
        raise ValueError("no mel configs to compare")
    name0, ref = items[0]
    for name, cfg in items[1:]:
        if cfg != ref:
            diff = [f.name for f in dataclasses.fields(MelConfig) if getattr(cfg, f.name) != getattr(ref, f.name)]
            details = ", ".join(f"{k}: {getattr(ref, k)} vs {getattr(cfg, k)}" for k in diff)
            raise CheckpointError(f"mel configs disagree between {name0!r} and {name!r} ({details})")
    return ref


# --------------------------------------------------------------------------------------------------
# Mel filterbank (Slaney mel scale, Slaney area normalisation: the librosa default)
# --------------------------------------------------------------------------------------------------

_F_SP = 200.0 / 3  # Hz per mel below the break frequency
_MIN_LOG_HZ = 1000.0
_MIN_LOG_MEL = _MIN_LOG_HZ / _F_SP
_LOGSTEP = math.log(6.4) / 27.0


def _hz_to_mel(f: np.ndarray) -> np.ndarray:
    f = np.asanyarray(f, dtype=np.float64)
    mel = f / _F_SP
    log_region = f >= _MIN_LOG_HZ
    mel = np.where(log_region, _MIN_LOG_MEL + np.log(np.maximum(f, 1e-10) / _MIN_LOG_HZ) / _LOGSTEP, mel)
    return mel


def _mel_to_hz(m: np.ndarray) -> np.ndarray:
    m = np.asanyarray(m, dtype=np.float64)
    f = _F_SP * m
    return np.where(m >= _MIN_LOG_MEL, _MIN_LOG_HZ * np.exp(_LOGSTEP * (m - _MIN_LOG_MEL)), f)


def mel_filterbank(cfg: MelConfig) -> np.ndarray:
    """Triangular Slaney-normalised mel filters, shape (n_mels, n_fft // 2 + 1), float32."""
    n_freqs = cfg.n_fft // 2 + 1
    fft_freqs = np.linspace(0.0, cfg.sample_rate / 2, n_freqs)
    mel_pts = np.linspace(_hz_to_mel(cfg.fmin), _hz_to_mel(cfg.fmax), cfg.n_mels + 2)
    hz_pts = _mel_to_hz(mel_pts)
    fdiff = np.diff(hz_pts)
    ramps = hz_pts[:, None] - fft_freqs[None, :]
    lower = -ramps[:-2] / fdiff[:-1, None]
    upper = ramps[2:] / fdiff[1:, None]
    weights = np.maximum(0.0, np.minimum(lower, upper))
    enorm = 2.0 / (hz_pts[2 : cfg.n_mels + 2] - hz_pts[: cfg.n_mels])
    weights *= enorm[:, None]
    return weights.astype(np.float32)


# --------------------------------------------------------------------------------------------------
# Torch front end
# --------------------------------------------------------------------------------------------------

import torch  # noqa: E402  (kept below the numpy helpers so they read first)
import torch.nn.functional as F  # noqa: E402


class MelSpectrogram(torch.nn.Module):
    """Batched log-mel front end: waveform (B, N) or (N,) -> log-mel (B, n_mels, N // hop)."""

    def __init__(self, cfg: MelConfig | None = None) -> None:
        super().__init__()
        self.cfg = cfg or MelConfig()
        self.register_buffer("mel_basis", torch.from_numpy(mel_filterbank(self.cfg)), persistent=False)
        self.register_buffer("window", torch.hann_window(self.cfg.win_length), persistent=False)

    def magnitude(self, wav: torch.Tensor) -> torch.Tensor:
        """Linear STFT magnitude (B, n_fft // 2 + 1, T)."""
        cfg = self.cfg
        if wav.dim() == 1:
            wav = wav[None]
        if wav.dim() != 2:
            raise ValueError(f"waveform must be (N,) or (B, N), got shape {tuple(wav.shape)}")
        n_out = num_frames(wav.shape[-1], cfg)
        if n_out == 0:
            return wav.new_zeros(wav.shape[0], cfg.n_fft // 2 + 1, 0).float()
        pad = (cfg.n_fft - cfg.hop_length) // 2
        # Reflect padding needs pad < N; extend very short inputs with zeros first.
        if wav.shape[-1] <= pad:
            wav = F.pad(wav, (0, pad + 1 - wav.shape[-1]))
        x = F.pad(wav[:, None].float(), (pad, pad), mode="reflect")[:, 0]
        spec = torch.stft(x, cfg.n_fft, hop_length=cfg.hop_length, win_length=cfg.win_length,
                          window=self.window.to(x.device), center=False, return_complex=True)[..., :n_out]
        return torch.sqrt(spec.real.pow(2) + spec.imag.pow(2) + cfg.mag_eps)

    def forward(self, wav: torch.Tensor) -> torch.Tensor:
        mag = self.magnitude(wav)
        mel = torch.matmul(self.mel_basis.to(mag.device), mag)
        return torch.log(torch.clamp(mel, min=self.cfg.log_floor))


def griffin_lim(log_mel: torch.Tensor, cfg: MelConfig, n_iter: int = 32, momentum: float = 0.99,
                seed: int = 0) -> torch.Tensor:
    """Weight-free inverse: log-mel (B, n_mels, T) -> waveform (B, T * hop).

    The mel is mapped back to a linear magnitude with the filterbank's pseudo-inverse, then phase is
    estimated with fast Griffin-Lim (Perraudin et al. 2013, momentum 0.99).
    """
    if log_mel.dim() == 2:
        log_mel = log_mel[None]
    device = log_mel.device
    basis = torch.from_numpy(mel_filterbank(cfg)).to(device)
    inv = torch.linalg.pinv(basis)  # (F, n_mels)
    mag = torch.clamp(inv @ torch.exp(log_mel.float()), min=0.0)  # (B, F, T)
    window = torch.hann_window(cfg.win_length, device=device)
    gen = torch.Generator(device="cpu").manual_seed(seed)
    # One phase pattern for every row, so a row's result does not depend on the rest of the batch.
    phase = torch.rand(mag.shape[-2:], generator=gen).to(device).expand_as(mag) * 2 * math.pi
    spec = mag * torch.exp(1j * phase)
    num_samples = log_mel.shape[-1] * cfg.hop_length
    stft_kw = dict(n_fft=cfg.n_fft, hop_length=cfg.hop_length, win_length=cfg.win_length, window=window,
                   center=True)
    prev = torch.zeros_like(spec)
    for _ in range(n_iter):
        wav = torch.istft(spec, length=num_samples, **stft_kw)
        rebuilt = torch.stft(wav, return_complex=True, **stft_kw)[..., : mag.shape[-1]]
        accel = rebuilt - (momentum / (1 + momentum)) * prev
        prev = rebuilt
        spec = mag * torch.exp(1j * torch.angle(accel))
    return torch.istft(spec, length=num_samples, **stft_kw)


# --------------------------------------------------------------------------------------------------
# File I/O
# --------------------------------------------------------------------------------------------------

_WRITE_FORMATS = {".wav": "WAV", ".flac": "FLAC"}


def load_audio(path: str | os.PathLike, sample_rate: int | None = None, *, mono: bool = True,
               max_seconds: float | None = None) -> np.ndarray:
    """Read any file libsndfile reads (wav, flac, ogg, mp3, ...), downmix and resample with soxr.

    Returns float32 samples of shape (N,) when ``mono`` else (channels, N).
    Raises :class:`AudioError` naming the file when it is missing, empty or unreadable.
    """
    import soundfile as sf

    p = Path(path)
    if not p.is_file():
        raise AudioError(f"audio file not found: {p}")
    try:
        with sf.SoundFile(str(p)) as f:
            sr = f.samplerate
            frames = -1 if max_seconds is None else int(max_seconds * sr)
            data = f.read(frames=frames, dtype="float32", always_2d=True)  # (N, C)
    except Exception as e:  # soundfile raises several types (LibsndfileError, RuntimeError, ...)
        raise AudioError(f"cannot read audio file {p}: {e}") from None
    if data.shape[0] == 0:
        raise AudioError(f"audio file {p} holds no samples")
    if not np.isfinite(data).all():
        raise AudioError(f"audio file {p} holds non-finite samples")
    data = data.T  # (C, N)
    if mono:
        data = data.mean(axis=0, keepdims=True)
    if sample_rate is not None and sr != sample_rate:
        import soxr

        data = soxr.resample(data.T, sr, sample_rate, quality="HQ").T.astype(np.float32)
    data = np.ascontiguousarray(data, dtype=np.float32)
    return data[0] if mono else data


def save_audio(path: str | os.PathLike, wav: np.ndarray | torch.Tensor, sample_rate: int,
               metadata: Mapping[str, Any] | None = None) -> Path:
    """Write a mono waveform as 16-bit wav or flac, atomically, with ``metadata`` embedded.

    The metadata (prompt, seed, model id, sampler settings) is stored as JSON in the file's comment
    field (RIFF ICMT for wav, a Vorbis comment for flac); :func:`read_audio_metadata` reads it back.
    A missing parent folder is created. A failure (full disk, ...) is an :class:`AudioError` and leaves
    nothing behind.
    """
    return save_audio_files([(path, wav, metadata)], sample_rate)[0]


def save_audio_files(items: Sequence[tuple[str | os.PathLike, np.ndarray | torch.Tensor, Mapping[str, Any] | None]],
                     sample_rate: int, extra: Sequence[tuple[str | os.PathLike, Callable[[Path], None]]] = ()
                     ) -> list[Path]:
    """Write several sounds (path, waveform, metadata) all or none (see ``checkpoint.atomic_write_files``).

    ``extra``: more (path, write) pairs that belong to the same result (e.g. a spectrogram image).
    """
    writes = []
    for path, wav, metadata in items:
        p = check_audio_path(path)
        writes.append((p, _audio_writer(p, wav, sample_rate, metadata)))
    try:
        return atomic_write_files(writes + [(Path(p), w) for p, w in extra])
    except (OSError, RuntimeError) as e:  # soundfile reports a full disk as a LibsndfileError (a RuntimeError)
        where = Path(writes[0][0]).parent if writes else Path(".")
        reason = _one_line(e)
        try:  # libsndfile says only "System error." when the disk is full: say what it was
            free = shutil.disk_usage(where).free
        except OSError:
            free = None
        needed = sum(np.asarray(w).size * 2 + 4096 for _, w, _ in items)
        if getattr(e, "errno", None) == errno.ENOSPC or (free is not None and free < needed):
            reason = f"No space left on device ({free} bytes free, about {needed} needed)"
        raise AudioError(f"cannot write to {where}: {reason}; nothing was written") from None


def check_audio_path(path: str | os.PathLike) -> Path:
    """``path`` if it names a .wav or .flac file we may create (not a folder); else :class:`AudioError`."""
    p = Path(path)
    if str(path) in ("", "."):
        raise AudioError("the output path is empty; give a file name such as sound.wav")
    if _WRITE_FORMATS.get(p.suffix.lower()) is None:
        raise AudioError(f"output path {p} must end in one of {sorted(_WRITE_FORMATS)}")
    if p.is_dir():
        raise AudioError(f"output path {p} is a folder; give a file name inside it, e.g. {p / 'sound.wav'}")
    return p


def _audio_writer(p: Path, wav: np.ndarray | torch.Tensor, sample_rate: int,
                  metadata: Mapping[str, Any] | None) -> Callable[[Path], None]:
    import soundfile as sf

    fmt = _WRITE_FORMATS[p.suffix.lower()]
    if isinstance(wav, torch.Tensor):
        wav = wav.detach().float().cpu().numpy()
    data = np.clip(np.nan_to_num(np.asarray(wav, dtype=np.float32).reshape(-1)), -1.0, 1.0)

    def write(tmp: Path) -> None:
        with sf.SoundFile(str(tmp), "w", samplerate=int(sample_rate), channels=1, format=fmt, subtype="PCM_16") as f:
            if metadata:
                f.comment = json.dumps(dict(metadata), ensure_ascii=True, sort_keys=True, default=str)
                prompt = metadata.get("prompt")
                if prompt:
                    f.title = str(prompt)[:200]
                f.software = "vividsound"
            f.write(data)

    return write


def _one_line(e: BaseException) -> str:
    """An exception's message on one line (libsndfile and OS errors can span several)."""
    text = " ".join(str(e).split())
    return text[:200] if text else type(e).__name__


def read_audio_metadata(path: str | os.PathLike) -> dict[str, Any]:
    """The JSON metadata that :func:`save_audio` embedded ({} when there is none)."""
    import soundfile as sf

    try:
        with sf.SoundFile(str(path)) as f:
            comment = f.comment
    except Exception as e:
        raise AudioError(f"cannot read audio file {path}: {e}") from None
    if not comment:
        return {}
    try:
        return json.loads(comment)
    except json.JSONDecodeError:
        return {"comment": comment}
