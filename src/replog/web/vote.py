"""`POST /vote`: one election message in, the answer (if any) out (DESIGN §9).

The body is one wire/vote_codec message; the answer is 200 with the encoded reply, or 204 when
there is none (a TimeoutNow, or a request the election ignores, e.g. under leader stickiness).
Like `/replication` and `/join`, the route presents nothing to anyone without the cluster token.
Errors are raised as replog errors, so the app's error middleware answers them as JSON:
401 without the token, 413 above `body_bytes_max`, 400 `bad vote message: ...` for a body
that does not decode or that names a node the election does not know.

`handle` is the node's: it feeds the message to `Election.on_message`, drains the outputs, and
returns the one that answers the request. `split_answer` picks it out of the outputs.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence

from aiohttp import web

from replog.core.outputs import ElectionOutput, SendVote
from replog.core.vote_messages import VoteMessage, VoteRequest, VoteResponse
from replog.errors import InvalidRequest, ProtocolError, TooLarge
from replog.web.guards import guarded, read_body
from replog.wire import vote_codec

__all__ = ["VOTE_BODY_BYTES_MAX", "split_answer", "vote_routes"]

log = logging.getLogger("replog.vote")

# A VoteRequest is about 30 bytes: a small bound refuses junk before it is read, whatever max_body_bytes is.
VOTE_BODY_BYTES_MAX = 4096


def vote_routes(
    handle: Callable[[VoteMessage], VoteMessage | None],
    *,
    cluster_token: str,
    body_timeout_s: float,
    body_bytes_max: int = VOTE_BODY_BYTES_MAX,
) -> list[web.RouteDef]:
    """The `POST /vote` route, guarded by `cluster_token` (unguarded when empty, as every route)."""

    async def vote(request: web.Request) -> web.Response:
        if request.content_length is not None and request.content_length > body_bytes_max:
            raise TooLarge(f"vote body of {request.content_length} bytes is larger than {body_bytes_max} bytes")
        body = await read_body(request, body_timeout_s)
        if len(body) > body_bytes_max:  # Chunked: no Content-Length to refuse up front.
            raise TooLarge(f"vote body of {len(body)} bytes is larger than {body_bytes_max} bytes")
        try:
            answer = handle(vote_codec.decode(body))
        except ProtocolError as exc:
            # A peer holding the token and speaking another format is a deployment mistake worth a line.
            log.warning("refused a vote message from %s: %s", request.remote, exc)
            raise InvalidRequest(f"bad vote message: {exc}") from None
        if answer is None:
            return web.Response(status=204)
        return web.Response(body=vote_codec.encode(answer), content_type="application/octet-stream")

    return [web.post("/vote", guarded(vote, cluster_token, "cluster_token"))]


def split_answer(
    request: VoteMessage, outputs: Sequence[ElectionOutput]
) -> tuple[VoteMessage | None, list[ElectionOutput]]:
    """The output that answers `request` on its HTTP response, and all the others, in order.

    Only a VoteRequest has an answer: the VoteResponse addressed to its candidate (the election
    emits at most one). Everything else, e.g. the VoteRequests of the campaign a TimeoutNow
    starts, goes out on its own requests. The shell applies the others before returning the
    answer, so a PersistHardState that preceded it is durable before the vote leaves this node.
    """
    if isinstance(request, VoteRequest):
        for at, output in enumerate(outputs):
            match output:
                case SendVote(peer, VoteResponse() as answer) if peer == request.candidate:
                    return answer, [*outputs[:at], *outputs[at + 1 :]]
    return None, list(outputs)
