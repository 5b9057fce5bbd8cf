"""Password hashing through libpass (the maintained passlib fork).

New hashes are argon2id with OWASP's recommended parameters (19 MiB, 2
iterations, 1 lane: about 30 ms of CPU here). bcrypt hashes from older
deployments still verify and are upgraded on the next successful login.

These functions are CPU-bound and synchronous on purpose: callers in async code
run them in the thread pool (`anyio.to_thread.run_sync`).
"""

from __future__ import annotations

from functools import lru_cache

from passlib.context import CryptContext

ARGON2_MEMORY_KIB = 19 * 1024
ARGON2_ITERATIONS = 2
ARGON2_LANES = 1

password_context = CryptContext(
    schemes=["argon2", "bcrypt"],
    deprecated="auto",
    argon2__type="ID",
    argon2__memory_cost=ARGON2_MEMORY_KIB,
    argon2__rounds=ARGON2_ITERATIONS,
    argon2__parallelism=ARGON2_LANES,
)


def hash_password(password: str) -> str:
    hashed: str = password_context.hash(password)
    return hashed


def verify_password(password: str, hashed: str) -> tuple[bool, str | None]:
    """Check a password; on success also return a new hash when the stored one is outdated.

    A password that the stored hash cannot take (bcrypt 5 raises for more than
    72 bytes) or a hash this context does not recognise is a plain mismatch,
    never an error the client could turn into a 500.
    """
    try:
        valid, new_hash = password_context.verify_and_update(password, hashed)
    except (ValueError, TypeError):
        return False, None
    return bool(valid), new_hash


@lru_cache(maxsize=1)
def _dummy_hash() -> str:
    return hash_password("dummy password that no account has")


def burn_verification(password: str) -> None:
    """Spend what one real verification costs, so an unknown username answers as slowly
    as a wrong password and login timing reveals nothing about which accounts exist."""
    verify_password(password, _dummy_hash())
