"""EdDSA and ES256 access tokens: kid, the published key set, and every forged token refused."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from collections.abc import Iterator
from pathlib import Path

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from fastapi.testclient import TestClient

from notes_api.auth.keys import generate_private_key, private_key_pem, public_key_pem
from notes_api.main import create_app
from tests.conftest import MakeUser, bearer, login, make_settings

ALGORITHMS = ("EdDSA", "ES256")


def write_key(path: Path, algorithm: str) -> Path:
    path.write_bytes(private_key_pem(generate_private_key(algorithm)))
    path.chmod(0o600)
    return path


def start(database_url: str, **settings: object) -> TestClient:
    return TestClient(create_app(make_settings(database_url, **settings)))


@pytest.fixture(params=ALGORITHMS)
def algorithm(request: pytest.FixtureRequest) -> str:
    name: str = request.param
    return name


@pytest.fixture
def key_file(tmp_path: Path, algorithm: str) -> Path:
    return write_key(tmp_path / "signing.pem", algorithm)


@pytest.fixture
def signed(database_url: str, algorithm: str, key_file: Path) -> Iterator[TestClient]:
    with start(database_url, jwt_algorithm=algorithm, jwt_private_key_file=key_file) as client:
        yield client


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def resign(token: str, key: object, algorithm: str, **header: object) -> str:
    """The same claims, signed with `key` under a header of our choosing."""
    claims = jwt.decode(token, options={"verify_signature": False})
    return jwt.encode(claims, key, algorithm=algorithm, headers=header)  # type: ignore[arg-type]


def test_tokens_carry_the_published_kid_and_verify_with_the_jwks_alone(
    signed: TestClient, make_user: MakeUser, algorithm: str
) -> None:
    user = make_user()
    token = login(signed, user.username)["access_token"]

    answer = signed.get("/.well-known/jwks.json")

    assert answer.status_code == 200
    assert answer.headers["cache-control"] == "public, max-age=300"
    (jwk,) = answer.json()["keys"]
    header = jwt.get_unverified_header(token)
    assert (header["alg"], header["kid"]) == (algorithm, jwk["kid"])
    assert (jwk["alg"], jwk["use"]) == (algorithm, "sig")
    assert "d" not in jwk
    claims = jwt.decode(
        token, jwt.PyJWK(jwk).key, algorithms=[algorithm], audience="notes-api", issuer="notes-api"
    )
    assert claims["sub"] == user.username
    assert signed.get("/identify/me", headers=bearer(token)).status_code == 200


def test_kid_is_the_rfc_7638_thumbprint(signed: TestClient) -> None:
    (jwk,) = signed.get("/.well-known/jwks.json").json()["keys"]
    members = {name: jwk[name] for name in ("crv", "kty", "x", "y") if name in jwk}
    canonical = json.dumps(members, sort_keys=True, separators=(",", ":")).encode()

    assert jwk["kid"] == b64(hashlib.sha256(canonical).digest())


def test_hs_algorithms_publish_no_key(client: TestClient) -> None:
    answer = client.get("/.well-known/jwks.json")

    assert answer.json() == {"keys": []}
    assert answer.headers["cache-control"] == "public, max-age=300"


def test_a_token_signed_by_an_unpublished_key_is_refused(
    signed: TestClient, make_user: MakeUser, algorithm: str
) -> None:
    token = login(signed, make_user().username)["access_token"]
    stranger = generate_private_key(algorithm)
    kid = jwt.get_unverified_header(token)["kid"]

    for forged in (
        resign(token, stranger, algorithm, kid=kid),  # a published kid, another key
        resign(token, stranger, algorithm, kid="somebody-else"),
        resign(token, stranger, algorithm),  # no kid at all
    ):
        answer = signed.get("/identify/me", headers=bearer(forged))
        assert answer.status_code == 401
        assert answer.headers["www-authenticate"] == 'Bearer error="invalid_token"'


@pytest.mark.parametrize("header", ["jku", "x5u", "jwk", "x5c"])
def test_a_token_that_names_its_own_key_is_refused(
    signed: TestClient, make_user: MakeUser, algorithm: str, key_file: Path, header: str
) -> None:
    """Even correctly signed: a verifier that followed the header could be pointed anywhere."""
    token = login(signed, make_user().username)["access_token"]
    own = jwt.algorithms.get_default_algorithms()[algorithm].prepare_key(key_file.read_bytes())
    kid = jwt.get_unverified_header(token)["kid"]
    value: object = (
        {"kty": "OKP"} if header == "jwk" else ["MIIB"] if header == "x5c" else "https://evil"
    )
    forged = resign(token, own, algorithm, kid=kid, **{header: value})

    assert signed.get("/identify/me", headers=bearer(forged)).status_code == 401


def test_an_hs256_token_made_with_the_public_key_is_refused(
    signed: TestClient, make_user: MakeUser, key_file: Path, algorithm: str
) -> None:
    """The classic confusion: the public key, which anyone has, used as an HMAC secret."""
    token = login(signed, make_user().username)["access_token"]
    own = jwt.algorithms.get_default_algorithms()[algorithm].prepare_key(key_file.read_bytes())
    public_pem = public_key_pem(own.public_key())
    claims = jwt.decode(token, options={"verify_signature": False})
    kid = jwt.get_unverified_header(token)["kid"]
    signing_input = (
        b64(json.dumps({"alg": "HS256", "typ": "JWT", "kid": kid}).encode())
        + "."
        + b64(json.dumps(claims).encode())
    )
    mac = hmac.new(public_pem, signing_input.encode(), hashlib.sha256).digest()
    forged = f"{signing_input}.{b64(mac)}"

    assert signed.get("/identify/me", headers=bearer(forged)).status_code == 401
    none_header = b64(json.dumps({"alg": "none", "kid": kid}).encode())
    unsigned = f"{none_header}.{signing_input.split('.')[1]}."
    assert signed.get("/identify/me", headers=bearer(unsigned)).status_code == 401


def test_a_published_next_key_verifies_before_it_signs(
    database_url: str, make_user: MakeUser, tmp_path: Path, algorithm: str, key_file: Path
) -> None:
    next_key = write_key(tmp_path / "next.pem", algorithm)
    user = make_user()
    with start(database_url, jwt_algorithm=algorithm, jwt_private_key_file=next_key) as later:
        token_of_the_next_key = login(later, user.username)["access_token"]
    with start(
        database_url,
        jwt_algorithm=algorithm,
        jwt_private_key_file=key_file,
        jwt_published_key_files=str(next_key),
    ) as now:
        kids = [jwk["kid"] for jwk in now.get("/.well-known/jwks.json").json()["keys"]]
        answer = now.get("/identify/me", headers=bearer(token_of_the_next_key))

    assert len(kids) == 2
    assert jwt.get_unverified_header(token_of_the_next_key)["kid"] == kids[1]
    assert answer.status_code == 200


def test_a_public_pem_can_be_published_without_its_private_key(
    database_url: str, tmp_path: Path, algorithm: str, key_file: Path
) -> None:
    previous = generate_private_key(algorithm)
    public_file = tmp_path / "previous.pub.pem"
    public_file.write_bytes(public_key_pem(previous.public_key()))
    public_file.chmod(0o644)  # public: no reason to hide it
    with start(
        database_url,
        jwt_algorithm=algorithm,
        jwt_private_key_file=key_file,
        jwt_published_key_files=str(public_file),
    ) as client:
        assert len(client.get("/.well-known/jwks.json").json()["keys"]) == 2


def test_development_generates_one_private_key_and_keeps_it(
    database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, algorithm: str
) -> None:
    monkeypatch.chdir(tmp_path)
    with start(database_url, jwt_algorithm=algorithm) as first:
        first_keys = first.get("/.well-known/jwks.json").json()
    with start(database_url, jwt_algorithm=algorithm) as second:
        second_keys = second.get("/.well-known/jwks.json").json()

    (generated,) = tmp_path.glob(".jwt-private-key-*.pem")
    assert first_keys == second_keys
    assert generated.stat().st_mode & 0o777 == 0o600


def test_es256_refuses_a_key_on_another_curve(database_url: str, tmp_path: Path) -> None:
    path = tmp_path / "p384.pem"
    path.write_bytes(private_key_pem(ec.generate_private_key(ec.SECP384R1())))
    path.chmod(0o600)

    with pytest.raises(ValueError, match="needs a P-256"):
        create_app(make_settings(database_url, jwt_algorithm="ES256", jwt_private_key_file=path))
