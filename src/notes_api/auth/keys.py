"""Asymmetric signing keys: loading PEM files safely, `kid` thumbprints, the published JWK set.

With `JWT_ALGORITHM=EdDSA` (Ed25519) or `ES256` (P-256), one private key
signs (`JWT_PRIVATE_KEY_FILE`) and a set of public keys verifies: the signing
key's, plus those of `JWT_PUBLISHED_KEY_FILES` (the next key, published before
it signs, and the previous one, kept until every token it signed has expired).
Each key's `kid` is its RFC 7638 thumbprint, so every instance derives the same
id from the same key with nothing to coordinate.

A key file that is missing, unreadable, not a key of the configured type, or
readable by every user stops start-up with `KeyFileError`, one line that names
the setting and the file and never shows the key.
"""

from __future__ import annotations

import base64
import hashlib
import json
import stat
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import dsa, ec, ed448, rsa, x448, x25519
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from notes_api.config import ASYMMETRIC_ALGORITHMS, Settings
from notes_api.dev_secrets import create_once

PrivateKey = Ed25519PrivateKey | ec.EllipticCurvePrivateKey
PublicKey = Ed25519PublicKey | ec.EllipticCurvePublicKey

KEY_TYPE_BY_ALGORITHM = {"EdDSA": "an Ed25519 key", "ES256": "a P-256 (secp256r1) EC key"}
FORBIDDEN_HEADERS = frozenset({"jku", "x5u", "jwk", "x5c"})
"""Headers that tell a verifier where to fetch, or how to build, the key that checks the
token: a token that names its own key proves nothing. Their mere presence is refused."""


_KEY_KINDS: tuple[tuple[tuple[type, ...], str], ...] = (
    ((rsa.RSAPrivateKey, rsa.RSAPublicKey), "an RSA key"),
    ((dsa.DSAPrivateKey, dsa.DSAPublicKey), "a DSA key"),
    ((ed448.Ed448PrivateKey, ed448.Ed448PublicKey), "an Ed448 key"),
    ((x25519.X25519PrivateKey, x25519.X25519PublicKey), "an X25519 key"),
    ((x448.X448PrivateKey, x448.X448PublicKey), "an X448 key"),
    ((Ed25519PrivateKey, Ed25519PublicKey), "an Ed25519 key"),
)


class KeyFileError(ValueError):
    """A key file cannot be used; the message is one line, fit for a start-up log."""


def is_asymmetric(algorithm: str) -> bool:
    return algorithm in ASYMMETRIC_ALGORITHMS


def generate_private_key(algorithm: str) -> PrivateKey:
    if algorithm == "EdDSA":
        return Ed25519PrivateKey.generate()
    if algorithm == "ES256":
        return ec.generate_private_key(ec.SECP256R1())
    raise ValueError(f"{algorithm} is not an asymmetric algorithm: use EdDSA or ES256")


def private_key_pem(key: PrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def public_key_pem(key: PublicKey) -> bytes:
    return key.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _required_members(key: PublicKey) -> dict[str, str]:
    """The JWK members RFC 7638 section 3.2 hashes, for Ed25519 (RFC 8037) and P-256."""
    if isinstance(key, Ed25519PublicKey):
        raw = key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
        return {"crv": "Ed25519", "kty": "OKP", "x": _b64url(raw)}
    numbers = key.public_numbers()
    return {
        "crv": "P-256",
        "kty": "EC",
        "x": _b64url(numbers.x.to_bytes(32, "big")),
        "y": _b64url(numbers.y.to_bytes(32, "big")),
    }


def thumbprint(key: PublicKey) -> str:
    """RFC 7638: SHA-256 of the required members, sorted, without whitespace, base64url."""
    canonical = json.dumps(_required_members(key), sort_keys=True, separators=(",", ":"))
    return _b64url(hashlib.sha256(canonical.encode("ascii")).digest())


def public_jwk(key: PublicKey, algorithm: str) -> dict[str, str]:
    return {**_required_members(key), "kid": thumbprint(key), "alg": algorithm, "use": "sig"}


@dataclass(frozen=True)
class KeyRing:
    """The signing key and every public key that may verify a currently valid token."""

    algorithm: str
    private_key: PrivateKey
    kid: str
    public_keys: Mapping[str, PublicKey]
    """kid -> key; holds the signing key's own public key too."""

    def jwks(self) -> list[dict[str, str]]:
        return [public_jwk(key, self.algorithm) for key in self.public_keys.values()]


def key_ring(algorithm: str, private_key: PrivateKey, published: list[PublicKey]) -> KeyRing:
    own = private_key.public_key()
    keys: dict[str, PublicKey] = {thumbprint(own): own}
    for key in published:
        keys.setdefault(thumbprint(key), key)
    return KeyRing(algorithm, private_key, thumbprint(own), keys)


def load_key_ring(
    algorithm: str, private_key_file: Path, published_key_files: list[Path]
) -> KeyRing:
    private_key = load_private_key(private_key_file, algorithm, setting="JWT_PRIVATE_KEY_FILE")
    published = [load_public_key(path, algorithm) for path in published_key_files]
    return key_ring(algorithm, private_key, published)


def _read_key_file(path: Path, setting: str, *, private: bool) -> bytes:
    try:
        mode = path.stat().st_mode
        if private and mode & stat.S_IROTH:
            raise KeyFileError(
                f"{setting}: {path} is readable by every user (mode {stat.S_IMODE(mode):04o}); "
                f"`chmod 600 {path}` and give it to the user the server runs as"
            )
        return path.read_bytes()
    except FileNotFoundError:
        raise KeyFileError(f"{setting}: {path} does not exist") from None
    except PermissionError:
        raise KeyFileError(f"{setting}: {path} cannot be read by this user") from None
    except IsADirectoryError:
        raise KeyFileError(f"{setting}: {path} is a directory, not a key file") from None
    except OSError as exc:
        raise KeyFileError(f"{setting}: {path} cannot be read ({exc.strerror})") from None


def load_private_key(path: Path, algorithm: str, *, setting: str) -> PrivateKey:
    data = _read_key_file(path, setting, private=True)
    try:
        key = serialization.load_pem_private_key(data, password=None)
    except TypeError:
        raise KeyFileError(f"{setting}: {path} is encrypted; give it without passphrase") from None
    except ValueError:
        raise KeyFileError(f"{setting}: {path} is not a PEM private key") from None
    if isinstance(key, Ed25519PrivateKey | ec.EllipticCurvePrivateKey) and _fits(key, algorithm):
        return key
    raise _wrong_type(key, path, algorithm, setting)


def load_public_key(path: Path, algorithm: str) -> PublicKey:
    """A published key: a public PEM, or a private one (then it must be private on disk)."""
    setting = "JWT_PUBLISHED_KEY_FILES"
    data = _read_key_file(path, setting, private=False)
    if b"PRIVATE KEY" in data:
        return load_private_key(path, algorithm, setting=setting).public_key()
    try:
        key = serialization.load_pem_public_key(data)
    except ValueError:
        raise KeyFileError(f"{setting}: {path} is not a PEM public or private key") from None
    if isinstance(key, Ed25519PublicKey | ec.EllipticCurvePublicKey) and _fits(key, algorithm):
        return key
    raise _wrong_type(key, path, algorithm, setting)


def _fits(key: PrivateKey | PublicKey, algorithm: str) -> bool:
    if algorithm == "EdDSA":
        return isinstance(key, Ed25519PrivateKey | Ed25519PublicKey)
    return not isinstance(key, Ed25519PrivateKey | Ed25519PublicKey) and isinstance(
        key.curve, ec.SECP256R1
    )


def _wrong_type(key: object, path: Path, algorithm: str, setting: str) -> KeyFileError:
    wanted = KEY_TYPE_BY_ALGORITHM[algorithm]
    return KeyFileError(
        f"{setting}: {path} holds {_describe(key)}, but JWT_ALGORITHM={algorithm} needs {wanted}"
    )


def _describe(key: object) -> str:
    if isinstance(key, ec.EllipticCurvePrivateKey | ec.EllipticCurvePublicKey):
        return f"an EC key on {key.curve.name}"
    for kinds, description in _KEY_KINDS:
        if isinstance(key, kinds):
            return description
    return "a key of another type"


def signing_material(settings: Settings) -> str | KeyRing:
    """What signs and verifies access tokens: the HMAC secret, or the key ring.

    In development without `JWT_PRIVATE_KEY_FILE`, a private key is generated
    once into a git-ignored file, as the HMAC secret is.
    """
    if not is_asymmetric(settings.jwt_algorithm):
        return settings.signing_key()
    path = settings.private_key_file()
    if settings.jwt_private_key_file is None:
        algorithm = settings.jwt_algorithm
        create_once(path, lambda: private_key_pem(generate_private_key(algorithm)))
    return load_key_ring(settings.jwt_algorithm, path, settings.jwt_published_key_files)
