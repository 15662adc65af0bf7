"""Schemathesis over the server's own OpenAPI description: generated requests (valid and not) to every
operation of a real `materializer serve` process never get a 5xx, and every answer conforms to the
schema (status codes, content types, bodies)."""

from __future__ import annotations

import httpx2 as httpx
import pytest
from hypothesis import HealthCheck, given, settings

schemathesis = pytest.importorskip("schemathesis")

from schemathesis.specs.openapi.checks import positive_data_acceptance

from tests.test_serve import served  # noqa: F401 - the loaded project, shared with this module
from tests.test_serve_process import Server


def test_api_conforms_to_its_schema(served):  # noqa: F811
    project, _, dsn = served
    server = Server(project.root, dsn)
    failures: list[str] = []
    try:
        schema = schemathesis.openapi.from_url(server.url + "/openapi.json")
        operations = [result.ok() for result in schema.get_all_operations()]
        assert len(operations) == 13
        for operation in operations:
            @given(case=operation.as_strategy())
            @settings(max_examples=25, deadline=None, derandomize=True, database=None,
                      suppress_health_check=list(HealthCheck))
            def run(case):
                # a request can fit the schema and still name a view's key wrongly: refusing it (4xx)
                # is right, so the "schema-valid data must be accepted" check is left out
                case.call_and_validate(excluded_checks=[positive_data_acceptance])

            try:
                run()
            except Exception as exc:  # noqa: BLE001 - collect every operation's failure
                failures.append(f"{operation.label}: {_describe(exc)}")
        metrics = httpx.get(server.url + "/metrics").text
    finally:
        server.stop()
    log = server.log.read_text()
    assert "Traceback" not in log, log[-5000:]
    assert not failures, "\n\n".join(failures)
    answered = sum(float(line.rsplit(" ", 1)[1]) for line in metrics.splitlines()
                   if line.startswith("materializer_http_requests_total"))
    assert answered >= 10 * len(operations), f"only {answered} requests reached the server"


def _describe(exc: BaseException) -> str:
    parts = [str(exc)]
    for sub in getattr(exc, "exceptions", ()):
        parts.append(_describe(sub))
    return "\n".join(parts)
