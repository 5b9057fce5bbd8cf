"""Request bodies over 1 MiB are refused with 413 JSON before anything parses them."""

from __future__ import annotations

from collections.abc import Callable, Iterator

from fastapi.testclient import TestClient
from starlette.types import Receive, Scope, Send

from notes_api.body_limit import MAX_BODY_SIZE, BodySizeLimitMiddleware

AuthHeaders = Callable[..., dict[str, str]]


def json_body_of_size(size: int) -> bytes:
    """A syntactically valid note payload of exactly `size` bytes."""
    prefix, suffix = b'{"title": "t", "body": "', b'"}'
    return prefix + b"b" * (size - len(prefix) - len(suffix)) + suffix


def in_chunks(data: bytes, chunk_size: int = 64 * 1024) -> Iterator[bytes]:
    for start in range(0, len(data), chunk_size):
        yield data[start : start + chunk_size]


def test_body_over_the_limit_with_content_length_is_413_json(
    client: TestClient, auth_headers: AuthHeaders
) -> None:
    headers = {**auth_headers(), "Content-Type": "application/json"}

    response = client.post("/notes", content=json_body_of_size(MAX_BODY_SIZE + 1), headers=headers)

    assert response.status_code == 413
    assert response.headers["content-type"] == "application/json"
    assert response.json() == {"detail": f"Request body is larger than {MAX_BODY_SIZE} bytes"}


def test_chunked_body_over_the_limit_is_413_json(
    client: TestClient, auth_headers: AuthHeaders
) -> None:
    headers = {**auth_headers(), "Content-Type": "application/json"}
    chunks = in_chunks(json_body_of_size(MAX_BODY_SIZE + 1))

    response = client.post("/notes", content=chunks, headers=headers)

    assert "content-length" not in response.request.headers
    assert response.status_code == 413
    assert response.json() == {"detail": f"Request body is larger than {MAX_BODY_SIZE} bytes"}


def test_every_operation_that_takes_a_body_documents_the_413(client: TestClient) -> None:
    # A fuzzer drawing long strings sends a body over the limit, and checks that the answer
    # is one the document lists (schemathesis' status_code_conformance did, on PATCH /notes).
    paths = client.get("/openapi.json").json()["paths"]
    taking_a_body = {
        f"{method.upper()} {path}": operation["responses"]
        for path, operations in paths.items()
        for method, operation in operations.items()
        if "requestBody" in operation
    }
    assert len(taking_a_body) > 10
    assert [name for name, responses in taking_a_body.items() if "413" not in responses] == []


def test_declared_length_over_the_limit_is_413_even_where_the_body_is_never_read(
    client: TestClient,
) -> None:
    response = client.post("/healthz", content=json_body_of_size(MAX_BODY_SIZE + 1))

    assert response.status_code == 413


def test_body_of_exactly_the_limit_is_parsed(client: TestClient, auth_headers: AuthHeaders) -> None:
    headers = {**auth_headers(), "Content-Type": "application/json"}

    response = client.post("/notes", content=json_body_of_size(MAX_BODY_SIZE), headers=headers)

    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["body", "body"]


def test_chunked_body_under_the_limit_is_accepted(
    client: TestClient, auth_headers: AuthHeaders
) -> None:
    headers = {**auth_headers(), "Content-Type": "application/json"}

    response = client.post(
        "/notes", content=in_chunks(json_body_of_size(1000), 100), headers=headers
    )

    assert response.status_code == 201


async def read_whole_body(_scope: Scope, receive: Receive, send: Send) -> None:
    """A bare ASGI app with no exception handling of its own: reads the body, answers 200."""
    more_body = True
    while more_body:
        more_body = (await receive()).get("more_body", False)
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": b"ok"})


def test_middleware_answers_413_itself_when_the_app_lets_the_error_through() -> None:
    client = TestClient(BodySizeLimitMiddleware(read_whole_body, max_body_size=10))

    response = client.post("/", content=in_chunks(b"x" * 11, chunk_size=4))

    assert response.status_code == 413
    assert response.json() == {"detail": "Request body is larger than 10 bytes"}
