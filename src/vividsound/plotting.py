"""Spectrogram images (matplotlib is imported only here)."""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import torch


def plot_mels(mels: torch.Tensor, titles: Sequence[str], path: str | Path, *, sample_rate: int = 22050,
              hop_length: int = 256, references: torch.Tensor | None = None) -> Path:
    """Save log-mels (N, n_mels, T) as one PNG, one row each (beside ``references`` when given)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    mels = mels.detach().float().cpu()
    n = mels.shape[0]
    cols = 1 if references is None else 2
    fig, axes = plt.subplots(n, cols, figsize=(6 * cols, 2.2 * n), squeeze=False)
    for i in range(n):
        panels = [(mels[i], titles[i] if i < len(titles) else "")]
        if references is not None:
            panels.append((references[i].detach().float().cpu(), "reference"))
        for j, (m, title) in enumerate(panels):
            ax = axes[i][j]
            seconds = m.shape[-1] * hop_length / sample_rate
            ax.imshow(m.numpy(), origin="lower", aspect="auto", extent=(0, seconds, 0, m.shape[0]), cmap="magma")
            ax.set_title(title[:80], fontsize=8)
            ax.set_xlabel("s", fontsize=7)
            ax.set_ylabel("mel", fontsize=7)
            ax.tick_params(labelsize=6)
    fig.tight_layout()
    path = Path(path)
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return path
