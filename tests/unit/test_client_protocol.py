"""The client's pure half: URLs, request bodies, answers to results and errors, retry and poll pacing."""

from __future__ import annotations

import json
import random

import pytest

from replog.client import (
    AppendResult,
    BatchResult,
    InvalidRequest,
    MasterHealth,
    Message,
    ReadOnly,
    ReplogClientError,
    RetryPolicy,
    SecondaryHealth,
    StorageFull,
    Unauthorized,
    Unavailable,
    WriteConcernTimeout,
    _http,
)
from replog.client._paging import POLL_MIN_S, check_paging, last_index, next_poll_delay
from replog.client.results import parse_append, parse_batch, parse_faults, parse_health, parse_messages


def _json(data: object) -> bytes:
    return json.dumps(data).encode()


# ------------------------------------------------------------------- URLs


@pytest.mark.parametrize(
    ("given", "environ", "expected"),
    [
        (None, {}, "http://127.0.0.1:7000"),
        (None, {"REPLOG_URL": "http://10.0.0.1:7100/"}, "http://10.0.0.1:7100"),
        ("127.0.0.1:8000", {"REPLOG_URL": "http://ignored:1"}, "http://127.0.0.1:8000"),
        ("https://log.example/api/", {}, "https://log.example/api"),
    ],
)
def test_resolve_url(given: str | None, environ: dict[str, str], expected: str) -> None:
    assert _http.resolve_url(given, environ) == expected


@pytest.mark.parametrize("bad", ["ftp://host", "http://", "http://host:notaport"])
def test_resolve_url_rejects(bad: str) -> None:
    with pytest.raises(ValueError, match="URL"):
        _http.resolve_url(bad, {})


# --------------------------------------------------------------- requests


def test_append_call_always_carries_a_request_id() -> None:
    first = json.loads(_http.append_call(["a"], batch=False, w=None, request_id=None, timeout_ms=None, timeout=30).body)
    second = json.loads(
        _http.append_call(["a"], batch=False, w=None, request_id=None, timeout_ms=None, timeout=30).body
    )
    assert first.keys() == {"msg", "request_id"} and first["msg"] == "a"
    assert first["request_id"] != second["request_id"]


def test_append_call_batch_and_options() -> None:
    call = _http.append_call(["a", "b"], batch=True, w=3, request_id="r", timeout_ms=500, timeout=30)
    assert (call.method, call.path) == ("POST", "/messages")
    assert json.loads(call.body or b"") == {"msgs": ["a", "b"], "w": 3, "request_id": "r", "timeout_ms": 500}


def test_socket_timeout_outlasts_timeout_ms() -> None:
    call = _http.append_call(["a"], batch=False, w=1, request_id="r", timeout_ms=60_000, timeout=30)
    assert call.timeout == 60 + _http.ANSWER_GRACE_S
    assert _http.append_call(["a"], batch=False, w=1, request_id="r", timeout_ms=100, timeout=None).timeout is None


def test_messages_path() -> None:
    assert _http.messages_path() == "/messages?from=1"
    assert _http.messages_path(5, 10, detail=True) == "/messages?from=5&limit=10&detail=1"


def test_faults_call_gets_when_nothing_is_set() -> None:
    assert _http.faults_call({}, 5).method == "GET"
    settings = _http.fault_settings(0.5, (1, 2), None, None)
    call = _http.faults_call(settings, 5)
    assert call.method == "POST" and json.loads(call.body or b"") == {"error_after_append": 0.5, "delay_ms": [1, 2]}


# ---------------------------------------------------------------- answers


def test_decode_success() -> None:
    assert _http.decode(201, _json({"index": 1})) == {"index": 1}


@pytest.mark.parametrize("status", [400, 404, 405, 413])
def test_invalid_statuses(status: int) -> None:
    with pytest.raises(InvalidRequest) as caught:
        _http.decode(status, _json({"error": "missing field 'msg'"}))
    assert str(caught.value) == "missing field 'msg'" and caught.value.status == status


def test_read_only_is_a_503_named_read_only() -> None:
    message = "read-only: no quorum (1 of 3 nodes alive, 2 needed)"
    with pytest.raises(ReadOnly) as caught:
        _http.decode(503, _json({"error": message}), retry_after="1")
    assert str(caught.value) == message and caught.value.retry_after == 1.0
    assert isinstance(caught.value, Unavailable)


def test_other_503_is_unavailable_not_read_only() -> None:
    with pytest.raises(Unavailable) as caught:
        _http.decode(503, _json({"error": "too many appends waiting"}), retry_after=None)
    assert not isinstance(caught.value, ReadOnly) and caught.value.retry_after is None


def test_write_concern_timeout_carries_the_index() -> None:
    with pytest.raises(WriteConcernTimeout) as caught:
        _http.decode(504, _json({"error": "w=3 not reached", "index": 7, "w": 3}))
    assert (caught.value.index, caught.value.w, str(caught.value)) == (7, 3, "w=3 not reached")


def test_storage_full() -> None:
    with pytest.raises(StorageFull, match="disk full"):
        _http.decode(507, _json({"error": "disk full: no space"}))


def test_unknown_status_and_non_json_error_body() -> None:
    with pytest.raises(ReplogClientError) as caught:
        _http.decode(502, b"<html>bad gateway</html>")
    assert type(caught.value) is ReplogClientError
    assert caught.value.status == 502 and "bad gateway" in str(caught.value)


def test_non_json_success_is_an_error() -> None:
    with pytest.raises(ReplogClientError, match="not JSON"):
        _http.decode(200, b"nope")


# ---------------------------------------------------------------- results


def test_parse_results() -> None:
    assert parse_append({"index": 4, "w": 2, "duplicate": True}) == AppendResult(4, 2, True)
    batch = parse_batch({"first_index": 2, "last_index": 4, "index": 4, "w": 1, "duplicate": False})
    assert batch == BatchResult(2, 4, 1, False) and list(batch.indexes) == [2, 3, 4]
    assert parse_messages([{"index": 1, "msg": "a"}]) == [Message(1, "a")]
    faults = parse_faults({"error_after_append": 0, "delay_ms": [1, 5], "internal_looping": 0, "server_unavailable": 2})
    assert faults.delay_ms == (1, 5) and faults.server_unavailable == 2.0


@pytest.mark.parametrize("bad", [[], {"index": 1}, {"index": "x", "w": 1, "duplicate": False}])
def test_parse_append_rejects_other_shapes(bad: object) -> None:
    with pytest.raises(ReplogClientError, match="unexpected answer"):
        parse_append(bad)


MASTER_HEALTH = {
    "role": "master",
    "log_id": "L",
    "read_only": False,
    "quorum": {"alive": 2, "needed": 2},
    "last_index": 9,
    "waiting": 0,
    "secondaries": [
        {"id": 0, "url": "http://h:8000", "status": "Healthy", "link": "stream", "acked_index": 9, "lag": 0,
         "last_heard_ms_ago": 12, "reconnects": 1, "last_error": ""},
        {"id": 1, "url": "http://h:9000", "status": "Unhealthy", "link": "down", "acked_index": 3, "lag": 6,
         "last_heard_ms_ago": None, "reconnects": 4, "last_error": "connection refused", "future_field": 1},
    ],
}  # fmt: skip


def test_parse_master_health() -> None:
    health = parse_health(MASTER_HEALTH)
    assert isinstance(health, MasterHealth)
    assert (health.quorum_alive, health.quorum_needed, health.last_index) == (2, 2, 9)
    assert [p.status for p in health.secondaries] == ["Healthy", "Unhealthy"]
    assert health.secondaries[1].last_heard_ms_ago is None
    assert last_index(MASTER_HEALTH) == 9


def test_parse_secondary_health() -> None:
    data = {"role": "secondary", "id": 1, "log_id": "L", "contiguous_index": 5, "master_connected": True, "refusal": ""}
    assert parse_health(data) == SecondaryHealth(1, "L", 5, True, "")
    assert last_index(data) == 5


# ------------------------------------------------------------ pacing


def test_retry_delays_double_up_to_the_cap_with_equal_jitter() -> None:
    delays = list(RetryPolicy(attempts=6, base_delay=0.1, max_delay=0.5).delays(random.Random(1)))
    nominal = [0.1, 0.2, 0.4, 0.5, 0.5]
    assert len(delays) == 5
    assert all(n / 2 <= d <= n for d, n in zip(delays, nominal, strict=True))
    assert list(RetryPolicy(attempts=1).delays()) == []


def test_retry_policy_validates() -> None:
    with pytest.raises(ValueError):
        RetryPolicy(attempts=0)
    with pytest.raises(ValueError):
        RetryPolicy(base_delay=2, max_delay=1)


def test_poll_backs_off_while_quiet_and_snaps_back_on_news() -> None:
    delay = POLL_MIN_S
    seen = []
    for _ in range(8):
        delay = next_poll_delay(delay, False, 1.0)
        seen.append(delay)
    assert seen == sorted(seen) and seen[-1] == 1.0
    assert next_poll_delay(1.0, True, 1.0) == POLL_MIN_S
    assert next_poll_delay(0.01, False, 0.01) == 0.01


@pytest.mark.parametrize(("page_size", "poll_interval"), [(0, 1.0), (10_001, 1.0), (10, 0.0)])
def test_paging_refuses_values_that_would_spin(page_size: int, poll_interval: float) -> None:
    with pytest.raises(ValueError):
        check_paging(page_size, poll_interval)


def test_headers_carry_the_bearer_token_from_the_argument_or_the_environment() -> None:
    assert _http.headers("secret", {})["Authorization"] == "Bearer secret"
    assert _http.headers(None, {"REPLOG_TOKEN": "from-env"})["Authorization"] == "Bearer from-env"
    assert "Authorization" not in _http.headers(None, {})
    assert "Authorization" not in _http.headers("", {"REPLOG_TOKEN": "from-env"})  # "" means: send none


@pytest.mark.parametrize("status", [401, 403])
def test_unauthorized(status: int) -> None:
    with pytest.raises(Unauthorized, match="needs the client_token") as caught:
        _http.decode(status, _json({"error": "missing or wrong token: this request needs the client_token"}))
    assert caught.value.status == status
