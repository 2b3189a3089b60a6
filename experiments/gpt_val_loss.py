"""Validation cross-entropy of GPT component folders on a codes pack's validation clips (CPU or GPU).

    python experiments/gpt_val_loss.py --pack .bench/gpt-gpu/codes.npz src/vividsound/default_model/gpt RUN/export/gpt

Uses configs/default/recipe.yaml#gpt_gpu with the pack (not resident: no training caption is encoded) and the
default model's VQGAN and text encoder; prints one JSON line per folder (val/loss, with the text removed,
and their difference), the numbers `vividsound train gpt` logs at validation.
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

import torch

from vividsound.checkpoint import load_component
from vividsound.train import load_stage_config
from vividsound.train.gpt import GPTStage
from vividsound.train.loop import init_dist

REPO = Path(__file__).resolve().parents[1]
M = REPO / "src" / "vividsound" / "default_model"


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--pack", required=True)
    p.add_argument("--config", default=f"{REPO / 'configs' / 'default' / 'recipe.yaml'}#gpt_gpu")
    p.add_argument("--device", default="cpu")
    p.add_argument("gpts", nargs="+", help="GPT component folders")
    args = p.parse_args()
    cfg = load_stage_config("gpt", args.config, [
        f"pack={args.pack}", f"vqgan={M / 'vqgan'}", f"text.path={M / 'text_encoder'}", f"init_from={args.gpts[0]}",
        f"train.device={args.device}", "train.batch_size=64", "train.val_batches=0", "train.tensorboard=false",
        "resident=false"])
    with tempfile.TemporaryDirectory() as tmp:
        st = GPTStage(cfg, Path(tmp), init_dist(args.device))
        st.setup()
        for folder in args.gpts:
            src = load_component(folder, "ConditionalGPT")
            st.model.load_state_dict({k: v.float() for k, v in src.state_dict().items()})
            print(json.dumps({"gpt": folder, **st.validate()}), flush=True)


if __name__ == "__main__":
    torch.set_grad_enabled(True)
    main()
