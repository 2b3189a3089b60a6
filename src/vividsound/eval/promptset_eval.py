"""Run the everyday prompt set: generate every prompt, judge each clip, write ``report.json`` / ``report.md``.

``vividsound evaluate --prompt-set [FILE] --model M --corpus C --out DIR`` calls
:func:`evaluate_prompt_set`. The same command with ``--cfg-scale 0`` scores the text-removed control (the
model sampled from its null condition), with ``--retrieval`` the retrieval baseline, and with
``--prompt-set-references`` the real reference clips themselves (each scored against centroids that leave
it out), so every report can be read beside its controls. Clips are cached per prompt under ``DIR/cache``:
an interrupted run resumes where it stopped.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np

from vividsound.eval.promptset import (ClassBank, PromptItem, active_embedding, class_retrieval, level_stats,
                                       prompt_row, summarize, to_json)

__all__ = ["evaluate_prompt_set", "summarize_rows", "measurable"]


def measurable(items: Sequence[PromptItem], bank: ClassBank) -> list[PromptItem]:
    """The prompts that give a number with this bank: an accepted label has a centroid (class retrieval),
    or the shape asks for a length (``continuing`` / ``once``: level over time)."""
    have = set(bank.labels)
    return [it for it in items if it.shape != "event" or any(lab in have for lab in it.labels)]


def _mean_bool(rows: Sequence[dict[str, Any]], key: str) -> float | None:
    vals = [bool(r[key]) for r in rows if r.get(key) is not None]
    return float(np.mean(vals)) if vals else None


def summarize_rows(rows: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Aggregate per-clip rows into the report's summary (see :func:`evaluate_prompt_set`)."""
    scored = [r for r in rows if r.get("rank") is not None]

    def retrieval(sub: Sequence[dict[str, Any]]) -> dict[str, Any]:
        return {"clips": len(sub), "hit@1": _mean_bool(sub, "hit@1"), "hit@5": _mean_bool(sub, "hit@5"),
                "chance@1": summarize(sub, "chance@1"), "chance@5": summarize(sub, "chance@5"),
                "mean_rank": summarize(sub, "rank")}

    out: dict[str, Any] = {
        "clips": len(rows),
        "retrieval_dev": retrieval([r for r in scored if r["part"] == "dev"]),
        "retrieval_test": retrieval([r for r in scored if r["part"] == "test"]),
        "retrieval": retrieval(scored),
        "retrieval_in_corpus": retrieval([r for r in scored if not r["beyond"]]),
        "retrieval_beyond_corpus": retrieval([r for r in scored if r["beyond"]]),
        "unscored_clips": len(rows) - len(scored),
    }
    for shape in ("continuing", "once", "event"):
        sub = [r for r in rows if r["shape"] == shape and r.get("silent_share") is not None]
        out[shape] = _levels(sub)
        for part in ("dev", "test"):  # the ship rule selects on the dev half; the test half is scored once
            half = _levels([r for r in sub if r["part"] == part])
            out[shape] |= {f"{part}_clips": half["clips"], f"{part}_silent_share": half["silent_share"],
                           f"{part}_ends_in_cut": half["ends_in_cut"]}
    return out


def _levels(sub: Sequence[dict[str, Any]]) -> dict[str, Any]:
    return {"clips": len(sub), "silent_share": summarize(sub, "silent_share"),
            "ends_in_cut": _mean_bool(sub, "ends_in_cut"), "ends_silent": _mean_bool(sub, "ends_silent"),
            "tail_silent_share": summarize(sub, "tail_silent_share")}


def _fmt(v: Any) -> str:
    if v is None:
        return "n/a"
    if isinstance(v, float):
        return f"{v:.3f}"
    return str(v)


def _markdown(report: dict[str, Any]) -> str:
    s = report["summary"]
    lines = [f"# Everyday prompt set: {report['system']}", "",
             f"{report['num_prompts']} of the set's {report['prompt_set_size']} prompts (those that give a number "
             + (f"with this bank) x {report['num_samples']} sample(s), {report['duration']} s each, "
                if report["duration"] is not None else "with this bank), one real reference clip each, ")
             + f"judged against {report['bank']['classes']} classes of real clips (bank: {report['bank']['split']}) "
             f"({report['bank']['clips']} clips) by aiSFX.", "",
             "| class retrieval (aiSFX) | clips | hit@1 | chance@1 | hit@5 (± 1 SE) | chance@5 | mean rank |",
             "|---|---|---|---|---|---|---|"]
    for name, key in (("all scored", "retrieval"), ("dev half (model selection)", "retrieval_dev"),
                      ("test half", "retrieval_test"), ("in corpus", "retrieval_in_corpus"),
                      ("beyond corpus", "retrieval_beyond_corpus")):
        r = s[key]
        se = f" ± {(r['hit@5'] * (1 - r['hit@5']) / r['clips']) ** 0.5:.3f}" if r["hit@5"] is not None else ""
        lines.append(f"| {name} | {r['clips']} | {_fmt(r['hit@1'])} | {_fmt(r['chance@1'])} | {_fmt(r['hit@5'])}{se} | "
                     f"{_fmt(r['chance@5'])} | {_fmt(r['mean_rank'])} |")
    lines += ["", f"Unscored clips (no accepted label with references in the bank): {s['unscored_clips']}.", "",
              "| level over time | clips | silent share | ends in a cut | ends silent | silent share of last 2 s |",
              "|---|---|---|---|---|---|"]
    for shape in ("continuing", "once", "event"):
        r = s[shape]
        lines.append(f"| {shape} | {r['clips']} | {_fmt(r['silent_share'])} | {_fmt(r['ends_in_cut'])} | "
                     f"{_fmt(r['ends_silent'])} | {_fmt(r['tail_silent_share'])} |")
    for part, name in (("dev", "dev half (model selection)"), ("test", "test half")):
        r = s["continuing"]
        lines.append(f"| continuing, {name} | {r.get(part + '_clips', 'n/a')} | {_fmt(r.get(part + '_silent_share'))} | "
                     f"{_fmt(r.get(part + '_ends_in_cut'))} | | |")
    lines += ["", "Silent: a 50 ms frame below -50 dBFS. A cut: the clip ends in >= 0.5 s of silence and was above "
              "-35 dBFS within 0.1 s of it. Chance is exact per clip (any accepted label among the k nearest of "
              "all classes).", ""]
    return "\n".join(lines)


SEED_SLOTS = 1_000_000


def prompt_seed(seed: int, prompt_id: str, num_samples: int = 1) -> int:
    """The first seed of prompt ``prompt_id``: ``seed + (sha1(id) mod 10**6) * num_samples``.

    It depends on the prompt's id only, never on its position, so adding, removing or reordering prompts
    leaves every other prompt's clips (and cache) unchanged. Sample j uses ``prompt_seed(...) + j``."""
    slot = int.from_bytes(hashlib.sha1(prompt_id.encode("utf-8")).digest()[:8], "big") % SEED_SLOTS
    return int(seed) + slot * int(num_samples)


def evaluate_prompt_set(generator: Any, items: Sequence[PromptItem], bank: ClassBank, aisfx: Any,
                        out_dir: str | Path, *, duration: float = 10.0, seed: int = 0, num_samples: int = 1,
                        sampler: dict[str, Any] | None = None, batch_size: int = 8, references: bool = False,
                        candidates: int = 1, scorer: str | None = None,
                        system: str = "model",
                        meta: dict[str, Any] | None = None,
                        progress: Callable[[Any], Any] = lambda x: x) -> dict[str, Any]:
    """Generate and judge every prompt; write ``report.json`` and ``report.md`` into ``out_dir``.

    Args:
        generator: a :class:`~vividsound.pipeline.TextToSound` or anything with its ``generate_rows``
            (the retrieval baseline); ignored with ``references=True``.
        items: the prompt set.
        bank: reference clips and centroids of the judging split.
        aisfx: the loaded aiSFX model (:func:`vividsound.eval.aisfx.load_aisfx`).
        duration: seconds per clip (every prompt the same: the judge, not the prompt, says how long).
        seed: sample j of a prompt uses :func:`prompt_seed` ``(seed, id, num_samples) + j`` (stable per id).
        sampler: top_k / top_p / temperature / cfg_scale passed to the generator.
        candidates, scorer: keep the best of N clips per sample by a CLAP scorer (TextToSound's best of N;
            candidate 0 is the plain sample's seed, so the plain run's clips are among the candidates).
        references: score a real reference clip of each prompt's sound instead of generating (leave-one-out
            centroids; level statistics are not computed for references, whose clips are short).

    Returns:
        The report dict (also written as JSON).
    """
    from vividsound.eval.runner import EvalConfig, generate_items

    out = Path(out_dir)
    (out / "cache").mkdir(parents=True, exist_ok=True)
    sampler = dict(sampler or {})
    rows: list[dict[str, Any]] = []
    if references:
        by_label: dict[str, list[int]] = {}
        for j, lab in enumerate(bank.clip_labels):
            by_label.setdefault(lab, []).append(j)
        embs, cents = [], []
        for i, it in enumerate(items):
            cand = [j for lab in it.labels for j in by_label.get(lab, [])]
            if not cand:
                rows.append(prompt_row(it) | {"seed": prompt_seed(seed, it.id), "rank": None})
                embs.append(np.zeros(bank.embeddings.shape[1]))
                cents.append(None)
                continue
            j = cand[int(np.random.default_rng(prompt_seed(seed, it.id)).integers(len(cand)))]
            rows.append(prompt_row(it) | {"seed": prompt_seed(seed, it.id), "reference": bank.clip_ids[j]})
            embs.append(bank.embeddings[j])
            cents.append(bank.centroid_without(j) if by_label[bank.clip_labels[j]][1:] else None)
        judged = class_retrieval(bank, np.stack(embs), [it.labels for it in items], centroids=cents)
        for r, jd in zip(rows, judged):
            if "reference" in r:
                r.update(jd)
        n_samples = 1
    else:
        cfg = EvalConfig(num_samples=num_samples, seed=seed, batch_size=batch_size,
                         top_k=sampler.get("top_k"), top_p=sampler.get("top_p"),
                         temperature=sampler.get("temperature", 1.0), cfg_scale=sampler.get("cfg_scale", 1.0),
                         candidates=candidates, scorer=scorer)
        prompts = [it.prompt for it in items]
        seeds = [prompt_seed(seed, it.id, num_samples) for it in items]
        caches = [out / "cache" / f"{it.id}.npz" for it in items]
        results = generate_items(generator, prompts, [duration] * len(items), seeds, cfg, caches, progress)
        embs, accepted = [], []
        have = set(bank.labels)
        for i, (it, (wav, sr, _mel)) in enumerate(zip(items, results)):
            for j in range(wav.shape[0]):
                lv = level_stats(wav[j], sr)
                rows.append(prompt_row(it) | {"seed": seeds[i] + j, "silent_share": lv.silent_share,
                                              "ends_in_cut": lv.ends_in_cut, "ends_silent": lv.ends_silent,
                                              "tail_silent_share": lv.tail_silent_share,
                                              "last_sound_s": lv.last_sound_s})
                scored = any(lab in have for lab in it.labels)  # the judge's time only where it gives a number
                embs.append(active_embedding(aisfx, wav[j], sr) if scored else np.zeros(bank.embeddings.shape[1]))
                accepted.append(it.labels)
        for r, jd in zip(rows, class_retrieval(bank, np.stack(embs), accepted)):
            r.update(jd)
        n_samples = num_samples
    report = {
        "format_version": 1,
        "system": system,
        "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        **(meta or {}),
        "num_prompts": len(items),
        "prompt_set_size": (meta or {}).get("prompt_set_size", len(items)),
        "num_samples": n_samples,
        "duration": None if references else duration,
        "seed": seed,
        "sampler": sampler,
        **({"candidates": candidates, "scorer": scorer or "the model's clap/"} if candidates != 1 else {}),
        "bank": {"split": bank.split, "classes": len(bank.labels), "clips": len(bank.clip_ids),
                 "labels": bank.labels},
        "summary": summarize_rows(rows),
        "rows": rows,
        "judge": "aiSFX (Ma and Lerch, ISMIR 2022; CC BY 4.0): pretrained on sound-effect libraries, never "
                 "trained or tuned on this project's data",
    }
    tmp = out / "report.json.tmp"
    tmp.write_text(to_json(report) + "\n", encoding="utf-8")
    tmp.replace(out / "report.json")
    (out / "report.md").write_text(_markdown(report), encoding="utf-8")
    return report


def load_or_build_bank(manifest_items: Sequence[Any], corpus_root: str | Path, aisfx: Any, split: str,
                       cache_dir: str | Path, progress: Callable[[Any], Any] = lambda x: x,
                       min_clips: int = 2, max_clips: int = 20) -> ClassBank:
    """The class bank of ``split`` (embeddings cached under ``cache_dir``)."""
    from vividsound.eval.promptset import build_class_bank

    return build_class_bank(manifest_items, corpus_root, aisfx, split=split, min_clips=min_clips,
                            max_clips=max_clips, cache_file=Path(cache_dir) / f"bank-{split}.npz", progress=progress)
