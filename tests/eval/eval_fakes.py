"""Small fake components for the evaluator tests: they really respond to the audio content.

Four sound classes are rendered and recognised by frequency band: "low" (a 150 Hz hum), "mid" (an
800 Hz beep), "high" (a 3 kHz whistle) and "noise" (white noise). The tagger measures band energies of
the log-mel, so its outputs follow what is in the audio, not what the caption says.
"""

from __future__ import annotations

import json
import types
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from vividsound.audio import MelConfig, MelSpectrogram, mel_filterbank, save_audio
from vividsound.data.manifest import ManifestItem, write_manifest

SR = 16000
MEL = MelConfig(sample_rate=SR, n_fft=512, hop_length=128, win_length=512, n_mels=40, fmin=0.0, fmax=8000.0)
TAGS = ["low", "mid", "high", "noise"]
FREQS = {"low": 150.0, "mid": 800.0, "high": 3000.0}
WORDS = {"low": ("low", "hum", "deep"), "mid": ("mid", "beep", "beeps"), "high": ("high", "whistle", "shrill"),
         "noise": ("noise", "hiss", "static")}
CAPTIONS = {"low": ["a low hum", "a deep low hum drones"], "mid": ["a mid beep", "a beep sounds"],
            "high": ["a high whistle", "a shrill high whistle"], "noise": ["white noise hiss", "static hiss"]}


def render(kind: str, seconds: float, seed: int, sr: int = SR) -> np.ndarray:
    """A clip of one class; the seed changes phase, level and a little background noise."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(round(seconds * sr))) / sr
    if kind == "noise":
        x = 0.3 * rng.standard_normal(t.size)
    else:
        x = (0.4 + 0.2 * rng.random()) * np.sin(2 * np.pi * FREQS[kind] * t + rng.uniform(0, 2 * np.pi))
        x += 0.005 * rng.standard_normal(t.size)
    return x.astype(np.float32)


def kind_of_text(text: str) -> str | None:
    words = text.lower().split()
    for k, ws in WORDS.items():
        if any(w in words for w in ws):
            return k
    return None


class FakeTagger:
    """Band-energy tagger: probabilities from the log-mel energy in each class's band."""

    tags = list(TAGS)
    mel_config = MEL

    def __init__(self) -> None:
        fb = mel_filterbank(MEL)  # (n_mels, n_fft // 2 + 1)
        freqs = fb.argmax(axis=1) * MEL.sample_rate / MEL.n_fft  # centre frequency of each band, Hz
        self.bands = {
            "low": torch.tensor((freqs < 400).astype(np.float32)),
            "mid": torch.tensor(((freqs > 500) & (freqs < 1200)).astype(np.float32)),
            "high": torch.tensor(((freqs > 2500) & (freqs < 3600)).astype(np.float32)),
        }

    def _energies(self, log_mel: torch.Tensor) -> torch.Tensor:  # (B, n_mels, T) -> (B, 4)
        e = log_mel.mean(dim=2)  # (B, n_mels)
        cols = [(e * b).sum(1) / b.sum() - e.mean(1) for b in self.bands.values()]
        flat = -(e.std(dim=1))  # noise is flat across bands
        return torch.stack(cols + [flat + 2.0], dim=1)

    def predict(self, log_mel: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(2.0 * (self._energies(log_mel) - 1.0))

    def embed(self, log_mel: torch.Tensor) -> torch.Tensor:
        e = log_mel.mean(dim=2)  # (B, n_mels)
        return torch.cat([e.reshape(e.shape[0], 8, 5).mean(2), self._energies(log_mel)], dim=1)  # (B, 12)


class FakeClap:
    """Audio embedding = tagger probabilities; text embedding = keyword one-hot."""

    mel_config = MEL

    def __init__(self) -> None:
        self.tagger = FakeTagger()

    def embed_audio(self, log_mel: torch.Tensor) -> torch.Tensor:
        p = self.tagger.predict(log_mel)
        return p - 0.25

    def embed_text(self, texts: list[str]) -> torch.Tensor:
        out = torch.full((len(texts), len(TAGS)), -0.25)
        for i, t in enumerate(texts):
            k = kind_of_text(t)
            if k is not None:
                out[i, TAGS.index(k)] = 0.75
        return out


class FakeCaptioner:
    """Captions the loudest class with that class's first caption."""

    mel_config = MEL

    def __init__(self) -> None:
        self.tagger = FakeTagger()

    def caption(self, log_mel: torch.Tensor) -> list[str]:
        top = self.tagger.predict(log_mel).argmax(dim=1).tolist()
        return [CAPTIONS[TAGS[k]][0] for k in top]


@dataclass
class FakeOutput:
    waveform: torch.Tensor
    sample_rate: int
    mel: torch.Tensor
    prompts: list[str]


class FakeGenerator:
    """Renders the class its prompt names (noise for unknown prompts); counts its calls."""

    mel_config = MEL
    defaults = types.SimpleNamespace(duration=1.0)  # the evaluator's default length (as TextToSound.defaults)

    def __init__(self, wrong: bool = False) -> None:
        self.calls = 0
        self.wrong = wrong  # render the next class instead: a generator that ignores the text
        self.front = MelSpectrogram(MEL)

    def __call__(self, prompts, *, duration, seed, num_samples, top_k, top_p, temperature, cfg_scale):
        self.calls += 1
        wavs, ps = [], []
        for i, p in enumerate(prompts):
            k = kind_of_text(p) or "noise"
            if self.wrong:
                k = TAGS[(TAGS.index(k) + 1) % len(TAGS)]
            for s in range(num_samples):
                wavs.append(render(k, duration, seed * 1000 + i * 10 + s))
                ps.append(p)
        w = torch.from_numpy(np.stack(wavs))
        with torch.no_grad():
            mel = self.front(w)
        return FakeOutput(waveform=w, sample_rate=SR, mel=mel, prompts=ps)


def fake_check(audio: np.ndarray, sr: int, probe: dict) -> bool:
    """Probe checker: is the dominant frequency within 10 % of the probe's truth (Hz)?"""
    spec = np.abs(np.fft.rfft(audio))
    f = np.fft.rfftfreq(audio.size, 1.0 / sr)[int(np.argmax(spec))]
    return abs(f - float(probe["truth"])) < 0.1 * float(probe["truth"])


def write_corpus(root: Path, kinds: list[str] | None = None, seconds: float = 1.0) -> Path:
    """A tiny corpus: one wav per kind (at 22.05 kHz, to exercise resampling) and manifest.jsonl."""
    kinds = kinds or ["low", "mid", "high", "noise", "low", "high"]
    (root / "audio").mkdir(parents=True, exist_ok=True)
    items = []
    for i, k in enumerate(kinds):
        rel = f"audio/{i:02d}_{k}.wav"
        save_audio(root / rel, render(k, seconds, 100 + i, sr=22050), 22050)
        items.append(ManifestItem(id=f"{k}-{i}", audio=rel, captions=list(CAPTIONS[k]), split="test",
                                  tags=[k], source="synthetic", licence="CC0-1.0", duration=seconds))
    items.append(ManifestItem(id="train-0", audio="audio/00_low.wav", captions=["a low hum"], split="train"))
    return write_manifest(root / "manifest.jsonl", items)


def write_probes(root: Path) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    probes = [{"id": "p1", "type": "pitch", "prompt": "a low hum", "truth": 150.0},
              {"id": "p2", "type": "pitch", "prompt": "a high whistle", "truth": 3000.0},
              {"id": "p3", "type": "pitch_mid", "prompt": "a mid beep", "truth": 800.0}]
    (root / "probes.jsonl").write_text("\n".join(json.dumps(p) for p in probes) + "\n", encoding="utf-8")
    return root
