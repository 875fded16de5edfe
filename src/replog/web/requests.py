"""Parsing and validating client request bodies and query strings, with no I/O.

Every rejection is an InvalidRequest whose message names the problem, so the client can fix
its request without reading our code.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from replog.errors import InvalidRequest, InvalidWriteConcern, TooLarge
from replog.types import INTERNAL_REQUEST_ID_PREFIX

__all__ = ["AppendRequest", "PageRequest", "check_message_sizes", "parse_append", "parse_one", "parse_page"]

REQUEST_ID_CHARS_MAX = 200
TIMEOUT_MS_MAX = 3_600_000
PAGE_LIMIT_MAX = 10_000


@dataclass(frozen=True, slots=True)
class AppendRequest:
    payloads: tuple[bytes, ...]
    w: int
    request_id: str | None
    timeout_ms: int | None
    batch: bool


@dataclass(frozen=True, slots=True)
class PageRequest:
    start: int
    limit: int | None
    detail: bool
    committed: bool = False  # only what a majority holds under the current leader (never goes back)


def parse_append(
    body: bytes, *, default_w: int, w_max: int, msgs_max: int = 10_000, message_bytes_max: int = 256 << 10
) -> AppendRequest:
    try:
        data = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InvalidRequest(f"body is not valid JSON: {exc}") from None
    except RecursionError:
        raise InvalidRequest("body is nested too deeply") from None
    if not isinstance(data, dict):
        raise InvalidRequest(f"body must be a JSON object, got {type(data).__name__}")
    unknown = sorted(set(data) - {"msg", "msgs", "w", "request_id", "timeout_ms"})
    if unknown:
        raise InvalidRequest(f"unknown field(s) {unknown}")
    payloads, batch = _payloads(data, msgs_max)
    check_message_sizes(payloads, message_bytes_max)
    return AppendRequest(
        payloads=payloads,
        w=_write_concern(data.get("w", default_w), w_max),
        request_id=_request_id(data.get("request_id")),
        timeout_ms=_timeout(data.get("timeout_ms")),
        batch=batch,
    )


def _payloads(data: Mapping[str, Any], msgs_max: int) -> tuple[tuple[bytes, ...], bool]:
    if "msg" in data and "msgs" in data:
        raise InvalidRequest("give either 'msg' or 'msgs', not both")
    if "msgs" in data:
        msgs = data["msgs"]
        if not isinstance(msgs, list) or not msgs or not all(isinstance(m, str) for m in msgs):
            raise InvalidRequest("'msgs' must be a non-empty array of strings")
        if len(msgs) > msgs_max:
            raise TooLarge(f"'msgs' holds {len(msgs)} messages, at most {msgs_max} are allowed (append_batch_max)")
        return tuple(_encode(m) for m in msgs), True
    if "msg" not in data:
        raise InvalidRequest("missing field 'msg'")
    return (_message(data["msg"]),), False


def parse_one(
    msg: Any, w: Any, request_id: Any, *, default_w: int, w_max: int, message_bytes_max: int
) -> tuple[bytes, int, str | None]:
    """One append of the pipelined stream, checked by the same rules as a POST body's fields."""
    payload = _message(msg)
    check_message_sizes((payload,), message_bytes_max)
    return payload, _write_concern(default_w if w is None else w, w_max), _request_id(request_id)


def _message(msg: Any) -> bytes:
    if not isinstance(msg, str):
        raise InvalidRequest(f"'msg' must be a string, got {_json_type(msg)}")
    return _encode(msg)


def check_message_sizes(payloads: tuple[bytes, ...], message_bytes_max: int) -> None:
    for payload in payloads:
        if len(payload) > message_bytes_max:
            raise TooLarge(f"a message of {len(payload)} bytes exceeds message_bytes_max ({message_bytes_max} bytes)")


def _encode(text: str) -> bytes:
    try:
        return text.encode("utf-8")
    except UnicodeEncodeError:
        raise InvalidRequest("message contains an unpaired surrogate and is not valid UTF-8") from None


def _write_concern(w: Any, w_max: int) -> int:
    if isinstance(w, bool) or not isinstance(w, int):
        raise InvalidWriteConcern(f"'w' must be an integer in 1..{w_max}, got {_json_type(w)}")
    if not 1 <= w <= w_max:
        raise InvalidWriteConcern(f"'w' must be an integer in 1..{w_max}, got {w}")
    return w


def _request_id(request_id: Any) -> str | None:
    if request_id is None:
        return None
    if not isinstance(request_id, str) or not request_id:
        raise InvalidRequest(f"'request_id' must be a non-empty string, got {_json_type(request_id)}")
    if len(request_id) > REQUEST_ID_CHARS_MAX:
        raise InvalidRequest(f"'request_id' is longer than {REQUEST_ID_CHARS_MAX} characters")
    if request_id.startswith(INTERNAL_REQUEST_ID_PREFIX):
        raise InvalidRequest(
            f"'request_id' may not start with {INTERNAL_REQUEST_ID_PREFIX!r}: replog keeps it for itself"
        )
    _encode(request_id)
    return request_id


def _timeout(timeout_ms: Any) -> int | None:
    if timeout_ms is None:
        return None
    if isinstance(timeout_ms, bool) or not isinstance(timeout_ms, int) or not 0 < timeout_ms <= TIMEOUT_MS_MAX:
        raise InvalidRequest(f"'timeout_ms' must be an integer in 1..{TIMEOUT_MS_MAX}")
    return timeout_ms


def parse_page(query: Mapping[str, str]) -> PageRequest:
    return PageRequest(
        start=_query_int(query, "from", 1, minimum=1) or 1,
        limit=_query_int(query, "limit", None, minimum=0, maximum=PAGE_LIMIT_MAX),
        detail=_query_flag(query, "detail"),
        committed=_query_flag(query, "committed"),
    )


def _query_int(
    query: Mapping[str, str], name: str, default: int | None, *, minimum: int, maximum: int = (1 << 63) - 1
) -> int | None:
    if name not in query:
        return default
    text = query[name]
    if not re.fullmatch(r"[0-9]{1,19}", text) or not minimum <= int(text) <= maximum:
        raise InvalidRequest(f"query parameter '{name}' must be an integer in {minimum}..{maximum}, got {text!r}")
    return int(text)


def _query_flag(query: Mapping[str, str], name: str) -> bool:
    text = query.get(name, "0").lower()
    if text not in ("0", "1", "true", "false", "yes", "no"):
        raise InvalidRequest(f"query parameter '{name}' must be one of 0, 1, true, false, yes, no; got {text!r:.40}")
    return text in ("1", "true", "yes")


def _json_type(value: Any) -> str:
    names = {bool: "a boolean", int: "an integer", float: "a number", str: "a string", list: "an array"}
    names[dict] = "an object"
    return "null" if value is None else names.get(type(value), type(value).__name__)
