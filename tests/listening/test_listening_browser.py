"""Scripted raters use the rating page in real Chromium (headless, driven by Playwright).

Skipped with a reason when Playwright or a Chromium binary is missing. The rater script plays every clip
to its end (the page unlocks the sliders only then; played 16x fast to keep the test short), moves the
sliders (with the keyboard in the first test, by the same input events elsewhere) and presses the page's
button, like a person would.
"""

from __future__ import annotations

import csv
import os
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any, Callable

import pytest
from live_helpers import LiveServer as ThreadServer, free_port
from lt_helpers import make_app

from vividsound.cli import main
from vividsound.listening.spec import DB_FILE, load_test
from vividsound.listening.store import RatingStore

Scores = Callable[[str, int], tuple[int, int]]  # (condition, prompt index) -> (relevance, quality)


def good_rater(cond: str, pi: int) -> tuple[int, int]:
    """An attentive rater: noise low, the real recording high; other values vary with the prompt."""
    return {"alpha": (4 + pi, 5), "beta": (2 + 2 * pi, 6 - pi), "reference": (8 + pi // 2, 9),
            "retrieval": (5, 7 - pi), "noise": (pi, 1)}[cond]


def careless_rater(cond: str, pi: int) -> tuple[int, int]:
    """Fails every check: the noise clip rated relevant, the real recording irrelevant."""
    return {"noise": (9, 9), "reference": (1, 2)}.get(cond, (10, 10))


def _key(test_dir: Path) -> tuple[dict[str, str], dict[str, int]]:
    test = load_test(test_dir)
    prompt_index = {p.id: k for k, p in enumerate(test.prompts)}
    return {c.id: c.condition for c in test.clips}, {c.id: prompt_index[c.prompt] for c in test.clips}


def _set_slider(page: Any, clip: str, metric: str, value: int) -> None:
    """Move a slider with the keyboard, as a person would (Home/End, then arrow keys)."""
    box = page.locator(f'#clips .clip[data-clip="{clip}"] input[data-metric="{metric}"]')
    if value <= 5:
        box.press("Home")
        for _ in range(value):
            box.press("ArrowRight")
    else:
        box.press("End")
        for _ in range(10 - value):
            box.press("ArrowLeft")


# Sets every slider of the page at once, firing the same `input` events the keyboard does (fast path).
SET_ALL = """(values) => { for (const [clip, rel, qual] of values) {
  const li = document.querySelector(`#clips .clip[data-clip="${clip}"]`);
  for (const [metric, v] of [["relevance", rel], ["quality", qual]]) {
    const el = li.querySelector(`input[data-metric="${metric}"]`);
    el.value = String(v); el.dispatchEvent(new Event("input", {bubbles: true})); } } }"""


def rate_page(page: Any, scores: Scores, cond_of: dict[str, str], prompt_of: dict[str, int],
              given: dict[str, tuple[int, int]], submit: bool = True, shot: Path | None = None,
              keyboard: bool = False) -> None:
    """Rate the page on screen (and press the button unless ``submit`` is False); ``keyboard`` moves the
    sliders key by key, else all at once with the same input events."""
    clips = page.eval_on_selector_all("#clips .clip", "els => els.map(e => e.dataset.clip)")
    assert clips and page.eval_on_selector_all("#clips input[type=range]", "els => els.every(e => e.disabled)")
    assert page.is_disabled("#submit")
    page.evaluate("() => { for (const a of document.querySelectorAll('#clips audio')) { a.playbackRate = 16; a.play(); } }")
    page.wait_for_function("() => [...document.querySelectorAll('#clips .clip')].every(li => li.dataset.heard === '1')",
                           timeout=30_000)
    values = [(cid, *scores(cond_of[cid], prompt_of[cid])) for cid in clips]
    if keyboard:
        for cid, rel, qual in values:
            _set_slider(page, cid, "relevance", rel)
            _set_slider(page, cid, "quality", qual)
    else:
        page.evaluate(SET_ALL, values)
    given.update({cid: (rel, qual) for cid, rel, qual in values})
    assert page.is_enabled("#submit")
    if shot is not None:
        page.screenshot(path=str(shot), full_page=True)
    if submit:
        _press_submit(page)


def _saved(page: Any) -> int:
    return int(page.get_attribute("#rate", "data-saved") or 0)


def _press_submit(page: Any) -> None:
    before = _saved(page)
    page.click("#submit")
    page.wait_for_function(f"() => Number(document.querySelector('#rate').dataset.saved || 0) > {before}",
                           timeout=30_000)


def complete_test(browser: Any, url: str, scores: Scores, test_dir: Path, shot: Path | None = None,
                  keyboard: bool = False) -> dict[str, tuple[int, int]]:
    """A new rater in a fresh browser context rates every page; returns clip -> scores given
    (``shot``: a screenshot of the first page, rated, before it is sent)."""
    cond_of, prompt_of = _key(test_dir)
    ctx = browser.new_context()
    page = ctx.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(url + "/")
    page.wait_for_selector("#intro:not([hidden])")
    if shot is not None:
        page.screenshot(path=str(shot.with_name("listening-intro.png")), full_page=True)
    page.click("#start")
    given: dict[str, tuple[int, int]] = {}
    while True:
        page.wait_for_selector("#rate:not([hidden]), #done:not([hidden])")
        if page.is_visible("#done"):
            break
        rate_page(page, scores, cond_of, prompt_of, given, shot=None if given else shot, keyboard=keyboard)
    ctx.close()
    assert not errors, errors
    return given


def _report_csv(test_dir: Path, tmp_path: Path, name: str) -> dict[tuple[str, str, str], dict[str, str]]:
    out = tmp_path / f"{name}.csv"
    assert main(["listening-test", "report", str(test_dir), "--csv", str(out), "--bootstrap", "200"]) == 0
    with out.open() as f:
        return {(r["section"], r["name"], r["metric"]): r for r in csv.DictReader(f)}


def _expected_means(given: dict[str, tuple[int, int]], cond_of: dict[str, str]) -> dict[tuple[str, str], float]:
    acc: dict[tuple[str, str], list[int]] = {}
    for cid, (rel, qual) in given.items():
        acc.setdefault((cond_of[cid], "relevance"), []).append(rel)
        acc.setdefault((cond_of[cid], "quality"), []).append(qual)
    return {k: sum(v) / len(v) for k, v in acc.items()}


def test_scripted_rater_completes_and_report_reproduces_ratings(browser, lt_dir, tmp_path, capsys):
    shots = Path(os.environ.get("VIVIDSOUND_SCREENSHOT_DIR", tmp_path))
    shots.mkdir(parents=True, exist_ok=True)
    with ThreadServer(make_app(lt_dir)) as srv:
        given = complete_test(browser, srv.url, good_rater, lt_dir, shot=shots / "listening-page.png", keyboard=True)
    assert (shots / "listening-page.png").stat().st_size > 10_000
    test = load_test(lt_dir)
    assert len(given) == len(test.clips)  # every clip of every page was rated
    cond_of, _ = _key(lt_dir)
    stored = {r.clip: (r.relevance, r.quality) for r in RatingStore(lt_dir / DB_FILE, test.id).ratings()}
    assert stored == given
    rows = _report_csv(lt_dir, tmp_path, "report")
    for (cond, metric), mean in _expected_means(given, cond_of).items():
        row = rows[("condition", cond, metric)]
        assert float(row["mean"]) == pytest.approx(mean, abs=1e-4)
        assert int(row["n"]) == 3
        assert float(row["ci_low"]) <= mean + 1e-9 <= float(row["ci_high"]) + 2e-9
    # alpha's quality was 5 on every page: no bootstrap replicate can move it.
    assert float(rows[("condition", "alpha", "quality")]["ci_low"]) == float(rows[("condition", "alpha", "quality")]["ci_high"]) == 5
    diff = rows[("difference", "alpha - reference", "relevance")]
    assert float(diff["mean"]) == pytest.approx(5.0 - _expected_means(given, cond_of)[("reference", "relevance")], abs=1e-4)
    assert "1 kept, 0 dropped" in capsys.readouterr().out


def test_failing_rater_is_dropped(browser, lt_dir, tmp_path, capsys):
    with ThreadServer(make_app(lt_dir)) as srv:
        good = complete_test(browser, srv.url, good_rater, lt_dir)
        bad = complete_test(browser, srv.url, careless_rater, lt_dir)
    assert set(good) == set(bad)
    cond_of, _ = _key(lt_dir)
    rows = _report_csv(lt_dir, tmp_path, "report")
    out = capsys.readouterr().out
    assert "1 kept, 1 dropped" in out and "DROPPED" in out
    # The means are the attentive rater's alone: the careless one's 10s would have moved every one of them.
    for (cond, metric), mean in _expected_means(good, cond_of).items():
        assert float(rows[("condition", cond, metric)]["mean"]) == pytest.approx(mean, abs=1e-4)
        assert int(rows[("condition", cond, metric)]["n"]) == 3


def _start_server(test_dir: Path, port: int) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    proc = subprocess.Popen([sys.executable, "-m", "vividsound", "listening-test", "serve", str(test_dir),
                             "--port", str(port)], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"the server exited: {proc.stdout.read().decode()[-2000:]}")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/test", timeout=2) as r:
                if r.status == 200:
                    return proc
        except OSError:
            time.sleep(0.1)
    proc.kill()
    raise RuntimeError("the server did not start")


def _kill(proc: subprocess.Popen) -> None:
    proc.kill()  # SIGKILL: no shutdown handler runs, nothing is flushed on the way out
    proc.wait(10)


def test_server_killed_between_two_ratings_loses_neither(browser, lt_dir):
    cond_of, prompt_of = _key(lt_dir)
    test = load_test(lt_dir)
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    proc = _start_server(lt_dir, port)
    try:
        page = browser.new_page()
        page.goto(url + "/")
        page.click("#start")
        page.wait_for_selector("#rate:not([hidden])")
        given: dict[str, tuple[int, int]] = {}
        rate_page(page, good_rater, cond_of, prompt_of, given)  # page 1, acknowledged
        assert page.inner_text("#page-no") == "2"
        # The rater has page 2's sounds (the browser fetched them) when the server dies.
        page.wait_for_function("() => [...document.querySelectorAll('#clips audio')].every(a => a.readyState === 4)")
        _kill(proc)
        # Page 2 is rated while the server is dead: the page says it was not saved and keeps the answers.
        rate_page(page, good_rater, cond_of, prompt_of, given, submit=False)
        page.click("#submit")
        page.wait_for_function("() => document.querySelector('#msg').textContent.startsWith('Not saved')")
        assert _saved(page) == 1
        proc = _start_server(lt_dir, port)
        _press_submit(page)  # the same answers, sent again: acknowledged now
        assert page.inner_text("#page-no") == "3"
        _kill(proc)
        stored = RatingStore(lt_dir / DB_FILE, test.id).ratings()
        assert {r.clip: (r.relevance, r.quality) for r in stored} == given
        assert len({r.prompt for r in stored}) == 2 and len(stored) == 2 * len(test.clips) // len(test.prompts)
        # Stop and resume: after another restart a reload brings the rater back to page 3 of 3.
        proc = _start_server(lt_dir, port)
        page.reload()
        page.wait_for_selector("#rate:not([hidden])")
        assert page.inner_text("#page-no") == "3" and page.inner_text("#page-count") == "3"
        rate_page(page, good_rater, cond_of, prompt_of, given)
        page.wait_for_selector("#done:not([hidden])")
    finally:
        if proc.poll() is None:
            _kill(proc)
    stored = RatingStore(lt_dir / DB_FILE, test.id).ratings()
    assert len(stored) == len(test.clips) and {r.clip: (r.relevance, r.quality) for r in stored} == given
    assert {r.page_version for r in stored} == {"1"}
