"""Schemathesis fuzzes every operation of the OpenAPI document as admin: bad input never yields a 5xx."""

from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, settings

from tests.api.conftest import Api


@pytest.fixture
def api_schema(seeded: Api) -> schemathesis.BaseSchema:
    """The seeded share, so that fuzzed names sometimes hit real objects (project p, run p.1.one)."""
    return schemathesis.openapi.from_asgi("/api/v1/openapi.json", seeded.app)


schema = schemathesis.pytest.from_fixture("api_schema")


@pytest.mark.timeout(120)
@schema.parametrize()
@settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck))
def test_no_input_makes_the_api_fail_with_a_5xx(case: schemathesis.Case, seeded: Api) -> None:
    response = case.call(headers=seeded.headers("admin"))
    assert response.status_code < 500, (
        f"{case.method} {case.formatted_path}: {response.status_code} {response.text}"
    )
