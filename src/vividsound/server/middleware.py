"""Request-size limit, security headers and one-line JSON error bodies."""

from __future__ import annotations

import asyncio
import json
import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

log = logging.getLogger("vividsound.server")

# The page loads nothing from elsewhere; blob: is for audio/images fetched with an API key header.
PAGE_CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' blob: data:; "
            "media-src 'self' blob:; connect-src 'self'; object-src 'none'; base-uri 'none'; "
            "frame-ancestors 'none'; form-action 'self'")


class BodyLimitMiddleware:
    """Answer 413 to bodies over ``max_bytes`` (by Content-Length up front, else while reading) and 408
    to bodies that have not fully arrived ``body_timeout`` seconds after the request started.

    ``path_limits`` gives single paths another limit (the audio upload of the editing API)."""

    def __init__(self, app: ASGIApp, max_bytes: int, body_timeout: float = 30.0,
                 path_limits: dict[str, int] | None = None) -> None:
        self.app, self.default_bytes, self.path_limits = app, max_bytes, dict(path_limits or {})
        self.max_bytes, self.body_timeout = max_bytes, body_timeout

    async def _reject(self, send: Send, limit: int) -> None:
        body = json.dumps({"error": f"request body too large; the limit is {limit} bytes"}).encode()
        await send({"type": "http.response.start", "status": 413,
                    "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
                                (b"connection", b"close")]})
        await send({"type": "http.response.body", "body": body})

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.path_limits.get(scope.get("path", ""), self.default_bytes)
        for name, value in scope.get("headers", []):
            if name == b"content-length":
                try:
                    too_big = int(value) > limit
                except ValueError:
                    too_big = False  # the server rejects a malformed Content-Length itself
                if too_big:
                    await self._reject(send, limit)
                    return
        seen = 0
        body_done = False
        deadline = asyncio.get_running_loop().time() + self.body_timeout

        async def limited_receive() -> Message:
            nonlocal seen, body_done
            if body_done:  # after the body, receive() only reports a disconnect: no deadline
                return await receive()
            left = deadline - asyncio.get_running_loop().time()
            try:
                message = await asyncio.wait_for(receive(), timeout=max(left, 0.001))
            except asyncio.TimeoutError:
                raise StarletteHTTPException(408, f"the request body did not arrive within {self.body_timeout:g} s",
                                             {"Connection": "close"}) from None
            if message["type"] != "http.request" or not message.get("more_body", False):
                body_done = True
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > limit:  # FastAPI re-raises HTTPException from body reading as is
                    raise StarletteHTTPException(413, f"request body too large; the limit is {limit} bytes",
                                                 {"Connection": "close"})
            return message

        await self.app(scope, limited_receive, send)


class SecurityHeadersMiddleware:
    """``nosniff`` and ``no-referrer`` on every answer; a strict Content-Security-Policy on HTML."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                headers += [(b"x-content-type-options", b"nosniff"), (b"referrer-policy", b"no-referrer")]
                ctype = dict(headers).get(b"content-type", b"")
                if ctype.startswith(b"text/html"):
                    headers += [(b"content-security-policy", PAGE_CSP.encode()), (b"x-frame-options", b"DENY")]
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_with_headers)


def _loc(loc: tuple[Any, ...] | list[Any]) -> str:
    parts = [str(p) for p in loc if p != "body"]
    return ".".join(parts) if parts else "body"


def validation_message(errors: list[dict[str, Any]]) -> str:
    """One line from Pydantic's errors, e.g. ``duration: Input should be less than or equal to 1.857 (got 5)``."""
    out = []
    for e in errors:
        if e.get("type") == "json_invalid":
            ctx = e.get("ctx", {}).get("error", "")
            out.append(f"the request body is not valid JSON ({ctx})" if ctx else "the request body is not valid JSON")
            continue
        where = _loc(e.get("loc", ()))
        if e.get("type") == "missing" and where == "body":
            out.append("a JSON object body is required, e.g. {\"prompt\": \"a dog barks\"}")
            continue
        if e.get("type") == "extra_forbidden":
            out.append(f"{where}: unknown field (see GET /openapi.json for the allowed ones)")
            continue
        msg = str(e.get("msg", "invalid")).removeprefix("Value error, ")
        if e.get("type") == "string_pattern_mismatch":
            msg = "is blank; describe the sound, e.g. 'a dog barks'"
        got = e.get("input")
        shown = "" if not isinstance(got, (str, int, float, bool)) else f" (got {json.dumps(got)[:60]})"
        out.append(f"{where}: {msg}{shown}" if where != "body" else f"{msg}{shown}")
    return "; ".join(dict.fromkeys(out)) or "invalid request"


def _clean(errors: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """JSON-safe copies of Pydantic's error dicts (their ``ctx`` may hold exception objects)."""
    keep = []
    for e in errors[:20]:
        item = {"loc": [str(p) for p in e.get("loc", ())], "type": str(e.get("type", "")), "msg": str(e.get("msg", ""))}
        keep.append(item)
    return keep


def one_line_errors(app: FastAPI) -> None:
    """Make every error answer ``{"error": "<one line>"}`` (422s add ``detail``)."""

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = list(exc.errors())
        ctype = request.headers.get("content-type", "")
        if request.method == "POST" and "json" not in ctype.lower():
            return JSONResponse({"error": f"send the body as JSON with 'Content-Type: application/json' "
                                          f"(got {ctype[:60]!r})", "detail": _clean(errors)}, status_code=422)
        return JSONResponse({"error": validation_message(errors), "detail": _clean(errors)}, status_code=422)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        message = exc.detail if isinstance(exc.detail, str) else json.dumps(exc.detail)
        if exc.status_code == 400 and message == "There was an error parsing the body":
            # FastAPI answers 400 when the body is not UTF-8 or nests too deeply for the JSON parser, 422
            # for other invalid JSON; every unparseable body is 422 here, as documented (issue 26).
            cause = exc.__cause__
            why = ("is not UTF-8" if isinstance(cause, UnicodeError) else
                   "nests too deeply" if isinstance(cause, RecursionError) else
                   f"cannot be parsed ({type(cause).__name__})" if cause is not None else "cannot be parsed")
            return JSONResponse({"error": f"the request body is not valid JSON: it {why}"}, status_code=422)
        if exc.status_code == 405:
            message = f"method {request.method} is not allowed on {request.url.path}"
        elif exc.status_code == 404 and message == "Not Found":
            message = f"no such path: {request.url.path}"
        return JSONResponse({"error": message}, status_code=exc.status_code, headers=exc.headers)

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unexpected error on %s %s", request.method, request.url.path)
        return JSONResponse({"error": f"internal error ({type(exc).__name__}); see the server log"}, status_code=500)
