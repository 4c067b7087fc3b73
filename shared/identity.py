"""Who is asking: signed actor assertions on the bus.

A service never believes an actor written in a request. The gateway (after checking the
user's bearer token) and the operations tool sign a short-lived assertion of the actor
(a JWT, EdDSA over Ed25519) addressed to the one service it is for (``aud =
duty.<service>``); the service verifies it with the signers' public keys before any command
or query, and refuses (401) and logs anything else: a missing, unsigned, forged, expired or
misaddressed assertion.

Keys live in ``ACTOR_KEYS_DIR`` (default ``<VAR_DIR>/keys``): ``<signer>.key`` (private,
mode 0600, only on the signer's host) and ``<signer>.pub`` (public, given to every service).
Signers are ``gateway`` and ``ops``. In development mode (``DUTY_DEV_MODE=true``: ``make
run`` and the tests) missing keys are generated on first use; outside it they must have been
made with ``duty-ops keys init`` (or provisioned by the deployment), and a service without
any signer's public key refuses to start.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from pathlib import Path
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from eventsourcing.application import LRUCache

log = logging.getLogger(__name__)

ALGORITHM = "EdDSA"
SIGNERS = ("gateway", "ops")
ASSERTION_SECONDS = 120  # lifetime of one assertion; signers reuse one for half of it
ISSUER_PREFIX = "duty-"


class IdentityError(Exception):
    """An assertion that does not prove who is asking."""


def keys_dir(settings: Any) -> Path:
    configured = getattr(settings, "actor_keys_dir", None)
    return Path(configured) if configured else Path(settings.var_dir) / "keys"


def generate_keys(directory: Path, signers: tuple[str, ...] = SIGNERS,
                  overwrite: bool = False) -> list[Path]:
    """Make an Ed25519 key pair per signer (private 0600, public 0644); keeps existing ones
    unless ``overwrite``. Returns the files written."""
    directory.mkdir(parents=True, exist_ok=True)
    os.chmod(directory, 0o700)
    written = []
    for name in signers:
        private_path, public_path = directory / f"{name}.key", directory / f"{name}.pub"
        if private_path.exists() and not overwrite:
            continue
        key = Ed25519PrivateKey.generate()
        pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption())
        tmp = private_path.with_suffix(".key.tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as f:
            f.write(pem)
        os.replace(tmp, private_path)
        public_path.write_bytes(key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo))
        written += [private_path, public_path]
    return written


def ensure_keys(settings: Any) -> Path:
    """The key directory, with development keys made when missing in development mode."""
    directory = keys_dir(settings)
    if getattr(settings, "duty_dev_mode", False):
        with _generation_lock:
            if not all((directory / f"{s}.key").exists() for s in SIGNERS):
                generate_keys(directory)
    return directory


_generation_lock = threading.Lock()


class Signer:
    """Signs actor assertions for one signer (the gateway or ops), one per actor and
    service, reused while more than half of its lifetime is left."""

    def __init__(self, name: str, private_key: Ed25519PrivateKey,
                 lifetime: int = ASSERTION_SECONDS) -> None:
        self.name = name
        self.key = private_key
        self.lifetime = lifetime
        self._cache: LRUCache[tuple[Any, ...], tuple[str, float]] = LRUCache(maxsize=4096)

    @classmethod
    def load(cls, settings: Any, name: str) -> Signer:
        path = ensure_keys(settings) / f"{name}.key"
        try:
            key = serialization.load_pem_private_key(path.read_bytes(), password=None)
        except FileNotFoundError:
            raise IdentityError(f"no signing key {path}: run `duty-ops keys init` "
                                "(or DUTY_DEV_MODE=true in development)") from None
        if not isinstance(key, Ed25519PrivateKey):
            raise IdentityError(f"{path} is not an Ed25519 private key")
        return cls(name, key)

    def assertion(self, actor: dict[str, Any], service: str) -> str:
        key = (service, *sorted(actor.items()))
        now = time.time()
        try:
            token, expires = self._cache.get(key)
            if expires - now > self.lifetime / 2:
                return token
        except KeyError:
            pass
        expires = now + self.lifetime
        token = jwt.encode({"act": actor, "aud": f"duty.{service}",
                            "iss": f"{ISSUER_PREFIX}{self.name}", "iat": int(now),
                            "exp": int(expires)}, self.key, algorithm=ALGORITHM)
        self._cache.put(key, (token, expires))
        return token

    def request(self, service: str, actor: dict[str, Any], payload: Any) -> dict[str, Any]:
        """A request body for ``service``: the payload and the signed actor."""
        return {"assertion": self.assertion(actor, service), "payload": payload}


class Verifier:
    """Verifies assertions addressed to one service with the signers' public keys;
    verified assertions are remembered until they expire."""

    def __init__(self, service: str, public_keys: dict[str, Ed25519PublicKey]) -> None:
        self.service = service
        self.keys = public_keys
        self._verified: LRUCache[str, tuple[dict[str, Any], str, float]] = LRUCache(maxsize=8192)

    @classmethod
    def load(cls, settings: Any) -> Verifier:
        directory = ensure_keys(settings)
        keys = {}
        for name in SIGNERS:
            path = directory / f"{name}.pub"
            if path.exists():
                key = serialization.load_pem_public_key(path.read_bytes())
                if isinstance(key, Ed25519PublicKey):
                    keys[name] = key
        if not keys:
            raise IdentityError(f"no signer's public key in {directory}: run `duty-ops keys "
                                "init` (or DUTY_DEV_MODE=true in development)")
        return cls(settings.service_name, keys)

    def verify(self, token: Any) -> tuple[dict[str, Any], str]:
        """The asserted actor and who signed it; IdentityError otherwise."""
        if not isinstance(token, str) or not token or len(token) > 4096:
            raise IdentityError("no actor assertion")
        now = time.time()
        try:
            actor, signer, expires = self._verified.get(token)
            if expires > now:
                return actor, signer
        except KeyError:
            pass
        try:
            issuer = jwt.decode(token, options={"verify_signature": False}).get("iss", "")
        except jwt.PyJWTError as exc:
            raise IdentityError(f"malformed assertion: {exc}") from None
        signer = str(issuer).removeprefix(ISSUER_PREFIX)
        key = self.keys.get(signer)
        if key is None:
            raise IdentityError(f"unknown signer {issuer!r}")
        try:
            claims = jwt.decode(token, key, algorithms=[ALGORITHM],
                                audience=f"duty.{self.service}", issuer=issuer,
                                options={"require": ["exp", "iat", "aud", "iss", "act"]})
        except jwt.PyJWTError as exc:
            raise IdentityError(f"assertion refused: {exc}") from None
        actor = claims["act"]
        if not isinstance(actor, dict) or not actor.get("username") or not actor.get("role"):
            raise IdentityError("assertion without an actor")
        if claims["exp"] - claims["iat"] > ASSERTION_SECONDS * 2:
            raise IdentityError("assertion lifetime too long")
        self._verified.put(token, (actor, signer, float(claims["exp"])))
        return actor, signer


_signers: dict[tuple[str, str], Signer] = {}
_settings_of_environment: dict[tuple[str | None, str | None], Any] = {}


def _environment_settings() -> Any:
    """This environment's settings, read once per key directory (reading them is a
    millisecond: too much for every request a tool or a test signs)."""
    from shared.settings import ServiceSettings

    marker = (os.environ.get("ACTOR_KEYS_DIR"), os.environ.get("VAR_DIR"))
    found = _settings_of_environment.get(marker)
    if found is None:
        found = _settings_of_environment[marker] = ServiceSettings()
    return found

OPS_ACTOR = {"username": "ops", "role": "office"}


def signed_request(service: str, payload: Any = None, actor: dict[str, Any] | None = None,
                   signer: str = "ops", settings: Any = None) -> bytes:
    """A request body for ``service`` signed by ``signer`` with the keys this environment's
    settings point at (the operations tool, the tests, the benchmark)."""
    import json

    if settings is None:
        settings = _environment_settings()
    key = (str(keys_dir(settings)), signer)
    found = _signers.get(key)
    if found is None:
        found = _signers[key] = Signer.load(settings, signer)
    return json.dumps(found.request(service, actor or OPS_ACTOR, payload or {})).encode()
