"""A link probes the peer's port between dials only when the last dial found nobody listening: after a TLS
mismatch or a refusal the port is open, and a probe would make it redial at every heartbeat."""

from __future__ import annotations

import ssl

import aiohttp
import pytest
from aiohttp.client_reqrep import ConnectionKey

from replog.net.peer_link import _reached_the_port

KEY = ConnectionKey("peer", 8000, True, True, None, None, None)


@pytest.mark.parametrize(
    ("exc", "reached"),
    [
        (aiohttp.ClientConnectorError(KEY, ConnectionRefusedError(111, "refused")), False),
        (TimeoutError(), False),
        (ConnectionRefusedError(), False),
        (aiohttp.ClientConnectorCertificateError(KEY, ssl.SSLCertVerificationError("bad")), True),
        (aiohttp.ClientConnectorSSLError(KEY, ssl.SSLError(1, "WRONG_VERSION_NUMBER")), True),
        (aiohttp.ServerDisconnectedError(), True),
        (aiohttp.WSServerHandshakeError(None, (), status=409, message="another master"), True),  # type: ignore[arg-type]
    ],
)
def test_which_failures_reached_a_listening_peer(exc: BaseException, reached: bool) -> None:
    assert _reached_the_port(exc) is reached
