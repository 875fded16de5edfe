"""A full disk on the master: the append fails with 507 naming it, reads keep working, nothing is lost.

In-process (aiohttp's test server around the real master shell and a real SegmentLog): the disk is
made full by making the store's one write call fail with ENOSPC, as the kernel would.
"""

from __future__ import annotations

import errno
from collections.abc import Iterator
from pathlib import Path

import pytest
from aiohttp.test_utils import TestClient, TestServer

import replog.storage.segment as segment
from replog.config import load_config
from replog.node.master import MasterNode
from replog.node.run import open_store
from replog.web.api import master_app


@pytest.fixture
def full_disk(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[bool]]:
    full = [False]
    real_write_all = segment._write_all

    def write_all(fd: int, data: bytes) -> None:
        if full[0]:
            raise OSError(errno.ENOSPC, "No space left on device")
        real_write_all(fd, data)

    monkeypatch.setattr(segment, "_write_all", write_all)
    yield full


async def test_disk_full_is_a_507_and_the_log_survives(tmp_path: Path, full_disk: list[bool]) -> None:
    config = load_config(
        tmp_path / "none.yaml" if False else None,
        environ={},
        cli={"secondaries": [], "data_dir": str(tmp_path), "master": "127.0.0.1:1"},
    )
    node = MasterNode(config, open_store(config, "master", is_master=True))
    await node.start()
    client = TestClient(TestServer(master_app(node)))
    await client.start_server()
    try:
        assert (await client.post("/", json={"msg": "kept"})).status == 201
        full_disk[0] = True
        response = await client.post("/", json={"msg": "lost", "w": 1})
        assert response.status == 507
        assert "disk is full" in (await response.json())["error"]
        assert await (await client.get("/")).json() == ["kept"]
        full_disk[0] = False
        response = await client.post("/", json={"msg": "after", "w": 1})
        assert response.status == 201 and (await response.json())["index"] == 2  # index 2 was never used
        assert await (await client.get("/")).json() == ["kept", "after"]
    finally:
        await client.close()
        await node.stop()
