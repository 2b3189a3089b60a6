"""Write a manifest of a corpus's validation items and the training items named in an id list.

    python experiments/subset_manifest.py --manifest corpus/manifest.jsonl --ids IDS.txt[.gz] --out corpus/SUBSET.jsonl

The GPT's fourth phase (docs/MODEL_CARD.md) trained from a codes pack of such a subset; its id list is
``benchmarks/results/gpt-gpu-h200-2026-11-27-phase4/train-ids.txt.gz``. Lines keep the manifest's order and
bytes; the output must sit in the corpus folder (audio paths are relative to it). Fails with one line when
an id is not a training item of the manifest.
"""

from __future__ import annotations

import argparse
import gzip
import json
import sys
from pathlib import Path

from vividsound.checkpoint import atomic_write_bytes


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--manifest", required=True)
    ap.add_argument("--ids", required=True, help="one training item id per line (.gz read as gzip)")
    ap.add_argument("--out", required=True)
    a = ap.parse_args()
    opener = gzip.open if a.ids.endswith(".gz") else open
    with opener(a.ids, "rt") as f:
        want = {line.strip() for line in f if line.strip()}
    keep, found = [], set()
    for line in Path(a.manifest).read_text().splitlines():
        if not line.strip():
            continue
        d = json.loads(line)
        if d.get("split") == "val" or (d.get("split") == "train" and d["id"] in want):
            keep.append(line)
            if d.get("split") == "train":
                found.add(d["id"])
    missing = want - found
    if missing:
        print(f"subset_manifest: {len(missing)} id(s) are not training items of {a.manifest}, e.g. "
              f"{sorted(missing)[0]}", file=sys.stderr)
        return 2
    out = Path(a.out)
    atomic_write_bytes(out, ("\n".join(keep) + "\n").encode("utf-8"))
    print(f"wrote {out}: {len(found)} training items + {len(keep) - len(found)} validation items")
    return 0


if __name__ == "__main__":
    sys.exit(main())
