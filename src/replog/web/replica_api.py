"""The HTTP API of a node with failover on: every node takes appends and answers the same routes.

The leader appends. A follower forwards an append, one hop, to the leader it knows and passes the
answer back unchanged, so a client may talk to any node; with no leader known it answers 503 with
`Retry-After` and the reason (no quorum, or an election in progress). A forwarded request carries a
header that stops a second hop: a node that receives one and does not lead answers for itself.

`GET /` is the node's own durable prefix, as on the fixed master; `?committed=1` shows only what a
majority holds under the current leader's term, which never goes back.
"""

from __future__ import annotations

from collections.abc import Iterator

import aiohttp
from aiohttp import web
from prometheus_client.core import Metric

from replog.errors import NoLeader, ReplogError
from replog.metrics import CounterMetricFamily, gauge
from replog.node.leader_metrics import leader_families
from replog.node.names import node_name
from replog.node.replica import ReplicaNode
from replog.storage.base import read_synced
from replog.types import Entry
from replog.web.api import _app, _error, _metrics, _openapi, _serve_messages, append_handler, faults_handlers
from replog.web.charts import add_chart_routes
from replog.web.errors import outcome_of
from replog.web.guards import guarded, read_body
from replog.web.requests import parse_page
from replog.web.stream import serve_stream
from replog.web.ui import add_ui_routes
from replog.web.vote import vote_routes

__all__ = ["FORWARDED_HEADER", "replica_app"]

FORWARDED_HEADER = "X-Replog-Forwarded-By"
_PASSED_ON = ("Content-Type", "Authorization")


def replica_app(node: ReplicaNode) -> web.Application:
    app = _app(node.config.max_body_bytes)
    config = node.config
    lead_append = append_handler(node, len(config.nodes))

    async def append(request: web.Request) -> web.StreamResponse:
        if node.ready_leader is None:
            leader = node.leader()
            if leader is not None and leader.node_id != node.id and FORWARDED_HEADER not in request.headers:
                return await _forward(request, node, leader.address)
            raise _counted(node, node.not_leading())
        return await lead_append(request)

    async def messages(request: web.Request) -> web.StreamResponse:
        if parse_page(request.query).committed:
            committed = node.commit_index

            def read_committed(start: int, limit: int) -> list[Entry]:
                return read_synced(node.store, start, max(0, min(limit, committed - start + 1)))

            return await _serve_messages(request, read_committed, committed)
        return await _serve_messages(request, node.read_synced, node.store.synced_index)

    async def health(request: web.Request) -> web.Response:
        return web.json_response(_health(node))

    get_faults, set_faults = faults_handlers(node)

    async def step_down(request: web.Request) -> web.Response:
        if node.ready_leader is None:
            leader = node.leader()
            url = node.config.url_of(leader.address) if leader else ""
            where = f"the leader is {leader.name} at {url}" if leader else "no leader is known"
            return _error(409, f"{node.name} is not the leader; {where}")
        target = node.transfer_candidate()
        if target is None:
            return _error(503, "no Healthy follower to hand leadership to")
        old_term = node.election.term
        paused_s = await node.transfer_leadership(target)
        return web.json_response(
            {
                "old_leader": node.name,
                "new_leader": node_name(target),
                "old_term": old_term,
                "term": node.election.term,
                "paused_ms": round(paused_s * 1000, 1),
            }
        )

    for path in ("/", "/messages"):
        app.router.add_post(path, guarded(append, config.client_token, "client_token"))
        app.router.add_get(path, guarded(messages, config.read_token, "read_token"))
    app.router.add_get("/health", health)
    app.router.add_get("/metrics", _metrics(node.metrics))
    app.router.add_get("/openapi.json", _openapi)
    app.router.add_get("/faults", get_faults)
    app.router.add_post("/faults", guarded(set_faults, config.cluster_token, "cluster_token"))
    app.router.add_get("/replication", guarded(node.following.serve, config.cluster_token, "cluster_token"))
    app.router.add_post("/admin/step-down", guarded(step_down, config.cluster_token, "cluster_token"))
    add_ui_routes(app, config)
    others = [config.url_of(address) for peer, address in enumerate(config.nodes) if peer != node.id]
    add_chart_routes(app, node.sampler, peer_urls=others)

    async def stream(request: web.Request) -> web.StreamResponse:
        return await serve_stream(node, request)

    app.router.add_get("/stream", guarded(stream, config.client_token, "client_token"))
    app.router.add_routes(
        vote_routes(node.handle_vote, cluster_token=config.cluster_token, body_timeout_s=config.body_timeout_seconds)
    )
    node.metrics.watch(lambda: _scrape(node))
    return app


async def _forward(request: web.Request, node: ReplicaNode, address: str) -> web.StreamResponse:
    """One hop to the leader, the answer passed back as it came; an unreachable leader is a 503."""
    body = await read_body(request, node.config.body_timeout_seconds)
    headers = {name: request.headers[name] for name in _PASSED_ON if name in request.headers}
    headers[FORWARDED_HEADER] = node.name
    # No total timeout: a w=3 append waits as long as w takes, as it would on the leader itself.
    timeout = aiohttp.ClientTimeout(total=None, sock_connect=node.config.connection_timeout)
    try:
        async with node.http_session.post(
            f"{node.config.url_of(address)}{request.path}", data=body, headers=headers, timeout=timeout
        ) as answer:
            payload = await answer.read()
            passed = {"Content-Type": answer.headers.get("Content-Type", "application/json")}
            if "Retry-After" in answer.headers:
                passed["Retry-After"] = answer.headers["Retry-After"]
            return web.Response(status=answer.status, body=payload, headers=passed)
    except (aiohttp.ClientConnectorError, TimeoutError) as exc:
        raise _counted(node, NoLeader(node.election.term, f"leader at {address} unreachable")) from exc
    except (aiohttp.ClientError, OSError) as exc:
        # The request may have reached the leader: say so, since "no leader" alone reads as "not stored".
        why = (
            f"lost the leader at {address} while forwarding; the append may or may not be stored: "
            "retry it with a request_id"
        )
        raise NoLeader(node.election.term, why) from exc


def _counted(node: ReplicaNode, refusal: ReplogError) -> ReplogError:
    """A 503 of a node that does not lead, for an append that surely never reached a leader: counted as the
    leader counts its refusals (under default_w, as the body is not parsed), so that /metrics and the charts
    show a node turning clients away. An append that may have reached the leader is the leader's to count."""
    node.metrics.observe_append(node.config.default_w, outcome_of(refusal), 0.0)
    return refusal


def _health(node: ReplicaNode) -> dict[str, object]:
    leader = node.leader()
    leading = node.ready_leader
    answer: dict[str, object] = {
        "role": node.role,
        "id": node.id,
        "name": node.name,
        "nodes_total": len(node.config.nodes),
        "log_id": node.store.log_id,
        "term": node.election.term,
        "leader": None
        if leader is None
        else {"id": leader.node_id, "name": leader.name, "url": node.config.url_of(leader.address)},
        "last_index": node.store.synced_index,
        "commit_index": node.commit_index,
        "rolled_back": node.following.rolled_back,
    }
    if leading is not None:
        core = leading.core
        answer["read_only"] = core.read_only
        answer["quorum"] = {"alive": core.alive(), "needed": core.quorum_needed()}
        answer["waiting"] = core.waiting()
        answer["peers"] = [
            {
                "id": status.peer,
                "name": node_name(status.peer),
                "url": leading.links[status.peer].url,
                "status": status.health.value,
                "acked_index": status.acked_index,
                "lag": max(0, core.synced_index - status.acked_index),
                "last_heard_ms_ago": status.last_heard_ms_ago,
                "last_error": leading.links[status.peer].shown_error(status.refusal),
            }
            for status in core.peer_status()
        ]
    else:
        answer["read_only"] = _read_only_without_leading(node)
        answer["quorum"] = {"alive": node.alive(), "needed": node.quorum_needed()}
    return answer


def _read_only_without_leading(node: ReplicaNode) -> bool:
    """A node that does not lead is read-only when it knows no leader and has no quorum to elect one."""
    return node.alive() < node.quorum_needed() and node.leader() is None


def _scrape(node: ReplicaNode) -> Iterator[Metric]:
    yield gauge("replog_term", "The node's current term", node.election.term)
    yield gauge("replog_is_leader", "1 while this node leads", int(node.ready_leader is not None))
    yield gauge(
        "replog_commit_index",
        "Highest index known committed (on a majority under the leader's term)",
        node.commit_index,
    )
    yield gauge("replog_last_index", "Last index synced on this node", node.store.synced_index)
    yield _counter("replog_elections", "Elections this node started (pre-votes asked)", node.elections_started)
    yield _counter("replog_leader_changes", "Times this node saw a new leader (itself included)", node.leader_changes)
    yield _counter(
        "replog_rolled_back_entries", "Entries this node dropped into rollback files", node.following.rolled_back
    )
    leading = node.ready_leader
    if leading is not None:  # The leader's view of its followers, as the fixed master exports it.
        yield from leader_families(leading.core, leading.links, node.catch_up_entries, node_name)
    else:
        yield gauge(
            "replog_read_only",
            "1 while no leader is known and no quorum can elect one",
            int(_read_only_without_leading(node)),
        )
        yield gauge("replog_waiting_appends", "Appends waiting for their write concern", 0)


def _counter(name: str, doc: str, value: float) -> Metric:
    family = CounterMetricFamily(name, doc)
    family.add_metric([], value)
    return family
