"""A separate service that accepts notes-api access tokens with the published keys alone.

It holds no secret: it fetches notes-api's JSON Web Key Set, keeps it for the
`max-age` notes-api sends (5 minutes), and when a token names a `kid` it does
not know (notes-api has started signing with its next key) it fetches the set
again, at most once every MIN_REFETCH_SECONDS so that made-up `kid`s cannot
turn it into a load generator against notes-api.

Settings (environment): NOTES_API_URL (http://127.0.0.1:8000), JWKS_URL (default
NOTES_API_URL + /.well-known/jwks.json), JWT_ISSUER (notes-api's issuer: its PUBLIC_URL
when that is set; default notes-api), JWT_AUDIENCE (notes-api), JWT_ALGORITHM (EdDSA;
ES256 also works), REQUIRED_ROLE (optional), HOST, PORT (8001), JWKS_MIN_REFETCH_SECONDS (10).

Routes: GET /healthz (public), GET /whoami (a valid notes-api access token).
"""

from __future__ import annotations

import json
import os
import re
import threading
import time
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import jwt

MIN_REFETCH_SECONDS = 10.0
DEFAULT_MAX_AGE = 300.0
FORBIDDEN_HEADERS = {"jku", "x5u", "jwk", "x5c"}
REQUIRED_CLAIMS = ["sub", "id", "roles", "type", "exp", "iat", "iss", "aud"]


class Rejected(Exception):
    """The token is not acceptable; the reason is for the log, never for the client."""


class KeySet:
    """notes-api's public keys by kid, refreshed when stale or when a new kid shows up."""

    def __init__(self, url: str, algorithm: str, min_refetch: float = MIN_REFETCH_SECONDS) -> None:
        if not url.startswith(("http://", "https://")):
            raise SystemExit("JWKS_URL must be an http:// or https:// URL")
        self.url = url
        self.algorithm = algorithm
        self.min_refetch = min_refetch
        self.keys: dict[str, Any] = {}
        self.expires = 0.0
        self.fetched = float("-inf")
        self.lock = threading.Lock()

    def key_for(self, kid: str) -> Any:
        with self.lock:
            now = time.monotonic()
            stale = now >= self.expires
            unknown = kid not in self.keys and now - self.fetched >= self.min_refetch
            if stale or unknown:
                self._fetch(now)
            if kid not in self.keys:
                raise Rejected(f"unknown kid {kid!r}")
            return self.keys[kid]

    def _fetch(self, now: float) -> None:
        self.fetched = now
        # The URL is configuration, checked to be http(s) at start-up.
        request = urllib.request.Request(self.url, headers={"Accept": "application/json"})  # noqa: S310
        with urllib.request.urlopen(request, timeout=5) as answer:  # noqa: S310
            document = json.load(answer)
            max_age = _max_age(answer.headers.get("Cache-Control", ""))
        keys = {}
        for jwk in document.get("keys", []):
            # Only keys meant for this algorithm: a key published for another one never
            # verifies a token, whatever its header says.
            if jwk.get("alg") == self.algorithm and jwk.get("use", "sig") == "sig":
                keys[jwk["kid"]] = jwt.PyJWK(jwk, algorithm=self.algorithm).key
        self.keys = keys
        self.expires = now + max_age


def _max_age(cache_control: str) -> float:
    found = re.search(r"max-age=(\d+)", cache_control)
    return float(found.group(1)) if found else DEFAULT_MAX_AGE


class Verifier:
    def __init__(self, keys: KeySet, issuer: str, audience: str) -> None:
        self.keys, self.issuer, self.audience = keys, issuer, audience

    def claims(self, token: str) -> dict[str, Any]:
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError as exc:
            raise Rejected(str(exc)) from exc
        if FORBIDDEN_HEADERS & header.keys():
            raise Rejected("the token names its own key")
        if header.get("alg") != self.keys.algorithm or not isinstance(header.get("kid"), str):
            raise Rejected("unexpected alg or no kid")
        key = self.keys.key_for(header["kid"])
        try:
            claims: dict[str, Any] = jwt.decode(
                token,
                key,
                algorithms=[self.keys.algorithm],
                audience=self.audience,
                issuer=self.issuer,
                leeway=5,
                options={"require": REQUIRED_CLAIMS},
            )
        except jwt.PyJWTError as exc:
            raise Rejected(str(exc)) from exc
        if claims["type"] != "access":
            raise Rejected("not an access token")
        return claims


def make_handler(verifier: Verifier, required_role: str | None) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            if self.path == "/healthz":
                self._answer(200, {"status": "ok"})
            elif self.path == "/whoami":
                self._whoami()
            else:
                self._answer(404, {"detail": "Not Found"})

        def _whoami(self) -> None:
            scheme, _, token = self.headers.get("Authorization", "").partition(" ")
            if scheme.lower() != "bearer" or not token:
                self._answer(401, {"detail": "Not authenticated"}, 'Bearer realm="resource"')
                return
            try:
                claims = verifier.claims(token)
            except Rejected as exc:
                self.log_message("token refused: %s", exc)
                self._answer(401, {"detail": "Invalid token"}, 'Bearer error="invalid_token"')
                return
            except OSError:
                self._answer(503, {"detail": "notes-api's key set is unreachable"})
                return
            roles = [role for role in claims["roles"].split(",") if role]
            if required_role and required_role not in roles:
                self._answer(403, {"detail": f"Requires the role {required_role}"})
                return
            self._answer(200, {"username": claims["sub"], "id": claims["id"], "roles": roles})

        def _answer(self, status: int, body: dict[str, Any], challenge: str | None = None) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.send_header("Cache-Control", "no-store")
            if challenge:
                self.send_header("WWW-Authenticate", challenge)
            self.end_headers()
            self.wfile.write(data)

    return Handler


def main() -> None:
    base = os.environ.get("NOTES_API_URL", "http://127.0.0.1:8000").rstrip("/")
    algorithm = os.environ.get("JWT_ALGORITHM", "EdDSA")
    if algorithm not in ("EdDSA", "ES256"):
        raise SystemExit("JWT_ALGORITHM must be EdDSA or ES256: HS tokens cannot be verified here")
    keys = KeySet(
        os.environ.get("JWKS_URL", f"{base}/.well-known/jwks.json"),
        algorithm,
        float(os.environ.get("JWKS_MIN_REFETCH_SECONDS", MIN_REFETCH_SECONDS)),
    )
    verifier = Verifier(
        keys, os.environ.get("JWT_ISSUER", "notes-api"), os.environ.get("JWT_AUDIENCE", "notes-api")
    )
    handler = make_handler(verifier, os.environ.get("REQUIRED_ROLE") or None)
    address = (os.environ.get("HOST", "127.0.0.1"), int(os.environ.get("PORT", "8001")))
    server = ThreadingHTTPServer(address, handler)
    print(f"resource server on http://{address[0]}:{server.server_port}", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
