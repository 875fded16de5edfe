"""aiohttp routes of the master and the secondaries; the only place errors become statuses.

| error                                   | status |
|-----------------------------------------|--------|
| InvalidRequest, InvalidWriteConcern     | 400    |
| body above max_body_bytes               | 413    |
| ReadOnly, NotEnoughReplicas, Overloaded | 503 (+ Retry-After) |
| WriteConcernTimeout                     | 504, with the index: the entry stays |
| StorageFull                             | 507    |
| StorageError                            | 503    |
Every error body is `{"error": "..."}`, including aiohttp's own 404 and 405.
"""

from __future__ import annotations

import functools
import importlib.resources
import json
import logging
import time
from collections.abc import Awaitable, Callable, Sequence

import yaml
from aiohttp import web

from replog.errors import InvalidRequest, ReplogError, RequestTimeout
from replog.metrics import CONTENT_TYPE, NodeMetrics
from replog.node.master import AppendResult, MasterNode, WriteConcernTimeout
from replog.node.replica import ReplicaNode
from replog.node.secondary import SecondaryNode
from replog.types import Entry, is_internal
from replog.web.charts import add_chart_routes
from replog.web.errors import describe, outcome_of, status_for
from replog.web.guards import guarded, read_body
from replog.web.requests import PageRequest, parse_append, parse_page
from replog.web.stream import serve_stream
from replog.web.ui import add_ui_routes

__all__ = ["append_handler", "faults_handlers", "master_app", "secondary_app"]

log = logging.getLogger("replog.http")

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
PAGE_CHUNK = 1000
MAX_BODY_BYTES = web.AppKey("max_body_bytes", int)


def _error(status: int, message: str, **extra: object) -> web.Response:
    headers = {"Retry-After": "1"} if status == 503 else None
    return web.json_response({"error": message, **extra}, status=status, headers=headers)


def _indexes(result: AppendResult, batch: bool) -> dict[str, int]:
    """Where an append's entries are: `index` (the last), plus the range for a batch."""
    if batch:
        return {"index": result.last_index, "first_index": result.first_index, "last_index": result.last_index}
    return {"index": result.last_index}


def _appended(result: AppendResult, batch: bool) -> web.Response:
    """The 201 (200 for a duplicate) of an append. Its body is formatted, not json.dumps'd: it holds only
    integers and a boolean, and this runs once per acknowledged append (a JSON encoder per answer cost ~3%)."""
    indexes = (
        f'"index": {result.last_index}, "first_index": {result.first_index}, "last_index": {result.last_index}'
        if batch
        else f'"index": {result.last_index}'
    )
    body = f'{{{indexes}, "w": {result.w}, "duplicate": {"true" if result.duplicate else "false"}}}'
    return web.Response(body=body.encode(), status=200 if result.duplicate else 201, headers=_JSON_HEADERS)


_JSON_HEADERS = {"Content-Type": "application/json; charset=utf-8"}  # as web.json_response sets it


@web.middleware
async def _errors_as_json(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        return await handler(request)
    except (ReplogError, WriteConcernTimeout) as exc:
        extra = {"index": exc.result.last_index, "w": exc.result.w} if isinstance(exc, WriteConcernTimeout) else {}
        response = _error(status_for(exc), describe(exc), **extra)
        if isinstance(exc, RequestTimeout):
            response.force_close()  # The rest of a trickled body is not worth waiting for.
        return response
    except web.HTTPRequestEntityTooLarge:
        return _error(413, f"body larger than max_body_bytes ({request.app[MAX_BODY_BYTES]} bytes)")
    except web.HTTPMethodNotAllowed as exc:
        allowed = ", ".join(sorted(exc.allowed_methods))
        response = _error(405, f"method {request.method} not allowed on {request.path}; allowed: {allowed}")
        response.headers["Allow"] = ",".join(sorted(exc.allowed_methods))
        return response
    except web.HTTPNotFound:
        return _error(404, f"no such path: {request.path}")


def _app(max_body_bytes: int) -> web.Application:
    app = web.Application(middlewares=[_errors_as_json], client_max_size=max_body_bytes)
    app[MAX_BODY_BYTES] = max_body_bytes
    return app


# --------------------------------------------------------------------- master


def master_app(node: MasterNode) -> web.Application:
    app = _app(node.config.max_body_bytes)
    w_max = len(node.config.secondaries) + 1

    append = append_handler(node, w_max)

    async def messages(request: web.Request) -> web.StreamResponse:
        return await _serve_messages(request, node.read_synced, node.store.synced_index)

    async def health(request: web.Request) -> web.Response:
        core = node.core
        secondaries = []
        for status, link in node.peer_status():
            secondaries.append(
                {
                    "id": status.peer,
                    "url": link.url,
                    "status": status.health.value,
                    "link": status.mode.value,
                    "acked_index": status.acked_index,
                    "lag": max(0, core.synced_index - status.acked_index),
                    "last_heard_ms_ago": status.last_heard_ms_ago,
                    "reconnects": link.reconnects,
                    "last_error": link.shown_error(status.refusal),
                }
            )
        return web.json_response(
            {
                "role": "master",
                "log_id": node.store.log_id,
                "read_only": core.read_only,
                "quorum": {"alive": core.alive(), "needed": core.quorum_needed()},
                "last_index": core.synced_index,
                "waiting": core.waiting(),
                "secondaries": secondaries,
            }
        )

    async def join(request: web.Request) -> web.Response:
        try:
            peer = json.loads(await read_body(request, node.config.body_timeout_seconds))["id"]
        except (ValueError, KeyError, TypeError):
            raise InvalidRequest('body must be {"id": <secondary id>}') from None
        if isinstance(peer, bool) or not isinstance(peer, int) or not 0 <= peer < len(node.config.secondaries):
            raise InvalidRequest(f"'id' must be a configured secondary id in 0..{len(node.config.secondaries) - 1}")
        node.join(peer)
        return web.json_response({"ok": True})

    config = node.config
    for path in ("/", "/messages"):
        app.router.add_post(path, guarded(append, config.client_token, "client_token"))
        app.router.add_get(path, guarded(messages, config.read_token, "read_token"))

    async def stream(request: web.Request) -> web.StreamResponse:
        return await serve_stream(node, request)

    app.router.add_get("/health", health)
    app.router.add_get("/metrics", _metrics(node.metrics))
    app.router.add_get("/openapi.json", _openapi)
    app.router.add_post("/join", guarded(join, config.cluster_token, "cluster_token"))
    app.router.add_get("/stream", guarded(stream, config.client_token, "client_token"))
    add_ui_routes(app, node.config)
    add_chart_routes(app, node.sampler, peer_urls=())  # The secondaries keep no ring: the master leads.
    return app


# ------------------------------------------------------------------ secondary


def secondary_app(node: SecondaryNode) -> web.Application:
    app = _app(node.config.max_body_bytes)

    async def messages(request: web.Request) -> web.StreamResponse:
        return await _serve_messages(request, node.read_synced, node.store.synced_index)

    async def not_writable(request: web.Request) -> web.Response:
        master_url = node.config.url_of(node.config.master)
        return _error(405, f"secondaries are read-only: append on the master at {master_url}/")

    async def health(request: web.Request) -> web.Response:
        return web.json_response(
            {
                "role": "secondary",
                "id": node.id,
                "log_id": node.store.log_id,
                "contiguous_index": node.store.synced_index,
                "master_connected": node.core.connected,
                "refusal": node.core.refusal,
            }
        )

    get_faults, set_faults = faults_handlers(node)

    config = node.config
    for path in ("/", "/messages"):
        app.router.add_get(path, guarded(messages, config.read_token, "read_token"))
        app.router.add_post(path, not_writable)
    app.router.add_get("/health", health)
    app.router.add_get("/metrics", _metrics(node.metrics))
    app.router.add_get("/faults", get_faults)
    app.router.add_post("/faults", guarded(set_faults, config.cluster_token, "cluster_token"))
    app.router.add_get("/replication", guarded(node.serve_replication, config.cluster_token, "cluster_token"))
    return app


# -------------------------------------------------------------------- shared


def append_handler(node: MasterNode | ReplicaNode, w_max: int) -> Handler:
    """POST / on the node that appends (the fixed master, or a failover leader): parse, append, answer."""
    config = node.config

    async def append(request: web.Request) -> web.Response:
        started, w = time.perf_counter(), config.default_w
        try:
            body = await read_body(request, config.body_timeout_seconds)
            parsed = parse_append(
                body,
                default_w=config.default_w,
                w_max=w_max,
                msgs_max=config.append_batch_max,
                message_bytes_max=config.message_bytes_max,
            )
            w = parsed.w
            result = await node.append(parsed.payloads, parsed.w, parsed.request_id, parsed.timeout_ms)
        except Exception as exc:
            node.metrics.observe_append(w, outcome_of(exc), time.perf_counter() - started)
            if isinstance(exc, WriteConcernTimeout):  # The entries stay: say where, as the 201 would.
                return _error(504, describe(exc), **_indexes(exc.result, parsed.batch), w=exc.result.w)
            raise
        node.metrics.observe_append(w, "duplicate" if result.duplicate else "ok", time.perf_counter() - started)
        return _appended(result, parsed.batch)

    return append


def faults_handlers(node: SecondaryNode | ReplicaNode) -> tuple[Handler, Handler]:
    """GET /faults and POST /faults of a node that injects faults."""

    async def get_faults(request: web.Request) -> web.Response:
        return web.json_response(node.faults.describe(node.now_ms()))

    async def set_faults(request: web.Request) -> web.Response:
        try:
            settings = json.loads(await read_body(request, node.config.body_timeout_seconds))
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise InvalidRequest(f"body is not valid JSON: {exc}") from None
        if not isinstance(settings, dict):
            raise InvalidRequest("body must be a JSON object of faults")
        return web.json_response(node.set_faults(settings).describe(node.now_ms()))

    return get_faults, set_faults


@functools.cache
def _openapi_spec() -> str:
    text = importlib.resources.files("replog.web").joinpath("openapi.yaml").read_text()
    spec = yaml.safe_load(text)
    return json.dumps({key: value for key, value in spec.items() if not key.startswith("x-")})


async def _openapi(request: web.Request) -> web.Response:
    return web.Response(text=_openapi_spec(), content_type="application/json")


def _metrics(metrics: NodeMetrics) -> Handler:
    async def serve(request: web.Request) -> web.Response:
        return web.Response(body=metrics.render(), headers={"Content-Type": CONTENT_TYPE})

    return serve


async def _serve_messages(
    request: web.Request, read: Callable[[int, int], Sequence[Entry]], synced_index: int
) -> web.StreamResponse:
    """A page as one JSON body; the whole log streamed in chunks so memory stays bounded."""
    page = parse_page(request.query)
    if page.limit is not None:
        return web.json_response(_render(_messages(read, page.start, page.limit, synced_index), page))
    response = web.StreamResponse(headers={"Content-Type": "application/json"})
    await response.prepare(request)
    await response.write(b"[")
    start, first = page.start, True
    while start <= synced_index:
        entries = read(start, PAGE_CHUNK)
        if not entries:
            break
        text = json.dumps(_render(entries, page))[1:-1]
        await response.write((text if first else "," + text).encode())
        first = False
        start = entries[-1].index + 1
    await response.write(b"]")
    await response.write_eof()
    return response


def _messages(read: Callable[[int, int], Sequence[Entry]], start: int, limit: int, end: int) -> list[Entry]:
    """Up to `limit` messages from index `start` to `end`. A leader's no-op takes an index but is no message,
    so `limit` indexes can hold fewer: the page reads on past them, since a client stops at a short page."""
    messages: list[Entry] = []
    while len(messages) < limit and start <= end:
        entries = read(start, limit - len(messages))
        if not entries:
            break
        messages += [entry for entry in entries if not is_internal(entry)]
        start = entries[-1].index + 1
    return messages


def _render(entries: Sequence[Entry], page: PageRequest) -> list[object]:
    # A leader's no-op takes an index but is no message: readers never see it (indexes may skip one).
    if page.detail:
        return [{"index": e.index, "msg": e.payload.decode("utf-8", "replace")} for e in entries if not is_internal(e)]
    return [e.payload.decode("utf-8", "replace") for e in entries if not is_internal(e)]
