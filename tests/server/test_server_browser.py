"""A real browser (Debian's Chromium, headless, driven by Playwright) uses the page end to end.

Skipped with a reason when Playwright or a Chromium binary is missing. The screenshot is written to
``$VIVIDSOUND_SCREENSHOT_DIR`` (default: the test's tmp folder) as ``page.png``.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from live_helpers import chromium_browser


@pytest.fixture
def browser():
    yield from chromium_browser()


def test_page_generates_playable_audio(browser, live_server, tmp_path):
    shots = Path(os.environ.get("VIVIDSOUND_SCREENSHOT_DIR", tmp_path))
    shots.mkdir(parents=True, exist_ok=True)
    external: list[str] = []
    with live_server() as srv:
        page = browser.new_page(viewport={"width": 1100, "height": 1000})
        local = (srv.url, "data:", "blob:")
        page.on("request", lambda r: None if r.url.startswith(local) else external.append(r.url))
        errors: list[str] = []
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.goto(srv.url + "/")
        page.wait_for_selector("#status.ok")
        page.fill("#prompt", "a dog barks while rain falls")
        page.select_option("#num_samples", "2")
        page.fill("#seed", "11")
        page.eval_on_selector("#duration", "el => { el.value = '0.5'; el.dispatchEvent(new Event('input')); }")
        assert page.inner_text("#duration-out") == "0.50 s"
        page.click("#generate")
        # On a fast machine the progress bar can come and go before we look: accept either.
        page.wait_for_function("() => !document.querySelector('#progress-wrap').hidden || "
                               "document.querySelector('#results audio[src]') !== null")
        page.screenshot(path=str(shots / "page-generating.png"))
        page.wait_for_selector("#results audio[src]", timeout=60_000)
        # Playable: the browser decoded the file's header and knows its length.
        page.wait_for_function(
            "() => [...document.querySelectorAll('#results audio')].every(a => a.readyState >= 1 && a.duration > 0)",
            timeout=30_000)
        audios = page.eval_on_selector_all("#results audio", "els => els.map(a => [a.currentSrc, a.duration])")
        page.wait_for_function(
            "() => [...document.querySelectorAll('#results img.spec')].every(i => i.naturalWidth > 0)",
            timeout=30_000)
        assert len(audios) == 2
        assert all(src.startswith(srv.url + "/v1/results/") and dur > 0 for src, dur in audios)
        history = page.eval_on_selector_all("#history li", "els => els.length")
        assert history == 1
        stored = page.evaluate("() => JSON.parse(localStorage.getItem('vividsound.history.v1'))")
        assert stored[0]["prompt"] == "a dog barks while rain falls" and stored[0]["results"][0]["seed"] == 11
        page.screenshot(path=str(shots / "page.png"), full_page=True)
        # After a reload the history is still there (localStorage) and can be shown again.
        page.reload()
        page.wait_for_selector("#history li")
        page.click("#history li button:text('Show')")
        page.wait_for_selector("#results audio[src]")
        page.close()
    assert not errors, errors
    assert not external, f"the page loaded something from elsewhere: {external}"
    assert (shots / "page.png").stat().st_size > 10_000


def test_page_with_api_key(browser, live_server, tmp_path):
    """With a key set, the page asks for it, then fetches audio and images with it (blob: URLs)."""
    key = "browser-test-key-123456"
    with live_server(api_key=key) as srv:
        page = browser.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.goto(srv.url + "/")
        page.wait_for_selector("#key-row:not([hidden])")
        assert "API key" in page.inner_text("#status-text")
        page.fill("#api-key", key)
        page.dispatch_event("#api-key", "change")
        page.wait_for_selector("#status.ok")
        page.fill("#prompt", "a bell")
        page.select_option("#num_samples", "1")
        page.click("#generate")
        page.wait_for_function(
            "() => { const a = document.querySelector('#results audio'); return a && a.duration > 0; }",
            timeout=60_000)
        src = page.get_attribute("#results audio", "src")
        assert src.startswith("blob:")
        assert page.evaluate("() => localStorage.getItem('vividsound.apiKey')") == key
        page.close()
    assert not errors, errors


def test_page_edits_an_uploaded_clip(browser, live_server, tmp_path):
    """Upload a clip, drag a span on its spectrogram and fill it in, A/B the result; click a point and continue."""
    import numpy as np
    import soundfile as sf

    shots = Path(os.environ.get("VIVIDSOUND_SCREENSHOT_DIR", tmp_path))
    shots.mkdir(parents=True, exist_ok=True)
    t = np.arange(16000) / 16000
    clip = tmp_path / "clip.wav"
    sf.write(clip, np.stack([0.3 * np.sin(2 * np.pi * 330 * t), 0.2 * np.sin(2 * np.pi * 550 * t)], 1), 16000)
    with live_server() as srv:
        page = browser.new_page(viewport={"width": 1100, "height": 1400})
        errors: list[str] = []
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.goto(srv.url + "/")
        page.wait_for_selector("#status.ok")
        page.set_input_files("#edit-file", str(clip))
        page.wait_for_function("() => !document.querySelector('#edit-work').hidden && "
                               "document.querySelector('#edit-spec').naturalWidth > 0", timeout=30_000)
        box = page.locator("#edit-spec-wrap").bounding_box()
        y = box["y"] + box["height"] / 2
        page.mouse.move(box["x"] + 0.3 * box["width"], y)
        page.mouse.down()
        page.mouse.move(box["x"] + 0.6 * box["width"], y, steps=6)
        page.mouse.up()
        assert page.input_value("#edit-op") == "inpaint"
        start, end = float(page.input_value("#edit-start")), float(page.input_value("#edit-end"))
        assert abs(start - 0.3) < 0.02 and abs(end - 0.6) < 0.02
        assert page.is_visible("#edit-sel")
        page.fill("#edit-prompt", "a cat meows")
        page.click("#edit-run")
        page.wait_for_selector("#edit-result:not([hidden])", timeout=60_000)
        page.wait_for_function("() => ['#edit-a', '#edit-b'].every(s => { const a = document.querySelector(s); "
                               "return a.readyState >= 1 && a.duration > 0; })", timeout=30_000)
        a_dur, b_dur = page.eval_on_selector_all("#edit-a, #edit-b", "els => els.map(a => a.duration)")
        assert abs(a_dur - 1.0) < 0.01 and abs(b_dur - a_dur) < 0.01  # a filled span keeps the length
        assert "filled" in page.inner_text("#edit-result-what")
        page.click("#ab-toggle")
        assert page.get_attribute("#ab-toggle", "data-ab") == "B"
        page.click("#ab-toggle")
        assert page.get_attribute("#ab-toggle", "data-ab") == "A"
        page.screenshot(path=str(shots / "page-edit.png"), full_page=True)
        # a click (no drag) picks a point to continue from
        page.locator("#edit-spec-wrap").scroll_into_view_if_needed()
        box = page.locator("#edit-spec-wrap").bounding_box()  # clicks above scrolled the page
        page.mouse.click(box["x"] + 0.5 * box["width"], box["y"] + box["height"] / 2)
        assert page.input_value("#edit-op") == "continue" and abs(float(page.input_value("#edit-start")) - 0.5) < 0.02
        page.fill("#edit-duration", "1.5")
        page.click("#edit-run")
        page.wait_for_function("() => document.querySelector('#edit-result-what').textContent.startsWith('continued')",
                               timeout=60_000)
        page.wait_for_function("() => { const b = document.querySelector('#edit-b'); "
                               "return b.readyState >= 1 && Math.abs(b.duration - 1.5) < 0.01; }", timeout=30_000)
        assert page.is_hidden("#edit-error") and errors == []
