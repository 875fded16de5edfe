"""The master's dashboard: `GET /ui`, one static page that watches and drives the cluster.

Why it lives on the master: the page only polls the master's own `/health` and `/messages`, so it
needs no build step, no CDN and no cross-origin requests. The secondaries' `/faults` sit on other
ports and `POST /faults` needs the cluster token, which a browser must never hold by default, so
the master forwards `/ui/faults/{id}` itself, presenting `cluster_token`. Forwarding must not open
a hole: when a cluster token is set, `POST /ui/faults/{id}` asks the page for that same token.

| route                     | answer                                                         |
|---------------------------|----------------------------------------------------------------|
| GET  /ui                  | the page (plus /ui/dashboard.js and /ui/dashboard.css)         |
| GET  /ui/config           | what the page needs: w_max, default_w, which tokens are set    |
| GET  /ui/faults/{id}      | the secondary's GET /faults, or 502 naming it if unreachable   |
| POST /ui/faults/{id}      | the secondary's POST /faults (same status and JSON), or 502    |
| GET  /ui/cluster          | with failover: every node's role, term and leader, as it says  |
| GET  /ui/samples          | the charts' data (web/charts.py)                               |

With failover on, any node serves the page (the same routes); `/ui/cluster` asks every node for its own
`/health` from the server side, so the page shows who leads and each node's term without talking to
anyone but the node that served it.
"""

from __future__ import annotations

import asyncio
import importlib.resources
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import aiohttp
from aiohttp import web

from replog.config import Config
from replog.net.auth import bearer
from replog.net.tls import node_session
from replog.node.names import node_name
from replog.web.guards import guarded, read_body

__all__ = ["add_ui_routes"]

FAULTS_TIMEOUT_S = 2.0
STATIC_FILES = {
    "/ui": ("dashboard.html", "text/html"),
    "/ui/": ("dashboard.html", "text/html"),
    "/ui/dashboard.js": ("dashboard.js", "text/javascript"),
    "/ui/dashboard.css": ("dashboard.css", "text/css"),
    "/ui/charts.js": ("charts.js", "text/javascript"),
    "/ui/uPlot.iife.min.js": ("uPlot.iife.min.js", "text/javascript"),  # uPlot 1.6.32, MIT (uPlot.LICENSE)
    "/ui/uPlot.min.css": ("uPlot.min.css", "text/css"),
}
# The page loads nothing but its own files and talks to nothing but the master.
SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self' data:; "
        "base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Cache-Control": "no-cache",
}
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
SESSION = web.AppKey("ui_session", aiohttp.ClientSession)


def add_ui_routes(app: web.Application, config: Config) -> None:
    """Add the dashboard's routes to a node's app (call before the app starts)."""
    static = importlib.resources.files(__package__).joinpath("static")
    for path, (name, content_type) in STATIC_FILES.items():
        app.router.add_get(path, _file(static.joinpath(name).read_bytes(), content_type))  # fails at start if unshipped

    async def session_ctx(app: web.Application) -> AsyncIterator[None]:
        app[SESSION] = node_session(config, timeout=aiohttp.ClientTimeout(total=FAULTS_TIMEOUT_S))
        yield
        await app[SESSION].close()

    app.cleanup_ctx.append(session_ctx)

    async def ui_config(request: web.Request) -> web.Response:
        tokens = {"client": config.client_token, "read": config.read_token, "cluster": config.cluster_token}
        return web.json_response(
            {
                "w_max": len(config.secondaries) + 1,
                "default_w": config.default_w,
                "failover": config.failover,
                "tokens": {name: bool(token) for name, token in tokens.items()},  # whether set, never the value
            }
        )

    async def faults(request: web.Request) -> web.Response:
        peer = int(request.match_info["id"])
        if peer >= len(config.secondaries):
            return _json_error(404, f"no secondary {peer}: ids are 0..{len(config.secondaries) - 1}")
        address = config.secondaries[peer]
        body = await read_body(request, config.body_timeout_seconds) if request.method == "POST" else None
        headers = {**bearer(config.cluster_token), "Content-Type": "application/json"}
        try:
            async with request.app[SESSION].request(
                request.method, f"{config.url_of(address)}/faults", data=body, headers=headers
            ) as response:
                return web.json_response(await response.json(content_type=None), status=response.status)
        except TimeoutError:
            problem = f"unreachable: no answer within {FAULTS_TIMEOUT_S:g} s"
        except aiohttp.ClientError as exc:
            problem = f"unreachable: {exc or type(exc).__name__}"
        except ValueError:
            problem = "answered with something that is not JSON"
        return _json_error(502, f"secondary {peer} ({address}) {problem}")

    async def cluster(request: web.Request) -> web.Response:
        session = request.app[SESSION]
        urls = [config.url_of(address) for address in config.nodes]
        views = await asyncio.gather(*(_node_view(session, i, url) for i, url in enumerate(urls)))
        return web.json_response(views)

    app.router.add_get("/ui/config", ui_config)
    app.router.add_get("/ui/cluster", cluster)
    app.router.add_get(r"/ui/faults/{id:\d+}", faults)
    app.router.add_post(r"/ui/faults/{id:\d+}", guarded(faults, config.cluster_token, "cluster_token"))


def _file(content: bytes, content_type: str) -> Handler:
    async def serve(request: web.Request) -> web.Response:
        return web.Response(body=content, content_type=content_type, charset="utf-8", headers=SECURITY_HEADERS)

    return serve


def _json_error(status: int, message: str) -> web.Response:
    return web.json_response({"error": message}, status=status)


async def _node_view(session: aiohttp.ClientSession, node_id: int, url: str) -> dict[str, Any]:
    view: dict[str, Any] = {"id": node_id, "name": node_name(node_id), "url": url}
    try:
        async with session.get(f"{url}/health") as response:
            health = await response.json(content_type=None)
    except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
        return {**view, "error": f"unreachable: {exc or type(exc).__name__}"}
    leader = health.get("leader") or {}
    return {
        **view,
        "role": health.get("role"),
        "term": health.get("term"),
        "leader": leader.get("name"),
        "last_index": health.get("last_index"),
        "commit_index": health.get("commit_index"),
        "rolled_back": health.get("rolled_back", 0),
    }
