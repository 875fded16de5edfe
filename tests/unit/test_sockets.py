"""Every node socket notices a dead peer in seconds: keepalive after unhealthy_after_seconds of idleness and
a TCP user timeout of twice that, on the sockets it dials and, by inheritance, on those it accepts."""

from __future__ import annotations

import socket

import pytest

from replog.config import Config
from replog.net.sockets import socket_factory, tune

pytestmark = pytest.mark.skipif(not hasattr(socket, "TCP_USER_TIMEOUT"), reason="Linux TCP options")


def test_a_dialled_socket_gets_keepalive_and_a_user_timeout() -> None:
    config = Config(unhealthy_after_seconds=1.2, suspect_after_seconds=0.6, heartbeat_seconds=0.2)
    make = socket_factory(config)
    with make((socket.AF_INET, socket.SOCK_STREAM, 0, "", ("127.0.0.1", 0))) as sock:
        assert sock.getsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE) == 1
        assert sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPIDLE) == 1
        assert sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_USER_TIMEOUT) == 2400


def test_an_accepted_socket_inherits_the_listeners_options() -> None:
    listener = tune(socket.create_server(("127.0.0.1", 0)), Config())
    with listener, socket.create_connection(listener.getsockname()), listener.accept()[0] as accepted:
        assert accepted.getsockopt(socket.IPPROTO_TCP, socket.TCP_USER_TIMEOUT) == 12_000
        assert accepted.getsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPIDLE) == 6
