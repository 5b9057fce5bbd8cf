"""Access-token encoding and decoding, and refresh-token generation (pure, no FastAPI).

Access tokens are short-lived JWTs carrying the user's roles as one
comma-joined string, the public id of the session (`sid`) they belong to and
the login methods (`amr`, RFC 8176). Refresh tokens are opaque random strings;
only their SHA-256 digest is ever stored.

`iat` is written with millisecond precision (RFC 7519 allows a non-integer
NumericDate): a role revocation refuses the tokens issued before it, and whole
seconds would also refuse a token issued just after it, with the new roles.
"""

from __future__ import annotations

import hashlib
import secrets
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import jwt
from jwt import PyJWK
from pydantic import BaseModel, ConfigDict

from notes_api.auth.hmac_secret import verification_key
from notes_api.auth.keys import FORBIDDEN_HEADERS, KeyRing, PublicKey
from notes_api.validation import DATABASE_INT_MAX

ACCESS_TOKEN_TYPE = "access"  # noqa: S105 - the `type` claim value, not a secret
REQUIRED_CLAIMS = ("sub", "id", "roles", "type", "iat", "exp", "jti", "iss", "aud", "sid", "amr")
MAX_SESSION_ID_LENGTH = 64
AMR_VALUES = frozenset({"pwd", "otp", "mfa"})
"""RFC 8176 method names this service may write into `amr`."""
CLOCK_SKEW_LEEWAY_SECONDS = 5
REFRESH_TOKEN_BYTES = 32  # 256 bits
MAX_ACCESS_TOKEN_LENGTH = 4096
"""Ours are under 1 KB; anything past this is refused before any base64 or JSON work, so a
multi-megabyte bearer costs a length check, not a decode (the server caps headers too)."""


class InvalidTokenError(Exception):
    """The token is not a valid access token; the reason is for logs, never for clients."""


class TokenData(BaseModel):
    """What a protected route knows about its caller: decoded from the token, no database read."""

    model_config = ConfigDict(frozen=True)

    id: int
    username: str
    roles: list[str]
    session_id: str | None = None
    """The `sid` of the session (login) the token belongs to; None for a personal token."""
    amr: list[str] = []
    """How the user authenticated at login (RFC 8176): `["pwd"]` or `["pwd", "otp"]`."""
    issued_at: float = 0.0
    """`iat`, in seconds since the epoch: compared with the user's revocation cut-off."""
    via_personal_token: bool = False
    """True when the caller presented a personal access token instead of a JWT."""
    withheld_roles: list[str] = []
    """Roles the token carries that count only with a second factor it lacks
    (`MFA_REQUIRED_ROLES`): left out of `roles`, so no check can grant them by mistake."""


def join_roles(roles: list[str]) -> str:
    return ",".join(sorted(roles))


def split_roles(roles: str) -> list[str]:
    return [role for role in (part.strip() for part in roles.split(",")) if role]


@dataclass(frozen=True)
class AccessTokenCodec:
    """Signs and verifies access tokens with one key, one algorithm, one issuer and audience."""

    key: str | KeyRing
    """The HMAC secret (HS256/384/512), or the key ring of an asymmetric algorithm."""
    algorithm: str
    issuer: str
    audience: str
    lifetime: timedelta
    _verifying: PyJWK | KeyRing = field(init=False, repr=False, compare=False)
    """What verifies: the secret as a key object PyJWT checked once (`hmac_secret`), or the
    key ring."""

    def __post_init__(self) -> None:
        key = self.key
        verifying = verification_key(key, self.algorithm) if isinstance(key, str) else key
        object.__setattr__(self, "_verifying", verifying)

    def encode(
        self,
        *,
        user_id: int,
        username: str,
        roles: list[str],
        session_id: str,
        amr: list[str],
        issued_at: datetime | None = None,
        session_expires_at: datetime | None = None,
    ) -> str:
        """`issued_at` defaults to now; the token endpoint passes the time it started, before
        it read the roles, so that `iat` is never later than the roles it carries. The token
        expires with its session if that comes first: an expired session, like any other
        that ended, leaves no access token working."""
        now = issued_at or datetime.now(UTC)
        expires_at = self.expiry(now, session_expires_at)
        claims = {
            "sub": username,
            "id": user_id,
            "roles": join_roles(roles),
            "type": ACCESS_TOKEN_TYPE,
            "iat": issued_at_claim(now),
            "exp": expires_at,
            "sid": session_id,
            "amr": list(amr),
            "jti": uuid.uuid4().hex,
            "iss": self.issuer,
            "aud": self.audience,
        }
        if isinstance(self.key, KeyRing):
            ring = self.key
            return jwt.encode(
                claims, ring.private_key, algorithm=self.algorithm, headers={"kid": ring.kid}
            )
        return jwt.encode(claims, self.key, algorithm=self.algorithm)

    def expiry(self, issued_at: datetime, session_expires_at: datetime | None = None) -> datetime:
        expires_at = issued_at + self.lifetime
        return expires_at if session_expires_at is None else min(expires_at, session_expires_at)

    def decode(self, token: str) -> TokenData:
        if len(token) > MAX_ACCESS_TOKEN_LENGTH:
            raise InvalidTokenError("token too long")
        try:
            decoded = jwt.decode_complete(
                token,
                self._verification_key(token),
                algorithms=[self.algorithm],
                audience=self.audience,
                issuer=self.issuer,
                leeway=CLOCK_SKEW_LEEWAY_SECONDS,
                options={"require": list(REQUIRED_CLAIMS)},
            )
        except jwt.PyJWTError as exc:
            raise InvalidTokenError(str(exc)) from exc
        if not FORBIDDEN_HEADERS.isdisjoint(decoded["header"]):
            raise InvalidTokenError("the token names its own key (jku, x5u, jwk or x5c)")
        claims: dict[str, Any] = decoded["payload"]
        if claims["type"] != ACCESS_TOKEN_TYPE:
            raise InvalidTokenError("not an access token")
        user_id, username, roles = claims["id"], claims["sub"], claims["roles"]
        if type(user_id) is not int or not isinstance(username, str) or not isinstance(roles, str):
            raise InvalidTokenError("malformed claims")
        if not 1 <= user_id <= DATABASE_INT_MAX:  # no database lookup could take it
            raise InvalidTokenError("user id out of range")
        session_id, amr, issued_at = claims["sid"], claims["amr"], claims["iat"]
        if not isinstance(session_id, str) or not 0 < len(session_id) <= MAX_SESSION_ID_LENGTH:
            raise InvalidTokenError("malformed sid")
        if not isinstance(amr, list) or not amr or not all(_is_method(m) for m in amr):
            raise InvalidTokenError("malformed amr")
        if type(issued_at) not in (int, float):
            raise InvalidTokenError("malformed iat")
        return TokenData(
            id=user_id,
            username=username,
            roles=split_roles(roles),
            session_id=session_id,
            amr=amr,
            issued_at=float(issued_at),
        )

    def _verification_key(self, token: str) -> PyJWK | PublicKey:
        """The key for this token: the HMAC secret, or the published key of its `kid`.

        `jwt.decode_complete` is given only the configured algorithm, so an HS256 token
        is never checked against a public key. An HMAC token's header is read once, by
        PyJWT: this path stays as cheap as before asymmetric keys existed.
        """
        verifying = self._verifying
        if isinstance(verifying, PyJWK):
            return verifying
        header = jwt.get_unverified_header(token)
        if header.get("alg") != self.algorithm:
            raise InvalidTokenError("unexpected alg")
        kid = header.get("kid")
        key = verifying.public_keys.get(kid) if isinstance(kid, str) else None
        if key is None:
            raise InvalidTokenError("unknown kid")
        return key


def issued_at_claim(instant: datetime) -> float:
    """`iat` in seconds with milliseconds, rounded down: never later than the instant the
    token's roles were read after. Rounded to nearest, it could land up to 0.5 ms after
    that instant, past a role's revocation cut-off taken in between, and a token carrying
    the revoked role would pass `iat < cut-off`."""
    return instant.replace(microsecond=instant.microsecond // 1000 * 1000).timestamp()


def _is_method(value: object) -> bool:
    return isinstance(value, str) and value in AMR_VALUES


def new_refresh_token() -> str:
    return secrets.token_urlsafe(REFRESH_TOKEN_BYTES)


def hash_refresh_token(token: str) -> str:
    """SHA-256 is enough here: the token has 256 bits of entropy, so nothing can be guessed
    from its digest, and a fast digest lets the database find it by a unique index."""
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()


def new_family_id() -> str:
    return uuid.uuid4().hex


def new_session_id() -> str:
    """The public id of a session: 128 random bits, unrelated to any refresh secret."""
    return secrets.token_urlsafe(16)
