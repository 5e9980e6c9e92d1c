"""Password hashing with argon2 (argon2-cffi)."""

from __future__ import annotations

from functools import lru_cache

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

_hasher = PasswordHasher()


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(password_hash: str, password: str) -> bool:
    """True when ``password`` matches; never raises on a mismatch or a bad hash."""
    try:
        return _hasher.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


@lru_cache(maxsize=1)
def _dummy_hash() -> str:
    # Same parameters as real hashes, so checking against it costs the same time.
    return _hasher.hash("vetflow-no-such-account")


def verify_password_or_dummy(password_hash: str | None, password: str) -> bool:
    """``verify_password`` when there is a hash; without one (no such account), the
    same argon2 work against a dummy hash, answering False: an unknown username
    takes as long to refuse as a wrong password."""
    if password_hash is None:
        verify_password(_dummy_hash(), password)
        return False
    return verify_password(password_hash, password)
