"""TLS on every link, on real processes: verified certificates work; another CA, a plain-HTTP node and a client
without a certificate (mutual TLS) are refused with one clear line, and nothing reaches the refused node.

Certificates are made at test time by `replog certs`' library function into the test's directory; each node
gets its own certificate through REPLOG_TLS_* (as docker-compose would pass them).
"""

from __future__ import annotations

import json
import ssl
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import aiohttp
import pytest

from replog.client import AsyncClient, Client, ConnectionFailed
from replog.client.tls import client_context
from replog.net.certs import Written, write_certs
from tests.e2e.cluster import Cluster, until

pytestmark = pytest.mark.e2e

NAMES = ("master", "secondary-0", "secondary-1")
FAILOVER = {"failover": True, "election_timeout_seconds": 0.5}


def _tls(certs: Written, name: str = "master", **extra: object) -> dict[str, object]:
    cert, key = certs.certs[name]
    return {"tls_cert_file": str(cert), "tls_key_file": str(key), "tls_ca_file": str(certs.ca_file), **extra}


def _env(certs: Written, name: str) -> dict[str, str]:
    """One node's own certificate (and trust anchor) through the environment, over the shared config file."""
    cert, key = certs.certs[name]
    return {
        "REPLOG_TLS_CERT_FILE": str(cert),
        "REPLOG_TLS_KEY_FILE": str(key),
        "REPLOG_TLS_CA_FILE": str(certs.ca_file),
    }


PLAIN_ENV = {"REPLOG_TLS_CERT_FILE": "", "REPLOG_TLS_KEY_FILE": "", "REPLOG_TLS_CA_FILE": ""}


def _start(cluster: Cluster, envs: dict[str, dict[str, str]]) -> None:
    cluster.start_master(envs["master"])
    cluster.start_secondary(0, env=envs["secondary-0"])
    cluster.start_secondary(1, env=envs["secondary-1"])


async def _wait_log(cluster: Cluster, name: str, *texts: str, timeout_s: float = 15) -> str:
    """The first line of `name`'s log that contains every one of `texts`, once there is one."""

    def found() -> list[str]:
        return [line for line in cluster.log_text(name).splitlines() if all(text in line for text in texts)]

    async def logged() -> bool:
        return bool(found())

    await until(logged, timeout_s, f"{name}'s log to say {texts!r}")
    return found()[0]


async def _log_of(url: str, context: ssl.SSLContext) -> list[str]:
    async with (
        aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=context)) as session,
        session.get(url + "/") as response,
    ):
        assert response.status == 200
        return list(await response.json())


async def test_a_tls_cluster_replicates_and_serves_only_https(
    make_cluster: Callable[..., Cluster], tmp_path: Path
) -> None:
    certs = write_certs(tmp_path / "certs", [*NAMES, "127.0.0.1"])
    cluster = make_cluster(**FAILOVER, **_tls(certs))
    cluster.client_ssl = client_context(str(certs.ca_file))
    _start(cluster, {name: _env(certs, name) for name in NAMES})
    await cluster.wait_up(*NAMES)
    urls = [cluster.url(name) for name in NAMES]
    assert all(url.startswith("https://") for url in urls)

    async with AsyncClient(urls, ca_file=str(certs.ca_file)) as client:
        result = await client.append("over tls", w=3)
        health = await client.node_health()
    assert result.index >= 1 and not result.duplicate
    assert getattr(health, "leader_url", "").startswith("https://"), health  # peers' URLs carry the scheme
    for name in NAMES:
        assert await cluster.messages(name) == ["over tls"], name  # w=3: on every node already

    # The blocking client and the CLI verify the same way.
    with Client(",".join(urls), ca_file=str(certs.ca_file)) as sync_client:
        assert sync_client.append("sync over tls", w=2).index == result.index + 1
    run = subprocess.run(
        [sys.executable, "-m", "replog", "health", "--json", "--url", urls[1], "--ca-file", str(certs.ca_file)],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert run.returncode == 0, run.stderr
    assert json.loads(run.stdout)["name"] == "secondary-0"

    # A plain request to a TLS port gets no answer, and a client that does not trust the CA is told why.
    plain = urls[0].replace("https://", "http://")
    async with aiohttp.ClientSession() as session:
        with pytest.raises(aiohttp.ClientError):
            async with session.get(plain + "/health") as response:
                await response.read()
    with pytest.raises(ConnectionFailed, match="does not verify against the CA file"):
        Client(urls[0], ca_file=str(write_certs(tmp_path / "other").ca_file)).append("nope")
    assert await cluster.messages("master") == ["over tls", "sync over tls"]


async def test_a_node_with_a_certificate_from_another_ca_gets_nothing(
    make_cluster: Callable[..., Cluster], tmp_path: Path
) -> None:
    certs = write_certs(tmp_path / "certs", [*NAMES, "127.0.0.1"])
    other = write_certs(tmp_path / "other", [*NAMES, "127.0.0.1"])  # an unrelated CA, same names
    cluster = make_cluster(**FAILOVER, **_tls(certs))
    cluster.client_ssl = client_context(str(certs.ca_file))
    _start(
        cluster,
        {"master": _env(certs, "master"), "secondary-0": _env(certs, "secondary-0")}
        | {"secondary-1": _env(other, "secondary-1")},
    )
    await cluster.wait_up("master", "secondary-0")

    async with AsyncClient([cluster.url("master"), cluster.url("secondary-0")], ca_file=str(certs.ca_file)) as client:
        for i in range(5):
            await client.append(f"m{i}", w=2)
    # (An earlier line may say "connection refused": the link may dial before secondary-1 listens.)
    line = await _wait_log(
        cluster, "master", f"cannot reach secondary-1 at {cluster.url('secondary-1')}: ", "does not verify"
    )
    assert "WARNING" in line and "its certificate does not verify against tls_ca_file" in line
    assert await cluster.messages("secondary-0") == [f"m{i}" for i in range(5)]
    # The refused node answers (to a client of its own CA) and holds nothing of the cluster's log.
    assert await _log_of(cluster.url("secondary-1"), client_context(str(other.ca_file))) == []
    peers = (await cluster.health("master"))["peers"]
    refused = next(p for p in peers if p["name"] == "secondary-1")
    assert "does not verify" in refused["last_error"] and refused["acked_index"] == 0
    warned = [line for line in cluster.log_text("master").splitlines() if "WARNING" in line and "not verify" in line]
    assert len(warned) == 1, "the warning is not throttled"


async def test_a_plain_http_node_in_a_tls_cluster_is_refused_and_says_why(
    make_cluster: Callable[..., Cluster], tmp_path: Path
) -> None:
    certs = write_certs(tmp_path / "certs", [*NAMES, "127.0.0.1"])
    cluster = make_cluster(**_tls(certs))  # the fixed master: its links and the secondaries' /join
    cluster.client_ssl = client_context(str(certs.ca_file))
    _start(
        cluster,
        {"master": _env(certs, "master"), "secondary-0": _env(certs, "secondary-0")} | {"secondary-1": PLAIN_ENV},
    )
    await cluster.wait_up("master", "secondary-0")
    await cluster.wait_status(0, "Healthy")
    for i in range(3):
        status, body = await cluster.append(f"m{i}", w=2)
        assert status == 201, body

    line = await _wait_log(cluster, "master", f"cannot reach secondary-1 at {cluster.url('secondary-1')}: ", "TLS")
    assert "WARNING" in line and "it does not speak TLS" in line
    assert "is it running without the tls_* settings while this side uses TLS?" in line
    plain_line = await _wait_log(cluster, "secondary-1", "is it serving HTTPS (tls_* settings) while this node is not?")
    assert "WARNING" in plain_line and "cannot announce ourselves to the master at http://" in plain_line
    plain_url = cluster.url("secondary-1").replace("https://", "http://")
    async with aiohttp.ClientSession() as session, session.get(plain_url + "/") as response:
        assert await response.json() == []
    assert (await cluster.health())["secondaries"][1]["acked_index"] == 0


async def test_mutual_tls_refuses_a_client_without_a_certificate(
    make_cluster: Callable[..., Cluster], tmp_path: Path
) -> None:
    certs = write_certs(tmp_path / "certs", [*NAMES, "127.0.0.1"])
    cluster = make_cluster(secondaries=1, **_tls(certs, tls_client_auth=True))
    client_cert, client_key = (str(p) for p in certs.certs["client"])
    context = client_context(str(certs.ca_file), client_cert, client_key)
    cluster.client_ssl = context
    cluster.start_master(_env(certs, "master"))
    cluster.start_secondary(0, env=_env(certs, "secondary-0"))
    await cluster.wait_up("master", "secondary-0")
    await cluster.wait_status(0, "Healthy")  # the nodes present their own certificates to each other

    url = cluster.url("master")
    with Client(url, ca_file=str(certs.ca_file), cert_file=client_cert, key_file=client_key) as client:
        assert client.append("with a certificate", w=2).index >= 1
    with pytest.raises(ConnectionFailed) as refused:
        Client(url, ca_file=str(certs.ca_file), timeout=5).append("without")
    assert "certificate" in str(refused.value), refused.value
    run = subprocess.run(
        [sys.executable, "-m", "replog", "append", "via the cli", "-w", "2", "--url", url, "--ca-file",
         str(certs.ca_file), "--cert-file", client_cert, "--key-file", client_key],
        capture_output=True,
        text=True,
        timeout=30,
    )  # fmt: skip
    assert run.returncode == 0, run.stderr
    assert await cluster.messages("secondary-0") == ["with a certificate", "via the cli"]


@pytest.mark.parametrize(
    ("settings", "expected"),
    [
        ({"tls_key_file": "missing-key.pem"}, "cannot load tls_cert_file"),
        ({"tls_key_file": ""}, "tls_cert_file is set but tls_key_file is not"),
        ({"tls_ca_file": "", "tls_client_auth": True}, "tls_client_auth needs"),
        ({"tls_ca_file": "missing-ca.pem"}, "cannot load CA file missing-ca.pem"),
    ],
    ids=["missing-key-file", "cert-without-key", "client-auth-without-ca", "missing-ca-file"],
)
def test_tls_setting_errors_stop_the_node_with_one_line(
    tmp_path: Path, settings: dict[str, object], expected: str
) -> None:
    certs = write_certs(tmp_path / "certs")
    config = tmp_path / "config.yaml"
    config.write_text(json.dumps({**_tls(certs), "data_dir": str(tmp_path / "data"), **settings}))
    run = subprocess.run(
        [sys.executable, "-m", "replog", "master", "--config", str(config)],
        capture_output=True,
        text=True,
        timeout=30,
        cwd=tmp_path,
    )
    assert run.returncode == 2, run.stderr
    assert run.stderr.count("\n") == 1 and run.stderr.startswith("replog: "), run.stderr
    assert expected in run.stderr
    assert not (tmp_path / "data" / "master").exists() or not any((tmp_path / "data" / "master").iterdir())
