"""Unit tests for password hashing: argon2id for new hashes, bcrypt still verified."""

from __future__ import annotations

import bcrypt
import pytest

from notes_api.auth.passwords import (
    burn_verification,
    hash_password,
    password_context,
    verify_password,
)


def test_new_hashes_are_argon2id_with_owasp_parameters() -> None:
    assert hash_password("a password").startswith("$argon2id$v=19$m=19456,t=2,p=1$")


def test_correct_password_verifies_without_rehash() -> None:
    assert verify_password("a password", hash_password("a password")) == (True, None)


def test_wrong_password_does_not_verify() -> None:
    assert verify_password("another one", hash_password("a password")) == (False, None)


def test_argon2_has_no_72_byte_cut() -> None:
    long_password = "x" * 90
    assert verify_password(long_password[:72], hash_password(long_password))[0] is False


def test_bcrypt_hash_verifies_and_asks_for_an_argon2_upgrade() -> None:
    legacy = bcrypt.hashpw(b"legacy password", bcrypt.gensalt(rounds=4)).decode()
    valid, upgraded = verify_password("legacy password", legacy)
    assert valid
    assert upgraded is not None
    assert upgraded.startswith("$argon2id$")


def test_long_password_against_bcrypt_hash_is_a_plain_mismatch() -> None:
    legacy = bcrypt.hashpw(b"legacy password", bcrypt.gensalt(rounds=4)).decode()
    assert verify_password("y" * 100, legacy) == (False, None)


def test_unrecognised_hash_is_a_plain_mismatch() -> None:
    assert verify_password("a password", "not-a-hash") == (False, None)


def test_burn_verification_runs_one_real_argon2_verification(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """An unknown username must cost what a wrong password costs: one argon2id verification."""
    seen: list[str] = []
    real_verify = password_context.verify_and_update

    def spy(password: str, hashed: str) -> tuple[bool, str | None]:
        seen.append(hashed)
        result: tuple[bool, str | None] = real_verify(password, hashed)
        return result

    monkeypatch.setattr(password_context, "verify_and_update", spy)

    burn_verification("any password")

    assert len(seen) == 1
    assert seen[0].startswith("$argon2id$v=19$m=19456,t=2,p=1$")
