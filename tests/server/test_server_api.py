"""The HTTP API in-process: good requests, every limit, bad bodies, auth and result files."""

from __future__ import annotations

import io
import json
import re

import pytest

GOOD = {"prompt": "a dog barks", "duration": 0.1, "seed": 5}


def _error(r) -> str:
    body = r.json()
    assert set(body) <= {"error", "detail"} and isinstance(body["error"], str) and "\n" not in body["error"]
    return body["error"]


def test_one_sound_returns_audio_with_settings_echoed(client):
    import soundfile as sf

    r = client.post("/v1/generate", json={**GOOD, "top_k": 10, "temperature": 0.9})
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == "audio/wav"
    wav, sr = sf.read(io.BytesIO(r.content))
    assert sr == 22050 and len(wav) == round(0.1 * 22050)
    echo = json.loads(r.headers["x-vividsound-settings"])
    assert echo["prompt"] == "a dog barks" and echo["seed"] == 5 and echo["top_k"] == 10
    assert echo["temperature"] == 0.9 and echo["duration"] == 0.1 and echo["model"] == "tiny-random"
    assert r.headers["x-vividsound-seed"] == "5"
    rid = r.headers["x-vividsound-result-id"]
    again = client.get(f"/v1/results/{rid}")
    assert again.status_code == 200 and again.content == r.content


def test_same_seed_same_audio_and_flac(client):
    import soundfile as sf

    from vividsound.audio import read_audio_metadata

    a = client.post("/v1/generate", json=GOOD).content
    b = client.post("/v1/generate", json=GOOD).content
    c = client.post("/v1/generate", json={**GOOD, "seed": 6}).content
    assert a == b and a != c
    r = client.post("/v1/generate", json={**GOOD, "format": "flac"})
    assert r.status_code == 200 and r.headers["content-type"] == "audio/flac"
    assert sf.info(io.BytesIO(r.content)).format == "FLAC"
    files = list(client.app.state.store.root.glob("*.flac"))
    assert read_audio_metadata(files[0])["prompt"] == "a dog barks"


def test_several_sounds_return_json_links(client):
    r = client.post("/v1/generate", json={"prompts": ["rain", "a bell rings"], "num_samples": 2,
                                          "duration": 0.05, "seed": 100})
    assert r.status_code == 200 and r.headers["content-type"] == "application/json"
    body = r.json()
    got = [(x["prompt"], x["seed"]) for x in body["results"]]
    assert got == [("rain", 100), ("rain", 101), ("a bell rings", 100), ("a bell rings", 101)]
    assert body["settings"]["duration"] == 0.05 and body["batch_rows"] == 4
    for item in body["results"]:
        assert re.fullmatch(r"[0-9a-f]{32}", item["id"])
        audio = client.get(item["url"])
        assert audio.status_code == 200 and audio.headers["content-type"] == "audio/wav"
        png = client.get(item["spectrogram_url"])
        assert png.status_code == 200 and png.content.startswith(b"\x89PNG")


def test_json_for_one_and_default_seed_is_random_but_reported(client):
    r = client.post("/v1/generate", json={"prompt": "wind", "duration": 0.05, "response": "json"})
    assert r.status_code == 200
    item = r.json()["results"][0]
    assert isinstance(item["seed"], int) and item["seed"] >= 0
    # The reported seed reproduces the sound.
    again = client.post("/v1/generate", json={"prompt": "wind", "duration": 0.05, "seed": item["seed"]})
    assert again.content == client.get(item["url"]).content


def test_health_and_model(client):
    h = client.get("/v1/health").json()
    assert h["status"] == "ok" and h["model"] == "tiny-random" and h["queue"]["max"] == 32 and h["auth"] is False
    m = client.get("/v1/model").json()
    assert m["mel"]["sample_rate"] == 22050 and set(m["components"]) == {"text_encoder", "gpt", "vqgan", "vocoder"}
    L = m["limits"]
    assert L["max_duration"] == 1.857 and L["max_samples"] == 4 and L["max_prompts"] == 4 and L["max_top_k"] == 64
    assert L["max_sounds_per_request"] == 16
    assert L["max_prompt_chars"] == 1000 and L["max_queue"] == 32 and L["timeout_s"] == 120


@pytest.mark.parametrize("body, needle", [
    ({**GOOD, "duration": 1.9}, "duration"),
    ({**GOOD, "duration": 0}, "duration"),
    ({**GOOD, "duration": -1}, "duration"),
    ({**GOOD, "top_k": 65}, "top_k"),
    ({**GOOD, "top_k": 0}, "top_k"),
    ({**GOOD, "top_p": 0}, "top_p"),
    ({**GOOD, "top_p": 1.5}, "top_p"),
    ({**GOOD, "temperature": 0}, "temperature"),
    ({**GOOD, "cfg_scale": -0.5}, "cfg_scale"),
    ({**GOOD, "seed": -1}, "seed"),
    ({**GOOD, "seed": 2**64}, "seed"),
    ({**GOOD, "num_samples": 5}, "num_samples"),
    ({**GOOD, "num_samples": 0}, "num_samples"),
    ({"prompt": "x" * 1001}, "prompt"),
    ({"prompts": ["x"] * 5}, "prompts"),
    ({"prompts": []}, "prompts"),
    ({"prompts": ["ok", ""]}, "prompts.1"),
    ({"prompt": "   "}, "prompt: is blank"),
    ({"prompts": ["a", "\t\n"]}, "prompts.1: is blank"),
    ({"prompts": ["a", "b"], "response": "audio"}, "response"),
    ({**GOOD, "format": "mp3"}, "format"),
    ({**GOOD, "response": "xml"}, "response"),
    ({}, "exactly one of"),
    ({"prompt": "a", "prompts": ["b"]}, "exactly one of"),
    ({**GOOD, "colour": "red"}, "colour: unknown field"),
])
def test_limits_and_values_are_422_with_a_clear_message(client, body, needle):
    r = client.post("/v1/generate", json=body)
    assert r.status_code == 422, r.text
    assert needle in _error(r)


@pytest.mark.parametrize("body, needle", [
    ({**GOOD, "duration": "1"}, "duration: Input should be a valid number"),
    ({**GOOD, "top_k": 2.5}, "top_k"),
    ({**GOOD, "top_k": True}, "top_k"),
    ({**GOOD, "seed": "5"}, "seed"),
    ({**GOOD, "num_samples": None}, "num_samples"),
    ({"prompt": 42}, "prompt"),
    ({"prompts": "rain"}, "prompts"),
    ({"prompts": [1, 2]}, "prompts.0"),
    ([GOOD], "valid dictionary"),
    ("a dog barks", "valid dictionary"),
])
def test_wrong_types_are_422(client, body, needle):
    r = client.post("/v1/generate", json=body)
    assert r.status_code == 422, r.text
    assert needle in _error(r)


@pytest.mark.parametrize("raw, needle", [
    (b'{"prompt": "a dog"', "not valid JSON"),
    (b"", "JSON object body is required"),
    (b'{"prompt": "a", "duration": NaN}', "finite"),
    (b'{"prompt": "a", "duration": Infinity}', "finite"),
    (b"\xff\xfe", "JSON"),
])
def test_bad_json_is_4xx(client, raw, needle):
    r = client.post("/v1/generate", content=raw, headers={"content-type": "application/json"})
    assert 400 <= r.status_code < 500, r.text
    assert needle in _error(r)


def test_wrong_content_type_and_method(client):
    r = client.post("/v1/generate", content=json.dumps(GOOD), headers={"content-type": "text/plain"})
    assert r.status_code == 422 and "application/json" in _error(r)
    r = client.get("/v1/generate")
    assert r.status_code == 405 and "GET" in _error(r)
    assert client.get("/v1/nothing").status_code == 404


def test_body_size_limit(client):
    big = json.dumps({"prompt": "x" * 70_000}).encode()
    r = client.post("/v1/generate", content=big, headers={"content-type": "application/json"})
    assert r.status_code == 413 and "65536" in _error(r)

    def chunks():  # no Content-Length: the limit is applied while reading
        yield b'{"prompt": "'
        for _ in range(20):
            yield b"x" * 8192
        yield b'"}'

    r = client.post("/v1/generate", content=chunks(), headers={"content-type": "application/json"})
    assert r.status_code == 413


def test_server_limits_lower_the_models(make_app):
    from fastapi.testclient import TestClient

    with TestClient(make_app(max_duration=0.5, max_prompt_chars=20, max_samples=3, max_prompts=2)) as c:
        L = c.get("/v1/model").json()["limits"]
        assert (L["max_duration"], L["max_prompt_chars"], L["max_samples"], L["max_prompts"]) == (0.5, 20, 3, 2)
        assert c.post("/v1/generate", json={"prompt": "a", "duration": 0.6}).status_code == 422
        assert "20" in _error(c.post("/v1/generate", json={"prompt": "x" * 21, "duration": 0.1}))
        assert c.post("/v1/generate", json={"prompts": ["a", "b", "c"], "duration": 0.1}).status_code == 422
        assert "num_samples" in _error(c.post("/v1/generate", json={"prompts": ["a", "b"], "num_samples": 4,
                                                                      "duration": 0.1}))
        r = c.post("/v1/generate", json={"prompts": ["a", "b"], "num_samples": 3, "duration": 0.05})
        assert r.status_code == 200 and len(r.json()["results"]) == 6
        # The model's default duration (5 s) is above the server's limit: it is capped, not refused.
        r = c.post("/v1/generate", json={"prompt": "a", "seed": 1})
        assert r.status_code == 200 and json.loads(r.headers["x-vividsound-settings"])["duration"] == 0.5
        spec = c.get("/openapi.json").json()
        props = spec["components"]["schemas"]["GenerateRequest"]["properties"]
        dur = props["duration"]["anyOf"][0]
        assert dur["maximum"] == 0.5 and props["num_samples"]["maximum"] == 3


@pytest.mark.parametrize("path", [
    "/v1/results/../../../etc/passwd",
    "/v1/results/..%2F..%2F..%2Fetc%2Fpasswd",
    "/v1/results/%2e%2e",
    "/v1/results/" + "0" * 32,
    "/v1/results/" + "A" * 32,
    "/v1/results/" + "0" * 31 + "/",
    "/v1/results/" + "0" * 32 + "/spectrogram.png",
    "/v1/results/..%2Fresults%2F" + "0" * 32,
    "/v1/results/%00",
])
def test_results_refuse_anything_but_known_ids(client, path):
    r = client.get(path)
    assert r.status_code == 404, (path, r.status_code)
    assert r.headers["content-type"] == "application/json"


def test_results_folder_holds_only_server_named_files(client, tmp_path):
    client.post("/v1/generate", json={"prompt": "../../escape/../x", "duration": 0.05, "seed": 1})
    client.post("/v1/generate", json={"prompts": ["/etc/passwd", "C:\\x"], "duration": 0.05, "response": "json"})
    root = client.app.state.store.root
    names = sorted(p.name for p in root.iterdir())
    assert names and all(re.fullmatch(r"[0-9a-f]{32}\.(wav|json|mel\.npy)", n) for n in names), names
    outside = sorted(p.name for p in tmp_path.iterdir())
    assert outside == ["results"]


def test_old_results_are_pruned(make_app):
    from fastapi.testclient import TestClient

    with TestClient(make_app(max_results=2)) as c:
        ids = [c.post("/v1/generate", json={**GOOD, "duration": 0.05, "seed": i}).headers["x-vividsound-result-id"]
               for i in range(3)]
        assert c.get(f"/v1/results/{ids[0]}").status_code == 404
        assert all(c.get(f"/v1/results/{i}").status_code == 200 for i in ids[1:])


# ---------------------------------------------------------------------------------------------- auth
KEY = "test-key-0123456789"


def test_auth_on_every_v1_route(make_app):
    from fastapi.testclient import TestClient

    with TestClient(make_app(api_key=KEY)) as c:
        rid = c.post("/v1/generate", json={**GOOD, "duration": 0.05},
                     headers={"Authorization": f"Bearer {KEY}"}).headers["x-vividsound-result-id"]
        routes = [("get", "/v1/health"), ("get", "/v1/model"), ("post", "/v1/generate"),
                  ("get", f"/v1/results/{rid}"), ("get", f"/v1/results/{rid}/spectrogram.png")]
        for method, path in routes:
            kw = {"json": {**GOOD, "duration": 0.05}} if method == "post" else {}
            for bad in ({}, {"Authorization": "Bearer wrong-key-000000"}, {"X-API-Key": KEY[:-1]},
                        {"Authorization": KEY}):
                r = getattr(c, method)(path, headers=bad, **kw)
                assert r.status_code == 401, (path, bad)
                assert r.headers["www-authenticate"] == "Bearer" and "API key" in _error(r)
            for good in ({"Authorization": f"Bearer {KEY}"}, {"X-API-Key": KEY}):
                assert getattr(c, method)(path, headers=good, **kw).status_code == 200, (path, good)
        # The page and its assets carry no data and load without a key (the page then asks for one).
        assert c.get("/").status_code == 200 and c.get("/static/app.js").status_code == 200
        assert c.get("/v1/health", headers={"X-API-Key": KEY}).json()["auth"] is True
        spec = c.get("/openapi.json").json()
        assert {"HTTPBearer", "APIKeyHeader"} <= set(spec["components"]["securitySchemes"])


def test_page_is_local_only(client):
    r = client.get("/")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
    csp = r.headers["content-security-policy"]
    assert "default-src 'self'" in csp and "script-src 'self'" in csp
    html = r.text
    assert "http://" not in html and "https://" not in html
    for asset in re.findall(r'(?:src|href)="(/static/[^"]+)"', html):
        a = client.get(asset)
        assert a.status_code == 200, asset
        content = a.content.replace(b'xmlns="http://www.w3.org/2000/svg"', b"")  # a namespace name, not a fetch
        assert b"https://" not in content and b"http://" not in content, asset
    assert client.get("/static/../app.py").status_code == 404
    assert client.get("/docs").status_code == 404  # the hosted docs page would load a CDN


def test_server_sounds_equal_the_pipelines(client, tiny_tts):
    """The server reproduces ``TextToSound.__call__`` (same seed rule: variation j uses seed + j)."""
    import numpy as np
    import soundfile as sf

    r = client.post("/v1/generate", json={"prompts": ["rain", "a bell"], "num_samples": 2, "duration": 0.05,
                                          "seed": 40, "top_k": 20})
    direct = tiny_tts(["rain", "a bell"], duration=0.05, seed=40, num_samples=2, top_k=20)
    served = [(x["prompt"], x["seed"]) for x in r.json()["results"]]
    assert served == list(zip(direct.prompts, direct.seeds, strict=True))
    for i, item in enumerate(r.json()["results"]):
        got, _ = sf.read(client.app.state.store.get(item["id"]).audio, dtype="float32")
        want = np.clip(direct.numpy()[i], -1, 1)
        assert np.abs(got - want).max() < 8 / 32768  # 16-bit rounding plus float batch rounding
