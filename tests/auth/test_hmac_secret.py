"""The HMAC secret as a key object checked once: it checks anything else as PyJWT does."""

from __future__ import annotations

import jwt
import pytest

from notes_api.auth.hmac_secret import verification_key

SECRET = "unit-test-secret-" + "0123456789abcdef" * 3


@pytest.mark.parametrize("algorithm", ["HS256", "HS384", "HS512"])
def test_a_token_signed_with_the_secret_verifies_and_one_signed_otherwise_does_not(
    algorithm: str,
) -> None:
    key = verification_key(SECRET, algorithm)
    token = jwt.encode({"sub": "a"}, SECRET, algorithm=algorithm)
    assert jwt.decode(token, key, algorithms=[algorithm]) == {"sub": "a"}
    forged = jwt.encode({"sub": "a"}, SECRET + "x", algorithm=algorithm)
    with pytest.raises(jwt.InvalidSignatureError):
        jwt.decode(forged, key, algorithms=[algorithm])


def test_another_key_is_prepared_as_pyjwt_prepares_it() -> None:
    algorithm = verification_key(SECRET, "HS256").Algorithm
    assert algorithm.prepare_key("another-secret") == b"another-secret"
    with pytest.raises(jwt.InvalidKeyError):
        algorithm.prepare_key("-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----")
