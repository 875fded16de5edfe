"""The HTTP contract of a replog node as pure functions: what to send, and what an answer means.

Both clients call these, so the sync and the async client cannot drift apart: only moving the bytes
differs between them.
"""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode, urlsplit

from replog.client.errors import (
    ConnectionFailed,
    InvalidRequest,
    NoLeader,
    ReadOnly,
    ReplogClientError,
    StorageFull,
    Unauthorized,
    Unavailable,
    WriteConcernTimeout,
)
from replog.client.tls import tls_failure

__all__ = [
    "DEFAULT_URL",
    "ENV_TOKEN",
    "ENV_URL",
    "Call",
    "append_call",
    "connection_failed",
    "decode",
    "explain",
    "is_tls_failure",
    "fault_settings",
    "faults_call",
    "get_call",
    "headers",
    "messages_path",
    "resolve_url",
    "resolve_urls",
]

DEFAULT_URL = "http://127.0.0.1:7000"
ENV_URL = "REPLOG_URL"
ENV_TOKEN = "REPLOG_TOKEN"
# An append with timeout_ms is answered by then; the socket waits this much longer for the answer to arrive.
ANSWER_GRACE_S = 5.0
INVALID_STATUSES = frozenset({400, 404, 405, 408, 413})
UNAUTHORIZED_STATUSES = frozenset({401, 403})


@dataclass(frozen=True, slots=True)
class Call:
    """One HTTP request, ready to send; `timeout` bounds each socket wait (None: wait forever)."""

    method: str
    path: str
    body: bytes | None
    timeout: float | None


def resolve_url(url: str | None, environ: Mapping[str, str] | None = None) -> str:
    """The node's base URL: the argument, else $REPLOG_URL, else the default master; `host:port` is accepted."""
    environ = os.environ if environ is None else environ
    return _base_url(url or environ.get(ENV_URL) or DEFAULT_URL)


def resolve_urls(urls: str | Sequence[str] | None, environ: Mapping[str, str] | None = None) -> tuple[str, ...]:
    """The nodes' base URLs, in the order given: the argument, else $REPLOG_URL, else the default master.

    A string may name several nodes separated by commas, as $REPLOG_URL and `--url` do. Blank entries (a
    trailing comma) are skipped and a node named twice is kept once, where it first appears.
    """
    environ = os.environ if environ is None else environ
    chosen = (urls or environ.get(ENV_URL) or DEFAULT_URL) if urls is None or isinstance(urls, str) else urls
    texts = [chosen] if isinstance(chosen, str) else list(chosen)
    found = [_base_url(part) for text in texts for part in text.split(",") if part.strip()]
    if not found:
        raise ValueError(f"no node URL in {urls!r}")
    return tuple(dict.fromkeys(found))


def _base_url(text: str) -> str:
    text = text.strip()
    if "://" not in text:
        text = "http://" + text
    parts = urlsplit(text)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"not an http(s) URL of a replog node: {text!r}")
    try:
        parts.port  # noqa: B018 - raises ValueError on a malformed port
    except ValueError:
        raise ValueError(f"bad port in URL {text!r}") from None
    return text.rstrip("/")


def headers(token: str | None, environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """Request headers; the Bearer token is the argument, else $REPLOG_TOKEN, else none.

    The server guards appends, reads and faults with separate tokens when configured; a client presents one.
    """
    environ = os.environ if environ is None else environ
    token = token if token is not None else environ.get(ENV_TOKEN, "")
    sent = {"Content-Type": "application/json", "Accept": "application/json", "User-Agent": "replog-client"}
    if token:
        sent["Authorization"] = f"Bearer {token}"
    return sent


def get_call(path: str, timeout: float | None) -> Call:
    return Call("GET", path, None, timeout)


def messages_path(from_: int = 1, limit: int | None = None, detail: bool = False) -> str:
    query: dict[str, Any] = {"from": from_}
    if limit is not None:
        query["limit"] = limit
    if detail:
        query["detail"] = 1
    return "/messages?" + urlencode(query)


def append_call(
    msgs: Sequence[str],
    *,
    batch: bool,
    w: int | None,
    request_id: str | None,
    timeout_ms: int | None,
    timeout: float | None,
) -> Call:
    """POST /messages. A request_id is always sent (a fresh uuid4 if none is given) so retries are safe."""
    body: dict[str, Any] = {"msgs": list(msgs)} if batch else {"msg": msgs[0]}
    if w is not None:
        body["w"] = w
    body["request_id"] = request_id if request_id is not None else uuid.uuid4().hex
    if timeout_ms is not None:
        body["timeout_ms"] = timeout_ms
        if timeout is not None and isinstance(timeout_ms, int):
            timeout = max(timeout, timeout_ms / 1000 + ANSWER_GRACE_S)
    return Call("POST", "/messages", json.dumps(body).encode(), timeout)


def fault_settings(
    error_after_append: float | None,
    delay_ms: tuple[int, int] | None,
    internal_looping: float | None,
    server_unavailable: float | None,
) -> dict[str, Any]:
    """The POST /faults body: only the faults given, so the others keep their current value."""
    settings = {
        "error_after_append": error_after_append,
        "delay_ms": None if delay_ms is None else list(delay_ms),
        "internal_looping": internal_looping,
        "server_unavailable": server_unavailable,
    }
    return {name: value for name, value in settings.items() if value is not None}


def faults_call(settings: Mapping[str, Any], timeout: float | None) -> Call:
    """GET /faults when there is nothing to set, else POST the settings given."""
    if not settings:
        return get_call("/faults", timeout)
    return Call("POST", "/faults", json.dumps(dict(settings)).encode(), timeout)


def decode(status: int, body: bytes, retry_after: str | None = None) -> Any:
    """The JSON of a 2xx answer; any other status becomes the matching exception with the server's message."""
    try:
        data: Any = json.loads(body) if body else None
    except (UnicodeDecodeError, json.JSONDecodeError):
        if 200 <= status < 300:
            raise ReplogClientError(f"answer is not JSON: {body[:200]!r}", status=status) from None
        data = None
    if 200 <= status < 300:
        return data
    raise _error(status, data, body, retry_after)


def _error(status: int, data: Any, body: bytes, retry_after: str | None) -> ReplogClientError:
    if isinstance(data, dict) and isinstance(data.get("error"), str):
        message = data["error"]
    else:
        message = f"HTTP {status}: {body[:200].decode('utf-8', 'replace') or '(empty body)'}"
    if status in INVALID_STATUSES:
        return InvalidRequest(message, status=status)
    if status in UNAUTHORIZED_STATUSES:
        return Unauthorized(message, status=status)
    if status == 503:
        return _unavailable_kind(message)(message, retry_after=_seconds(retry_after))
    if status == 504:
        extra = data if isinstance(data, dict) else {}
        return WriteConcernTimeout(message, index=_int_or_none(extra.get("index")), w=_int_or_none(extra.get("w")))
    if status == 507:
        return StorageFull(message, status=status)
    return ReplogClientError(message, status=status)


def _unavailable_kind(message: str) -> type[Unavailable]:
    """Which 503: the server's message starts with its reason (web/api.py words them)."""
    if message.startswith("read-only"):
        return ReadOnly
    if message.startswith("no leader"):
        return NoLeader
    return Unavailable


def _seconds(value: str | None) -> float | None:
    try:
        return float(value) if value is not None else None
    except ValueError:
        return None


def _int_or_none(value: object) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


# A node that closes the connection before answering: what a TLS node does to a plain request, and a mutual-TLS
# node to a client without a certificate from its CA (http.client's and aiohttp's names for it).
_DISCONNECTED = frozenset({"RemoteDisconnected", "ServerDisconnectedError"})


def connection_failed(url: str, reason: BaseException | str, attempts: int) -> ConnectionFailed:
    why = reason if isinstance(reason, str) else explain(reason)
    tries = f" (after {attempts} attempts)" if attempts > 1 else ""
    return ConnectionFailed(f"cannot reach {url}: {why}{tries}", attempts=attempts)


def is_tls_failure(reason: BaseException) -> bool:
    """A certificate or protocol mismatch: a retry on the same node meets the same certificate."""
    return tls_failure(reason) is not None


def explain(reason: BaseException) -> str:
    """Why a request got no answer, with the TLS setting to check when TLS is the likely cause."""
    described = tls_failure(reason, "the CA file (ca_file, --ca-file, $REPLOG_CA_FILE)")
    if described is not None:
        return described
    text = str(reason) or type(reason).__name__
    if type(reason).__name__ in _DISCONNECTED:
        return (
            f"{text}: the node closed the connection without answering (a node serving HTTPS does so to an "
            "http:// URL, and one with tls_client_auth to a client without a certificate from its CA: "
            "--cert-file/--key-file)"
        )
    return text
