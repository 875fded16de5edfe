"""The append's answer, formatted by hand on the hot path, is the JSON json_response would have sent."""

from __future__ import annotations

import json

import pytest

from replog.node.master import AppendResult
from replog.web.api import _appended


@pytest.mark.parametrize("duplicate", [False, True])
@pytest.mark.parametrize("batch", [False, True])
def test_answer_is_the_json_of_its_fields(batch: bool, duplicate: bool) -> None:
    response = _appended(AppendResult(7, 9, 2, duplicate), batch)
    indexes = {"index": 9, "first_index": 7, "last_index": 9} if batch else {"index": 9}
    assert json.loads(response.body) == {**indexes, "w": 2, "duplicate": duplicate}
    assert response.status == (200 if duplicate else 201)
    assert response.content_type == "application/json" and response.charset == "utf-8"
