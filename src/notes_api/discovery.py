"""`/.well-known/jwks.json` (RFC 7517) and `/.well-known/oauth-authorization-server` (RFC 8414).

Another service verifies notes-api's access tokens with the public keys
published here, and never holds a secret that could mint one. With an HS
algorithm there is nothing to publish: the key set is empty.
"""

from __future__ import annotations

from fastapi import APIRouter, Response
from pydantic import BaseModel, ConfigDict

from notes_api.auth.keys import KeyRing
from notes_api.dependencies import AppSettings, Codec
from notes_api.routing import PrefixCheckedRoute
from notes_api.sessions.second_factor import MFA_GRANTS

router = APIRouter(route_class=PrefixCheckedRoute, tags=["discovery"])

JWKS_PATH = "/.well-known/jwks.json"
METADATA_PATH = "/.well-known/oauth-authorization-server"
DISCOVERY_PATHS = frozenset({JWKS_PATH, METADATA_PATH})
PUBLIC_CACHE = {"Cache-Control": "public, max-age=300"}
"""Five minutes: a verifier picks up a newly published key within that, which is why the
rotation procedure waits at least this long between publishing a key and signing with it."""
GRANT_TYPES = ["password", "refresh_token", *MFA_GRANTS]


class JsonWebKey(BaseModel):
    model_config = ConfigDict(extra="allow")

    kty: str
    kid: str
    alg: str
    use: str
    crv: str
    x: str
    y: str | None = None


class JsonWebKeySet(BaseModel):
    keys: list[JsonWebKey]


NO_RESPONSE_TYPES = ["none"]
"""There is no authorization endpoint, yet RFC 8414 section 2 requires this member, and
section 3.2 forbids an empty array (authlib and other validators refuse both). `none` is the
registered response type (OAuth 2.0 Multiple Response Type Encoding Practices, section 4)
under which no code and no token is ever returned from an authorization endpoint; `code` or
`token` would announce flows that do not exist. Errata 7793 to RFC 8414 would let a server
like this one omit the member."""


class ServerMetadata(BaseModel):
    issuer: str
    token_endpoint: str
    revocation_endpoint: str
    jwks_uri: str
    grant_types_supported: list[str]
    token_endpoint_auth_methods_supported: list[str]
    revocation_endpoint_auth_methods_supported: list[str]
    response_types_supported: list[str]
    """`["none"]`: see NO_RESPONSE_TYPES."""
    service_documentation: str | None = None


@router.get(
    JWKS_PATH,
    response_model=JsonWebKeySet,
    response_model_exclude_none=True,
    summary="The public keys that verify access tokens (empty for HS algorithms)",
)
async def jwks(response: Response, codec: Codec) -> JsonWebKeySet:
    response.headers.update(PUBLIC_CACHE)
    keys = codec.key.jwks() if isinstance(codec.key, KeyRing) else []
    return JsonWebKeySet(keys=[JsonWebKey.model_validate(key) for key in keys])


@router.get(
    METADATA_PATH,
    response_model=ServerMetadata,
    response_model_exclude_none=True,
    summary="Authorization server metadata (RFC 8414)",
)
async def server_metadata(response: Response, settings: AppSettings) -> ServerMetadata:
    response.headers.update(PUBLIC_CACHE)
    base = settings.public_url
    return ServerMetadata(
        issuer=settings.token_issuer,
        token_endpoint=f"{base}/token",
        revocation_endpoint=f"{base}/token/revoke",
        jwks_uri=f"{base}{JWKS_PATH}",
        grant_types_supported=GRANT_TYPES,
        token_endpoint_auth_methods_supported=["none"],
        revocation_endpoint_auth_methods_supported=["none"],
        response_types_supported=NO_RESPONSE_TYPES,
        service_documentation=f"{base}/docs" if settings.docs_enabled else None,
    )
