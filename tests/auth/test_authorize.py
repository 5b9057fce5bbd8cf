"""`@authorize`: sync and async endpoints, token injection, decoration-time misuse checks."""

from __future__ import annotations

import inspect
import math
import threading
from collections.abc import Callable, Iterator
from datetime import timedelta
from typing import Annotated

import pytest
from fastapi import APIRouter, Body, Depends, FastAPI
from fastapi.params import Depends as DependsParam
from fastapi.routing import iter_route_contexts
from fastapi.testclient import TestClient

from notes_api.auth.authorize import authenticated, authorize, parse_roles, required_roles
from notes_api.auth.dependencies import CurrentToken, get_token_data
from notes_api.auth.revocation_cache import RevocationCache
from notes_api.auth.tokens import AccessTokenCodec, TokenData
from notes_api.route_policy import PUBLIC_PATHS, UnprotectedRouteError, guard_and_document_routes
from notes_api.sessions.schemas import Identity

codec = AccessTokenCodec(
    key="k" * 32, algorithm="HS256", issuer="i", audience="a", lifetime=timedelta(minutes=5)
)
loop_threads: list[int] = []


async def async_declared(token: CurrentToken) -> dict[str, object]:
    loop_threads.append(threading.get_ident())
    return {"who": token.username, "thread": threading.get_ident()}


def sync_injected() -> dict[str, object]:
    return {"thread": threading.get_ident()}


def seed_spelling(token_data: TokenData = Depends(get_token_data)) -> dict[str, object]:
    return {"who": token_data.username}


async def admin_form(payload: Identity, limit: int) -> dict[str, object]:
    return {"limit": limit}


async def any_token() -> dict[str, str]:
    return {"ok": "yes"}


def guarded_router() -> APIRouter:
    """The endpoints, guarded here rather than at import: `make mutate` charges the code
    @authorize runs to the tests that run it, and code run at import to no test."""
    router = APIRouter()
    router.get("/async-declared")(authorize(roles="user, admin")(async_declared))
    router.get("/sync-injected")(authorize(roles=["admin"])(sync_injected))
    router.get("/seed-spelling")(authorize(roles="user")(seed_spelling))
    router.post("/admin-form")(authorize(roles="admin")(admin_form))
    router.get("/any-token")(authenticated(any_token))
    return router


def guarded_app(mfa_required_roles: frozenset[str] = frozenset()) -> FastAPI:
    app = FastAPI()
    app.state.token_codec = codec
    app.state.revocations = RevocationCache(window_seconds=60, trust_seconds=math.inf)
    app.state.mfa_required_roles = mfa_required_roles
    app.include_router(guarded_router())
    return app


@pytest.fixture
def guarded_client() -> Iterator[TestClient]:
    with TestClient(guarded_app()) as client:
        yield client


def token_for(*roles: str) -> dict[str, str]:
    token = codec.encode(
        user_id=1, username="alice", roles=list(roles), session_id="s1", amr=["pwd"]
    )
    return {"Authorization": f"Bearer {token}"}


def test_async_endpoint_stays_a_coroutine_function() -> None:
    guarded = authorize(roles="user")(async_declared)
    assert inspect.iscoroutinefunction(guarded)
    assert inspect.iscoroutinefunction(inspect.unwrap(guarded))


def test_sync_endpoint_stays_a_plain_function() -> None:
    guarded = authorize(roles="admin")(sync_injected)
    assert not inspect.iscoroutinefunction(guarded)
    assert not inspect.iscoroutinefunction(inspect.unwrap(guarded))


def test_async_endpoint_receives_its_declared_token(guarded_client: TestClient) -> None:
    response = guarded_client.get("/async-declared", headers=token_for("user"))
    assert response.status_code == 200
    assert response.json()["who"] == "alice"


def test_sync_endpoint_runs_in_the_thread_pool_not_on_the_event_loop(
    guarded_client: TestClient,
) -> None:
    guarded_client.get("/async-declared", headers=token_for("user"))
    response = guarded_client.get("/sync-injected", headers=token_for("admin"))
    assert response.status_code == 200
    assert response.json()["thread"] != loop_threads[-1]


def test_token_is_injected_when_the_endpoint_does_not_ask(guarded_client: TestClient) -> None:
    assert guarded_client.get("/sync-injected").status_code == 401
    assert guarded_client.get("/sync-injected", headers=token_for("user")).status_code == 403
    assert guarded_client.get("/sync-injected", headers=token_for("admin")).status_code == 200


def test_seed_spelling_with_depends_works(guarded_client: TestClient) -> None:
    response = guarded_client.get("/seed-spelling", headers=token_for("user"))
    assert response.json() == {"who": "alice"}


def test_any_listed_role_is_enough(guarded_client: TestClient) -> None:
    assert guarded_client.get("/async-declared", headers=token_for("admin")).status_code == 200
    assert guarded_client.get("/async-declared", headers=token_for("other")).status_code == 403


def test_a_role_withheld_for_want_of_a_second_factor_is_401_naming_the_role() -> None:
    with TestClient(guarded_app(mfa_required_roles=frozenset({"admin", "user"}))) as client:
        response = client.get("/async-declared", headers=token_for("user", "admin"))

    assert response.status_code == 401
    assert response.headers["www-authenticate"].startswith(
        'Bearer error="insufficient_user_authentication"'
    )
    assert response.json() == {
        "detail": "The role admin, user requires a second factor: log in again with it "
        "(enroll at /account/mfa/totp first if needed)"
    }


def test_a_missing_role_is_403_naming_the_roles_and_the_scope(guarded_client: TestClient) -> None:
    response = guarded_client.get("/async-declared", headers=token_for("other"))

    assert response.status_code == 403
    assert response.json() == {"detail": "Requires one of the roles: admin, user"}
    assert (
        response.headers["www-authenticate"]
        == 'Bearer error="insufficient_scope", scope="admin user"'
    )


def test_authenticated_marks_the_endpoint_guarded_with_no_role_required() -> None:
    """Not unguarded (None): the route policy refuses unguarded routes at app creation."""
    assert required_roles(authenticated(any_token)) == frozenset()


def test_authenticated_accepts_a_token_without_roles(guarded_client: TestClient) -> None:
    assert guarded_client.get("/any-token", headers=token_for()).status_code == 200
    assert guarded_client.get("/any-token").status_code == 401


def test_token_is_decoded_once_per_request(
    guarded_client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[str] = []
    original = AccessTokenCodec.decode

    def counting(self: AccessTokenCodec, token: str) -> TokenData:
        calls.append(token)
        return original(self, token)

    monkeypatch.setattr(AccessTokenCodec, "decode", counting)
    guarded_client.get("/seed-spelling", headers=token_for("user"))
    assert len(calls) == 1


def test_missing_role_is_403_before_any_validation(guarded_client: TestClient) -> None:
    response = guarded_client.post("/admin-form", headers=token_for("user"), json={})
    assert response.status_code == 403
    assert guarded_client.post("/admin-form", json={}).status_code == 401
    assert (
        guarded_client.post("/admin-form", headers=token_for("admin"), json={}).status_code == 422
    )


def test_a_token_parameter_read_from_the_request_is_refused_at_decoration_time() -> None:
    async def leaky(token: TokenData) -> None: ...

    with pytest.raises(
        TypeError,
        match=r"\.leaky: parameter 'token' is a TokenData that FastAPI would read from the "
        r"request; declare it as CurrentToken$",
    ):
        authorize("admin")(leaky)


def test_an_annotated_token_parameter_without_the_dependency_is_refused() -> None:
    async def leaky(token: Annotated[TokenData, Body()]) -> None: ...

    with pytest.raises(TypeError, match="parameter 'token' is a TokenData"):
        authorize("admin")(leaky)


def test_a_token_parameter_after_other_parameters_is_refused_too() -> None:
    async def leaky(note_id: int, token: TokenData) -> None: ...

    with pytest.raises(TypeError, match="parameter 'token' is a TokenData"):
        authorize("admin")(leaky)


def test_injected_parameter_is_hidden_from_the_openapi_parameters(
    guarded_client: TestClient,
) -> None:
    operation = guarded_client.get("/openapi.json").json()["paths"]["/sync-injected"]["get"]
    assert "parameters" not in operation


@pytest.mark.parametrize("roles", ["", " , ", []])
def test_empty_role_lists_fail_at_decoration_time(roles: str | list[str]) -> None:
    with pytest.raises(ValueError, match=r"^@authorize needs at least one role$"):
        authorize(roles=roles)


@pytest.mark.parametrize(
    ("roles", "name"),
    [(["Admin"], "'Admin'"), ("user,Admin", "'Admin'"), ("a b", "'a b'"), (["user", ""], "''")],
)
def test_misspelt_role_names_fail_at_decoration_time(roles: str | list[str], name: str) -> None:
    with pytest.raises(ValueError, match=f"^@authorize: {name} is not a role name"):
        authorize(roles=roles)


def test_roles_are_parsed_from_comma_joined_strings_with_whitespace() -> None:
    assert parse_roles(" user ,admin ") == frozenset({"user", "admin"})


def test_guarding_twice_fails_at_decoration_time() -> None:
    with pytest.raises(TypeError, match="is already guarded"):
        authorize("user")(authorize("admin")(lambda: None))


def test_authorize_above_the_route_decorator_fails_at_app_creation() -> None:
    app = FastAPI()

    @authorize(roles="admin")
    @app.get("/oops")
    async def oops() -> dict[str, str]:
        return {}

    with pytest.raises(UnprotectedRouteError, match="/oops"):
        guard_and_document_routes(app.routes)


def test_unguarded_route_fails_at_app_creation() -> None:
    app = FastAPI()

    @app.get("/open")
    async def open_route() -> dict[str, str]:
        return {}

    with pytest.raises(UnprotectedRouteError, match="/open"):
        guard_and_document_routes(app.routes)


def test_every_route_of_the_app_is_guarded_or_public(app: FastAPI) -> None:
    for context in iter_route_contexts(app.routes):
        guarded = required_roles(context.endpoint) is not None if context.endpoint else False
        assert guarded or context.path in PUBLIC_PATHS, context.path


def test_public_list_is_exactly_what_the_contract_makes_public() -> None:
    assert {
        "/token",
        "/token/revoke",
        "/signup",
        "/account/password/forgot",
        "/account/password/reset",
        "/healthz",
        "/readyz",
        "/",
        "/static",
        "/openapi.json",
        "/docs",
        "/docs/oauth2-redirect",
        "/redoc",
        "/docs/assets",
        "/.well-known/jwks.json",
        "/.well-known/oauth-authorization-server",
    } == PUBLIC_PATHS


@pytest.mark.parametrize(
    ("endpoint", "parameter"), [(async_declared, "token"), (sync_injected, "_authorize_guard")]
)
def test_the_role_check_costs_no_thread_pool_hop(
    endpoint: Callable[..., object], parameter: str
) -> None:
    """FastAPI runs plain `def` dependencies in the thread pool; the guard must be async."""
    signature = inspect.signature(authorize(roles="user")(endpoint))
    guard = signature.parameters[parameter].annotation.__metadata__[0]
    assert inspect.iscoroutinefunction(guard.dependency)


@pytest.mark.parametrize("endpoint", [async_declared, seed_spelling])
def test_an_endpoint_that_asks_for_the_token_gets_it_through_the_role_check(
    endpoint: Callable[..., object],
) -> None:
    """One path to `get_token_data`, not two: FastAPI solves a cached dependency's own
    dependencies again for every parameter that leads to it."""
    parameters = inspect.signature(authorize(roles="user")(endpoint)).parameters
    assert "_authorize_guard" not in parameters
    token = next(iter(parameters.values()))
    sources = (*getattr(token.annotation, "__metadata__", ()), token.default)
    checks = [s.dependency for s in sources if isinstance(s, DependsParam)]
    assert len(checks) == 1
    assert checks[0] is not get_token_data
    assert checks[0].__name__ == "check_roles"


def test_a_default_spelled_token_parameter_is_role_checked_too(guarded_client: TestClient) -> None:
    assert guarded_client.get("/seed-spelling", headers=token_for("other")).status_code == 403
    assert guarded_client.get("/seed-spelling").status_code == 401
