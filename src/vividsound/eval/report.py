"""Writing the evaluation report: ``report.md`` (tables a reader can scan) and the spectrogram grid."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

import numpy as np

__all__ = ["format_value", "write_markdown", "write_grid"]


def format_value(v: Any) -> str:
    """A metric value for a table cell: numbers with 4 significant digits, reasons shortened."""
    if isinstance(v, bool):
        return str(v)
    if isinstance(v, (int, float)):
        return f"{v:.4g}"
    s = str(v)
    return s if len(s) <= 60 else s[:57] + "..."


def write_markdown(path: str | Path, report: dict[str, Any]) -> Path:
    """Render ``report`` (as built by :func:`vividsound.eval.runner.evaluate`) as Markdown."""
    info = report.get("metrics", {})
    systems: dict[str, dict[str, Any]] = report.get("systems") or {}
    lines = ["# vividsound evaluation", ""]
    for key in ("model", "corpus", "created", "split"):
        if key in report:
            lines.append(f"- {key}: `{report[key]}`")
    cfg = report.get("config", {})
    lines += [f"- items: {report.get('num_items', 0)}, samples per caption: {cfg.get('num_samples')}, "
              f"seed: {cfg.get('seed')}"]
    if cfg.get("match_reference_length"):
        lines.append("- length: each item generated at its reference's length (the generator was told it)")
    elif cfg.get("duration") is not None:
        lines.append(f"- length: every item generated at {format_value(cfg['duration'])} s; references cut or "
                     "silence-padded to it")
    lines.append("")
    if systems:
        lines += ["## Metrics", "",
                  "Rows: **Generated** (the model), **Original** (the reference audio itself: the best attainable "
                  "value), **Shuffled references** (another item's reference audio: the mismatched caption-audio "
                  "control). Arrows give the better direction.", ""]
        groups: dict[str, list[str]] = {}
        for k in info:
            groups.setdefault(info[k].get("judge", ""), []).append(k)
        titles = {"independent": ("### Independent judges", "No part in training or selecting the model: the "
                                  "pretrained aiSFX network (Ma & Lerch 2022), and PSNR / mel diversity, which need "
                                  "no model."),
                  "in-house": ("### In-house judges", "This project's tagger, CLAP and captioner: trained on the "
                               "same corpus as the generator, and the tagger and CLAP take part in training it. "
                               "Read these columns as diagnostics, not as independent evidence.")}
        for judge, keys in groups.items():
            if judge in titles:
                lines += [titles[judge][0], "", titles[judge][1], ""]
            lines.append("| metric | " + " | ".join(systems) + " |")
            lines.append("|---|" + "---|" * len(systems))
            for k in keys:
                arrow = "↑" if info[k]["better"] == "higher" else "↓"
                cells = [format_value(systems[s].get(k, "")) for s in systems]
                lines.append(f"| {info[k]['label']} {arrow} | " + " | ".join(cells) + " |")
            lines.append("")

    probes = report.get("probes")
    lines += ["## Probes", ""]
    if isinstance(probes, dict):
        if "duration" in probes:
            lines += [f"Every probe generated at {format_value(probes['duration'])} s. Controls: the **prompt-blind "
                      "bound** (the most a generator that ignores the prompt can score in expectation), the probes' "
                      "**references** placed in clips of that length (the checkers' own accuracy), and "
                      "**shuffled references** (another probe's reference of the same type).", ""]
        cols = [("generated", probes.get("accuracy_by_type", {}), probes.get("accuracy")),
                ("prompt-blind bound", probes.get("prompt_blind_bound_by_type"), probes.get("prompt_blind_bound")),
                ("references", probes.get("reference_accuracy_by_type"), probes.get("reference_accuracy")),
                ("shuffled references", probes.get("shuffled_reference_accuracy_by_type"),
                 probes.get("shuffled_reference_accuracy"))]
        cols = [c for c in cols if isinstance(c[1], dict)]
        lines += ["| probe type | " + " | ".join(c[0] for c in cols) + " | clips |",
                  "|---|" + "---|" * len(cols) + "---|"]
        for t in probes["accuracy_by_type"]:
            lines.append(f"| {t} | " + " | ".join(format_value(c[1].get(t, "")) for c in cols)
                         + f" | {probes['count_by_type'][t]} |")
        lines += ["| all | " + " | ".join(format_value(c[2]) for c in cols) + " | |", ""]
        answers = probes.get("accuracy_by_answer")
        if isinstance(answers, dict) and answers:
            counts = probes.get("count_by_answer") or {}
            lines += ["Generated clips by the answer the prompt asks for (a generator that ignores the prompt "
                      "passes one answer and fails the others):", "", "| probe type | answer: accuracy (clips) |",
                      "|---|---|"]
            for t, by in answers.items():
                lines.append(f"| {t} | " + ", ".join(f"{a}: {format_value(v)} ({counts.get(t, {}).get(a, '?')})"
                                                      for a, v in by.items()) + " |")
            lines.append("")
    else:
        lines += [str(probes), ""]

    reasons = report.get("unavailable_components") or {}
    if reasons:
        lines += ["## Unavailable", ""] + [f"- {k}: {v}" for k, v in reasons.items()] + [""]
    if systems:
        lines += ["## Notes", "",
                  "- PSNR is on SpecVQGAN-normalised log-mels; identical spectrograms are reported as the cap "
                  f"({format_value(_cap())} dB).",
                  "- FD, MMKL and KL compare each row with the reference set, so the Original row is 0 by "
                  "construction; the Shuffled row has the same set-level FD as Original.",
                  "- MMKL: per-class Bernoulli KL(reference || generation) of the tagger's sigmoid outputs, "
                  "averaged over classes and pairs (the paper's metric).",
                  "- KL (published form): sum over classes of r ln(r / (g + 1e-6)) per pair, mean over pairs, as "
                  "AudioLDM's and AudioGen's evaluation code computes it; comparable to their tables only with "
                  "their classifier.", ""]
    for a in report.get("attribution", []):
        lines += ["## Attribution", "", a, ""]
    items = report.get("items", [])
    if items and "captions_back" in items[0]:
        lines += ["## Captions back (first items)", "", "| prompt | generated audio captioned as |", "|---|---|"]
        for rec in items[:10]:
            lines.append(f"| {rec['prompt']} | {rec['captions_back'][0]} |")
        lines.append("")
    from vividsound.checkpoint import atomic_write_text

    return atomic_write_text(Path(path), "\n".join(lines))


def _cap() -> float:
    from vividsound.eval.metrics import PSNR_CAP_DB

    return PSNR_CAP_DB


def write_grid(path: str | Path, rows: Sequence[tuple[str, np.ndarray, Sequence[np.ndarray]]]) -> Path:
    """A PNG grid: one row per item, the reference log-mel first, then its generated samples.

    Args:
        rows: (title, reference log-mel (n_mels, T), generated log-mels [(n_mels, T'), ...]).
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    if not rows:
        raise ValueError("write_grid needs at least one row")
    ncols = 1 + max(len(g) for _, _, g in rows)
    fig, axes = plt.subplots(len(rows), ncols, figsize=(3.2 * ncols, 2.4 * len(rows)), squeeze=False)
    for r, (title, ref, gens) in enumerate(rows):
        vmin = float(np.min(ref))
        vmax = float(np.max(ref)) if np.max(ref) > vmin else vmin + 1.0
        for c in range(ncols):
            ax = axes[r][c]
            ax.set_xticks([])
            ax.set_yticks([])
            if c == 0:
                mel, label = ref, "reference"
            elif c - 1 < len(gens):
                mel, label = gens[c - 1], f"generated {c}"
            else:
                ax.axis("off")
                continue
            ax.imshow(np.asarray(mel), origin="lower", aspect="auto", vmin=vmin, vmax=vmax, cmap="magma")
            ax.set_title(label if c else f"{label}: {title[:40]}", fontsize=8)
    fig.tight_layout()
    p = Path(path)
    fig.savefig(p, dpi=80)
    plt.close(fig)
    return p
