"""/openapi.json documents what every route answers: each 200/201/202 has a body schema
(JSON routes a model with its fields, audio and text routes their media types), so users of
the OpenAPI page and schemathesis' conformance checks see what comes back."""

from __future__ import annotations

from typing import Any

import pytest

from neuraldrive_audio.api.app import create_app
from neuraldrive_audio.config import Settings

SUCCESS = ("200", "201", "202")


@pytest.fixture(scope="module")
def schema() -> dict[str, Any]:
    with pytest.MonkeyPatch.context() as env:
        env.setenv("NEURALDRIVE_API_KEY", "schema-key")
        # Building the schema connects to nothing: Redis is only reached in the lifespan.
        return create_app(Settings(redis_url="redis://127.0.0.1:9/0")).openapi()


def _resolve(schema: dict[str, Any], node: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in node:
        name = node["$ref"].rsplit("/", 1)[-1]
        node = schema["components"]["schemas"][name]
    return node


def _is_documented_json(schema: dict[str, Any], node: dict[str, Any]) -> bool:
    """A model with named fields, or a choice between such models."""
    node = _resolve(schema, node)
    choices = node.get("anyOf") or node.get("oneOf")
    if choices:
        return all(_is_documented_json(schema, choice) for choice in choices)
    return bool(node.get("properties"))


def _operations(schema: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [
        (path, method, operation)
        for path, methods in schema["paths"].items()
        for method, operation in methods.items()
    ]


def test_every_success_response_has_a_body_schema(schema: dict[str, Any]) -> None:
    undocumented = []
    for path, method, operation in _operations(schema):
        successes = {code: r for code, r in operation["responses"].items() if code in SUCCESS}
        assert successes, f"{method.upper()} {path} declares no success response"
        for code, response in successes.items():
            content = response.get("content") or {}
            if not content:
                undocumented.append(f"{method.upper()} {path} {code}: no content")
            for media_type, body in content.items():
                body_schema = body.get("schema") or {}
                if media_type == "application/json":
                    ok = _is_documented_json(schema, body_schema)
                elif media_type == "text/event-stream":  # one schema per event
                    ok = "data" in _resolve(schema, body_schema).get("properties", {})
                else:
                    ok = _resolve(schema, body_schema).get("type") == "string"
                if not ok:
                    undocumented.append(f"{method.upper()} {path} {code} {media_type}")
    assert undocumented == []


def test_the_openai_routes_use_the_sdks_shapes(schema: dict[str, Any]) -> None:
    components = schema["components"]["schemas"]
    for name in ("Transcription", "TranscriptionVerbose", "Translation", "Model"):
        assert name in components, sorted(components)
    transcriptions = schema["paths"]["/v1/audio/transcriptions"]["post"]["responses"]["200"]
    assert {"application/json", "text/plain", "text/event-stream"} <= set(transcriptions["content"])
    speech = schema["paths"]["/v1/audio/speech"]["post"]["responses"]["200"]["content"]
    assert {"audio/mpeg", "audio/wav", "text/event-stream"} <= set(speech)
