"""What the host tests share: a cluster of the compose file's nodes on namespace hosts, and plain HTTP from
the client host. Every request a test makes goes from the client namespace to a node namespace's address.
"""

from __future__ import annotations

import http.client
import json
import ssl
import time
from collections.abc import Callable
from typing import Any, TypeVar
from urllib.parse import urlsplit

from replog.hosts.cluster import HostCluster

T = TypeVar("T")
POLL_S = 0.05


def request(cluster: HostCluster, method: str, url: str, body: Any = None, timeout: float = 5.0) -> tuple[int, Any]:
    """One request from the client host; (status, JSON body or text). Connection errors raise OSError.

    https URLs are verified against the cluster's REPLOG_TLS_CA_FILE."""
    parts = urlsplit(url)
    with cluster.network.inside():
        if parts.scheme == "https":
            context = ssl.create_default_context(cafile=cluster.environment(cluster.names[0])["REPLOG_TLS_CA_FILE"])
            connection: http.client.HTTPConnection = http.client.HTTPSConnection(
                parts.hostname or "", parts.port, timeout=timeout, context=context
            )
        else:
            connection = http.client.HTTPConnection(parts.hostname or "", parts.port, timeout=timeout)
        try:
            payload = None if body is None else json.dumps(body).encode()
            headers = {"Content-Type": "application/json"} if payload is not None else {}
            connection.request(method, parts.path or "/", body=payload, headers=headers)
            response = connection.getresponse()
            text = response.read().decode()
        finally:
            connection.close()
    try:
        return response.status, json.loads(text)
    except ValueError:
        return response.status, text


def health(cluster: HostCluster, name: str, timeout: float = 2.0) -> dict[str, Any] | None:
    """The node's /health, or None if it does not answer."""
    try:
        status, body = request(cluster, "GET", f"{cluster.url(name)}/health", timeout=timeout)
    except (OSError, http.client.HTTPException):
        return None
    return body if status == 200 and isinstance(body, dict) else None


def until(check: Callable[[], T | None], timeout: float, what: str) -> T:
    """Poll `check` until it returns something truthy; fail naming `what` after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(POLL_S)  # why: polling live processes with a deadline


def agreed_leader(cluster: HostCluster, among: list[str]) -> str | None:
    """The leader every node in `among` names, if they agree and it says it leads."""
    views = [health(cluster, name, timeout=1.0) for name in among]
    if any(view is None for view in views):
        return None
    leaders = {(view.get("leader") or {}).get("name") for view in views if view is not None}
    if len(leaders) != 1 or None in leaders:
        return None
    (leader,) = leaders
    view = (
        health(cluster, leader, timeout=1.0) if leader not in among else next(v for v in views if v["name"] == leader)
    )
    return leader if view is not None and view.get("role") == "leader" else None


def logs_tail(cluster: HostCluster, lines: int = 40) -> str:
    """Each node's last log lines, for a failing assertion's message."""
    out = []
    for name in cluster.names:
        path = cluster.processes.log_path(name)
        text = path.read_text(errors="replace").splitlines()[-lines:] if path.exists() else []
        out.append(f"--- {name}\n" + "\n".join(text))
    return "\n".join(out)
