"""The editing part of the HTTP API: upload a clip, then continue, inpaint or vary it (issue 21).

* ``POST /v1/clips``: the request body is an audio file (wav, flac, ogg, mp3...; any rate and channel
  count, resampled with soxr and mixed down). It is stored like a result and answered with its id, so
  the page can show its spectrogram and any edit can name it as ``source``. Any earlier result id works
  as a source too.
* ``POST /v1/edit``: JSON ``{"op": "continue" | "inpaint" | "vary", "source": ID, ...}``; the edit runs in
  the model's worker thread (one model call at a time, like generation) and its results are stored and
  linked as in ``/v1/generate``.
"""


import io  # no "from __future__ import annotations": FastAPI reads the handlers' annotations at run time
import time
from typing import Any, Callable, Literal, Optional

import numpy as np
from fastapi import FastAPI, HTTPException, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from vividsound.errors import VividsoundError
from vividsound.server.batcher import CallJob, MicroBatcher, QueueFullError
from vividsound.server.config import Limits
from vividsound.server.results import ResultStore, StoredResult
from vividsound.server.schemas import AudioFormat, whole_int

UPLOAD_PATH = "/v1/clips"
MAX_UPLOAD_BYTES = 16 * 1024 * 1024  # an uploaded audio file (16 MB: ~90 s of 16-bit stereo at 44.1 kHz)
MAX_CLIP_SECONDS = 60.0  # longest uploaded clip (after resampling)
EDIT_SECONDS = 30.0  # longest edit result unless the server's max_duration is longer


class ClipItem(BaseModel):
    """A stored sound (an upload or an edit's result)."""

    id: str = Field(description="Id (32 hex digits); usable as an edit's `source`.")
    prompt: Optional[str] = None
    seed: Optional[int] = None
    url: str
    spectrogram_url: str
    format: AudioFormat
    media_type: str
    sample_rate: int
    duration: float = Field(description="Seconds of audio.")


class EditResponse(BaseModel):
    results: list[ClipItem]
    source: str = Field(description="Id of the edited sound.")
    settings: dict[str, Any] = Field(description="Sampler settings and the edit's own (span, strength, ...).")
    extra: list[Optional[dict[str, Any]]] = Field(description="Per result: inpainting tries, kept share, ...")
    elapsed_s: float


def make_edit_model(limits: Limits, edit_seconds: float, max_top_k: int) -> type[BaseModel]:
    chars = limits.max_prompt_chars

    class EditRequest(BaseModel):
        """Edit a stored sound. `continue` needs `prompt` and `duration` (total seconds; `start`, if given, cuts
        the source there first); `inpaint` needs `prompt`, `start` and `end`; `vary` takes `strength`
        (default 0.5) and an optional `prompt`."""

        model_config = ConfigDict(extra="forbid", strict=True, json_schema_extra={"examples": [
            {"op": "inpaint", "source": "0" * 32, "prompt": "a dog barks", "start": 1.0, "end": 2.0, "seed": 1}]})

        op: Literal["continue", "inpaint", "vary"]
        source: str = Field(pattern=r"^[0-9a-f]{32}$", description="Id of an upload or an earlier result.")
        prompt: Optional[str] = Field(None, min_length=1, max_length=chars, pattern=r"\S")
        negative_prompt: Optional[str] = Field(None, min_length=1, max_length=chars, pattern=r"\S",
                                               description="Guide away from this description (needs `prompt`).")
        duration: Optional[float] = Field(None, gt=0, le=edit_seconds, allow_inf_nan=False,
                                          description=f"continue: total seconds, at most {edit_seconds:g}.")
        start: Optional[float] = Field(None, ge=0, le=MAX_CLIP_SECONDS, allow_inf_nan=False,
                                       description="inpaint: span start; continue: continue from here (s).")
        end: Optional[float] = Field(None, gt=0, le=MAX_CLIP_SECONDS, allow_inf_nan=False,
                                     description="inpaint: span end (s).")
        strength: float = Field(0.5, ge=0, le=1, allow_inf_nan=False,
                                description="vary: share of codes re-sampled (0 = copy, 1 = new).")
        tries: whole_int(1, 8) = Field(4, description="inpaint: span candidates ranked by the right context.")  # type: ignore[valid-type]
        top_k: Optional[whole_int(1, max_top_k)] = None  # type: ignore[valid-type]
        temperature: Optional[float] = Field(None, gt=0, le=100, allow_inf_nan=False)
        cfg_scale: Optional[float] = Field(None, ge=0, le=100, allow_inf_nan=False)
        seed: Optional[whole_int(0, limits.max_seed)] = None  # type: ignore[valid-type]
        num_samples: whole_int(1, limits.max_samples) = 1  # type: ignore[valid-type]
        format: AudioFormat = "wav"

    return EditRequest


def add_edit_routes(app: FastAPI, *, tts: Any, store: ResultStore, batcher: MicroBatcher, limits: Limits,
                    deps: list[Any], lookup: Callable[[str], StoredResult], wait: Callable[..., Any],
                    errors: Callable[..., dict]) -> None:
    """Register ``POST /v1/clips`` and ``POST /v1/edit`` on ``app`` (called by ``create_app``)."""
    from vividsound.audio import MelSpectrogram
    from vividsound.editing import read_clip
    from vividsound.server.schemas import MEDIA_TYPES

    sr = tts.mel_config.sample_rate
    edit_seconds = min(float(tts.max_long_duration), max(limits.max_duration, EDIT_SECONDS))
    EditRequest = make_edit_model(limits, edit_seconds, int(tts.gpt.config.vocab_size))
    front = MelSpectrogram(tts.mel_config)

    def item(s: StoredResult) -> ClipItem:
        m = s.meta
        return ClipItem(id=s.id, prompt=m.get("prompt"), seed=m.get("seed"), url=f"/v1/results/{s.id}",
                        spectrogram_url=f"/v1/results/{s.id}/spectrogram.png", format=m["format"],
                        media_type=MEDIA_TYPES[m["format"]], sample_rate=m["sample_rate"],
                        duration=float(m["duration"]))

    def fail(status: int, msg: str) -> HTTPException:
        return HTTPException(status_code=status, detail=msg)

    # ------------------------------------------------------------------------------------------ upload
    def _store_upload(data: bytes) -> StoredResult:
        import soundfile as sf
        import torch

        if not data:
            raise fail(422, "the upload is empty: send an audio file as the request body")
        try:
            audio, rate = sf.read(io.BytesIO(data), dtype="float32", always_2d=True)  # (N, C)
        except Exception as e:  # noqa: BLE001 - soundfile raises several types
            raise fail(422, f"cannot read the uploaded audio ({str(e).splitlines()[0][:120] if str(e) else type(e).__name__}); "
                            "send wav, flac, ogg or mp3") from None
        if audio.shape[0] == 0:
            raise fail(422, "the uploaded audio holds no samples")
        if audio.shape[0] / rate > MAX_CLIP_SECONDS:
            raise fail(422, f"the uploaded audio is {audio.shape[0] / rate:.1f} s; allowed: at most {MAX_CLIP_SECONDS:g} s")
        try:
            wav = read_clip(audio.T, int(rate), sr, "the uploaded audio")  # mix down + soxr
        except VividsoundError as e:
            raise fail(422, str(e)) from None
        wav = np.clip(wav, -1.0, 1.0)
        mel = front(torch.from_numpy(wav))[0]
        s = store.save(torch.from_numpy(wav), mel, sr, "wav",
                       {"prompt": None, "seed": None, "upload": True, "duration": round(len(wav) / sr, 6)})
        store.prune()
        return s

    @app.post(UPLOAD_PATH, dependencies=deps, response_model=ClipItem, summary="Upload a clip to edit",
              responses=errors(400, 413, 422),
              openapi_extra={"requestBody": {"required": True, "description": "An audio file (any rate/channels).",
                                             "content": {"application/octet-stream": {"schema": {"type": "string",
                                                                                                 "format": "binary"}}}}})
    async def upload(request: Request) -> JSONResponse:
        data = await request.body()
        s = await run_in_threadpool(_store_upload, data)
        return JSONResponse(item(s).model_dump())

    # ------------------------------------------------------------------------------------------ edit
    @app.post("/v1/edit", dependencies=deps, response_model=EditResponse, summary="Continue, inpaint or vary a sound",
              responses=errors(400, 404, 408, 413, 422, 503))
    async def edit(req: EditRequest, request: Request) -> JSONResponse:  # type: ignore[valid-type]
        t0 = time.monotonic()
        src = lookup(req.source)  # type: ignore[attr-defined]
        op = req.op  # type: ignore[attr-defined]
        if req.negative_prompt is not None and req.prompt is None:  # type: ignore[attr-defined]
            raise fail(422, "negative_prompt needs a prompt")
        if op in ("continue", "inpaint") and req.prompt is None:  # type: ignore[attr-defined]
            raise fail(422, f"prompt: required for {op}")
        if op == "continue" and req.duration is None:  # type: ignore[attr-defined]
            raise fail(422, "duration: required for continue (total seconds of the result)")
        if op == "inpaint" and (req.start is None or req.end is None):  # type: ignore[attr-defined]
            raise fail(422, "start and end: required for inpaint (the span in seconds)")
        seed = req.seed if req.seed is not None else int.from_bytes(__import__("os").urandom(4), "little") >> 1  # type: ignore[attr-defined]
        kw = dict(negative_prompt=req.negative_prompt, top_k=req.top_k, temperature=req.temperature,  # type: ignore[attr-defined]
                  cfg_scale=req.cfg_scale, seed=seed, num_samples=req.num_samples, sample_rate=sr)  # type: ignore[attr-defined]

        def run(progress: Callable[[int, int], None]):
            from vividsound.audio import load_audio

            wav = load_audio(src.audio, sr)
            if op == "continue":
                if req.start is not None:  # type: ignore[attr-defined]
                    cut = round(req.start * sr)  # type: ignore[attr-defined]
                    if not 0 < cut <= len(wav):
                        from vividsound.errors import InputError

                        raise InputError(f"start is {req.start:g} s; allowed: inside the source ({len(wav) / sr:.3f} s)")  # type: ignore[attr-defined]
                    wav = wav[:cut]
                return tts.continue_audio(wav, req.prompt, duration=req.duration, progress=progress, **kw)  # type: ignore[attr-defined]
            if op == "inpaint":
                return tts.inpaint(wav, req.prompt, start=req.start, end=req.end, tries=req.tries,  # type: ignore[attr-defined]
                                   progress=progress, **kw)
            return tts.vary(wav, req.prompt, strength=req.strength, progress=progress, **kw)  # type: ignore[attr-defined]

        job = CallJob(run, rows=[None] * req.num_samples)  # type: ignore[attr-defined]
        batcher.start()
        try:
            fut = batcher.submit(job)
        except QueueFullError as e:
            raise HTTPException(503, str(e), {"Retry-After": str(e.retry_after)}) from None
        except RuntimeError as e:
            raise HTTPException(503, str(e), {"Retry-After": "5"}) from None
        try:
            out = await wait(fut, t0 + limits.timeout_s, request)
        except VividsoundError as e:
            raise fail(422, str(e)) from None
        except TimeoutError:
            raise HTTPException(408, f"the edit did not finish within the server's limit of {limits.timeout_s:g} s",
                                {"Connection": "close"}) from None
        except Exception as e:  # noqa: BLE001 - the client left (logged by app) or the edit failed
            from vividsound.server.app import _ClientGone

            if isinstance(e, _ClientGone):
                raise HTTPException(408, "the client disconnected before the edit was ready") from None
            raise HTTPException(500, f"the edit failed ({type(e).__name__}); see the server log") from None

        def save() -> list[StoredResult]:
            stored = []
            for i in range(len(out)):
                meta = {k: v for k, v in out.metadata(i).items()}
                meta.update(source=src.id, duration=round(out.waveform.shape[1] / sr, 6))
                # the picture shows the audio returned (kept parts are the source's, not the decoder's)
                stored.append(store.save(out.waveform[i], front(out.waveform[i])[0], sr, req.format, meta))  # type: ignore[attr-defined]
            store.prune()
            return stored

        stored = await run_in_threadpool(save)
        body = EditResponse(results=[item(s) for s in stored], source=src.id, settings=out.settings,
                            extra=list(out.extra) if out.extra is not None else [None] * len(out),
                            elapsed_s=round(time.monotonic() - t0, 4))
        return JSONResponse(body.model_dump())
