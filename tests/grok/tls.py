"""Certificates made with openssl, and HTTPS in front of the simulator, for the transport tests."""

from __future__ import annotations

import asyncio
import contextlib
import ssl
import subprocess
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlparse


@dataclass(frozen=True)
class Certificates:
    ca: Path  # the authority a client must trust
    key: Path  # the server's key and certificate for "localhost", signed by ``ca``
    cert: Path


def openssl(*args: str) -> str:
    return subprocess.run(["openssl", *args], check=True, capture_output=True, text=True).stdout


def self_signed(directory: Path) -> Certificates:
    """A certificate for "localhost" that is its own authority."""
    key, cert = directory / "key.pem", directory / "cert.pem"
    openssl(
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-keyout",
        str(key),
        "-out",
        str(cert),
        "-days",
        "1",
        "-subj",
        "/CN=localhost",
        "-addext",
        "subjectAltName=DNS:localhost",
    )
    return Certificates(ca=cert, key=key, cert=cert)


def signed_by_own_ca(directory: Path) -> Certificates:
    """A certificate for "localhost" signed by an authority made for the test, as a company CA would."""
    ca_key, ca = directory / "ca-key.pem", directory / "ca.pem"
    key, csr, cert = directory / "key.pem", directory / "leaf.csr", directory / "cert.pem"
    ec = ("-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes")
    openssl(
        "req",
        "-x509",
        *ec,
        "-keyout",
        str(ca_key),
        "-out",
        str(ca),
        "-days",
        "1",
        "-subj",
        "/CN=Test Team CA",
        "-addext",
        "basicConstraints=critical,CA:TRUE",
        "-addext",
        "keyUsage=critical,keyCertSign,cRLSign",
    )
    openssl("req", *ec, "-keyout", str(key), "-out", str(csr), "-subj", "/CN=localhost")
    extensions = directory / "leaf.ext"
    extensions.write_text(
        "subjectAltName=DNS:localhost\nbasicConstraints=CA:FALSE\n"
        "keyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth\n"
    )
    openssl(
        "x509",
        "-req",
        "-in",
        str(csr),
        "-CA",
        str(ca),
        "-CAkey",
        str(ca_key),
        "-CAcreateserial",
        "-out",
        str(cert),
        "-days",
        "1",
        "-extfile",
        str(extensions),
    )
    return Certificates(ca=ca, key=key, cert=cert)


def hashed_ca_directory(certificates: Certificates, directory: Path) -> Path:
    """A directory of trusted authorities in OpenSSL's lookup form (``<subject hash>.0``)."""
    directory.mkdir()
    subject_hash = openssl("x509", "-subject_hash", "-noout", "-in", str(certificates.ca)).strip()
    (directory / f"{subject_hash}.0").write_bytes(certificates.ca.read_bytes())
    return directory


async def pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    except (ConnectionError, ssl.SSLError):
        pass
    finally:
        writer.close()


@contextlib.asynccontextmanager
async def tls_terminator(certificates: Certificates, upstream: str) -> AsyncIterator[str]:
    """HTTPS on a local port, relayed byte for byte to the simulator's plain HTTP; yields its /v1 URL."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(certificates.cert, certificates.key)
    target = urlparse(upstream)

    async def handle(client_reader, client_writer):
        up_reader, up_writer = await asyncio.open_connection(target.hostname, target.port)
        await asyncio.gather(pipe(client_reader, up_writer), pipe(up_reader, client_writer))

    server = await asyncio.start_server(handle, "127.0.0.1", 0, ssl=context)
    async with server:
        yield f"https://localhost:{server.sockets[0].getsockname()[1]}/v1"
