"""The pure parts of the namespace hosts: compose parsing and the nftables rules a set of cuts makes."""

from __future__ import annotations

import pytest

from replog.hosts.compose import ComposeError, interpolate, parse_topology
from replog.hosts.cuts import Cut, between, isolate, one_way, ruleset

ADDRESSES = {"a": "10.5.0.2", "b": "10.5.0.3", "c": "10.5.0.4"}


def test_interpolation_follows_compose() -> None:
    env = {"SET": "x", "EMPTY": ""}
    assert interpolate("${SET}-${UNSET:-d}-${EMPTY:-d}-${UNSET}", env) == "x-d-d-"


def test_a_service_without_an_address_is_named() -> None:
    text = """
services:
  master: {command: [replog, master], ports: ["7000:7000"], environment: {}}
networks:
  net: {ipam: {config: [{subnet: 10.5.0.0/16}]}}
"""
    with pytest.raises(ComposeError, match=r"service master: needs networks.net.ipv4_address"):
        parse_topology(text, {})


def test_cut_sets() -> None:
    assert one_way("a", "b") == {Cut("a", "b")}
    assert between("a", "b") == {Cut("a", "b"), Cut("b", "a")}
    assert isolate("a", ["a", "b", "c"]) == between("a", "b") | between("a", "c")


def test_the_rules_drop_on_the_deaf_side_only_and_replace_the_table_whole() -> None:
    cuts = one_way("a", "c") | one_way("b", "c")
    script = ruleset("c", cuts, ADDRESSES)
    assert script.splitlines()[:2] == ["table inet replog_cuts {}", "delete table inet replog_cuts"]
    assert "ip saddr { 10.5.0.2, 10.5.0.3 } drop" in script
    assert ruleset("a", cuts, ADDRESSES) == "table inet replog_cuts {}\ndelete table inet replog_cuts\n"
