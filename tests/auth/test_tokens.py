"""Unit tests for the pure access-token codec and refresh-token helpers."""

from __future__ import annotations

import base64
import json
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import jwt
import pytest

from notes_api.auth.tokens import (
    REFRESH_TOKEN_BYTES,
    AccessTokenCodec,
    InvalidTokenError,
    hash_refresh_token,
    new_refresh_token,
)

KEY = "unit-test-signing-key-" + "0123456789abcdef" * 3  # 70 bytes: enough for HS512
codec = AccessTokenCodec(
    key=KEY,
    algorithm="HS256",
    issuer="notes-api",
    audience="notes-api",
    lifetime=timedelta(minutes=15),
)


def claims(**overrides: object) -> dict[str, object]:
    now = datetime.now(UTC)
    base: dict[str, object] = {
        "sub": "alice",
        "id": 7,
        "roles": "admin,user",
        "type": "access",
        "iat": now,
        "exp": now + timedelta(minutes=5),
        "jti": "j1",
        "iss": "notes-api",
        "aud": "notes-api",
        "sid": "s1",
        "amr": ["pwd"],
    }
    base.update(overrides)
    return {key: value for key, value in base.items() if value is not None}


def test_round_trip_carries_the_session_id_and_login_methods() -> None:
    token = codec.encode(
        user_id=7, username="alice", roles=[], session_id="abc", amr=["pwd", "otp"]
    )
    data = codec.decode(token)
    assert (data.session_id, data.amr, data.via_personal_token) == ("abc", ["pwd", "otp"], False)


def test_issued_at_keeps_milliseconds() -> None:
    """A role revocation cuts off tokens issued before it; whole seconds would also cut off
    the token a client gets right after it, with the new roles."""
    issued = datetime(2030, 1, 2, 3, 4, 5, 678_000, tzinfo=UTC)
    token = codec.encode(
        user_id=7, username="a", roles=[], session_id="s", amr=["pwd"], issued_at=issued
    )
    assert (
        jwt.decode(token, options={"verify_signature": False, "verify_iat": False})["iat"]
        == issued.timestamp()
    )


def test_issued_at_is_written_to_the_millisecond_no_finer() -> None:
    """README and CHANGELOG promise `iat` with milliseconds: the precision of the cut-offs it is
    compared with (SQLite's triggers write `%f`, seconds with milliseconds)."""
    issued = datetime(2030, 1, 2, 3, 4, 5, 678_400, tzinfo=UTC)
    token = codec.encode(
        user_id=7, username="a", roles=[], session_id="s", amr=["pwd"], issued_at=issued
    )
    assert (
        jwt.decode(token, options={"verify_signature": False, "verify_iat": False})["iat"]
        == issued.replace(microsecond=678_000).timestamp()
    )


def test_issued_at_is_rounded_down_never_after_the_instant_it_was_taken() -> None:
    """A role revoked 0.1 ms after a login started must still refuse its token: the cut-off
    is compared with `iat`, which must not be later than the login's start."""
    issued = datetime(2030, 1, 2, 3, 4, 5, 678_900, tzinfo=UTC)
    cut_off = issued.timestamp() + 0.0001
    token = codec.encode(
        user_id=7, username="a", roles=[], session_id="s", amr=["pwd"], issued_at=issued
    )
    iat = jwt.decode(token, options={"verify_signature": False, "verify_iat": False})["iat"]
    assert iat == issued.replace(microsecond=678_000).timestamp()
    assert iat < cut_off


def test_decode_reports_the_tokens_iat_as_issued_at() -> None:
    """What the revocation cut-offs are compared with."""
    issued = (datetime.now(UTC) - timedelta(seconds=2)).replace(microsecond=678_000)
    token = codec.encode(
        user_id=7, username="a", roles=[], session_id="s", amr=["pwd"], issued_at=issued
    )
    assert codec.decode(token).issued_at == issued.timestamp()


def test_a_token_issued_now_ends_with_its_session_if_that_comes_first() -> None:
    """Without `issued_at` the token is issued now, in UTC like the session's expiry."""
    before = datetime.now(UTC)
    session_end = before + timedelta(minutes=1)
    token = codec.encode(
        user_id=7,
        username="a",
        roles=[],
        session_id="s",
        amr=["pwd"],
        session_expires_at=session_end,
    )
    payload = jwt.decode(token, options={"verify_signature": False})
    assert payload["exp"] == int(session_end.timestamp())
    assert before.timestamp() - 0.001 <= payload["iat"] <= datetime.now(UTC).timestamp() + 0.001


def test_round_trip_carries_id_username_and_roles() -> None:
    token = codec.encode(
        user_id=7, username="alice", roles=["user", "admin"], session_id="s1", amr=["pwd"]
    )
    data = codec.decode(token)
    assert (data.id, data.username, data.roles) == (7, "alice", ["admin", "user"])


def test_roles_travel_as_one_comma_joined_string() -> None:
    token = codec.encode(
        user_id=7, username="alice", roles=["user", "admin"], session_id="s1", amr=["pwd"]
    )
    assert jwt.decode(token, options={"verify_signature": False})["roles"] == "admin,user"


def test_no_roles_is_an_empty_string_and_an_empty_list() -> None:
    token = codec.encode(user_id=7, username="alice", roles=[], session_id="s1", amr=["pwd"])
    assert jwt.decode(token, options={"verify_signature": False})["roles"] == ""
    assert codec.decode(token).roles == []


def test_every_required_claim_is_present() -> None:
    token = codec.encode(user_id=1, username="a", roles=[], session_id="s1", amr=["pwd"])
    payload = jwt.decode(token, options={"verify_signature": False})
    assert {
        "sub",
        "id",
        "roles",
        "type",
        "iat",
        "exp",
        "jti",
        "iss",
        "aud",
        "sid",
        "amr",
    } <= payload.keys()


def test_expired_token_is_rejected() -> None:
    past = datetime.now(UTC) - timedelta(minutes=1)
    token = jwt.encode(claims(exp=past, iat=past - timedelta(minutes=1)), KEY, algorithm="HS256")
    with pytest.raises(InvalidTokenError):
        codec.decode(token)


def test_small_clock_skew_is_tolerated() -> None:
    just_expired = datetime.now(UTC) - timedelta(seconds=2)
    token = jwt.encode(claims(exp=just_expired), KEY, algorithm="HS256")
    assert codec.decode(token).username == "alice"


@pytest.mark.parametrize(
    "missing", ["sub", "id", "roles", "type", "iat", "exp", "jti", "iss", "aud", "sid", "amr"]
)
def test_token_missing_a_required_claim_is_rejected(missing: str) -> None:
    token = jwt.encode(claims(**{missing: None}), KEY, algorithm="HS256")
    with pytest.raises(InvalidTokenError):
        codec.decode(token)


@pytest.mark.parametrize(
    ("claim", "value"),
    [
        ("type", "refresh"),
        ("iss", "someone-else"),
        ("aud", "another-api"),
        ("id", True),
        ("id", "7"),
        ("roles", ["admin"]),
        ("sub", 5),
        ("sid", 5),
        ("sid", ""),
        ("sid", "x" * 65),
        ("amr", "pwd"),
        ("amr", []),
        ("amr", ["password"]),
        ("amr", [["pwd"]]),
        ("iat", "yesterday"),
    ],
)
def test_token_with_a_wrong_claim_is_rejected(claim: str, value: object) -> None:
    token = jwt.encode(claims(**{claim: value}), KEY, algorithm="HS256")
    with pytest.raises(InvalidTokenError):
        codec.decode(token)


def test_wrong_key_is_rejected() -> None:
    token = jwt.encode(claims(), "another-key-of-sufficient-length-" + "0" * 40, algorithm="HS256")
    with pytest.raises(InvalidTokenError):
        codec.decode(token)


def test_other_hmac_algorithm_is_rejected_even_with_the_right_key() -> None:
    token = jwt.encode(claims(), KEY, algorithm="HS512")
    with pytest.raises(InvalidTokenError):
        codec.decode(token)


def test_configured_algorithm_is_the_one_accepted() -> None:
    hs512 = replace(codec, algorithm="HS512")
    assert (
        hs512.decode(
            hs512.encode(user_id=1, username="a", roles=["user"], session_id="s1", amr=["pwd"])
        ).id
        == 1
    )


def test_a_secret_that_is_a_public_key_in_disguise_stops_the_codec_being_built() -> None:
    pem = "-----BEGIN PUBLIC KEY-----\nMCowBQYDK2VwAyEA" + "A" * 43 + "=\n-----END PUBLIC KEY-----"
    with pytest.raises(jwt.InvalidKeyError):
        replace(codec, key=pem)


def test_the_secret_is_checked_once_not_at_every_verification(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    checks: list[bytes] = []

    def counted_check(key: bytes) -> bool:
        checks.append(key)
        return jwt.utils.is_pem_format(key)

    monkeypatch.setattr(jwt.algorithms, "is_pem_format", counted_check)
    fresh = replace(codec)
    token = fresh.encode(user_id=1, username="a", roles=["user"], session_id="s1", amr=["pwd"])
    checks.clear()  # the codec's own check, and encode's
    for _ in range(3):
        assert fresh.decode(token).id == 1
    assert checks == []


def _b64(data: dict[str, object]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).decode().rstrip("=")


def test_alg_none_is_rejected() -> None:
    payload = claims()
    payload["iat"] = payload["exp"] = int(datetime.now(UTC).timestamp()) + 60
    unsigned = f"{_b64({'alg': 'none', 'typ': 'JWT'})}.{_b64(payload)}."
    with pytest.raises(InvalidTokenError):
        codec.decode(unsigned)


def test_tampered_payload_is_rejected() -> None:
    header, _payload, signature = codec.encode(
        user_id=1, username="a", roles=["user"], session_id="s1", amr=["pwd"]
    ).split(".")
    forged = _b64({**claims(roles="admin"), "iat": 1, "exp": 4_000_000_000})
    with pytest.raises(InvalidTokenError):
        codec.decode(f"{header}.{forged}.{signature}")


@pytest.mark.parametrize("garbage", ["", "abc", "a.b.c", "Bearer x", "\x00\xff", "." * 3])
def test_garbage_is_rejected(garbage: str) -> None:
    with pytest.raises(InvalidTokenError):
        codec.decode(garbage)


def test_refresh_tokens_have_256_bits_and_never_repeat() -> None:
    tokens = {new_refresh_token() for _ in range(100)}
    assert len(tokens) == 100
    assert all(len(base64.urlsafe_b64decode(t + "=")) == REFRESH_TOKEN_BYTES for t in tokens)


def test_refresh_token_hash_is_sha256_hex_and_not_the_token() -> None:
    token = new_refresh_token()
    digest = hash_refresh_token(token)
    assert len(digest) == 64
    assert token not in digest
    assert digest == hash_refresh_token(token)
