"""Failover mode's view of the cluster through /health and GET /: who leads, whether every node agrees,
and the final logs and rollback files.

Every poll here has a deadline; a node that does not answer in time counts as not agreeing.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import aiohttp

from replog.chaos.history import FinalRecord, LeaderRecord, RollbackRecord, StallRecord

__all__ = ["LeaderWatcher", "read_final", "read_rollbacks", "wait_converged", "wait_one_leader"]

HTTP_TIMEOUT_S = 2.0
POLL_S = 0.2
# A new leader builds its Leading once its log is synced: milliseconds. Ten election timeouts of saying
# "leader" without serving (no `peers` in /health) is a node whose role change is stuck.
STALL_S = 5.0


async def health_of(session: aiohttp.ClientSession, urls: dict[str, str]) -> dict[str, dict[str, Any]]:
    """/health of every node that answers, by name."""

    async def one(url: str) -> dict[str, Any] | None:
        with contextlib.suppress(aiohttp.ClientError, OSError, TimeoutError, ValueError):
            async with session.get(f"{url}/health", timeout=aiohttp.ClientTimeout(total=HTTP_TIMEOUT_S)) as response:
                data = await response.json()
                return data if isinstance(data, dict) else None
        return None

    answers = await asyncio.gather(*(one(url) for url in urls.values()))
    return {name: answer for name, answer in zip(urls, answers, strict=True) if answer is not None}


def agreed_leader(views: dict[str, dict[str, Any]], names: list[str], *, healthy_peers: bool = False) -> str | None:
    """The leader every node in `names` follows in one term, and that says it leads, or None."""
    if set(views) != set(names):
        return None
    leaders = {(view.get("leader") or {}).get("name") for view in views.values()}
    terms = {view.get("term") for view in views.values()}
    if len(leaders) != 1 or len(terms) != 1 or None in leaders:
        return None
    (leader,) = leaders
    view = views.get(leader)
    if view is None or view.get("role") != "leader":
        return None
    if healthy_peers and not all(peer.get("status") == "Healthy" for peer in view.get("peers", [])):
        return None
    return str(leader)


async def wait_one_leader(urls: dict[str, str], timeout_s: float, *, healthy_peers: bool = False) -> str | None:
    deadline = time.monotonic() + timeout_s
    async with aiohttp.ClientSession() as session:
        while time.monotonic() < deadline:
            leader = agreed_leader(await health_of(session, urls), list(urls), healthy_peers=healthy_peers)
            if leader is not None:
                return leader
            await asyncio.sleep(POLL_S)  # why: an election takes a few election timeouts
    return None


async def read_detail(session: aiohttp.ClientSession, url: str) -> list[tuple[int, str]] | None:
    """GET /?detail=1: (index, msg) of every message the node holds, or None if it does not answer."""
    with contextlib.suppress(aiohttp.ClientError, OSError, TimeoutError, ValueError):
        async with session.get(f"{url}/?detail=1", timeout=aiohttp.ClientTimeout(total=10.0)) as response:
            if response.status == 200:
                data = await response.json(content_type=None)
                return [(int(item["index"]), str(item["msg"])) for item in data]
    return None


async def wait_converged(urls: dict[str, str], timeout_s: float) -> bool:
    """Until one leader is agreed on by every node and every node holds the same log; False on timeout."""
    deadline = time.monotonic() + timeout_s
    async with aiohttp.ClientSession() as session:
        while time.monotonic() < deadline:
            if agreed_leader(await health_of(session, urls), list(urls), healthy_peers=True) is not None:
                logs = [await read_detail(session, url) for url in urls.values()]
                if all(log is not None and log == logs[0] for log in logs):
                    return True
            await asyncio.sleep(POLL_S)  # why: catch-up after healing takes a moment
    return False


async def read_final(urls: dict[str, str], converged: bool) -> list[FinalRecord]:
    finals = []
    async with aiohttp.ClientSession() as session:
        views = await health_of(session, urls)
        for name, url in urls.items():
            log = await read_detail(session, url)
            view = views.get(name, {})
            finals.append(
                FinalRecord(
                    name,
                    tuple(msg for _, msg in log or ()),
                    converged=converged,
                    readable=log is not None,
                    indexes=tuple(index for index, _ in log or ()),
                    term=view.get("term"),
                    leader=(view.get("leader") or {}).get("name"),
                )
            )
    return finals


def read_rollbacks(node_dirs: dict[str, Path]) -> list[RollbackRecord]:
    """Every entry of every node's rollback/<term>-<first>-<last>.jsonl files (`node_dirs` by node name)."""
    records = []
    for name, node_dir in node_dirs.items():
        for path in sorted((node_dir / "rollback").glob("*.jsonl")):
            for line in path.read_text(encoding="utf-8").splitlines():
                row = json.loads(line)
                msg = row.get("msg") if isinstance(row.get("msg"), str) else ""
                records.append(
                    RollbackRecord(name, path.name, int(row["index"]), int(row["term"]), row.get("request_id"), msg)
                )
    return records


class LeaderWatcher:
    """Samples /health of every node on a period; records each change of the agreed leader, and each node
    that says it leads a term without serving it for STALL_S."""

    def __init__(
        self,
        urls: dict[str, str],
        clock: Callable[[], float],
        record: Callable[[LeaderRecord | StallRecord], None],
    ) -> None:
        self._urls = urls
        self._clock = clock
        self._record = record
        self.last: tuple[str | None, int] | None = None
        self._unserved: dict[tuple[str, int], float] = {}  # (node, term) -> first seen leading, not serving
        self._reported: set[tuple[str, int]] = set()

    def _stalls(self, views: dict[str, dict[str, Any]]) -> None:
        now = self._clock()
        for name, view in views.items():
            if view.get("role") != "leader" or "peers" in view:
                continue
            key = (name, int(view.get("term", 0)))
            since = self._unserved.setdefault(key, now)
            if now - since >= STALL_S and key not in self._reported:
                self._reported.add(key)
                self._record(StallRecord(name, key[1], since, now))

    async def run(self, stop: asyncio.Event) -> None:
        async with aiohttp.ClientSession() as session:
            while not stop.is_set():
                views = await health_of(session, self._urls)
                self._stalls(views)
                term = max((int(v.get("term", 0)) for v in views.values()), default=0)
                # Agreement among the nodes that answer: a killed node must not hide its successor.
                leader = agreed_leader(views, list(views)) if len(views) > len(self._urls) // 2 else None
                if leader is not None and (self.last is None or self.last[0] != leader or self.last[1] != term):
                    self.last = (leader, term)
                    self._record(LeaderRecord(self._clock(), leader, term))
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), POLL_S)  # why: sampling period, ends early on stop
