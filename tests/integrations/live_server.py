"""The test's Baton app over real HTTPS on 127.0.0.1, for clients that speak only to a URL (the
official ``pagerduty`` client, which refuses any base URL but ``https://``).

The app is the harness's own (``app`` fixture: same database, same ManualClock, lifespan
already running), served by uvicorn in the test's event loop with a certificate made for the
test. The listening socket is bound before the server task starts, so a client may connect at
once: the kernel queues the connection until uvicorn accepts it, and no test waits for the
server to come up. A sync client runs in a thread (``asyncio.to_thread``) so that the loop
stays free to serve it.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
import ssl
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import uvicorn
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from fastapi import FastAPI

LOOPBACK = "127.0.0.1"


@dataclass(frozen=True)
class Served:
    url: str  # https://127.0.0.1:<port>
    trust: ssl.SSLContext  # what a client verifies the server's certificate with
    certificate: Path  # the same, as a PEM file (SSL_CERT_FILE for clients that read it)


def _certificate(directory: Path) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1 and its key, as PEM files."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, LOOPBACK)])
    now = datetime.now(UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address(LOOPBACK))]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = directory / "baton-test.crt", directory / "baton-test.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


@asynccontextmanager
async def served(app: FastAPI, directory: Path) -> AsyncIterator[Served]:
    """``async with served(app, tmp_path) as live:`` Baton at ``live.url``."""
    cert_path, key_path = _certificate(directory)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind((LOOPBACK, 0))
    sock.listen(16)
    port = sock.getsockname()[1]
    config = uvicorn.Config(
        app,
        lifespan="off",
        log_level="warning",
        access_log=False,
        # A client that keeps its connection open must not hold the test at shutdown.
        timeout_graceful_shutdown=5,
        ssl_certfile=str(cert_path),
        ssl_keyfile=str(key_path),
    )
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve(sockets=[sock]))
    try:
        yield Served(
            url=f"https://{LOOPBACK}:{port}",
            trust=ssl.create_default_context(cafile=str(cert_path)),
            certificate=cert_path,
        )
    finally:
        server.should_exit = True
        await task
        sock.close()
