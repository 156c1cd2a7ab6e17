"""Every answer is what the OpenAPI document says it is (api.answers), so a client may rely on it,
and no input makes the API fail with a 5xx: schemathesis fuzzes every operation as admin.

Fuzzed requests mostly meet errors; the access matrix's cases (tests/api/server/test_access_matrix.py),
one or more successful requests for every route, give each route its answers of success too.
"""

from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error, response_schema_conformance

from tests.api.conftest import Api
from tests.api.server import test_access_matrix as matrix

seeded = matrix.seeded  # conftest's, with the trigger token of p that a case revokes


@pytest.fixture
def api_schema(seeded: Api) -> schemathesis.BaseSchema:
    return schemathesis.openapi.from_asgi("/api/v1/openapi.json", seeded.app)


schema = schemathesis.pytest.from_fixture("api_schema")


@pytest.mark.timeout(120)
@schema.parametrize()
@settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck))
def test_fuzzed_input_never_makes_a_5xx_and_every_answer_is_as_documented(
    case: schemathesis.Case, seeded: Api
) -> None:
    response = case.call(headers=seeded.headers("admin"))
    case.validate_response(response, checks=[not_a_server_error, response_schema_conformance])


@pytest.mark.parametrize(("method", "template"), sorted(matrix.CASES), ids=lambda v: v)
def test_every_answer_of_success_is_as_documented(
    seeded: Api, api_schema: schemathesis.BaseSchema, method: str, template: str
) -> None:
    operation = api_schema[template][method]
    for case in matrix.CASES[(method, template)]:
        reply = seeded.as_("admin").request(
            method, case.path, json=case.json, content=case.content, headers=case.headers
        )
        assert reply.status_code == case.ok, f"{method} {case.path}: {reply.status_code} {reply.text}"
        operation.validate_response(reply)
