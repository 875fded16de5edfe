"""Node ids and names: the configured master is node 0 and named "master"; secondary N is node N + 1."""

from __future__ import annotations

__all__ = ["node_name"]


def node_name(node_id: int) -> str:
    return "master" if node_id == 0 else f"secondary-{node_id - 1}"
