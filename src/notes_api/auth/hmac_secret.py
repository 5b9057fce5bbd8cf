"""The HMAC secret as a key object that PyJWT checks once, not on every verification.

Given the secret as text, PyJWT (2.15) makes sure on every `decode` that it is no PEM,
SSH or DER key and no JWK: four parsers, three of which end in an exception for a real
secret (2.10 tried only the first two). That is about 35 µs of the 120 a verification
takes here, on every request with a bearer token, to re-check a value fixed at start-up.

A `PyJWK` is the documented other form of a key. PyJWT hands its `key` to its
`Algorithm.prepare_key` (2.10 took it as it was); ours answers the secret it checked when
it was built as it is, and checks anything else as usual. The checks are PyJWT's own, run
once here: a secret that fails them stops start-up instead of every request.
"""

from __future__ import annotations

from typing import Any

from jwt import PyJWK
from jwt.algorithms import HMACAlgorithm
from jwt.utils import base64url_encode


class _SecretCheckedOnce(HMACAlgorithm):
    def __init__(self, hash_alg: Any, secret: bytes) -> None:
        super().__init__(hash_alg)
        self.secret = super().prepare_key(secret)

    def prepare_key(self, key: str | bytes) -> bytes:
        # By identity: the one object this key hands over, not any equal bytes.
        return self.secret if key is self.secret else super().prepare_key(key)


def verification_key(secret: str, algorithm: str) -> PyJWK:
    """`secret` as the key of `algorithm` (HS256, HS384 or HS512) for `jwt.decode`."""
    key = PyJWK({"kty": "oct", "k": base64url_encode(secret.encode()).decode()}, algorithm)
    pyjwt_own = key.Algorithm  # PyJWT's algorithm for that name, whose hash we keep
    if not isinstance(pyjwt_own, HMACAlgorithm):
        raise ValueError(f"{algorithm} is not an HMAC algorithm")
    checked = _SecretCheckedOnce(pyjwt_own.hash_alg, key.key)
    key.Algorithm, key.key = checked, checked.secret
    return key
