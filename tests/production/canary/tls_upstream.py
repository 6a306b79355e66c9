"""An ``https://127.0.0.1`` upstream whose certificate nobody trusts: the TLS-failure path.

The certificate is self-signed, made by ``openssl req`` (neither ``trustme`` nor
``cryptography`` is in the test environment), so a client that verifies certificates, as the
server under test must, fails the handshake. The server counts the handshakes it saw start and
those that completed: a test asserts the first is not zero (the path was exercised) and the
second is zero (nothing accepted the certificate).
"""

from __future__ import annotations

import contextlib
import socket
import ssl
import subprocess
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


def self_signed_certificate(directory: Path) -> tuple[Path, Path]:
    """(certificate, key) in PEM, for ``127.0.0.1``, valid one day."""
    cert, key = directory / "cert.pem", directory / "key.pem"
    subprocess.run(
        [
            *("openssl", "req", "-x509", "-nodes", "-days", "1", "-subj", "/CN=127.0.0.1"),
            *("-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1"),
            *("-addext", "subjectAltName=IP:127.0.0.1", "-keyout", str(key), "-out", str(cert)),
        ],
        check=True,
        capture_output=True,
        timeout=30,
    )
    return cert, key


class UntrustedTLSServer:
    def __init__(self, directory: Path) -> None:
        self.context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.context.load_cert_chain(*self_signed_certificate(directory))
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.sock.settimeout(0.1)
        self.port: int = self.sock.getsockname()[1]
        self.handshakes_started = 0
        self.handshakes_completed = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, name="untrusted-tls", daemon=True)

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except TimeoutError:
                continue
            with conn:
                conn.settimeout(5)
                self.handshakes_started += 1
                # ssl.SSLError is an OSError: the client refused the certificate, as it must
                with contextlib.suppress(OSError), self.context.wrap_socket(conn, server_side=True):
                    self.handshakes_completed += 1

    @property
    def url(self) -> str:
        return f"https://127.0.0.1:{self.port}"


@contextmanager
def untrusted_tls_server(directory: Path) -> Iterator[UntrustedTLSServer]:
    server = UntrustedTLSServer(directory)
    server._thread.start()
    try:
        yield server
    finally:
        server._stop.set()
        server._thread.join(5)
        server.sock.close()


__all__ = ["UntrustedTLSServer", "self_signed_certificate", "untrusted_tls_server"]
