"""`replog healthcheck`: is the node of this data directory up and answering? (the Dockerfile's HEALTHCHECK)

A container's health check runs beside the node with the same REPLOG_* environment but not its command
line, so it does not know which node it is. The data directory knows: the node that runs holds the
flock on `<data_dir>/<its name>/LOCK`. The check finds that node, and asks its own address for /health,
over HTTPS with the node's own tls_* settings when it has them (the certificate names that address).
"""

from __future__ import annotations

import json
import ssl
import urllib.error
import urllib.request
from pathlib import Path

from replog.config import Config
from replog.net.tls import client_ssl
from replog.node.names import node_name
from replog.storage.lock import is_held

__all__ = ["TIMEOUT_S", "check", "running_node"]

TIMEOUT_S = 3.0


def running_node(config: Config) -> int | None:
    """The id of the node whose data directory under `data_dir` is held by a live process, if one is."""
    for node_id in range(len(config.nodes)):
        if is_held(Path(config.data_dir) / node_name(node_id)):
            return node_id
    return None


def check(config: Config, node: str | None = None) -> tuple[bool, str]:
    """(healthy, one line saying why). `node` ("master", "secondary-N") skips the data directory lookup."""
    names = [node_name(i) for i in range(len(config.nodes))]
    if node is None:
        if config.storage != "disk":
            return False, "storage is not disk, so no data directory names the node: pass --node"
        node_id = running_node(config)
        if node_id is None:
            return False, f"no replog node holds a data directory under {config.data_dir}"
    elif node in names:
        node_id = names.index(node)
    else:
        return False, f"no node {node!r} (nodes: {', '.join(names)})"
    url = f"{config.url_of(config.nodes[node_id])}/health"
    context = client_ssl(config)
    handlers: list[urllib.request.BaseHandler] = [urllib.request.ProxyHandler({})]  # why: the node is local
    if isinstance(context, ssl.SSLContext):
        handlers.append(urllib.request.HTTPSHandler(context=context))
    opener = urllib.request.build_opener(*handlers)
    try:
        with opener.open(url, timeout=TIMEOUT_S) as response:
            health = json.load(response)
    except (urllib.error.URLError, OSError, ValueError) as exc:
        return False, f"{names[node_id]} at {url} does not answer: {getattr(exc, 'reason', exc)}"
    role = health.get("role") or ("master" if node_id == 0 else "secondary")
    return True, f"{names[node_id]} at {url} answers ({role})"
