"""TLS for a node: the one place that turns the tls_* settings into SSL contexts and client sessions.

With `tls_cert_file` and `tls_key_file` set, a node serves HTTPS and WSS on its one port and dials its peers
over TLS, verifying their certificates against `tls_ca_file` (the system's trust store when empty) with
the host name checked. It always presents its own certificate when it dials, so that mutual TLS
(`tls_client_auth: true`, which makes the server require a client certificate from `tls_ca_file` on every
connection) works without another setting. Without the settings nothing changes: plain HTTP and WS.

The files are loaded once, at start (`check`), so a missing or mismatched file stops the node with one line
naming it; every outbound session of the node takes its connector from `node_session`.
"""

from __future__ import annotations

import functools
import ssl
from typing import Any

import aiohttp

from replog.client.tls import client_context, load_error, tls_failure
from replog.config import Config
from replog.errors import StartupError
from replog.net.sockets import socket_factory

__all__ = ["check", "client_ssl", "dial_failure", "node_session", "server_context"]


def check(config: Config) -> None:
    """Load every TLS file now; a problem is a StartupError naming the file and the reason."""
    server_context(config)
    client_ssl(config)


def server_context(config: Config) -> ssl.SSLContext | None:
    """The listening socket's context, or None for plain HTTP."""
    if not config.tls:
        return None
    return _server_context(config.tls_cert_file, config.tls_key_file, config.tls_ca_file, config.tls_client_auth)


def client_ssl(config: Config) -> ssl.SSLContext | bool:
    """aiohttp's `ssl` argument for the node's own requests: our context with TLS, else aiohttp's default."""
    if not config.tls:
        return True
    return _client_context(config.tls_ca_file, config.tls_cert_file, config.tls_key_file)


def node_session(config: Config, **kwargs: Any) -> aiohttp.ClientSession:
    """A client session for talking to peers: every outbound request of a node goes through one of these."""
    connector = aiohttp.TCPConnector(ssl=client_ssl(config), socket_factory=socket_factory(config))
    return aiohttp.ClientSession(connector=connector, **kwargs)


def dial_failure(exc: BaseException, *, tls: bool) -> str:
    """Why dialling a peer failed, in words that point at the setting to fix when TLS is the cause.

    `tls` says whether this node dialled with TLS. A peer that closes the connection before answering is
    what a TLS server does to a plain request, and what a mutual-TLS server does to a certificate it does
    not trust (TLS 1.3 checks it after the client's handshake is done), so the hint depends on our side.
    """
    described = tls_failure(exc, "tls_ca_file")
    if described is not None:
        return described
    if isinstance(exc, aiohttp.ServerDisconnectedError):
        if tls:
            return (
                "the peer closed the connection at once: if it runs with tls_client_auth, it did not accept "
                "this node's certificate (is tls_cert_file from the CA in its tls_ca_file?)"
            )
        return "the peer closed the connection: is it serving HTTPS (tls_* settings) while this node is not?"
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__


@functools.lru_cache(maxsize=8)
def _server_context(cert_file: str, key_file: str, ca_file: str, client_auth: bool) -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    try:
        context.load_cert_chain(cert_file, key_file)
    except (OSError, ssl.SSLError) as exc:
        raise StartupError(
            f"cannot load tls_cert_file {cert_file} with tls_key_file {key_file}: {_reason(exc)}"
        ) from None
    if client_auth:
        context.verify_mode = ssl.CERT_REQUIRED
        try:
            context.load_verify_locations(ca_file)
        except (OSError, ssl.SSLError) as exc:
            raise StartupError(f"cannot load tls_ca_file {ca_file}: {_reason(exc)}") from None
    return context


@functools.lru_cache(maxsize=8)
def _client_context(ca_file: str, cert_file: str, key_file: str) -> ssl.SSLContext:
    try:
        return client_context(ca_file, cert_file, key_file)
    except ValueError as exc:
        raise StartupError(f"tls settings: {exc}") from None


def _reason(exc: BaseException) -> str:
    return load_error(exc, "is it PEM, and does the key belong to the certificate?")
