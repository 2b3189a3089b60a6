"""The ASGI app: the HTTP API under ``/v1`` and the web page at ``/``.

``create_app(tts, config)`` wires one loaded :class:`~vividsound.pipeline.TextToSound` to a
:class:`~vividsound.server.batcher.MicroBatcher` and a :class:`~vividsound.server.results.ResultStore`.
Every error is a JSON body ``{"error": "<one line>"}`` with a 4xx status when the request was at fault.
"""

import asyncio
import contextlib
import json
import logging
import secrets
import time
from concurrent.futures import Future
from pathlib import Path
from typing import Any, AsyncIterator
from urllib.parse import quote

from fastapi import Depends, FastAPI, HTTPException, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import FileResponse, JSONResponse, Response
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer
from fastapi.staticfiles import StaticFiles

from vividsound import __version__
from vividsound.errors import InputError
from vividsound.models.text import check_prompts
from vividsound.server.batcher import Job, JobOutput, MicroBatcher, QueueFullError
from vividsound.server.config import Limits, ServerConfig, resolve_limits
from vividsound.server.middleware import BodyLimitMiddleware, SecurityHeadersMiddleware, one_line_errors
from vividsound.server.results import ResultStore, StoredResult, valid_id
from vividsound.server.schemas import (MEDIA_TYPES, ErrorResponse, GenerateRequestBase, GenerateResponse,
                                       HealthResponse, ModelResponse, QueueState, ResultItem, Settings,
                                       make_request_model)

log = logging.getLogger("vividsound.server")
STATIC_DIR = Path(__file__).resolve().parent / "static"
SETTINGS_HEADER = "X-Vividsound-Settings"
DISCONNECT_POLL_S = 0.5  # how often a waiting request checks that its client is still there


def _error(status: int, message: str, headers: dict[str, str] | None = None) -> HTTPException:
    return HTTPException(status_code=status, detail=message, headers=headers)


def _errors(*codes: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI entries for error statuses (all share :class:`ErrorResponse`)."""
    text = {400: "Malformed request.", 401: "Missing or wrong API key.", 404: "No such result.",
            408: "The request took longer than the server's time limit.", 413: "Request body too large.",
            422: "A field is missing, of the wrong type or out of its allowed range.",
            503: "The queue is full (see Retry-After) or the server is shutting down."}
    out: dict[int | str, dict[str, Any]] = {}
    for c in codes:
        out[c] = {"model": ErrorResponse, "description": text[c]}
        if c == 503:
            out[c]["headers"] = {"Retry-After": {"description": "Seconds to wait before retrying.",
                                                 "schema": {"type": "integer"}}}
    return out


def _auth_dependency(api_key: str | None):
    """A dependency that checks ``Authorization: Bearer KEY`` or ``X-API-Key: KEY`` (when a key is set)."""
    if not api_key:
        return None
    bearer = HTTPBearer(auto_error=False, description="Authorization: Bearer <API key>")
    header = APIKeyHeader(name="X-API-Key", auto_error=False, description="The API key")
    expected = api_key.encode()

    async def require_key(cred: HTTPAuthorizationCredentials | None = Depends(bearer),
                          key: str | None = Depends(header)) -> None:
        given = (cred.credentials if cred is not None else None) or key
        # compare_digest: the time taken must not reveal how much of a guess was right.
        if given is None or not secrets.compare_digest(given.encode("utf-8", "replace"), expected):
            raise _error(401, "missing or wrong API key: send 'Authorization: Bearer <key>' or 'X-API-Key: <key>'",
                         {"WWW-Authenticate": "Bearer"})

    return require_key


class _ClientGone(Exception):
    """The client closed the connection while its request waited."""


async def _wait(fut: "Future[JobOutput]", deadline: float, request: Request) -> JobOutput:
    """Wait for a job's result; give up at ``deadline`` (TimeoutError) or when the client leaves.

    Giving up cancels the job: it is dropped if it has not started (a running batch finishes unseen),
    so requests nobody waits for no longer hold queue places.
    """
    waiting = asyncio.wrap_future(fut)
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            waiting.cancel()
            raise asyncio.TimeoutError()
        done, _ = await asyncio.wait({waiting}, timeout=min(left, DISCONNECT_POLL_S))
        if done:
            return waiting.result()
        if await request.is_disconnected():
            waiting.cancel()
            raise _ClientGone()


def _seeds(seed: int, num_samples: int, prompts: list[str]) -> tuple[list[str], list[int]]:
    """Sound j of each prompt uses ``seed + j`` (the rule of ``TextToSound.__call__``)."""
    rows = [p for p in prompts for _ in range(num_samples)]
    seeds = [seed + j for _ in prompts for j in range(num_samples)]
    return rows, seeds


def create_app(tts: Any, config: ServerConfig | None = None) -> FastAPI:
    """Build the app around a loaded pipeline ``tts`` (a :class:`~vividsound.pipeline.TextToSound`)."""
    config = config or ServerConfig()
    info = tts.info()
    # info() rounds max_duration (sometimes up); the limit is derived from the exact value.
    limits: Limits = resolve_limits(config, {**info, "max_duration": float(tts.max_duration)})
    store = ResultStore(config.output_dir, config.max_results)
    batcher = MicroBatcher(tts, max_queue=config.max_queue, max_batch_rows=config.max_batch_rows,
                           batch_window_ms=config.batch_window_ms)
    GenerateRequest = make_request_model(limits)
    started = time.time()
    counters = {"served": 0}

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        batcher.start()
        try:
            yield
        finally:
            await run_in_threadpool(batcher.stop)

    app = FastAPI(title="vividsound", version=__version__, lifespan=lifespan,
                  description="Generate sounds from text. Limits: see GET /v1/model (`limits`) and docs/SERVER.md.",
                  docs_url=None, redoc_url=None)  # the hosted docs pages load scripts from a CDN
    app.state.tts, app.state.batcher, app.state.store, app.state.limits = tts, batcher, store, limits
    app.state.config = config
    app.add_middleware(SecurityHeadersMiddleware)
    from vividsound.server.edit import MAX_UPLOAD_BYTES, UPLOAD_PATH, add_edit_routes

    app.add_middleware(BodyLimitMiddleware, max_bytes=config.max_body_bytes, body_timeout=config.body_timeout_s,
                       path_limits={UPLOAD_PATH: max(MAX_UPLOAD_BYTES, config.max_body_bytes)})
    one_line_errors(app)

    auth = _auth_dependency(config.api_key)
    deps = [Depends(auth)] if auth is not None else []
    auth_errors = (401,) if auth is not None else ()

    # ---------------------------------------------------------------------------------------- page
    @app.get("/", include_in_schema=False)
    async def page() -> FileResponse:
        return FileResponse(STATIC_DIR / "index.html", media_type="text/html")

    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")

    # ---------------------------------------------------------------------------------------- API
    @app.get("/v1/health", response_model=HealthResponse, dependencies=deps, responses=_errors(*auth_errors),
             summary="Liveness, queue depth and progress of the current model call")
    async def health() -> HealthResponse:
        q = QueueState(pending=batcher.pending, max=limits.max_queue, busy=batcher.busy,
                       tokens_done=batcher.tokens_done, tokens_total=batcher.tokens_total,
                       accepted=batcher.accepted, cancelled=batcher.cancelled, finished=batcher.finished)
        return HealthResponse(status="ok", version=__version__, model=str(info["name"]),
                              uptime_s=round(time.time() - started, 3), queue=q, served=counters["served"],
                              auth=auth is not None)

    @app.get("/v1/model", response_model=ModelResponse, dependencies=deps, responses=_errors(*auth_errors),
             summary="The loaded model (components, mel config, defaults) and this server's limits")
    async def model() -> ModelResponse:
        return ModelResponse(**info, limits=limits.to_dict())

    gen_responses: dict[int | str, dict[str, Any]] = {
        200: {"description": "One sound: its audio bytes (unless `response` is json); several: JSON links to each.",
              "content": {mt: {"schema": {"type": "string", "format": "binary"}} for mt in MEDIA_TYPES.values()},
              "headers": {SETTINGS_HEADER: {"description": "JSON: settings, prompt and seed (audio answers only).",
                                            "schema": {"type": "string"}},
                          "X-Vividsound-Result-Id": {"description": "Result id (audio answers only).",
                                                     "schema": {"type": "string"}}}},
        **_errors(*auth_errors, 400, 408, 413, 422, 503)}

    @app.post("/v1/generate", response_model=GenerateResponse, dependencies=deps, responses=gen_responses,
              summary="Generate sounds from text")
    async def generate(req: GenerateRequest, request: Request) -> Response:  # type: ignore[valid-type]
        return await _generate(req, request)

    async def _generate(req: GenerateRequestBase, request: Request) -> Response:
        t0 = time.monotonic()
        try:
            prompts = check_prompts(req.prompt_list(), limits.max_prompt_chars)
            settings = tts.resolve_settings(duration=req.duration, top_k=req.top_k, top_p=req.top_p,  # type: ignore[attr-defined]
                                            temperature=req.temperature, cfg_scale=req.cfg_scale,  # type: ignore[attr-defined]
                                            num_samples=req.num_samples, batch_size=1,  # type: ignore[attr-defined]
                                            negative_prompt=req.negative_prompt)  # type: ignore[attr-defined]
        except InputError as e:
            raise _error(422, str(e)) from None
        n = len(prompts) * req.num_samples  # type: ignore[attr-defined]
        if settings["duration"] > limits.max_duration:  # the model's default may exceed the server's limit
            settings["duration"] = limits.max_duration
        seed = req.seed if req.seed is not None else secrets.randbelow(2**31)  # type: ignore[attr-defined]
        if seed + req.num_samples - 1 > limits.max_seed:  # type: ignore[attr-defined]
            raise _error(422, f"seed {seed} + num_samples - 1 exceeds the largest seed {limits.max_seed}")
        rows, seeds = _seeds(seed, req.num_samples, prompts)  # type: ignore[attr-defined]
        columns = tts.columns_for(settings["duration"])
        n_samples = round(settings["duration"] * tts.mel_config.sample_rate)
        job = Job(rows, seeds, settings, columns, n_samples, tokens_per_sound=columns * tts.gpt.config.rows)
        batcher.start()  # no-op when running (the lifespan starts it; this covers apps used without one)
        try:
            fut = batcher.submit(job)
        except QueueFullError as e:
            raise _error(503, str(e), {"Retry-After": str(e.retry_after)}) from None
        except RuntimeError as e:
            raise _error(503, str(e), {"Retry-After": "5"}) from None
        try:
            out = await _wait(fut, t0 + limits.timeout_s, request)
        except _ClientGone:
            log.info("client went away; its request was dropped from the queue")
            raise _error(408, "the client disconnected before the sounds were ready") from None
        except asyncio.TimeoutError:
            raise _error(408, f"the request did not finish within the server's limit of {limits.timeout_s:g} s "
                              "(queueing included); try a shorter duration or fewer sounds, or retry later",
                         {"Connection": "close"}) from None
        except InputError as e:
            raise _error(422, str(e)) from None
        except Exception as e:  # noqa: BLE001 - logged by the worker; the client gets a one-line 500
            raise _error(500, f"generation failed ({type(e).__name__}); see the server log") from None
        full = {**settings, "model": str(info["name"]), "vocoder": type(tts.vocoder).__name__,
                "vividsound": __version__}
        stored = await run_in_threadpool(_store, out, rows, seeds, full, req.format)
        counters["served"] += 1
        if req.response == "auto" and n == 1:
            return _audio_response(stored[0], full)
        items = [_item(s) for s in stored]
        body = GenerateResponse(results=items, settings=Settings(**full), queued_s=round(out.queued_s, 4),
                                elapsed_s=round(time.monotonic() - t0, 4), batch_rows=out.batch_rows)
        return JSONResponse(body.model_dump())

    def _store(out: JobOutput, rows: list[str], seeds: list[int], settings: dict[str, Any],
               fmt: str) -> list[StoredResult]:
        sr = tts.mel_config.sample_rate
        stored = [store.save(out.waveform[i], out.mel[i], sr, fmt, {"prompt": rows[i], "seed": seeds[i], **settings})
                  for i in range(len(rows))]
        store.prune()
        return stored

    def _item(s: StoredResult) -> ResultItem:
        m = s.meta
        return ResultItem(id=s.id, prompt=m["prompt"], seed=m["seed"], url=f"/v1/results/{s.id}",
                          spectrogram_url=f"/v1/results/{s.id}/spectrogram.png", format=m["format"],
                          media_type=MEDIA_TYPES[m["format"]], sample_rate=m["sample_rate"],
                          duration=m["duration"])

    def _audio_response(s: StoredResult, settings: dict[str, Any]) -> FileResponse:
        m = s.meta
        echo = {**settings, "prompt": m["prompt"], "seed": m["seed"], "id": s.id}
        headers = {SETTINGS_HEADER: json.dumps(echo, ensure_ascii=True, sort_keys=True),
                   "X-Vividsound-Result-Id": s.id, "X-Vividsound-Seed": str(m["seed"]),
                   "X-Vividsound-Prompt": quote(m["prompt"], safe=" "),
                   "X-Vividsound-Spectrogram": f"/v1/results/{s.id}/spectrogram.png"}
        return FileResponse(s.audio, media_type=MEDIA_TYPES[m["format"]], headers=headers,
                            filename=f"vividsound-{s.id}.{m['format']}", content_disposition_type="inline")

    # ---------------------------------------------------------------------------------------- files
    def _lookup(result_id: str) -> StoredResult:
        if not valid_id(result_id):
            raise _error(404, f"no result {result_id[:40]!r}: ids are 32 hex digits from POST /v1/generate")
        try:
            return store.get(result_id)
        except KeyError:
            raise _error(404, f"no result {result_id}: it never existed or was deleted "
                              f"(the server keeps the newest {config.max_results})") from None

    file_responses = {200: {"description": "The audio file.",
                            "content": {mt: {"schema": {"type": "string", "format": "binary"}}
                                        for mt in MEDIA_TYPES.values()}},
                      **_errors(*auth_errors, 404)}

    @app.get("/v1/results/{result_id}", dependencies=deps, responses=file_responses, response_class=Response,
             summary="A generated sound")
    async def result_audio(result_id: str) -> FileResponse:
        s = _lookup(result_id)
        return FileResponse(s.audio, media_type=MEDIA_TYPES[s.meta["format"]],
                            filename=f"vividsound-{s.id}.{s.meta['format']}", content_disposition_type="inline")

    png_responses = {200: {"description": "The spectrogram as a PNG image.",
                           "content": {"image/png": {"schema": {"type": "string", "format": "binary"}}}},
                     **_errors(*auth_errors, 404)}

    @app.get("/v1/results/{result_id}/spectrogram.png", dependencies=deps, responses=png_responses,
             response_class=Response, summary="The log-mel spectrogram of a generated sound (PNG)")
    async def result_png(result_id: str) -> FileResponse:
        s = _lookup(result_id)
        try:
            png = await run_in_threadpool(store.spectrogram, s.id)
        except KeyError:
            raise _error(404, f"no spectrogram for result {s.id}") from None
        return FileResponse(png, media_type="image/png")

    add_edit_routes(app, tts=tts, store=store, batcher=batcher, limits=limits, deps=deps, lookup=_lookup,
                    wait=_wait, errors=lambda *c: _errors(*auth_errors, *c))
    return app
