"""The rating page and its small JSON API (FastAPI).

Routes (the page in ``static/`` is their only intended client; docs/LISTENING.md describes them):

- ``GET /``: the page; ``GET /api/test``: what the page needs to know (no condition names).
- ``POST /api/raters``: a new pseudonymous rater -> ``{rater, token}`` (with ``{"invite": ...}`` when the
  server was started with ``--invite``).
- ``GET /api/next`` (``Authorization: Bearer <token>``): the rater's next page: one prompt and its clips
  in an order shuffled for this rater, each clip only an opaque id and URL; or ``{"done": true}``.
- ``POST /api/ratings`` (bearer): one page's scores, stored in one transaction before the answer.
- ``GET /clips/<id>.wav``: a clip.

A rater sees and writes only their own pages: every rating route is keyed by the token, no route lists
ratings, and ``test.json`` (the key from clip to condition) is never served.
"""

from __future__ import annotations

import hashlib
import random
import secrets
from pathlib import Path
from typing import Any

from fastapi import Depends, FastAPI, HTTPException, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import FileResponse, JSONResponse
from fastapi.staticfiles import StaticFiles
from pydantic import BaseModel, ConfigDict, Field

from vividsound.errors import InputError
from vividsound.listening.spec import PAGE_VERSION, SCALE_MAX, ListeningTest
from vividsound.listening.store import RatingConflict, RatingIn, RatingStore
from vividsound.server.middleware import BodyLimitMiddleware, SecurityHeadersMiddleware, one_line_errors

STATIC_DIR = Path(__file__).resolve().parent / "static"
CLIP_ID = r"^[0-9a-f]{20}$"

__all__ = ["create_listening_app", "rater_pages", "page_clips"]


class RaterRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    invite: str | None = Field(None, max_length=200, description="the invite code, when the server needs one")


class Score(BaseModel):
    model_config = ConfigDict(extra="forbid")
    clip: str = Field(pattern=CLIP_ID, description="the clip id as /api/next gave it")
    relevance: int = Field(strict=True, ge=0, le=SCALE_MAX, description="relevance to the text, 0..10")
    quality: int = Field(strict=True, ge=0, le=SCALE_MAX, description="audio quality, 0..10")


class PageRatings(BaseModel):
    model_config = ConfigDict(extra="forbid")
    page_version: str = Field(max_length=40, description="the page's protocol version")
    prompt: str = Field(max_length=40, description="the prompt id as /api/next gave it")
    ratings: list[Score] = Field(min_length=1, max_length=500)


def _seeded(*parts: str) -> random.Random:
    return random.Random(int.from_bytes(hashlib.sha256("\0".join(parts).encode()).digest()[:8], "big"))


def rater_pages(test: ListeningTest, rater: str, limit: int | None) -> list[str]:
    """The prompt ids a rater is given, in their order: a permutation seeded by the test and the rater
    (stable across server restarts, so a rater resumes where they stopped), cut to ``limit``."""
    ids = [p.id for p in test.prompts]
    _seeded(test.id, rater, "pages").shuffle(ids)
    return ids[:limit] if limit else ids


def page_clips(test: ListeningTest, rater: str, prompt: str) -> list[str]:
    """The clip ids of one page in this rater's order (systems, reference and noise check mixed)."""
    ids = sorted(c.id for c in test.clips_of(prompt))  # sorted: independent of test.json's order
    _seeded(test.id, rater, prompt, "clips").shuffle(ids)
    return ids


def create_listening_app(test: ListeningTest, store: RatingStore, *, pages_per_rater: int | None = None,
                         invite: str | None = None) -> FastAPI:
    """The app serving ``test`` and storing into ``store``."""
    if pages_per_rater is not None and not 1 <= pages_per_rater:
        raise InputError(f"--pages-per-rater is {pages_per_rater!r}; allowed: an integer >= 1")
    n_pages = min(pages_per_rater or len(test.prompts), len(test.prompts))
    clips = {c.id: c for c in test.clips}
    prompts = {p.id: p for p in test.prompts}
    # A public key for the page's local storage: distinct per test, revealing nothing of test.json.
    public_key = hashlib.sha256(f"public\0{test.id}".encode()).hexdigest()[:12]

    app = FastAPI(title=f"vividsound listening test: {test.name}", docs_url=None, redoc_url=None, openapi_url=None)
    app.add_middleware(SecurityHeadersMiddleware)
    app.add_middleware(BodyLimitMiddleware, max_bytes=64 * 1024)
    one_line_errors(app)
    app.state.test, app.state.store = test, store

    async def current_rater(request: Request) -> str:
        auth = request.headers.get("authorization", "")
        token = auth[7:].strip() if auth.lower().startswith("bearer ") else ""
        rater = await run_in_threadpool(store.rater_for_token, token) if token else None
        if rater is None:
            raise HTTPException(401, "unknown or missing rater token: start the test from the first page",
                                headers={"WWW-Authenticate": "Bearer"})
        return rater

    @app.get("/", include_in_schema=False)
    async def page() -> FileResponse:
        return FileResponse(STATIC_DIR / "index.html", media_type="text/html", headers={"Cache-Control": "no-store"})

    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")

    @app.get("/api/test")
    async def about() -> dict[str, Any]:
        return {"name": test.name, "pages": n_pages, "page_version": PAGE_VERSION, "scale_max": SCALE_MAX,
                "key": public_key, "invite_required": bool(invite)}

    @app.post("/api/raters", status_code=201)
    async def new_rater(req: RaterRequest) -> dict[str, str]:
        if invite and not secrets.compare_digest((req.invite or "").encode(), invite.encode()):
            raise HTTPException(403, "this test needs the invite code from the link you were given")
        rater, token = await run_in_threadpool(store.add_rater)
        return {"rater": rater, "token": token}

    def _state(rater: str) -> dict[str, Any]:
        order = rater_pages(test, rater, n_pages)
        done = store.rated_prompts(rater)
        todo = [p for p in order if p not in done]
        base = {"rater": rater, "pages": len(order), "rated": len(order) - len(todo)}
        if not todo:
            return {**base, "done": True}
        pid = todo[0]
        return {**base, "done": False, "page": len(order) - len(todo) + 1, "prompt_id": pid,
                "prompt": prompts[pid].text,
                "clips": [{"id": c, "url": f"/clips/{c}.wav"} for c in page_clips(test, rater, pid)]}

    @app.get("/api/next")
    async def next_page(rater: str = Depends(current_rater)) -> dict[str, Any]:
        return await run_in_threadpool(_state, rater)

    @app.post("/api/ratings")
    async def submit(req: PageRatings, rater: str = Depends(current_rater)) -> JSONResponse:
        if req.page_version != PAGE_VERSION:
            raise HTTPException(409, f"page_version is {req.page_version!r} but this server runs page version "
                                     f"{PAGE_VERSION!r}: reload the page (nothing was saved)")
        if req.prompt not in rater_pages(test, rater, n_pages):
            raise HTTPException(422, f"prompt {req.prompt!r} is not one of this rater's pages")
        expected = {c.id for c in test.clips_of(req.prompt)}
        given = [s.clip for s in req.ratings]
        if len(set(given)) != len(given):
            raise HTTPException(422, "ratings: a clip is rated twice")
        if set(given) != expected:
            missing, extra = len(expected - set(given)), len(set(given) - expected)
            raise HTTPException(422, f"ratings must hold every clip of page {req.prompt} once: {missing} missing, "
                                     f"{extra} not on this page")
        rows = [RatingIn(s.clip, clips[s.clip].condition, s.relevance, s.quality) for s in req.ratings]
        try:
            status = await run_in_threadpool(store.submit_page, rater, req.prompt, rows, PAGE_VERSION)
        except RatingConflict as e:
            raise HTTPException(409, str(e)) from None
        except InputError as e:
            raise HTTPException(422, str(e)) from None
        return JSONResponse({"status": status, "prompt": req.prompt}, status_code=200)

    @app.get("/clips/{name}")
    async def clip(name: str) -> FileResponse:
        cid = name[:-4] if name.endswith(".wav") else ""
        c = clips.get(cid)
        if c is None:
            raise HTTPException(404, f"no such clip: {name}")
        path = test.root / c.file
        if not path.is_file():
            raise HTTPException(404, f"clip {name} is missing on the server")
        return FileResponse(path, media_type="audio/wav", headers={"Cache-Control": "private, max-age=86400"})

    return app
