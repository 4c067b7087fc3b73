"""Password hashing with scrypt (memory-hard KDF, in the standard library).

Run ``python -m services.gateway.passwords <password>`` to hash a password for config/users.yaml.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import hmac
import os
import sys

N, R, P = 2**14, 8, 1


def hash_password(password: str, salt: bytes | None = None) -> str:
    salt = salt or os.urandom(16)
    digest = hashlib.scrypt(password.encode(), salt=salt, n=N, r=R, p=P, dklen=32)
    b64 = base64.b64encode
    return f"scrypt${N}${R}${P}${b64(salt).decode()}${b64(digest).decode()}"


def verify_password(password: str, stored: str) -> bool:
    try:
        scheme, n, r, p, salt, digest = stored.split("$")
    except ValueError:
        return False
    if scheme != "scrypt":
        return False
    candidate = hashlib.scrypt(password.encode(), salt=base64.b64decode(salt), n=int(n),
                               r=int(r), p=int(p), dklen=len(base64.b64decode(digest)))
    return hmac.compare_digest(candidate, base64.b64decode(digest))


@functools.cache
def dummy_hash() -> str:
    """A hash with the same parameters as real ones, to check a password against when the
    username is unknown (or disabled): a login then costs one scrypt either way, so its time
    does not tell which usernames exist."""
    return hash_password("no user has this password", salt=b"\0" * 16)


def verify_or_dummy(password: str, stored: str | None) -> bool:
    """``verify_password`` against ``stored``, or against the dummy hash (then always False)
    when there is none: the same work whether the user exists or not."""
    if stored is None:
        verify_password(password, dummy_hash())
        return False
    return verify_password(password, stored)


if __name__ == "__main__":
    print(hash_password(sys.argv[1]))
