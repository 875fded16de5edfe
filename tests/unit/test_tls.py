"""TLS settings, contexts and the words for a failed handshake, without a cluster.

The handshakes here are real (an in-process aiohttp server on 127.0.0.1), so the classification is tested on
the exceptions the libraries really raise, not on ones built by hand.
"""

from __future__ import annotations

import ssl
import stat
from collections.abc import AsyncIterator

import aiohttp
import pytest
from aiohttp import web

from replog.client.tls import client_context, context_from_env, tls_failure
from replog.config import load_config
from replog.errors import ConfigError, StartupError
from replog.net import tls
from replog.net.certs import Written, split_hosts, write_certs


@pytest.fixture(scope="module")
def certs(tmp_path_factory: pytest.TempPathFactory) -> Written:
    return write_certs(tmp_path_factory.mktemp("certs"), ["master", "secondary-0", "127.0.0.1"])


@pytest.fixture(scope="module")
def other(tmp_path_factory: pytest.TempPathFactory) -> Written:
    return write_certs(tmp_path_factory.mktemp("other"), ["master", "127.0.0.1"])


def _settings(certs: Written, name: str = "master", **extra: object) -> dict[str, object]:
    cert, key = certs.certs[name]
    return {"tls_cert_file": str(cert), "tls_key_file": str(key), "tls_ca_file": str(certs.ca_file), **extra}


# ------------------------------------------------------------------ settings


def test_tls_is_off_by_default_and_urls_are_plain() -> None:
    config = load_config(environ={}, cli={})
    assert not config.tls and config.scheme == "http" and config.url_of("a:1") == "http://a:1"
    assert tls.server_context(config) is None and tls.client_ssl(config) is True


def test_tls_settings_come_from_the_environment_and_make_urls_https(certs: Written) -> None:
    cert, key = certs.certs["master"]
    environ = {"REPLOG_TLS_CERT_FILE": str(cert), "REPLOG_TLS_KEY_FILE": str(key), "REPLOG_TLS_CLIENT_AUTH": "true"}
    config = load_config(environ={**environ, "REPLOG_TLS_CA_FILE": str(certs.ca_file)}, cli={})
    assert config.tls and config.tls_client_auth and config.url_of("h:9") == "https://h:9"
    server = tls.server_context(config)
    assert server is not None and server.verify_mode == ssl.CERT_REQUIRED
    client = tls.client_ssl(config)
    assert isinstance(client, ssl.SSLContext) and client.check_hostname


@pytest.mark.parametrize(
    ("cli", "message"),
    [
        ({"tls_cert_file": "c.pem"}, "tls_cert_file is set but tls_key_file is not"),
        ({"tls_key_file": "k.pem"}, "tls_key_file is set but tls_cert_file is not"),
        ({"tls_ca_file": "ca.pem"}, "tls_ca_file is set but tls_cert_file and tls_key_file are not"),
        ({"tls_cert_file": "c.pem", "tls_key_file": "k.pem", "tls_client_auth": "true"}, "tls_client_auth needs"),
        ({"tls_client_auth": "maybe"}, "is not a boolean"),
    ],
)
def test_tls_settings_that_cannot_work_are_refused(cli: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        load_config(environ={}, cli=cli)


def test_files_that_do_not_load_are_a_startup_error_naming_them(certs: Written, other: Written) -> None:
    missing = load_config(environ={}, cli=_settings(certs, tls_key_file="/nonexistent/key.pem"))
    with pytest.raises(StartupError, match=r"tls_key_file /nonexistent/key.pem: No such file"):
        tls.check(missing)
    wrong_key = load_config(environ={}, cli=_settings(certs, tls_key_file=str(other.certs["master"][1])))
    with pytest.raises(StartupError, match="does the key belong to the certificate"):
        tls.check(wrong_key)
    bad_ca = load_config(environ={}, cli=_settings(certs, tls_ca_file=str(certs.certs["master"][1])))
    with pytest.raises(StartupError, match="cannot load CA file"):
        tls.check(bad_ca)


def test_client_context_from_env_is_none_without_files(certs: Written) -> None:
    assert context_from_env(None, None, None, environ={}) is None
    context = context_from_env(None, None, None, environ={"REPLOG_CA_FILE": str(certs.ca_file)})
    assert context is not None and context.verify_mode == ssl.CERT_REQUIRED
    with pytest.raises(ValueError, match="needs both"):
        client_context(str(certs.ca_file), cert_file=str(certs.certs["client"][0]))


# --------------------------------------------------------------------- certs


def test_certs_writes_private_keys_and_a_certificate_per_name(certs: Written) -> None:
    assert set(certs.certs) == {"master", "secondary-0", "client"}
    for cert, key in certs.certs.values():
        assert stat.S_IMODE(key.stat().st_mode) == 0o600 and cert.read_text().startswith("-----BEGIN CERTIFICATE")
    assert stat.S_IMODE(certs.ca_key_file.stat().st_mode) == 0o600
    assert split_hosts(["a", "10.0.0.1", "", "a", "::1"]) == (["a"], ["10.0.0.1", "::1"])


# ---------------------------------------------------------------- handshakes


async def _serve(context: ssl.SSLContext | None) -> AsyncIterator[str]:
    async def ok(request: web.Request) -> web.Response:
        return web.Response(text="ok")

    app = web.Application()
    app.router.add_get("/", ok)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0, ssl_context=context)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    yield f"{'https' if context else 'http'}://127.0.0.1:{port}/"
    await runner.cleanup()


@pytest.fixture
async def tls_url(certs: Written) -> AsyncIterator[str]:
    async for url in _serve(tls.server_context(load_config(environ={}, cli=_settings(certs)))):
        yield url


@pytest.fixture
async def mtls_url(certs: Written) -> AsyncIterator[str]:
    async for url in _serve(tls.server_context(load_config(environ={}, cli=_settings(certs, tls_client_auth=True)))):
        yield url


@pytest.fixture
async def plain_url() -> AsyncIterator[str]:
    async for url in _serve(None):
        yield url


async def _dial(url: str, context: ssl.SSLContext | bool) -> BaseException | None:
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=context)) as session:
        try:
            async with session.get(url) as response:
                assert await response.text() == "ok"
        except aiohttp.ClientError as exc:
            return exc
    return None


async def test_a_verified_peer_answers(certs: Written, tls_url: str) -> None:
    assert await _dial(tls_url, client_context(str(certs.ca_file))) is None


async def test_a_certificate_from_another_ca_is_named_as_such(other: Written, tls_url: str) -> None:
    exc = await _dial(tls_url, client_context(str(other.ca_file)))
    assert exc is not None
    assert tls.dial_failure(exc, tls=True) == (
        "its certificate does not verify against tls_ca_file (unable to get local issuer certificate)"
    )


async def test_a_plain_peer_is_named_as_such(certs: Written, plain_url: str) -> None:
    exc = await _dial(plain_url.replace("http:", "https:"), client_context(str(certs.ca_file)))
    assert exc is not None
    assert tls.dial_failure(exc, tls=True).startswith("it does not speak TLS (WRONG_VERSION_NUMBER)")


async def test_a_plain_dialler_of_a_tls_peer_is_told_to_check_https(tls_url: str) -> None:
    exc = await _dial(tls_url.replace("https:", "http:"), True)
    assert exc is not None and tls_failure(exc) is None
    assert "is it serving HTTPS (tls_* settings) while this node is not?" in tls.dial_failure(exc, tls=False)


async def test_mutual_tls_needs_a_certificate_from_the_ca(certs: Written, other: Written, mtls_url: str) -> None:
    ca = str(certs.ca_file)
    assert await _dial(mtls_url, client_context(ca, *(str(p) for p in certs.certs["client"]))) is None
    for context in (client_context(ca), client_context(ca, *(str(p) for p in other.certs["client"]))):
        exc = await _dial(mtls_url, context)
        assert exc is not None and "tls_client_auth" in tls.dial_failure(exc, tls=True)


def test_other_failures_keep_their_type_and_text() -> None:
    assert tls.dial_failure(ConnectionRefusedError(111, "Connection refused"), tls=True) == (
        "ConnectionRefusedError: [Errno 111] Connection refused"
    )


def test_one_node_does_not_retry_a_certificate_mismatch_but_several_move_on() -> None:
    import random

    from replog.client import RetryPolicy
    from replog.client.failover import Failover, TryAgain

    mismatch = ssl.SSLCertVerificationError(1, "certificate verify failed")
    alone = Failover(["https://a:1"], start=0, policy=RetryPolicy(), deadline=None, now=0.0, rng=random.Random(1))
    given_up = alone.failed(mismatch, now=0.1)
    assert not isinstance(given_up, TryAgain) and "does not verify against the CA file" in str(given_up)
    several = Failover(
        ["https://a:1", "https://b:2"], start=0, policy=RetryPolicy(), deadline=10.0, now=0.0, rng=random.Random(1)
    )
    assert isinstance(several.failed(mismatch, now=0.1), TryAgain)  # another node may have a good certificate
