"""The production configuration's TLS settings (infra/nats/nats-server.conf, commented there)
work: a nats-server with the platform's authorization and a certificate of the deployment's
own CA; a service identity connects over TLS verifying the server, and a client that does not
trust the CA is refused."""

from __future__ import annotations

import asyncio
import ipaddress
import ssl
import subprocess
from datetime import datetime, timedelta, timezone
from pathlib import Path

import nats
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from shared.bus_auth import server_config, with_credentials
from tests.harness import free_port, nats_credentials_dir, nats_server_binary

pytestmark = pytest.mark.skipif(nats_credentials_dir() is None,
                                reason="the run has no bus credentials (tests/conftest.py)")


def _certificate(subject: str, key, issuer_name, issuer_key, *, ca: bool) -> x509.Certificate:
    now = datetime.now(timezone.utc)
    builder = (x509.CertificateBuilder()
               .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)]))
               .issuer_name(issuer_name).public_key(key.public_key())
               .serial_number(x509.random_serial_number())
               .not_valid_before(now - timedelta(minutes=1))
               .not_valid_after(now + timedelta(days=1))
               .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True))
    if not ca:
        builder = builder.add_extension(x509.SubjectAlternativeName(
            [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False)
    return builder.sign(issuer_key, hashes.SHA256())


def _pem(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


def _pki(directory: Path) -> tuple[Path, Path, Path]:
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "duty test CA")])
    ca = _certificate("duty test CA", ca_key, ca_name, ca_key, ca=True)
    key = ec.generate_private_key(ec.SECP256R1())
    cert = _certificate("localhost", key, ca_name, ca_key, ca=False)
    return (_pem(directory / "ca.crt", ca.public_bytes(serialization.Encoding.PEM)),
            _pem(directory / "server.crt", cert.public_bytes(serialization.Encoding.PEM)),
            _pem(directory / "server.key", key.private_bytes(
                serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption())))


async def test_a_service_connects_over_tls_and_an_untrusting_client_is_refused(tmp_path):
    ca, cert, key = _pki(tmp_path)
    port = free_port()
    tls = (f'tls {{ cert_file: "{cert}"\n key_file: "{key}"\n ca_file: "{ca}"\n'
           " verify: false\n timeout: 2 }\n")
    config = tmp_path / "nats-server.conf"
    config.write_text(server_config(nats_credentials_dir(), host="127.0.0.1", port=port,
                                    store_dir=tmp_path / "js", extra=tls))
    server = subprocess.Popen([nats_server_binary(), "-c", str(config)],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        url = with_credentials(f"tls://127.0.0.1:{port}", "intake", nats_credentials_dir())
        trusting = ssl.create_default_context(cafile=str(ca))
        for _ in range(100):
            try:
                nc = await nats.connect(url, tls=trusting, allow_reconnect=False,
                                        connect_timeout=1)
                break
            except Exception:  # not up yet
                await asyncio.sleep(0.1)
        else:
            raise AssertionError("no TLS connection")
        assert nc.is_connected
        await nc.publish("duty.intake.probe.v1", b"{}")
        await nc.flush()
        await nc.close()
        with pytest.raises(Exception):
            await nats.connect(url, tls=ssl.create_default_context(), allow_reconnect=False,
                               max_reconnect_attempts=0, connect_timeout=1)
    finally:
        server.terminate()
        server.wait(10)
