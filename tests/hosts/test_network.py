"""The harness itself: hosts with their own addresses and names, cuts that drop exactly what they say
(checked packet by packet with UDP, which has no handshake to hide a one-way cut), and clean-up."""

from __future__ import annotations

import ipaddress
import select
import socket
import subprocess
import sys
import time
from itertools import permutations

import pytest

from replog.hosts.cuts import Cut, between, isolate, one_way
from replog.hosts.network import CLIENT, NETNS_ETC, HostNetwork, sweep_stale

pytestmark = pytest.mark.usefixtures("hosts_available")

SUBNET = ipaddress.IPv4Network("10.5.0.0/16")
ADDRESSES = {"master": "10.5.0.2", "secondary-0": "10.5.0.3", "secondary-1": "10.5.0.4"}
NODES = list(ADDRESSES)
PROBE_PORT = 40_000
QUIET_S = 0.3  # after every expected datagram arrived: how long to watch for one that must not


def _namespaces() -> set[str]:
    listed = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True, check=True).stdout
    return {line.split(" ", 1)[0] for line in listed.splitlines()}


def delivered(network: HostNetwork, expected: set[tuple[str, str]]) -> set[tuple[str, str]]:
    """Send one datagram over every directed pair of hosts; the pairs (source, destination) that arrived."""
    sockets: dict[str, socket.socket] = {}
    for host, address in network.addresses.items():
        with network.inside(host):
            sockets[host] = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        sockets[host].bind((address, PROBE_PORT))
    try:
        for source, destination in permutations(network.addresses, 2):
            sockets[source].sendto(f"{source}>{destination}".encode(), (network.addresses[destination], PROBE_PORT))
        arrived: set[tuple[str, str]] = set()
        deadline = time.monotonic() + 5.0
        quiet_until = None
        while time.monotonic() < (quiet_until or deadline):
            if quiet_until is None and expected <= arrived:
                quiet_until = time.monotonic() + QUIET_S
            readable, _, _ = select.select(list(sockets.values()), [], [], 0.05)
            for sock in readable:
                source, destination = sock.recv(100).decode().split(">")
                arrived.add((source, destination))
        return arrived
    finally:
        for sock in sockets.values():
            sock.close()


def all_pairs(network: HostNetwork) -> set[tuple[str, str]]:
    return set(permutations(network.addresses, 2))


@pytest.fixture
def network() -> HostNetwork:
    with HostNetwork(ADDRESSES, SUBNET) as made:
        yield made


def test_hosts_have_their_addresses_and_resolve_each_other_by_name(network: HostNetwork) -> None:
    assert network.addresses[CLIENT] == "10.5.255.254"
    assert delivered(network, all_pairs(network)) == all_pairs(network)
    code = "import socket; print(*(socket.gethostbyname(n) for n in ('master', 'secondary-0', 'secondary-1')))"
    out = subprocess.run(
        network.exec_argv("secondary-1", [sys.executable, "-c", code]), capture_output=True, text=True, check=True
    )
    assert out.stdout.split() == ["10.5.0.2", "10.5.0.3", "10.5.0.4"]
    own = subprocess.run(network.exec_argv("master", ["ip", "-4", "-o", "addr"]), capture_output=True, text=True)
    assert "10.5.0.2/16" in own.stdout and "10.5.0.3" not in own.stdout


@pytest.mark.parametrize(
    ("name", "cuts"),
    [
        ("a node isolated from all", isolate("secondary-0", NODES)),
        ("one pair cut", between("master", "secondary-1")),
        ("one-way: secondary-1 stops hearing master", one_way("master", "secondary-1")),
        ("the leader cut from the majority", isolate("master", NODES)),
    ],
)
def test_a_cut_drops_exactly_its_packets_and_a_heal_restores_all(
    network: HostNetwork, name: str, cuts: frozenset[Cut]
) -> None:
    expected = all_pairs(network) - {(cut.source, cut.destination) for cut in cuts}
    network.set_cuts(cuts)
    assert delivered(network, expected) == expected, name
    assert (CLIENT, "master") in expected  # the client's view of every node is never cut
    network.heal()
    assert delivered(network, all_pairs(network)) == all_pairs(network)
    assert "replog_cuts" not in network.rules("secondary-1")


def test_one_way_cut_is_one_rule_on_the_deaf_side(network: HostNetwork) -> None:
    network.cut(one_way("master", "secondary-1"))
    assert "ip saddr 10.5.0.2 drop" in network.rules("secondary-1")
    assert "replog_cuts" not in network.rules("master")
    network.cut(one_way("secondary-0", "secondary-1"))
    assert "ip saddr { 10.5.0.2, 10.5.0.3 } drop" in network.rules("secondary-1")
    network.heal(one_way("master", "secondary-1"))
    assert network.cuts == one_way("secondary-0", "secondary-1")


def test_everything_is_removed_even_when_the_block_fails() -> None:
    with pytest.raises(RuntimeError, match="boom"), HostNetwork(ADDRESSES, SUBNET) as network:
        made = {network.namespace(host) for host in network.addresses}
        assert made <= _namespaces()
        raise RuntimeError("boom")
    assert not made & _namespaces()
    assert not any((NETNS_ETC / name).exists() for name in made)


def test_namespaces_of_a_dead_run_are_swept() -> None:
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    stale = f"rl{dead.pid}n0-master"
    subprocess.run(["ip", "netns", "add", stale], check=True)
    (NETNS_ETC / stale).mkdir(parents=True, exist_ok=True)
    try:
        assert stale in sweep_stale()
        assert stale not in _namespaces() and not (NETNS_ETC / stale).exists()
    finally:
        subprocess.run(["ip", "netns", "delete", stale], capture_output=True)
