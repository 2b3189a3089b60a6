"""Tiny random components for tests, examples and benchmarks (no training, no network).

``tiny_pipeline(folder)`` writes a complete pipeline folder whose every component is real code with
small random weights: a 2-layer BERT text model (MiniLM's tokenizer, random weights), a 2-layer GPT, a
small VQGAN and the Griffin-Lim vocoder (or HiFi-GAN universal). Loading it exercises exactly the code
paths of a trained model.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import torch

from vividsound.audio import MelConfig
from vividsound.models.gpt import ConditionalGPT, GPTConfig
from vividsound.models.quantizer import QuantizerConfig
from vividsound.models.text import TextEncoder, TextEncoderConfig, minilm_path
from vividsound.models.vocoders import GriffinLim, GriffinLimConfig, HiFiGAN, HiFiGANConfig
from vividsound.models.vqgan import VQGAN, VQGANConfig

TOKENIZER_FILES = ("vocab.txt", "tokenizer.json", "tokenizer_config.json", "special_tokens_map.json")


def tiny_bert(folder: str | Path, hidden: int = 32, layers: int = 2, seed: int = 0) -> Path:
    """A random BERT with MiniLM's tokenizer, saved as a Hugging Face folder (for the ``hf`` backbone)."""
    import transformers

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(seed)
    cfg = transformers.BertConfig(vocab_size=30522, hidden_size=hidden, num_hidden_layers=layers,
                                  num_attention_heads=2, intermediate_size=2 * hidden, max_position_embeddings=128)
    transformers.BertModel(cfg).save_pretrained(folder)
    src = minilm_path()
    for name in TOKENIZER_FILES:
        if (src / name).is_file():
            shutil.copy(src / name, folder / name)
    return folder


def tiny_vqgan_config(mel: MelConfig | None = None, n_codes: int = 64, downsample: tuple[int, int] = (16, 4)) -> VQGANConfig:
    mel = mel or MelConfig()
    return VQGANConfig(mel=mel, ch=8, ch_mult=(1, 1, 2, 2, 2), num_res_blocks=1, mid_attn=True,
                       downsample=downsample, quantizer=QuantizerConfig(n_codes=n_codes, code_dim=16))


def tiny_pipeline(folder: str | Path, *, mode: str = "sequence", vocoder: str = "griffinlim", seed: int = 0,
                  max_columns: int = 40, n_codes: int = 64, bert_folder: str | Path | None = None):
    """Write a tiny random pipeline folder and return the loaded :class:`TextToSound`.

    Args:
        mode: text mode (``pooled``, ``sequence`` or ``none``).
        vocoder: ``griffinlim`` (fast) or ``hifigan`` (the bundled universal weights).
        max_columns: GPT block size in time columns (a column is 4 mel frames here, ~46 ms).
    """
    from vividsound.pipeline import TextToSound

    folder = Path(folder)
    bert = Path(bert_folder) if bert_folder else folder.parent / f".{folder.name}-bert"
    if not (bert / "config.json").is_file():
        tiny_bert(bert, seed=seed)
    torch.manual_seed(seed)
    text = TextEncoder(TextEncoderConfig(backbone="hf", path=str(bert.resolve()), mode=mode, max_tokens=8, dim=32))
    vq = VQGAN(tiny_vqgan_config(n_codes=n_codes))
    gpt = ConditionalGPT(GPTConfig(vocab_size=n_codes, block_size=max_columns * vq.config.rows, rows=vq.config.rows,
                                   cond_dim=32, cond_len=text.out_len, n_layer=2, n_head=2, n_embd=32))
    voc = HiFiGAN(HiFiGANConfig()) if vocoder == "hifigan" else GriffinLim(GriffinLimConfig(n_iter=4))
    pipe = TextToSound(text, gpt, vq, voc, name="tiny-random")
    pipe.save_pretrained(folder)
    return TextToSound.from_pretrained(folder)
