"""OpenAPI fuzzing with schemathesis: no request a client can build from our schema gets a
500, every answer's status, content type and headers are documented for its operation, and
every documented response matches its schema; as an admin and anonymously.

Cases are drawn with schemathesis' Hypothesis strategies inside ordinary tests (its
lazy pytest fixture integration does not run on pytest 9), one test per operation.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import schemathesis
from fastapi import FastAPI
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.python import asgi
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from notes_api.main import create_app
from tests.conftest import MakeUser, bearer, login, make_settings

CHECKS = [
    not_a_server_error,
    status_code_conformance,  # every status answered is documented for its operation
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]
EXAMPLES_PER_OPERATION = 12
MIN_REQUESTS_WITH_INPUT = 6
"""`filter_too_much` is suppressed (strict schemas reject most drawn values), so each test
checks that enough requests really reached the app instead of trusting Hypothesis' count."""


def operation_labels() -> list[str]:
    """Every operation in the OpenAPI document, read at collection time (no fixtures yet).

    From the app's schema as a dict: asking the app for it over ASGI would start its
    lifespan, whose background tasks (the revocation feed, the mail sender) may still be
    touching the database when collection moves on."""
    app = create_app(make_settings("sqlite:///never-opened.db"))
    schema = schemathesis.openapi.from_dict(app.openapi())
    return sorted(result.ok().label for result in schema.get_all_operations())


@pytest.fixture
def served(app: FastAPI) -> Iterator[FastAPI]:
    """The app, running on schemathesis' event loop only, and stopped when the test ends.

    Schemathesis sends every case on one event loop of its own (a thread it keeps for the
    process) and starts the app's lifespan there on its first request, then keeps it running
    until the process exits. So the app must not also run under a TestClient, whose lifespan
    would be a second one, on a second loop: connections pooled on one loop and used on the
    other are abandoned, and the garbage collector reports them later, in whatever test is
    running then. `shutdown_lifespans` ends it here instead, on its own loop, closing its pool
    and its revocation feed's connection (this test module starts no other lifespan)."""
    try:
        yield app
    finally:
        asgi.shutdown_lifespans()


@pytest.fixture
def admin_headers(served: FastAPI, make_user: MakeUser) -> dict[str, str]:
    make_user("fuzz-admin", roles=["admin", "user"])
    with asgi.get_client(served) as session:  # schemathesis' own client: its loop
        return bearer(login(session, "fuzz-admin")["access_token"])


def fuzz(app: FastAPI, label: str, headers: dict[str, str]) -> None:
    schema = schemathesis.openapi.from_asgi("/openapi.json", app)
    method, path = label.split(" ", 1)
    operation = schema[path][method]

    # Examples share the test's database on purpose: state left by one request (a note,
    # a role) is what makes the next ones interesting.
    @settings(
        max_examples=EXAMPLES_PER_OPERATION,
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
    )
    @given(case=operation.as_strategy())
    def run(case: schemathesis.Case) -> None:
        sent.append(case)
        case.call_and_validate(headers=headers, checks=CHECKS)

    sent: list[schemathesis.Case] = []
    run()
    takes_input = bool(operation.definition.raw.get("parameters")) or bool(
        operation.definition.raw.get("requestBody")
    )
    assert len(sent) >= (MIN_REQUESTS_WITH_INPUT if takes_input else 1), len(sent)


@pytest.mark.parametrize("label", operation_labels())
def test_as_admin(served: FastAPI, admin_headers: dict[str, str], label: str) -> None:
    fuzz(served, label, admin_headers)


@pytest.mark.parametrize("label", operation_labels())
def test_anonymously(served: FastAPI, label: str) -> None:
    fuzz(served, label, {})
