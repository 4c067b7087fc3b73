"""Password hashes: argon2id (argon2-cffi, its recommended parameters) for every new or
changed password; scrypt hashes imported from config/users.yaml stay valid and are rehashed
with argon2 at the next successful sign-in (``needs_rehash``)."""

from __future__ import annotations

import base64
import functools
import hashlib
import hmac

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

_hasher = PasswordHasher()


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def _verify_scrypt(password: str, stored: str) -> bool:
    try:
        scheme, n, r, p, salt, digest = stored.split("$")
        if scheme != "scrypt":
            return False
        expected = base64.b64decode(digest)
        candidate = hashlib.scrypt(password.encode(), salt=base64.b64decode(salt), n=int(n),
                                   r=int(r), p=int(p), dklen=len(expected))
    except (ValueError, TypeError):
        return False
    return hmac.compare_digest(candidate, expected)


def verify_password(password: str, stored: str) -> bool:
    if stored.startswith("scrypt$"):
        return _verify_scrypt(password, stored)
    try:
        return _hasher.verify(stored, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def needs_rehash(stored: str) -> bool:
    """An old scheme (scrypt) or argon2 parameters weaker than today's."""
    if not stored.startswith("$argon2"):
        return True
    try:
        return _hasher.check_needs_rehash(stored)
    except InvalidHashError:
        return True


@functools.cache
def _dummy_hash() -> str:
    return _hasher.hash("no user has this password")


def verify_or_dummy(password: str, stored: str | None) -> bool:
    """``verify_password``, or one argon2 verification against a dummy hash when there is no
    account: a sign-in costs about the same whether the username exists or not."""
    if stored is None:
        verify_password(password, _dummy_hash())
        return False
    return verify_password(password, stored)
