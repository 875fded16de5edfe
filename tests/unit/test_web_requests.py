"""Client request parsing: what POST / and GET / accept, and a message naming each rejection."""

from __future__ import annotations

import json
from typing import Any

import pytest

from replog.errors import InvalidRequest, InvalidWriteConcern, TooLarge
from replog.web.requests import AppendRequest, PageRequest, parse_append, parse_page


def parse(body: Any, *, raw: bool = False, default_w: int = 1) -> AppendRequest:
    data = body if raw else json.dumps(body).encode()
    return parse_append(data, default_w=default_w, w_max=3, msgs_max=4)


def test_a_single_msg_takes_the_default_w() -> None:
    assert parse({"msg": "héllo"}, default_w=2) == AppendRequest((b"h\xc3\xa9llo",), 2, None, None, batch=False)


def test_msgs_is_a_batch_with_all_options() -> None:
    request = parse({"msgs": ["a", "b"], "w": 3, "request_id": "r-1", "timeout_ms": 500})
    assert request == AppendRequest((b"a", b"b"), 3, "r-1", 500, batch=True)


@pytest.mark.parametrize(
    ("body", "error", "words"),
    [
        (b"{not json", InvalidRequest, "body is not valid JSON"),
        (b"\xff\xfe\x00", InvalidRequest, "body is not valid JSON"),
        (b"", InvalidRequest, "body is not valid JSON"),
        (b'["msg"]', InvalidRequest, "body must be a JSON object, got list"),
        (b'"msg"', InvalidRequest, "body must be a JSON object, got str"),
        (b"{}", InvalidRequest, "missing field 'msg'"),
        (b'{"w": 1}', InvalidRequest, "missing field 'msg'"),
        (b'{"msg": 5}', InvalidRequest, "'msg' must be a string, got an integer"),
        (b'{"msg": null}', InvalidRequest, "'msg' must be a string, got null"),
        (b'{"msg": ["a"]}', InvalidRequest, "'msg' must be a string, got an array"),
        (b'{"msg": "\\ud800"}', InvalidRequest, "unpaired surrogate"),
        (b'{"msg": "a", "msgs": ["b"]}', InvalidRequest, "either 'msg' or 'msgs', not both"),
        (b'{"msgs": []}', InvalidRequest, "'msgs' must be a non-empty array of strings"),
        (b'{"msgs": "a"}', InvalidRequest, "'msgs' must be a non-empty array of strings"),
        (b'{"msgs": ["a", 1]}', InvalidRequest, "'msgs' must be a non-empty array of strings"),
        (b'{"msgs": ["a", "b", "c", "d", "e"]}', TooLarge, "holds 5 messages, at most 4"),
        (b'{"msg": "a", "extra": 1, "more": 2}', InvalidRequest, "unknown field(s) ['extra', 'more']"),
        (b'{"msg": "a", "w": "2"}', InvalidWriteConcern, "'w' must be an integer in 1..3, got a string"),
        (b'{"msg": "a", "w": 2.0}', InvalidWriteConcern, "'w' must be an integer in 1..3, got a number"),
        (b'{"msg": "a", "w": null}', InvalidWriteConcern, "got null"),
        (b'{"msg": "a", "w": true}', InvalidWriteConcern, "'w' must be an integer in 1..3, got a boolean"),
        (b'{"msg": "a", "w": 0}', InvalidWriteConcern, "'w' must be an integer in 1..3, got 0"),
        (b'{"msg": "a", "w": 4}', InvalidWriteConcern, "'w' must be an integer in 1..3, got 4"),
        (b'{"msg": "a", "request_id": 7}', InvalidRequest, "'request_id' must be a non-empty string, got an integer"),
        (b'{"msg": "a", "request_id": ""}', InvalidRequest, "'request_id' must be a non-empty string"),
        (b'{"msg": "a", "request_id": {}}', InvalidRequest, "got an object"),
        (b'{"msg": "a", "request_id": "' + b"x" * 201 + b'"}', InvalidRequest, "longer than 200 characters"),
        (b'{"msg": "a", "request_id": "replog:x"}', InvalidRequest, "may not start with 'replog:'"),
        (b'{"msg": "a", "timeout_ms": 0}', InvalidRequest, "'timeout_ms' must be an integer in 1..3600000"),
        (b'{"msg": "a", "timeout_ms": -5}', InvalidRequest, "'timeout_ms' must be an integer"),
        (b'{"msg": "a", "timeout_ms": 3600001}', InvalidRequest, "'timeout_ms' must be an integer"),
        (b'{"msg": "a", "timeout_ms": 1.5}', InvalidRequest, "'timeout_ms' must be an integer"),
        (b'{"msg": "a", "timeout_ms": true}', InvalidRequest, "'timeout_ms' must be an integer"),
        (b'{"msg": "a", "timeout_ms": "100"}', InvalidRequest, "'timeout_ms' must be an integer"),
    ],
)
def test_bad_append_bodies_are_rejected_with_a_named_problem(body: bytes, error: type[Exception], words: str) -> None:
    with pytest.raises(error) as excinfo:
        parse(body, raw=True)
    assert type(excinfo.value) is error
    assert words in str(excinfo.value)


def test_a_bad_default_w_is_also_a_write_concern_error() -> None:
    with pytest.raises(InvalidWriteConcern, match=r"1\.\.3, got 9"):
        parse({"msg": "a"}, default_w=9)


def test_deeply_nested_json_is_an_invalid_request() -> None:
    with pytest.raises(InvalidRequest):
        parse(b"[" * 100_000, raw=True)


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ({}, PageRequest(1, None, False)),
        ({"from": "5"}, PageRequest(5, None, False)),
        ({"from": "2", "limit": "0"}, PageRequest(2, 0, False)),
        ({"limit": "10000"}, PageRequest(1, 10_000, False)),
        ({"detail": "1"}, PageRequest(1, None, True)),
        ({"detail": "TRUE"}, PageRequest(1, None, True)),
        ({"detail": "yes"}, PageRequest(1, None, True)),
        ({"detail": "no"}, PageRequest(1, None, False)),
    ],
)
def test_parse_page(query: dict[str, str], expected: PageRequest) -> None:
    assert parse_page(query) == expected


@pytest.mark.parametrize(
    ("query", "words"),
    [
        ({"from": "0"}, "'from' must be an integer in 1.."),
        ({"from": "-1"}, "'from' must be an integer"),
        ({"from": "abc"}, "got 'abc'"),
        ({"from": ""}, "'from' must be an integer"),
        ({"limit": "10001"}, "'limit' must be an integer in 0..10000"),
        ({"limit": "1.5"}, "'limit' must be an integer"),
    ],
)
def test_bad_page_queries_name_the_parameter(query: dict[str, str], words: str) -> None:
    with pytest.raises(InvalidRequest) as excinfo:
        parse_page(query)
    assert words in str(excinfo.value)


@pytest.mark.parametrize("text", ["²", "1" * 5000], ids=["superscript", "5000-digits"])
def test_odd_digit_strings_are_invalid_requests(text: str) -> None:
    with pytest.raises(InvalidRequest):
        parse_page({"from": text})
