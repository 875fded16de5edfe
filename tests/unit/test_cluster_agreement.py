"""Failover nodes refuse to run with a different map of the cluster than their peers."""

from __future__ import annotations

from replog.config import Config
from replog.node.agreement import cluster_difference

CONFIG = Config(master="h:7000", secondaries=("h:8000", "h:9000"), failover=True)


def test_a_peer_that_agrees_is_fine() -> None:
    assert cluster_difference(CONFIG, 1, "h:8000", {"term": 3, "id": 1, "name": "secondary-0", "nodes_total": 3}) == ""


def test_an_address_that_reaches_another_node_is_named() -> None:
    problem = cluster_difference(CONFIG, 1, "h:8000", {"term": 3, "id": 2, "name": "secondary-1", "nodes_total": 3})
    assert problem == (
        "this node's settings list 3 nodes and put secondary-0 at h:8000, but the node there is secondary-1: "
        "the node lists differ in order or addresses"
    )


def test_a_different_node_count_is_named() -> None:
    problem = cluster_difference(CONFIG, 2, "h:9000", {"term": 0, "id": 2, "name": "secondary-1", "nodes_total": 5})
    assert "that node's settings list 5 nodes" in problem


def test_a_peer_without_failover_is_named() -> None:
    problem = cluster_difference(CONFIG, 0, "h:7000", {"role": "master", "read_only": False})
    assert problem.endswith("runs without failover: set failover the same on every node")
