"""The data of the dashboard's charts: `GET /ui/samples`, from this node's ring or following the leader.

| request                                  | answer                                                         |
|------------------------------------------|----------------------------------------------------------------|
| GET /ui/samples[?since=T]                | this node's ring: {node, role, term, leader, now, samples, events} |
| GET /ui/samples?node=leader[&since=T]    | {following: {name, term} or null, served_by, samples, events, silent} |

`since` (unix seconds) returns only samples after T, so the page asks for one new second at a time.
The page may talk to nothing but the node that served it (CSP connect-src 'self'), so with failover the
serving node asks the other nodes for their rings from the server side, as `/ui/cluster` does for
/health: the samples charted are those of the node that says it leads in the highest term (else this
node's own, and `following` is null), the events are every answering node's, merged. A node that did
not answer is left out for a few seconds (and listed in `silent`), so one stopped node does not slow
every poll down.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Sequence
from typing import Any

import aiohttp
from aiohttp import web

from replog.errors import InvalidRequest
from replog.node.sampler import Sampler
from replog.samples import merge_events, pick_leader
from replog.web.ui import SESSION

__all__ = ["add_chart_routes"]

PEER_TIMEOUT_S = 0.8  # well under the page's one-second poll
PEER_SKIP_S = 5.0  # how long a node that did not answer is left out
# Events are asked for further back than samples: another node's clock may be a little behind ours, and
# the page drops the ones it already has (by key).
EVENTS_MARGIN_S = 60.0


def add_chart_routes(app: web.Application, sampler: Sampler, peer_urls: Sequence[str]) -> None:
    """`peer_urls`: the other nodes that keep a ring (with failover every node; the fixed master: none)."""
    skip_until: dict[str, float] = {}

    async def ask(session: aiohttp.ClientSession, url: str, since: float | None) -> dict[str, Any] | str:
        if time.monotonic() < skip_until.get(url, 0.0):
            return "did not answer lately"
        query = {} if since is None else {"since": repr(since), "events_since": repr(since - EVENTS_MARGIN_S)}
        try:
            async with session.get(
                f"{url}/ui/samples", params=query, timeout=aiohttp.ClientTimeout(total=PEER_TIMEOUT_S)
            ) as response:
                answer = await response.json(content_type=None)
                if response.status != 200 or not isinstance(answer, dict):
                    raise ValueError(f"HTTP {response.status}")
                return answer
        except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
            skip_until[url] = time.monotonic() + PEER_SKIP_S
            return f"unreachable: {exc or type(exc).__name__}"

    async def samples(request: web.Request) -> web.Response:
        since = _seconds(request.query, "since")
        events_since = _seconds(request.query, "events_since")
        which = request.query.get("node", "self")
        if which not in ("self", "leader"):
            raise InvalidRequest("'node' must be self or leader")
        if which == "self":
            return web.json_response(sampler.view(since, since if events_since is None else events_since))

        own = sampler.view(since, None if since is None else since - EVENTS_MARGIN_S)
        asked = await asyncio.gather(*(ask(request.app[SESSION], url, since) for url in peer_urls))
        answers = [own, *(a if isinstance(a, dict) else None for a in asked)]
        leader = pick_leader(answers, own=0)
        chosen = answers[leader.index]
        assert chosen is not None
        silent = [{"url": url, "error": a} for url, a in zip(peer_urls, asked, strict=True) if isinstance(a, str)]
        return web.json_response(
            {
                "following": None if leader.name is None else {"name": leader.name, "term": leader.term},
                "served_by": sampler.name,
                "samples": [s for s in chosen["samples"] if since is None or s["t"] > since],
                "events": merge_events(a["events"] for a in answers if a is not None),
                "silent": silent,
            }
        )

    app.router.add_get("/ui/samples", samples)


def _seconds(query: Any, name: str) -> float | None:
    raw = query.get(name)
    if raw is None or raw == "":
        return None
    try:
        value = float(raw)
    except ValueError:
        raise InvalidRequest(f"'{name}' must be unix seconds") from None
    if not math.isfinite(value):
        raise InvalidRequest(f"'{name}' must be unix seconds")
    return value
