"""TLS for clients and for the nodes' own outbound links: one way to build the context, one way to explain a failure.

A client verifies the node against `ca_file` (the system's trust store when empty) and checks the host name,
as any HTTPS client does; `cert_file` and `key_file` present a client certificate, which a cluster with
`tls_client_auth: true` requires on every connection. The nodes build their dialling context here too
(`replog.net.tls`), so the client and the nodes cannot disagree on what "verified" means.

A TLS failure is a configuration problem, not a network blip: `tls_failure` turns the exception into one
sentence that says which side is wrong, and the clients do not retry it.
"""

from __future__ import annotations

import os
import ssl
from collections.abc import Mapping

__all__ = [
    "ENV_CA_FILE",
    "ENV_CERT_FILE",
    "ENV_KEY_FILE",
    "client_context",
    "context_from_env",
    "load_error",
    "tls_failure",
]

ENV_CA_FILE = "REPLOG_CA_FILE"
ENV_CERT_FILE = "REPLOG_CERT_FILE"
ENV_KEY_FILE = "REPLOG_KEY_FILE"

# OpenSSL's reasons when the other end does not speak TLS at all (it answered our hello in plain HTTP).
_NOT_TLS = frozenset({"WRONG_VERSION_NUMBER", "RECORD_LAYER_FAILURE", "PACKET_LENGTH_TOO_LONG", "UNKNOWN_PROTOCOL"})
# ...and when the server refused the certificate we presented, or wanted one and got none.
_OUR_CERT_REFUSED = frozenset(
    {
        "TLSV1_ALERT_UNKNOWN_CA",
        "SSLV3_ALERT_BAD_CERTIFICATE",
        "SSLV3_ALERT_CERTIFICATE_UNKNOWN",
        "TLSV13_ALERT_CERTIFICATE_REQUIRED",
        "SSLV3_ALERT_HANDSHAKE_FAILURE",
        "TLSV1_ALERT_ACCESS_DENIED",
    }
)


def client_context(ca_file: str = "", cert_file: str = "", key_file: str = "") -> ssl.SSLContext:
    """A verifying client context; raises ValueError naming the file and why it does not load."""
    if bool(cert_file) != bool(key_file):
        raise ValueError("a client certificate needs both a certificate file and its key file")
    try:
        context = ssl.create_default_context(cafile=ca_file or None)
    except (OSError, ssl.SSLError) as exc:
        raise ValueError(f"cannot load CA file {ca_file}: {load_error(exc)}") from None
    if cert_file:
        try:
            context.load_cert_chain(cert_file, key_file)
        except (OSError, ssl.SSLError) as exc:
            raise ValueError(f"cannot load certificate {cert_file} with key {key_file}: {load_error(exc)}") from None
    return context


def context_from_env(
    ca_file: str | None, cert_file: str | None, key_file: str | None, environ: Mapping[str, str] | None = None
) -> ssl.SSLContext | None:
    """The client's context from its arguments, else $REPLOG_CA_FILE/_CERT_FILE/_KEY_FILE; None when none is set.

    None means the library's default: https URLs are verified against the system's trust store.
    """
    environ = os.environ if environ is None else environ
    ca = ca_file if ca_file is not None else environ.get(ENV_CA_FILE, "")
    cert = cert_file if cert_file is not None else environ.get(ENV_CERT_FILE, "")
    key = key_file if key_file is not None else environ.get(ENV_KEY_FILE, "")
    if not (ca or cert or key):
        return None
    return client_context(ca, cert, key)


def tls_failure(exc: BaseException, ca_name: str = "the CA file") -> str | None:
    """One sentence on why a TLS connection failed, or None when `exc` is not a TLS failure.

    `ca_name` is what the reader calls the trust anchor: `tls_ca_file` in a node's log, `--ca-file` in the CLI.
    """
    for error in _chain(exc):
        if type(error).__module__ != "ssl":
            continue  # aiohttp's wrappers subclass the ssl errors without their attributes; read what they wrap.
        if isinstance(error, ssl.SSLCertVerificationError):
            detail = getattr(error, "verify_message", None) or getattr(error, "reason", None) or str(error)
            return f"its certificate does not verify against {ca_name} ({detail})"
        if isinstance(error, ssl.SSLError):
            reason = getattr(error, "reason", None) or ""
            if reason in _NOT_TLS or "wrong version number" in str(error):
                return (
                    f"it does not speak TLS ({reason or error}): is it running without the tls_* settings "
                    "while this side uses TLS?"
                )
            if isinstance(error, ssl.SSLEOFError) or reason in _OUR_CERT_REFUSED:
                return (
                    f"it ended the TLS handshake ({reason or 'EOF'}): it requires a client certificate "
                    "(tls_client_auth), and ours is missing or not from the CA it trusts"
                )
            return f"TLS handshake failed ({reason or error})"
    return None


def _chain(exc: BaseException) -> list[BaseException]:
    """`exc` and what it wraps: aiohttp keeps the ssl error on attributes, the standard library on __cause__."""
    seen: list[BaseException] = []
    todo: list[BaseException | None] = [exc]
    while todo:
        error = todo.pop()
        if error is None or any(error is s for s in seen) or len(seen) > 8:
            continue
        seen.append(error)
        todo += [
            getattr(error, "certificate_error", None),
            getattr(error, "os_error", None),
            error.__cause__,
            error.__context__,
        ]
    return seen


def load_error(exc: BaseException, ssl_hint: str = "") -> str:
    """Why a certificate, key or CA file did not load, in one phrase; `ssl_hint` follows an SSL reason."""
    if isinstance(exc, ssl.SSLError) and exc.reason:
        return f"{exc.reason} ({ssl_hint or exc.library or 'ssl'})"
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    return str(exc) or type(exc).__name__
