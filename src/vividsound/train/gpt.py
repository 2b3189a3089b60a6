"""``vividsound train gpt``: the conditional GPT prior over codebook indices (paper Sec. 2.2).

Codes of every clip are computed once with the trained VQGAN and cached; text features of every caption
are computed once with the chosen text encoder (``minilm``, ``mpnet``, ``clap`` = a CLAP-trained
TextEncoder folder, or ``hf`` = a Hugging Face model path) in ``pooled``, ``sequence`` or ``none`` mode
and cached too. A batch is a crop of whole time columns, read column-major, starting anywhere in the clip
(``crop_start=random``) or at its start (``head``); a fraction ``cond_dropout`` of rows get an all-False mask
(the null condition) so classifier-free guidance works. ``init_from`` starts from a trained GPT (fine-tuning).
``edge_context`` codes every clip between columns of silence (and the export decodes between them), so
no edge-only codes enter training. ``lead_silence`` (head crops only) shifts a fraction of rows right by
``lead_silence_seconds`` of silence and prefixes their caption with "silence, then ", so "silence, then X"
prompts have training data (no corpus caption says it).
``pack`` reads items, captions and codes from a codes pack (``--write-pack``; :mod:`vividsound.train.codepack`)
instead of the manifest, audio and mel cache; ``resident`` (with a pack) then holds every code grid and
caption feature on the training device and builds batches there, so a GPU is not kept waiting by Python
batch assembly. With a pack, each clip has one leading-silence variant, coded when the pack was written.
The export is a complete pipeline folder: ``vividsound generate --model RUN/export``.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import random
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import numpy as np
import torch
import torch.nn.functional as F

from vividsound.audio import griffin_lim
from vividsound.checkpoint import component_class, load_component
from vividsound.errors import ConfigError
from vividsound.models.gpt import ConditionalGPT
from vividsound.sampling_defaults import SamplingDefaults
from vividsound.models.text import TextEncoder, TextEncoderConfig, with_mode
from vividsound.train.codepack import CodePack, write_pack
from vividsound.train.data import (BatchOrder, DataConfig, DataError, _atomic_npy, _key,
                                   cached_caption_features, load_items, prepare_cache)
from vividsound.train.loop import Stage, TrainConfig, TrainingError, unwrap


@dataclass(frozen=True)
class TextConfig:
    encoder: Literal["minilm", "mpnet", "clap", "hf"] = "minilm"  # which text encoder conditions the GPT
    path: str = ""  # clap: TextEncoder folder (CLAP run's export/text_encoder); hf: model folder or hub id
    mode: Literal["pooled", "sequence", "none"] = "sequence"  # 1 Feat / 30 Feats / No Feat (paper Table 1)
    max_tokens: int = 30  # features kept in sequence mode
    dim: int = 384  # feature width of an hf backbone (minilm 384, mpnet 768 are known)


# model.type -> component class (a registry: configs name a type, never an import path)
GPT_TYPES: dict[str, str] = {
    "flat": "ConditionalGPT",  # one token per step, 270 steps per 10 s clip (the paper's GPT)
    "columns": "ColumnGPT",  # one time column per step, 58 steps per 10 s clip (models/gpt_columns.py)
}


@dataclass(frozen=True)
class GPTModelConfig:
    type: Literal["flat", "columns"] = "flat"  # flat: token by token; columns: a whole time column per step
    n_layer: int = 24  # transformer blocks
    n_head: int = 16  # attention heads
    n_embd: int = 1024  # width
    dropout: float = 0.0  # dropout in attention and MLP
    bias: bool = True  # biases in linear layers
    max_columns: int = 54  # longest clip in time columns (block_size = max_columns * rows)
    fim: bool = False  # flat only: segment vectors for fill-in-the-middle rows (train them with fim_rate > 0)


@dataclass(frozen=True)
class ExportConfig:
    vocoder: str = "hifigan"  # hifigan | griffinlim | a MelGAN component folder
    name: str = "vividsound"  # model name recorded in pipeline.json
    duration: float = SamplingDefaults.duration  # default seconds per clip written into pipeline.json
    top_k: int = SamplingDefaults.top_k  # default top-k written into pipeline.json (capped at the codebook size)
    cfg_scale: float = SamplingDefaults.cfg_scale  # default classifier-free guidance scale written into pipeline.json
    fp16: bool = False  # store the exported weights in float16


@dataclass(frozen=True)
class SubsetConfig:
    """Train on part of the training split: every item whose ``meta.relation`` is in ``relations``, plus
    ``others`` of the rest drawn with ``seed`` (the default model's phase 4: the loudness supplement plus
    20,000 other clips). ``others = -1`` (the default) keeps the whole split."""

    relations: tuple[str, ...] = ()  # relations whose training items are all kept (meta.relation in the manifest)
    others: int = -1  # how many other training items to keep, drawn with seed; -1 = every item (no subset)
    seed: int = 0  # the draw of the others


def select_subset(items: list, sc: SubsetConfig, where: str) -> list:
    """The training items ``sc`` keeps, in their original order (all of them when ``sc.others == -1``).

    Raises:
        ConfigError: ``others`` below -1, relations without ``others``, or nothing kept.
        DataError: no training item of ``where`` has one of the relations.
    """
    if sc.others < -1:
        raise ConfigError(f"train_subset.others={sc.others}; allowed: -1 (every item) or a count >= 0")
    if sc.others == -1:
        if sc.relations:
            raise ConfigError("train_subset.relations needs train_subset.others (how many other items to keep)")
        return items
    want = set(sc.relations)
    focus = [i for i, it in enumerate(items) if (it.meta or {}).get("relation") in want]
    if want and not focus:
        raise DataError(f"train_subset.relations={sorted(want)}: no training item of {where} has one of them "
                        f"(codes packs written before packs recorded relations have none: write the pack again)")
    chosen = set(focus)
    rest = [i for i in range(len(items)) if i not in chosen]
    chosen.update(random.Random(sc.seed).sample(rest, min(sc.others, len(rest))))
    if not chosen:
        raise ConfigError("train_subset keeps no training item (others=0 and no relations)")
    return [it for i, it in enumerate(items) if i in chosen]


@dataclass(frozen=True)
class GPTStageConfig:
    data: DataConfig = field(default_factory=DataConfig)  # manifest and cache (crop_frames is not used here)
    vqgan: str = ""  # folder of the trained VQGAN component (its codes are the GPT's vocabulary)
    text: TextConfig = field(default_factory=TextConfig)  # the condition
    model: GPTModelConfig = field(default_factory=GPTModelConfig)  # transformer size
    crop_columns: int = 54  # time columns per training example (shorter clips are padded with silence)
    crop_start: str = "random"  # random: a crop anywhere in the clip | head: every crop starts at the clip's start
    init_from: str = ""  # a GPT component folder (e.g. RUN/export/gpt) whose weights start this run (fine-tuning)
    cond_dropout: float = 0.1  # fraction of rows trained with the null condition (for CFG)
    edge_context: int = 0  # columns of silence the VQGAN sees on each side when coding a clip (0 = zero padding)
    lead_silence: float = 0.0  # fraction of rows given leading silence and the caption "silence, then <caption>"
    lead_silence_seconds: tuple[float, float] = (1.0, 4.0)  # range of that silence (uniform, whole columns)
    fim_rate: float = 0.0  # fraction of rows trained to fill in the middle (needs model.fim); see models/gpt.py
    sample_columns: int = 16  # columns generated for the TensorBoard sample at each validation
    pack: str = ""  # a codes pack (--write-pack) read instead of data.manifest: no audio or mel cache needed
    resident: bool = False  # with a pack: every code grid and caption feature on the training device
    train_subset: SubsetConfig = field(default_factory=SubsetConfig)  # train on part of the split (phase 4)
    export: ExportConfig = field(default_factory=ExportConfig)  # pipeline export settings
    train: TrainConfig = field(default_factory=TrainConfig)  # optimisation and logging


LEAD_PREFIX = "silence, then "


def draw_fim_spans(n: int, columns: int, rate: float, rng: np.random.Generator) -> torch.Tensor:
    """(n, 2) column spans [a, b) for fill-in-the-middle rows, [-1, -1] for plain ones: each row is one with
    probability ``rate``, with a uniform in 1..columns-2 and b uniform in a+1..columns-1 (so a left part, a
    middle and a right part of at least one column each). Drawn after a batch's other draws, and only
    when ``rate > 0``, so runs without it draw exactly what they drew before."""
    spans = torch.full((n, 2), -1, dtype=torch.long)
    for i in range(n):
        if rng.random() < rate:
            a = int(rng.integers(1, columns - 1))
            spans[i] = torch.tensor([a, int(rng.integers(a + 1, columns))])
    return spans


def lead_caption(caption: str) -> str:
    """The caption of a row given leading silence: "silence, then " + the caption, first letter lowered."""
    return LEAD_PREFIX + caption[:1].lower() + caption[1:]


def build_text_encoder(tc: TextConfig) -> TextEncoder:
    """The text encoder named by ``tc`` (weights from its package, folder or component)."""
    if tc.encoder == "clap":
        if not tc.path:
            raise ConfigError("text.encoder=clap needs text.path = the CLAP run's export/text_encoder folder")
        return with_mode(load_component(tc.path, "TextEncoder"), tc.mode, tc.max_tokens)
    if tc.encoder == "hf" and not tc.path:
        raise ConfigError("text.encoder=hf needs text.path (a local Hugging Face model folder or hub id)")
    dim = {"minilm": 384, "mpnet": 768}.get(tc.encoder, tc.dim)
    return TextEncoder(TextEncoderConfig(backbone=tc.encoder, path=tc.path, mode=tc.mode, max_tokens=tc.max_tokens,
                                         dim=dim)).eval()


def _file_digest(path: Path) -> str:
    return hashlib.sha1(path.read_bytes()).hexdigest()[:12] if path.is_file() else "none"


class GPTStage(Stage):
    name = "gpt"
    config_class = GPTStageConfig

    def setup(self) -> None:
        cfg, d = self.cfg, self.dist
        if not cfg.vqgan:
            raise ConfigError("vqgan is not set: pass --set vqgan=RUN/export/vqgan (a trained VQGAN folder)")
        if cfg.crop_columns > cfg.model.max_columns:
            raise ConfigError(f"crop_columns={cfg.crop_columns} exceeds model.max_columns={cfg.model.max_columns}")
        if cfg.crop_start not in ("random", "head"):
            raise ConfigError(f"crop_start={cfg.crop_start!r}; allowed: random, head")
        if not 0 <= cfg.cond_dropout < 1:
            raise ConfigError(f"cond_dropout={cfg.cond_dropout}; allowed: 0 <= cond_dropout < 1")
        if not 0 <= cfg.edge_context <= 16:
            raise ConfigError(f"edge_context={cfg.edge_context}; allowed: 0 to 16 columns")
        if not 0 <= cfg.lead_silence < 1:
            raise ConfigError(f"lead_silence={cfg.lead_silence}; allowed: 0 <= lead_silence < 1")
        if cfg.lead_silence and cfg.crop_start != "head":
            raise ConfigError("lead_silence needs crop_start=head (the silence leads the clip, not a crop)")
        if cfg.lead_silence and cfg.text.mode == "none":
            raise ConfigError("lead_silence needs a text condition (text.mode=none has no caption to prefix)")
        if not 0 <= cfg.fim_rate <= 1:
            raise ConfigError(f"fim_rate={cfg.fim_rate}; allowed: 0 <= fim_rate <= 1")
        if cfg.fim_rate and not cfg.model.fim:
            raise ConfigError("fim_rate > 0 needs model.fim=true (the fill-in-the-middle segment vectors)")
        if cfg.model.fim and cfg.model.type != "flat":
            raise ConfigError(f"model.fim needs model.type=flat (got {cfg.model.type})")
        if cfg.fim_rate and cfg.crop_columns < 3:
            raise ConfigError(f"fim_rate > 0 needs crop_columns >= 3 (left, middle and right), got {cfg.crop_columns}")
        if cfg.resident and not cfg.pack:
            raise ConfigError("resident=true needs pack=FILE (write one with `vividsound train gpt ... --write-pack FILE`)")
        self.vq = load_component(cfg.vqgan, "VQGAN").to(self.device).eval()
        lo, hi = (float(x) for x in cfg.lead_silence_seconds)
        crop_s = cfg.crop_columns * self._column_seconds()
        if cfg.lead_silence and not 0 < lo <= hi < crop_s:
            raise ConfigError(f"lead_silence_seconds={list(cfg.lead_silence_seconds)}; allowed: 0 < low <= high "
                              f"< the crop ({crop_s:.2f} s)")
        self.text = build_text_encoder(cfg.text).to(self.device)
        self.pack: CodePack | None = None
        self.cache = None
        if cfg.pack:
            self.pack = CodePack.read(cfg.pack)
            self._check_pack(self.pack)
            self.train_items = self._subset(self.pack.split(cfg.data.train_split), cfg.pack)
            self.val_items = self.pack.split(cfg.data.val_split, cfg.data.val_items)
            for split, got in ((cfg.data.train_split, self.train_items), (cfg.data.val_split, self.val_items)):
                if not got:
                    raise DataError(f"codes pack {cfg.pack} has no items in split {split!r}")
        else:
            self.train_items, root = load_items(cfg.data, cfg.data.train_split)
            self.train_items = self._subset(self.train_items, cfg.data.manifest)
            self.val_items, _ = load_items(cfg.data, cfg.data.val_split, limit=cfg.data.val_items)
            items = self.train_items + self.val_items
            mel = self.vq.config.mel
            self.cache = prepare_cache(cfg.data, self.run_dir, mel, items, root, rank=d.rank, world=d.world,
                                       progress=self.tc.progress, barrier=d.barrier)
        self._setup_caches()
        q = self.vq.config
        torch.manual_seed(self.tc.seed)
        m = cfg.model
        cls = component_class(GPT_TYPES[m.type])
        self.model = cls(cls.config_class(vocab_size=q.quantizer.n_codes, block_size=m.max_columns * q.rows,
                                          rows=q.rows, cond_dim=self.text.dim, cond_len=self.text.out_len,
                                          n_layer=m.n_layer, n_head=m.n_head, n_embd=m.n_embd,
                                          dropout=m.dropout, bias=m.bias, **({"fim": True} if m.fim else {})))
        if cfg.init_from:
            self._init_from(cfg.init_from)
        self.net = self.wrap(self.model)
        self.add_optimizer("gpt", self.model.parameters())
        self.order = BatchOrder(len(self.train_items), self.tc.seed, d.rank, d.world)
        self.resident_train = self.resident_val = None
        if cfg.resident:
            self.resident_train = ResidentBatches(self, self.train_items, lead=bool(cfg.lead_silence))
            self.resident_val = ResidentBatches(self, self.val_items, lead=False)

    def _subset(self, items: list, where: str) -> list:
        """``train_subset`` applied to the training items (a line on stderr says how many it kept)."""
        kept = select_subset(items, self.cfg.train_subset, where)
        if kept is not items and self.dist.rank == 0:
            print(f"vividsound: train_subset keeps {len(kept)} of {len(items)} training items", file=sys.stderr)
        return kept

    def _init_from(self, folder: str) -> None:
        """Start from a trained GPT's weights; its shape and conditioning width must match this config."""
        src = load_component(folder, GPT_TYPES[self.cfg.model.type])
        want, got = self.model.config, src.config
        diff = [f"{k}: {getattr(got, k)} (init_from) vs {getattr(want, k)} (config)"
                for k in ("vocab_size", "block_size", "rows", "cond_dim", "cond_len", "n_layer", "n_head", "n_embd")
                if getattr(got, k) != getattr(want, k)]
        if diff:
            raise ConfigError(f"init_from={folder} does not match this GPT: " + "; ".join(diff))
        state = {k: v.float() for k, v in src.state_dict().items()}
        missing = set(self.model.state_dict()) - set(state)
        if missing - {"fim_emb"}:
            raise ConfigError(f"init_from={folder} lacks {sorted(missing)[:3]}")
        if missing:  # a plain GPT starts a fill-in-the-middle one: its segment vectors start at zero
            state["fim_emb"] = self.model.fim_emb.detach().clone().zero_()
        self.model.load_state_dict(state)

    # ----- caches (filled on first use, kept on disk beside the mels) -----------------------------
    def _pack_meta(self) -> dict:
        """What a pack must agree on with this run (the VQGAN, its grid, the coding and lead settings)."""
        cfg, q = self.cfg, self.vq.config
        return {"vqgan": _file_digest(Path(cfg.vqgan) / "model.safetensors"), "rows": q.rows,
                "n_codes": q.quantizer.n_codes, "frames_per_column": self.vq.frames_per_column,
                "edge_context": cfg.edge_context}

    def _check_pack(self, pack: CodePack) -> None:
        cfg = self.cfg
        pack.check(self._pack_meta())
        if int(pack.meta.get("columns", 0)) < cfg.crop_columns:
            raise DataError(f"codes pack {pack.path} holds grids of {pack.meta.get('columns')} columns; this run "
                            f"crops {cfg.crop_columns}")
        if cfg.lead_silence and pack.meta.get("lead_silence_seconds") != [float(x) for x in cfg.lead_silence_seconds]:
            raise DataError(f"codes pack {pack.path} has lead-silence variants for lead_silence_seconds="
                            f"{pack.meta.get('lead_silence_seconds')}; this run asks for "
                            f"{list(cfg.lead_silence_seconds)} (write the pack with this config)")

    def _setup_caches(self) -> None:
        cfg = self.cfg
        self.codes: dict[str, torch.Tensor] = {}
        self.feats: dict[str, torch.Tensor] = {}
        state = self.text.state_dict()
        wd = hashlib.sha1(b"".join(v.float().cpu().numpy().tobytes() for v in state.values())).hexdigest()[:8]
        text_key = json.dumps({**dataclasses.asdict(self.text.config), "adapter": wd}, sort_keys=True)
        self.codes_dir = None  # a pack: only text features are cached
        if self.cache is None:
            root = Path(cfg.data.cache_dir) if cfg.data.cache_dir else self.run_dir / "cache"
        else:
            root = self.cache.dir.parent
            key = json.dumps({"vqgan": _file_digest(Path(cfg.vqgan) / "model.safetensors"),
                              "spec": self.cache.dir.name, "min_cols": cfg.crop_columns,
                              **({"context": cfg.edge_context} if cfg.edge_context else {})}, sort_keys=True)
            self.codes_dir = root / f"codes-{hashlib.sha1(key.encode()).hexdigest()[:12]}"
            self.codes_dir.mkdir(parents=True, exist_ok=True)
        self.text_dir = root / f"text-{hashlib.sha1(text_key.encode()).hexdigest()[:12]}"
        self.text_dir.mkdir(parents=True, exist_ok=True)

    def code_grid(self, item) -> torch.Tensor:
        """The item's code grid (rows, cols) int16, at least ``crop_columns`` wide (silence-padded)."""
        if item.id in self.codes:
            return self.codes[item.id]
        if self.pack is not None:
            return self.pack.grid(item.id)
        path = self.codes_dir / f"{_key(item.id)}.npy"
        if path.is_file():
            grid = torch.from_numpy(np.load(path))
        else:
            grid = self.lead_grid(item, 0).to(torch.int16)
            _atomic_npy(path, grid.numpy())
        if self.cfg.data.preload:
            self.codes[item.id] = grid
        return grid

    def _column_seconds(self) -> float:
        mel = self.vq.config.mel
        return self.vq.frames_per_column * mel.hop_length / mel.sample_rate

    def _frames(self, item) -> int:
        """The item's length in mel frames (from the pack, or the cached log-mel's header)."""
        if self.pack is not None:
            return self.pack.frames[self.pack.index[item.id]]
        path = self.cache.path(item.id)
        if path.is_file():
            return int(np.load(path, mmap_mode="r").shape[-1])
        return int(self.cache.get(item.id).shape[-1])

    def _draw_lead(self, item, rng: np.random.Generator) -> int:
        """A random lead in lead_silence_seconds (whole columns), or 0 when the clip would not fit whole."""
        lo, hi = (float(x) for x in self.cfg.lead_silence_seconds)
        lead = max(1, round(float(rng.uniform(lo, hi)) / self._column_seconds()))
        t = self.vq.frames_per_column
        return lead if lead * t + self._frames(item) <= self.cfg.crop_columns * t else 0

    def _lead_columns(self, item, rng: np.random.Generator | None) -> int:
        """Columns of leading silence for this row (0 = none); only rows whose clip still fits whole.
        With a pack, the item's one coded variant (0 when the clip did not fit when it was drawn)."""
        if rng is None or not self.cfg.lead_silence or rng.random() >= self.cfg.lead_silence:
            return 0
        if self.pack is not None:
            return self.pack.lead(item.id)
        return self._draw_lead(item, rng)

    def lead_grid(self, item, lead: int) -> torch.Tensor:
        """The item's code grid with ``lead`` columns of silence before it (0: the plain grid), at least
        ``crop_columns`` wide (padded with silence). The mel is shifted and encoded, not the codes, so the
        first sound's onset is coded as the VQGAN codes any onset after silence."""
        t, C = self.vq.frames_per_column, self.cfg.crop_columns
        if self.pack is not None:
            if lead == 0:
                return self.code_grid(item).long()
            if lead != self.pack.lead(item.id):
                raise DataError(f"codes pack {self.pack.path} has no {lead}-column lead variant of {item.id!r}")
            return self.pack.grid(item.id, lead=True).long()
        with torch.no_grad():
            m = torch.from_numpy(self.cache.get_float(item.id))[None].to(self.device)
            m = F.pad(m, (lead * t, max(0, C * t - lead * t - m.shape[-1])), value=self.vq.config.mel.silence_db)
            return self.vq.encode_in_silence(self.vq.pad_mel(m), self.cfg.edge_context)[0].long().cpu()

    def caption_feature(self, item, caption: str) -> torch.Tensor:
        """Text features (n_valid, D) of one of the item's captions; all of an item's captions are encoded
        together, so a feature never depends on which other items share the batch (exact resume)."""
        def encode(caps: list[str]) -> dict[str, torch.Tensor]:
            tf = self.text(caps)
            return {c: f[: int(m.sum())].to(torch.float16).cpu() for c, f, m in zip(caps, tf.features, tf.mask)}

        return cached_caption_features(item, caption, self.text_dir, self.feats, encode, self.cfg.data.preload)

    # ----- codes packs -------------------------------------------------------------------------
    def _lead_variant(self, index: int, item) -> tuple[int, torch.Tensor | None]:
        """A training item's one leading-silence variant for a pack: a lead drawn from (seed, index),
        coded from the shifted log-mel and cached beside the codes; (0, None) when the clip does not fit."""
        lead = self._draw_lead(item, np.random.default_rng([self.tc.seed, 7919, index]))
        if not lead:
            return 0, None
        path = self.codes_dir / f"{_key(item.id)}-lead{lead}.npy"
        if path.is_file():
            return lead, torch.from_numpy(np.load(path))
        grid = self.lead_grid(item, lead).to(torch.int16)
        _atomic_npy(path, grid.numpy())
        return lead, grid

    def _pack_jobs(self, desc: str, progress: bool, rank: int = 0, world: int = 1) -> list:
        """(index in its split, item, is a training item) for every clip a pack holds (this process's share)."""
        if self.pack is not None:
            raise ConfigError("this run reads a codes pack; writing one needs data.manifest and the audio")
        jobs = [(i, it, True) for i, it in enumerate(self.train_items)] + [(i, it, False)
                                                                         for i, it in enumerate(self.val_items)]
        jobs = [j for n, j in enumerate(jobs) if n % world == rank]
        if progress:
            from tqdm.auto import tqdm

            return tqdm(jobs, desc=desc, unit="clip", dynamic_ncols=True)
        return jobs

    def fill_pack_cache(self, rank: int = 0, world: int = 1, progress: bool = True) -> int:
        """Code every grid a pack needs (items ``i % world == rank``) into the on-disk code cache, so that
        several processes can share the work before one writes the pack; returns the items done."""
        jobs = self._pack_jobs("coding clips", progress, rank, world)
        for i, item, train in jobs:
            self.code_grid(item)
            if train and self.cfg.lead_silence:
                self._lead_variant(i, item)
        return len(jobs)

    def write_pack(self, path: str | Path, progress: bool = True) -> Path:
        """Write the codes pack of this config's train split and validation items (see codepack)."""
        cfg = self.cfg
        items, frames, grids, leads = [], [], [], []
        for i, item, train in self._pack_jobs("packing clips", progress):
            items.append(item)
            grids.append(self.code_grid(item).to(torch.int16))  # computed now unless cached
            frames.append(self._frames(item))
            leads.append(self._lead_variant(i, item) if train and cfg.lead_silence else (0, None))
        meta = {**self._pack_meta(), "columns": cfg.crop_columns, "seed": self.tc.seed,
                "lead_silence_seconds": [float(x) for x in cfg.lead_silence_seconds] if cfg.lead_silence else None}
        return write_pack(path, meta, items, frames, grids, leads)

    # ----- batches -----------------------------------------------------------------------------
    def batch(self, items, rng: np.random.Generator | None) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(tokens (B, crop*rows), cond (B, L, D), mask (B, L)); ``rng=None`` = deterministic validation."""
        C, L, D = self.cfg.crop_columns, self.text.out_len, self.text.dim
        toks, cond = [], torch.zeros(len(items), L, D)
        mask = torch.zeros(len(items), L, dtype=torch.bool)
        for b, it in enumerate(items):
            grid = self.code_grid(it).long()  # (rows, cols)
            head = rng is None or self.cfg.crop_start == "head"
            start = 0 if head else int(rng.integers(0, grid.shape[1] - C + 1))
            cap = it.captions[0] if rng is None else it.captions[int(rng.integers(len(it.captions)))]
            lead = self._lead_columns(it, rng)
            if lead:
                grid = self.lead_grid(it, lead)
                cap = lead_caption(cap)
            toks.append(self.vq.codes_to_sequence(grid[None, :, start : start + C])[0])
            drop = rng is not None and rng.random() < self.cfg.cond_dropout
            if self.cfg.text.mode != "none" and not drop:
                f = self.caption_feature(it, cap).float()
                cond[b, : f.shape[0]] = f
                mask[b, : f.shape[0]] = True
        if self.cfg.fim_rate and rng is not None:
            return torch.stack(toks), cond, mask, draw_fim_spans(len(items), C, self.cfg.fim_rate, rng)
        return torch.stack(toks), cond, mask

    def _token_ce(self, net, toks, cond, mask, spans: torch.Tensor | None = None):
        """Per-token cross-entropy (B, T) in the order the rows are read, and each token's segment there
        (None for plain rows; with ``spans``: 0 left, 1 right, 2 middle, see ``ConditionalGPT.fim_layout``)."""
        if spans is None:
            logits, targets, segment = net(toks, cond, mask), toks, None
        else:
            logits = net(toks, cond, mask, spans)
            order, segment = unwrap(net).fim_layout(spans, toks.shape[1])
            targets = toks.gather(1, order)
        return F.cross_entropy(logits.float().transpose(1, 2), targets, reduction="none"), segment

    def _loss(self, net, toks, cond, mask, spans: torch.Tensor | None = None) -> torch.Tensor:
        return self._token_ce(net, toks, cond, mask, spans)[0].mean()

    def train_step(self) -> dict[str, float]:
        self.net.train()

        def fetch(idx: list[int], rng) -> tuple[torch.Tensor, ...]:
            if self.resident_train is not None:
                return self.resident_train.batch(idx, rng)
            return tuple(t.to(self.device) for t in self.batch([self.train_items[i] for i in idx], rng))

        def loss_fn(batch: tuple[torch.Tensor, ...]) -> tuple[torch.Tensor, dict]:
            loss = self._loss(self.net, *batch)
            return loss, {"train/ce": loss}

        return self.accumulate("gpt", self.net, self.micro_batches(fetch), loss_fn, loss_name="ce")

    @torch.no_grad()
    def validate(self) -> dict[str, float]:
        m = unwrap(self.net).eval()
        s = s_null = mid_plain = mid_fim = 0.0
        n = 0
        fim = bool(getattr(m.config, "fim", False)) and self.cfg.crop_columns >= 3
        for start, items in self.val_chunks():
            if self.resident_val is not None:
                toks, cond, mask = self.resident_val.batch(list(range(start, start + len(items))), None)
            else:
                toks, cond, mask = (t.to(self.device) for t in self.batch(items, None))
            with self.autocast():
                ce, _ = self._token_ce(m, toks, cond, mask)
                s += float(ce.mean()) * len(items)
                s_null += float(self._loss(m, toks, cond, torch.zeros_like(mask))) * len(items)
                if fim:  # the middle third read left to right, and filled in with the right third read first
                    R = m.config.rows
                    a, b = toks.shape[1] // R // 3, 2 * (toks.shape[1] // R) // 3
                    spans = torch.tensor([[a, b]] * len(items), device=toks.device)
                    ce_fim, seg = self._token_ce(m, toks, cond, mask, spans)
                    mid_plain += float(ce[:, a * R : b * R].mean()) * len(items)
                    mid_fim += float(ce_fim[seg == 2].mean()) * len(items)
            n += len(items)
        res = {"val/loss": s / n, "val/loss_null_condition": s_null / n, "val/condition_gain": (s_null - s) / n}
        if fim:
            res |= {"val/middle_loss_left_only": mid_plain / n, "val/middle_loss_fim": mid_fim / n}
        if self.writer is not None:
            self._log_sample(m)
        return res

    def _log_sample(self, m: ConditionalGPT) -> None:
        it = self.val_items[0]
        cols = min(self.cfg.sample_columns, m.config.max_columns)
        _, cond, mask = self.batch([it], None)
        toks = m.generate(cond.to(self.device), mask.to(self.device), cols * m.config.rows, seeds=[0],
                          top_k=min(self.cfg.export.top_k, m.config.vocab_size))
        mel = self.vq.decode_codes(self.vq.sequence_to_codes(toks), self.cfg.edge_context).float().cpu()
        self.log_mel_image("val/sample", mel, self.step)
        if self.writer is not None:
            self.writer.add_text("val/sample_prompt", it.captions[0], self.step)
        self.log_audio("val/sample_griffinlim", griffin_lim(mel, self.vq.config.mel, n_iter=16)[0],
                       self.vq.config.mel.sample_rate, self.step)

    def components(self) -> dict[str, torch.nn.Module]:
        return {"gpt": self.model}

    def export(self, folder: Path) -> None:
        from vividsound.models.vocoders import GriffinLim, GriffinLimConfig, HiFiGAN, HiFiGANConfig
        from vividsound.pipeline import TextToSound

        ec, mel = self.cfg.export, self.vq.config.mel
        if ec.vocoder == "hifigan":
            voc = HiFiGAN(HiFiGANConfig(mel=mel))
        elif ec.vocoder == "griffinlim":
            voc = GriffinLim(GriffinLimConfig(mel=mel))
        elif Path(ec.vocoder).is_dir():
            voc = load_component(ec.vocoder, "MelGAN")
        else:
            raise TrainingError(f"export.vocoder={ec.vocoder!r}: use hifigan, griffinlim or a MelGAN folder")
        max_dur = self.model.config.max_columns * self.vq.frames_per_column * mel.hop_length / mel.sample_rate
        defaults = SamplingDefaults(duration=min(ec.duration, max_dur),
                                    top_k=min(ec.top_k, self.model.config.vocab_size), cfg_scale=ec.cfg_scale)
        pipe = TextToSound(self.text.cpu(), self.model.cpu().eval(), self.vq.cpu(), voc, defaults=defaults,
                           name=ec.name, edge_context=self.cfg.edge_context)
        pipe.save_pretrained(folder, dtype=torch.float16 if ec.fp16 else None)


ENCODE_BATCH = 256  # captions encoded at once when a resident split is built


class ResidentBatches:
    """One split's code grids and caption features held on the training device; batches are built there.

    Every draw (crop start, caption, lead, condition dropout) comes from the same generator in the same
    order as :meth:`GPTStage.batch`, so a resident run trains on the batches a plain run over the same pack
    would; the only difference is that captions are encoded ``ENCODE_BATCH`` at a time (equal to encoding
    them one by one up to float rounding). Memory: about (captions x 2 with lead_silence) x max_tokens x
    dim x 2 bytes of features (the default corpus: 4.8 GB) plus 2 x items x rows x columns x 2 bytes of codes.
    """

    def __init__(self, stage: GPTStage, items: list, lead: bool) -> None:
        self.stage, self.items = stage, items
        dev, cfg = stage.device, stage.cfg
        grids = [stage.code_grid(it).long() for it in items]
        rows = stage.vq.config.rows
        width = max(g.shape[1] for g in grids)
        self.widths = [g.shape[1] for g in grids]
        codes = torch.zeros(len(items), rows, width, dtype=torch.int16)
        for i, g in enumerate(grids):
            codes[i, :, : g.shape[1]] = g
        self.codes = codes.to(dev)
        self.lead_codes = None
        if lead:
            lc = codes.clone()
            for i, it in enumerate(items):
                if stage.pack.lead(it.id):
                    g = stage.pack.grid(it.id, lead=True)
                    lc[i, :, : g.shape[1]] = g
            self.lead_codes = lc.to(dev)
        uniq: dict[str, int] = {}
        self.first, self.count, self.flat = [], [], []
        for it in items:
            self.first.append(len(self.flat))
            self.count.append(len(it.captions))
            self.flat.extend(uniq.setdefault(c, len(uniq)) for c in it.captions)
        texts = list(uniq)
        self.n_plain = len(texts)
        if lead:
            texts += [lead_caption(c) for c in texts]
        L, D = stage.text.out_len, stage.text.dim
        self.none = cfg.text.mode == "none"
        n = 0 if self.none else len(texts)
        self.feats = torch.zeros(n, L, D, dtype=torch.float16, device=dev)
        self.lens = torch.zeros(n, dtype=torch.long, device=dev)
        with torch.no_grad():
            for a in range(0, n, ENCODE_BATCH):
                tf = stage.text(texts[a : a + ENCODE_BATCH])
                m = tf.mask.to(dev)
                self.feats[a : a + len(m), : m.shape[1]] = (tf.features.to(dev) * m[..., None]).half()
                self.lens[a : a + len(m)] = m.sum(1)

    def batch(self, idx: list[int], rng: np.random.Generator | None) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(tokens (B, crop*rows), cond (B, L, D), mask (B, L)) on the device, for split indices ``idx``."""
        st, cfg = self.stage, self.stage.cfg
        C, dev = cfg.crop_columns, st.device
        starts, caps, leads, keeps = [], [], [], []
        for i in idx:
            it = self.items[i]
            head = rng is None or cfg.crop_start == "head"
            starts.append(0 if head else int(rng.integers(0, self.widths[i] - C + 1)))
            k = 0 if rng is None else int(rng.integers(self.count[i]))
            lead = st._lead_columns(it, rng)
            drop = rng is not None and rng.random() < cfg.cond_dropout
            caps.append(self.flat[self.first[i] + k] + (self.n_plain if lead else 0))
            leads.append(bool(lead))
            keeps.append(not drop and not self.none)
        ii = torch.tensor(idx, device=dev)
        src = self.codes[ii]
        if self.lead_codes is not None:
            src = torch.where(torch.tensor(leads, device=dev)[:, None, None], self.lead_codes[ii], src)
        cols = torch.tensor(starts, device=dev)[:, None] + torch.arange(C, device=dev)[None]
        grid = src.gather(2, cols[:, None, :].expand(-1, src.shape[1], -1)).long()
        toks = st.vq.codes_to_sequence(grid)
        L, D = st.text.out_len, st.text.dim
        keep = torch.tensor(keeps, device=dev)
        spans = (draw_fim_spans(len(idx), C, cfg.fim_rate, rng).to(dev),) if cfg.fim_rate and rng is not None else ()
        if self.none:
            return (toks, torch.zeros(len(idx), L, D, device=dev), torch.zeros(len(idx), L, dtype=torch.bool, device=dev),
                    *spans)
        u = torch.tensor(caps, device=dev)
        mask = (torch.arange(L, device=dev)[None] < self.lens[u][:, None]) & keep[:, None]
        return (toks, self.feats[u].float() * mask[..., None], mask, *spans)
