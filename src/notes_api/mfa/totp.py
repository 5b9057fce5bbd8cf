"""TOTP (RFC 6238) codes, their QR code, and recovery codes: pure functions, no I/O.

A code is accepted for the current 30-second step and one step either side
(clock drift between phone and server, and the time a person takes to type).
`matching_step` returns *which* step matched, so the caller can store it and
refuse that code, and every older one, afterwards (RFC 6238 section 5.2).

Recovery codes carry 80 random bits each. That makes a fast digest safe: no
dictionary or brute force reaches 2^80 candidates, so an attacker holding the
table learns nothing, and a slow password hash would only cost CPU on every
login that uses one. The digest is keyed with the user id so that equal codes
of two users (which 80 bits make impossible in practice anyway) never collide.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from datetime import datetime

import pyotp
import segno

ISSUER = "notes-api"
"""The name authenticator apps show above the account."""
SECRET_BYTES = 20
"""160 bits, the length RFC 4226 recommends (and the HMAC-SHA1 block of the codes)."""
DIGITS = 6
STEP_SECONDS = 30
DRIFT_STEPS = 1
RECOVERY_CODE_COUNT = 10
_RECOVERY_ALPHABET = "0123456789abcdefghjkmnpqrstvwxyz"
"""Crockford's base 32 (no i, l, o, u): 5 bits a character, easy to read back from paper."""
RECOVERY_CODE_LENGTH = 16  # 16 x 5 = 80 bits
_CODE = re.compile(rf"[0-9]{{{DIGITS}}}")
_RECOVERY_CODE = re.compile(rf"[{_RECOVERY_ALPHABET}]{{{RECOVERY_CODE_LENGTH}}}")


def new_secret() -> str:
    """A random base32 secret, the form authenticator apps take."""
    return pyotp.random_base32(length=SECRET_BYTES * 8 // 5)


def provisioning_uri(secret: str, username: str) -> str:
    """The `otpauth://totp/...` URI an authenticator app reads from the QR code."""
    return pyotp.TOTP(secret, digits=DIGITS, interval=STEP_SECONDS).provisioning_uri(
        name=username, issuer_name=ISSUER
    )


def qr_svg(uri: str) -> str:
    """The URI as an inline SVG QR code (no image library, no XML declaration)."""
    svg: str = segno.make(uri, error="m").svg_inline(scale=4, border=4)
    return svg


def time_step(at: datetime) -> int:
    return int(at.timestamp()) // STEP_SECONDS


def code_at(secret: str, step: int) -> str:
    """The code of one time step (what an authenticator app shows during it)."""
    return pyotp.TOTP(secret, digits=DIGITS, interval=STEP_SECONDS).generate_otp(step)


def is_code_shaped(code: str) -> bool:
    return _CODE.fullmatch(code) is not None


def matching_step(secret: str, code: str, at: datetime) -> int | None:
    """The time step within the drift window whose code is `code`, or None.

    Each candidate is compared in constant time; a code that is not six digits
    matches nothing without any HMAC being computed.
    """
    if not is_code_shaped(code):
        return None
    current = time_step(at)
    matched = None
    for step in range(current - DRIFT_STEPS, current + DRIFT_STEPS + 1):
        if hmac.compare_digest(code_at(secret, step), code):
            matched = step
    return matched


def new_recovery_codes() -> list[str]:
    """Ten codes shown as `xxxx-xxxx-xxxx-xxxx`; `normalize_recovery_code` reads them back."""
    codes = []
    for _ in range(RECOVERY_CODE_COUNT):
        raw = "".join(secrets.choice(_RECOVERY_ALPHABET) for _ in range(RECOVERY_CODE_LENGTH))
        codes.append("-".join(raw[i : i + 4] for i in range(0, RECOVERY_CODE_LENGTH, 4)))
    return codes


def normalize_recovery_code(code: str) -> str | None:
    """The code as stored (lower case, no separators), or None if it cannot be one.

    Separators and spaces are ignored and case does not matter, as a person
    copying from paper would expect; so are the letters Crockford maps to digits.
    """
    folded = re.sub(r"[\s-]", "", code.lower()[:64]).translate(str.maketrans("ilo", "110"))
    return folded if _RECOVERY_CODE.fullmatch(folded) else None


def hash_recovery_code(user_id: int, normalized: str) -> str:
    """SHA-256 of the user id and the code: see the module docstring for why fast is enough."""
    return hashlib.sha256(f"{user_id}:{normalized}".encode()).hexdigest()
