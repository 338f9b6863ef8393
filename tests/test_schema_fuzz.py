"""Schemathesis against our own OpenAPI schema, through the real API and a real worker.

Bounded (a few examples per operation) so it fits CI; every response must be a non-5xx
that conforms to the schema's declared responses.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import response_schema_conformance

from tests.harness import API_KEY, RedisServer, Service
from tests.llm_stand_in import serve_llm

pytestmark = pytest.mark.fuzz

EXAMPLES_PER_OPERATION = 12


@pytest.fixture(scope="module")
def fuzzed_service(
    redis_server: RedisServer, models_dir: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Service]:
    """The service with every dependency present (the LLM is the stand-in), so a 5xx is ours."""
    with serve_llm() as llm:
        svc = Service.start(f"{redis_server.url}/4", tmp_path_factory.mktemp("fuzz"), models_dir,
                            llm_base_url=llm.base_url, llm_model="llama3.2")  # fmt: skip
        yield svc
        svc.stop()


@pytest.fixture(scope="module")
def api_schema(fuzzed_service: Service) -> schemathesis.schemas.BaseSchema:
    return schemathesis.openapi.from_url(f"{fuzzed_service.base_url}/openapi.json")


schema = schemathesis.pytest.from_fixture("api_schema")


@schema.parametrize()
@settings(
    max_examples=EXAMPLES_PER_OPERATION,
    deadline=None,
    suppress_health_check=list(HealthCheck),
)
def test_no_server_errors(case: schemathesis.Case) -> None:
    case.call_and_validate(
        headers={"Authorization": f"Bearer {API_KEY}"},
        checks=[not_a_server_error, response_schema_conformance],
        timeout=60,
    )
