"""Property-based run of the OpenAPI schema against the real server: no 5xx anywhere,
and every status code is one the schema declares.

Driven through hypothesis directly (schemathesis' pytest plugin does not support the
pytest 9 node API); bounded by max_examples per operation and a timeout.
"""

from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error, status_code_conformance

MAX_EXAMPLES = 30


@pytest.mark.timeout(150)
def test_openapi_run_finds_no_server_errors(server):
    api = schemathesis.openapi.from_url(f"{server.url}/openapi.json")
    operations = [result.ok() for result in api.get_all_operations()]
    assert {op.label for op in operations} >= {"POST /v1/predict", "GET /v1/models"}
    for operation in operations:
        _exercise(operation, server)


def _exercise(operation, server) -> None:
    @given(case=operation.as_strategy())
    @settings(max_examples=MAX_EXAMPLES, deadline=None, derandomize=True, database=None,
              suppress_health_check=list(HealthCheck))
    def run(case):
        response = case.call(headers={"X-API-Key": server.key}, timeout=30)
        case.validate_response(response, checks=[not_a_server_error, status_code_conformance])

    run()
