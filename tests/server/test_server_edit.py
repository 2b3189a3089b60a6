"""The editing API in-process: upload a clip, then continue, inpaint and vary it; bad uploads and edits."""

from __future__ import annotations

import io

import numpy as np
import pytest


def _error(r) -> str:
    body = r.json()
    assert isinstance(body["error"], str) and "\n" not in body["error"]
    return body["error"]


def _wav_bytes(seconds: float = 1.0, rate: int = 16000, channels: int = 2) -> bytes:
    import soundfile as sf

    rng = np.random.default_rng(0)
    t = np.arange(round(seconds * rate)) / rate
    x = np.stack([0.3 * np.sin(2 * np.pi * 330 * t)] + [0.05 * rng.standard_normal(len(t))] * (channels - 1), 1)
    buf = io.BytesIO()
    sf.write(buf, x.astype(np.float32), rate, format="WAV", subtype="PCM_16")
    return buf.getvalue()


def _read(client, url: str) -> np.ndarray:
    import soundfile as sf

    r = client.get(url)
    assert r.status_code == 200
    return sf.read(io.BytesIO(r.content), dtype="float32")[0]


def test_upload_then_inpaint_continue_vary(client):
    up = client.post("/v1/clips", content=_wav_bytes(), headers={"Content-Type": "application/octet-stream"})
    assert up.status_code == 200, up.text
    clip = up.json()
    assert clip["sample_rate"] == 22050 and abs(clip["duration"] - 1.0) < 1e-3  # resampled, mixed down
    assert client.get(clip["spectrogram_url"]).headers["content-type"] == "image/png"
    src = _read(client, clip["url"])

    r = client.post("/v1/edit", json={"op": "inpaint", "source": clip["id"], "prompt": "a cat", "start": 0.3,
                                      "end": 0.6, "seed": 1, "tries": 2})
    assert r.status_code == 200, r.text
    body = r.json()
    a, b = (round(x * 22050) for x in body["settings"]["span_seconds"])
    out = _read(client, body["results"][0]["url"])
    assert len(out) == len(src) and np.array_equal(out[:a], src[:a]) and np.array_equal(out[b:], src[b:])
    assert body["extra"][0]["tries"] == 2 and body["source"] == clip["id"]

    r = client.post("/v1/edit", json={"op": "continue", "source": clip["id"], "prompt": "a dog barks",
                                      "start": 0.5, "duration": 1.5, "seed": 2, "negative_prompt": "rain"})
    assert r.status_code == 200, r.text
    res = r.json()
    assert res["results"][0]["duration"] == 1.5 and res["settings"]["negative_prompt"] == "rain"
    assert res["settings"]["given_seconds"] <= 0.5

    r = client.post("/v1/edit", json={"op": "vary", "source": body["results"][0]["id"], "strength": 0.4,
                                      "num_samples": 2, "seed": 3})
    assert r.status_code == 200, r.text
    assert len(r.json()["results"]) == 2 and r.json()["settings"]["strength"] == 0.4


@pytest.mark.parametrize("payload, status, needle", [
    ({"op": "inpaint", "prompt": "x", "start": 0.5, "end": 3.0}, 422, "allowed: 0 <= start < end"),
    ({"op": "inpaint", "prompt": "x", "start": 0.5, "end": 0.51}, 422, "shorter than one code column"),
    ({"op": "inpaint", "prompt": "x", "start": 0.5}, 422, "start and end"),
    ({"op": "continue", "prompt": "x"}, 422, "duration"),
    ({"op": "continue", "prompt": "x", "duration": 500}, 422, "duration"),
    ({"op": "vary", "negative_prompt": "rain"}, 422, "needs a prompt"),
    ({"op": "vary", "strength": 2}, 422, "strength"),
    ({"op": "vary", "source": "f" * 32}, 404, "no result"),
])
def test_bad_edits_get_one_line_errors(client, payload, status, needle):
    up = client.post("/v1/clips", content=_wav_bytes(), headers={"Content-Type": "application/octet-stream"})
    r = client.post("/v1/edit", json={"source": up.json()["id"], **payload})
    assert r.status_code == status and needle in _error(r)


@pytest.mark.parametrize("data, needle", [(b"", "empty"), (b"not audio at all" * 10, "cannot read")])
def test_bad_uploads_get_one_line_errors(client, data, needle):
    r = client.post("/v1/clips", content=data, headers={"Content-Type": "application/octet-stream"})
    assert r.status_code == 422 and needle in _error(r)


def test_upload_limit_is_its_own_and_generate_takes_a_negative_prompt(client):
    big = _wav_bytes(seconds=3.0)  # over the 64 kB JSON limit, under the upload limit
    assert len(big) > 64 * 1024 and client.post("/v1/clips", content=big).status_code == 200
    r = client.post("/v1/generate", json={"prompt": "a dog", "duration": 0.1, "negative_prompt": "rain",
                                          "response": "json"})
    assert r.status_code == 200 and r.json()["settings"]["negative_prompt"] == "rain"
    assert r.json()["settings"]["cfg_scale"] == 3.0
