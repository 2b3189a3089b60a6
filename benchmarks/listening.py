"""Listening-test server and report speed: how long a page takes to be stored (through the HTTP API, the
commit on disk with ``synchronous=FULL``) and how long ``report`` takes on a large test.

    PYTHONPATH=src python benchmarks/listening.py [--raters 20] [--pages 3] [--clips 6]
        [--report-raters 30] [--report-prompts 50] [--replicates 2000] [--out FILE]

No model is needed: the test is synthetic (conditions, prompts and clip ids without audio files).
"""

from __future__ import annotations

import argparse
import datetime as _dt
import shlex
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the repository root: `benchmarks` package

from benchmarks.common import RESULTS_DIR, cpu_model, loadavg  # noqa: E402


def synthetic_test(root: Path, n_prompts: int, n_clips: int):
    from vividsound.listening.spec import Checks, Clip, Condition, ListeningTest, Prompt, clip_token

    kinds = ["system"] * max(1, n_clips - 2) + ["reference", "noise"]
    conds = [Condition(f"s{k}" if kind == "system" else kind, kind) for k, kind in enumerate(kinds[:n_clips])]
    prompts = [Prompt(f"p{i:03d}", f"prompt {i}") for i in range(n_prompts)]
    clips = [Clip(clip_token("bench", p.id, c.name, 0), p.id, c.name, 0, 0) for p in prompts for c in conds]
    return ListeningTest(id="bench", name="bench", created="", duration=1.0, sample_rate=16000, seed=0, per_prompt=1,
                         loudness_dbfs=None, checks=Checks(), conditions=conds, prompts=prompts, clips=clips,
                         complete=True, root=root)


@dataclass
class Result:
    save_ms: list[float]
    clips_per_page: int
    report_ratings: int
    report_s: float
    replicates: int

    def table(self) -> str:
        s = sorted(self.save_ms)
        return "\n".join([
            "| measure | value |", "|---|---|",
            f"| page save through the API ({len(s)} pages of {self.clips_per_page} ratings): median | "
            f"{statistics.median(s):.1f} ms |",
            f"| page save: 90th percentile | {float(np.percentile(s, 90)):.1f} ms |",
            f"| `report` on {self.report_ratings} ratings, {self.replicates} bootstrap replicates | {self.report_s:.2f} s |"])


def run(raters: int = 20, pages: int = 3, clips: int = 6, report_raters: int = 30, report_prompts: int = 50,
        replicates: int = 2000) -> Result:
    from fastapi.testclient import TestClient

    from vividsound.listening.app import create_listening_app
    from vividsound.listening.report import make_report
    from vividsound.listening.store import Rating, RatingStore

    with tempfile.TemporaryDirectory() as tmp:
        test = synthetic_test(Path(tmp), pages, clips)
        client = TestClient(create_listening_app(test, RatingStore(Path(tmp) / "r.sqlite", test.id)))
        save_ms = []
        for _ in range(raters):
            auth = {"Authorization": "Bearer " + client.post("/api/raters", json={}).json()["token"]}
            for _ in range(pages):
                nxt = client.get("/api/next", headers=auth).json()
                body = {"page_version": "1", "prompt": nxt["prompt_id"],
                        "ratings": [{"clip": c["id"], "relevance": 5, "quality": 5} for c in nxt["clips"]]}
                t0 = time.perf_counter()
                r = client.post("/api/ratings", json=body, headers=auth)
                save_ms.append((time.perf_counter() - t0) * 1e3)
                assert r.status_code == 200 and r.json()["status"] == "saved", r.text
    big = synthetic_test(Path("."), report_prompts, clips)
    rng = np.random.default_rng(0)
    kind = {c.name: c.kind for c in big.conditions}
    ratings = [Rating(f"r{k}", c.prompt, c.id, c.condition,
                      9 if kind[c.condition] == "reference" else 1 if kind[c.condition] == "noise" else int(rng.integers(11)),
                      int(rng.integers(11)), "t", "1") for k in range(report_raters) for c in big.clips]
    t0 = time.perf_counter()
    make_report(big, ratings, replicates=replicates)
    return Result(save_ms, clips, len(ratings), time.perf_counter() - t0, replicates)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--raters", type=int, default=20)
    p.add_argument("--pages", type=int, default=3)
    p.add_argument("--clips", type=int, default=6)
    p.add_argument("--report-raters", type=int, default=30)
    p.add_argument("--report-prompts", type=int, default=50)
    p.add_argument("--replicates", type=int, default=2000)
    p.add_argument("--out", type=Path)
    a = p.parse_args()
    res = run(a.raters, a.pages, a.clips, a.report_raters, a.report_prompts, a.replicates)
    date = _dt.date.today().isoformat()
    text = (f"# Listening test: page saves and report\n\n{res.table()}\n\n"
            f"- command: `{shlex.join(['python', *sys.argv])}`\n- machine: {cpu_model()}, load average {loadavg()}\n"
            f"- date: {date}\n")
    print(text)
    out = a.out or RESULTS_DIR / f"listening-cpu-{date}.md"
    out.write_text(text, encoding="utf-8")


if __name__ == "__main__":
    main()
