"""The management router mounted in another app, as NeuralDrive's System API does."""

from __future__ import annotations

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from neuraldrive_audio.api.routers.management import router
from neuraldrive_audio.config import get_settings


def test_foreign_app_answers_auth_errors_with_their_status(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("NEURALDRIVE_API_KEY", "system-api-key")
    get_settings.cache_clear()
    try:
        app = FastAPI()  # none of our state, none of our exception handlers
        app.include_router(router)
        with TestClient(app) as client:
            missing = client.get("/system/audio/status")
            wrong = client.get("/v1/audio/models", headers={"Authorization": "Bearer nope"})
        assert missing.status_code == 401 and wrong.status_code == 401
        assert missing.headers["WWW-Authenticate"] == "Bearer"
    finally:
        get_settings.cache_clear()
