"""The rating API: blind pages, one-line errors, idempotent pages, raters kept apart."""

from __future__ import annotations

import json

import pytest
from lt_helpers import make_app

from vividsound.audio import read_audio_metadata
from vividsound.listening.app import page_clips, rater_pages
from vividsound.listening.spec import DB_FILE, load_test
from vividsound.listening.store import RatingStore

pytest.importorskip("fastapi")
pytest.importorskip("httpx")


@pytest.fixture
def api(lt_dir):
    from fastapi.testclient import TestClient

    def make(**kw):
        return TestClient(make_app(lt_dir, **kw))

    return make


def _rater(client) -> dict[str, str]:
    r = client.post("/api/raters", json={})
    assert r.status_code == 201, r.text
    return {"Authorization": "Bearer " + r.json()["token"]}


def _page_body(nxt: dict, rel: int = 5, q: int = 6) -> dict:
    return {"page_version": "1", "prompt": nxt["prompt_id"],
            "ratings": [{"clip": c["id"], "relevance": rel, "quality": q} for c in nxt["clips"]]}


def test_pages_hide_the_conditions(api, lt_dir, tmp_path):
    test = load_test(lt_dir)
    client = api()
    auth = _rater(client)
    nxt = client.get("/api/next", headers=auth).json()
    text = json.dumps(nxt)
    for secret in ["alpha", "beta", "reference", "retrieval", "noise", "item0", "item1", "item2", test.id]:
        assert secret not in text
    assert {c["id"] for c in nxt["clips"]} == {c.id for c in test.clips_of(nxt["prompt_id"])}
    lengths = set()
    for c in nxt["clips"]:
        r = client.get(c["url"])
        assert r.status_code == 200 and r.headers["content-type"] == "audio/wav"
        f = tmp_path / "clip.wav"
        f.write_bytes(r.content)
        assert read_audio_metadata(f) == {}  # no prompt, model or seed in the file
        lengths.add(len(r.content))
    assert len(lengths) == 1  # same duration, rate and format: the file size tells nothing either
    for path in ("/test.json", "/clips/test.json", "/static/../test.json", f"/clips/{DB_FILE}", "/api/ratings"):
        assert client.get(path).status_code in (404, 405), path


def test_clip_and_page_order_are_shuffled_per_rater_and_stable(lt_dir):
    test = load_test(lt_dir)
    p = test.prompts[0].id
    orders = [page_clips(test, f"r-{k}", p) for k in range(8)]
    assert all(sorted(o) == sorted(c.id for c in test.clips_of(p)) for o in orders)
    assert len({tuple(o) for o in orders}) > 1
    ref = next(c.id for c in test.clips_of(p) if c.condition == "reference")
    assert len({o.index(ref) for o in orders}) > 1  # the real recording is not always in one place
    assert page_clips(test, "r-0", p) == orders[0]  # a rater sees the same order again after a reload
    assert sorted(rater_pages(test, "r-0", None)) == sorted(q.id for q in test.prompts)
    assert len(rater_pages(test, "r-0", 2)) == 2


@pytest.mark.parametrize("patch, status, message", [
    ({"relevance": 11}, 422, "ratings.0.relevance: Input should be less than or equal to 10 (got 11)"),
    ({"quality": -1}, 422, "ratings.0.quality: Input should be greater than or equal to 0 (got -1)"),
    ({"relevance": 5.5}, 422, "ratings.0.relevance: Input should be a valid integer (got 5.5)"),
    ({"quality": "7"}, 422, "ratings.0.quality: Input should be a valid integer"),
    ({"extra": 1}, 422, "ratings.0.extra: unknown field"),
])
def test_bad_scores_get_one_line_and_store_nothing(api, lt_dir, patch, status, message):
    client = api()
    auth = _rater(client)
    body = _page_body(client.get("/api/next", headers=auth).json())
    body["ratings"][0].update(patch)
    r = client.post("/api/ratings", json=body, headers=auth)
    assert r.status_code == status and r.json()["error"].startswith(message), r.text
    assert RatingStore(lt_dir / DB_FILE, load_test(lt_dir).id).ratings() == []


def test_bad_pages_are_refused(api, lt_dir):
    client = api()
    auth = _rater(client)
    nxt = client.get("/api/next", headers=auth).json()
    body = _page_body(nxt)

    def post(b, headers=auth):
        return client.post("/api/ratings", json=b, headers=headers)

    r = post({**body, "ratings": body["ratings"][1:]})
    assert r.status_code == 422 and "every clip of page" in r.json()["error"] and "1 missing" in r.json()["error"]
    r = post({**body, "ratings": body["ratings"] + body["ratings"][:1]})
    assert r.status_code == 422 and "rated twice" in r.json()["error"]
    other = next(p.id for p in load_test(lt_dir).prompts if p.id != nxt["prompt_id"])
    r = post({**body, "prompt": other})
    assert r.status_code == 422 and f"every clip of page {other}" in r.json()["error"]
    r = post({**body, "prompt": "p999"})
    assert r.status_code == 422 and "not one of this rater's pages" in r.json()["error"]
    r = post({**body, "page_version": "0"})
    assert r.status_code == 409 and "reload the page" in r.json()["error"]
    assert post(body, headers={}).status_code == 401
    assert post(body, headers={"Authorization": "Bearer nope"}).status_code == 401
    assert client.get("/api/next").status_code == 401
    assert RatingStore(lt_dir / DB_FILE, load_test(lt_dir).id).ratings() == []


def test_duplicate_submission_is_idempotent_and_other_scores_conflict(api, lt_dir):
    client = api()
    auth = _rater(client)
    nxt = client.get("/api/next", headers=auth).json()
    body = _page_body(nxt)
    assert client.post("/api/ratings", json=body, headers=auth).json()["status"] == "saved"
    assert client.post("/api/ratings", json=body, headers=auth).json()["status"] == "already saved"
    r = client.post("/api/ratings", json=_page_body(nxt, rel=1), headers=auth)
    assert r.status_code == 409 and "ratings are final" in r.json()["error"]
    rows = RatingStore(lt_dir / DB_FILE, load_test(lt_dir).id).ratings()
    assert len(rows) == len(nxt["clips"]) and {(x.relevance, x.quality) for x in rows} == {(5, 6)}
    after = client.get("/api/next", headers=auth).json()
    assert after["page"] == 2 and after["prompt_id"] != nxt["prompt_id"]


def test_raters_cannot_see_or_change_each_others_answers(api, lt_dir):
    client = api()
    a, b = _rater(client), _rater(client)
    page_a = client.get("/api/next", headers=a).json()
    assert client.post("/api/ratings", json=_page_body(page_a, 9, 9), headers=a).status_code == 200
    state_b = client.get("/api/next", headers=b).json()
    assert state_b["rated"] == 0 and state_b["rater"] != page_a["rater"]
    # B writes A's page: it becomes B's own rows; a "rater" field to write as A is refused.
    r = client.post("/api/ratings", json={**_page_body(page_a, 1, 1), "rater": page_a["rater"]}, headers=b)
    assert r.status_code == 422 and "rater: unknown field" in r.json()["error"]
    assert client.post("/api/ratings", json=_page_body(page_a, 1, 1), headers=b).status_code == 200
    rows = RatingStore(lt_dir / DB_FILE, load_test(lt_dir).id).ratings()
    mine = {(x.relevance, x.quality) for x in rows if x.rater == page_a["rater"]}
    assert mine == {(9, 9)}
    assert client.get("/openapi.json").status_code == 404  # no API listing either


def test_invite_and_pages_per_rater(api):
    client = api(invite="let-me-in-please", pages_per_rater=2)
    assert client.get("/api/test").json()["invite_required"] is True
    r = client.post("/api/raters", json={})
    assert r.status_code == 403 and "invite code" in r.json()["error"]
    assert client.post("/api/raters", json={"invite": "wrong"}).status_code == 403
    r = client.post("/api/raters", json={"invite": "let-me-in-please"})
    assert r.status_code == 201
    auth = {"Authorization": "Bearer " + r.json()["token"]}
    for page in (1, 2):
        nxt = client.get("/api/next", headers=auth).json()
        assert (nxt["page"], nxt["pages"]) == (page, 2)
        assert client.post("/api/ratings", json=_page_body(nxt), headers=auth).status_code == 200
    assert client.get("/api/next", headers=auth).json() == {"rater": nxt["rater"], "pages": 2, "rated": 2, "done": True}


def test_page_and_server_agree_on_the_page_version():
    from pathlib import Path

    from vividsound.listening import app as app_module
    from vividsound.listening.spec import PAGE_VERSION

    js = (Path(app_module.__file__).parent / "static" / "rate.js").read_text()
    assert f'const PAGE_VERSION = "{PAGE_VERSION}";' in js
