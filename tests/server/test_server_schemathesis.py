"""Property-based tests from the OpenAPI spec (schemathesis): no request makes the server fail (5xx),
and answers match the spec (status codes, content types, headers, response schemas).

Bounded: ``MAX_EXAMPLES`` cases per generation mode over all operations, against a server with small
limits so each generation is quick. (Schemathesis's own pytest plugin does not load under pytest 9, so
its Hypothesis strategy is driven directly.)
"""

from __future__ import annotations

import pytest

schemathesis = pytest.importorskip("schemathesis", reason="schemathesis is not installed (pip install schemathesis)")
from hypothesis import HealthCheck, given, settings  # noqa: E402  (installed with schemathesis)
from schemathesis import GenerationMode  # noqa: E402
from schemathesis.checks import positive_data_acceptance  # noqa: E402

MAX_EXAMPLES = 40


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE], ids=["positive", "negative"])
def test_no_server_errors_and_spec_conformance(make_app, mode):
    app = make_app(max_duration=0.1, max_samples=2, max_prompts=2, max_prompt_chars=50, max_results=50)
    schema = schemathesis.openapi.from_asgi("/openapi.json", app)
    seen: dict[str, int] = {}

    @given(case=schema.as_strategy(generation_mode=mode))
    @settings(max_examples=MAX_EXAMPLES, deadline=None, derandomize=True, database=None,
              suppress_health_check=list(HealthCheck))
    def run(case):
        # An upload's bytes and an edit's span (checked against the stored clip) have meaning no schema states:
        # a schema-valid upload of random bytes or a span past the clip's end is rightly refused with 422.
        refusable = case.operation.path in ("/v1/clips", "/v1/edit")
        response = case.call_and_validate(timeout=120, excluded_checks=[positive_data_acceptance] if refusable else None)
        assert response.status_code < 500, (case.method, case.path, case.body, response.text)
        key = f"{case.method} {case.operation.path} {response.status_code}"
        seen[key] = seen.get(key, 0) + 1

    try:
        run()
    finally:
        app.state.batcher.stop()
    operations = {k.rsplit(" ", 1)[0] for k in seen}
    if mode == GenerationMode.POSITIVE:
        assert len(operations) >= 4, seen  # the strategy reached (nearly) every operation
        assert seen.get("POST /v1/generate 200", 0) > 0, seen  # and generated sounds
    else:
        assert "POST /v1/generate" in operations, seen
        assert not any(k.startswith("POST") and k.endswith(" 200") for k in seen), seen  # all refused
