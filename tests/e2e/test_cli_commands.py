"""The client subcommands as a user runs them: real processes against a real cluster, output and exit codes."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import subprocess
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import pytest

from tests.e2e.cluster import Cluster, free_port

pytestmark = pytest.mark.e2e

REPLOG = [sys.executable, "-m", "replog"]
READ_ONLY = "read-only: no quorum (1 of 3 nodes alive, 2 needed)"


@dataclass(frozen=True)
class Run:
    code: int
    out: str
    err: str

    def json(self) -> Any:
        return json.loads(self.out)


async def replog(*args: str, stdin: str | None = None, env: dict[str, str] | None = None) -> Run:
    environ = {k: v for k, v in os.environ.items() if k not in ("REPLOG_URL", "REPLOG_TOKEN")}
    done = await asyncio.to_thread(
        subprocess.run, [*REPLOG, *args], input=stdin, capture_output=True, text=True, env={**environ, **(env or {})},
        timeout=60,
    )  # fmt: skip
    return Run(done.returncode, done.stdout, done.stderr)


async def test_append_and_list(cluster: Cluster) -> None:
    url = cluster.url("master")
    first = await replog("append", "kek", "--w", "3", "--url", url, "--json")
    assert (first.code, first.json(), first.err) == (0, {"index": 1, "w": 3, "duplicate": False}, "")
    human = await replog("append", "two words", "--request-id", "r1", "--url", url)
    assert (human.code, human.out) == (0, "appended #2 (w=1)\n")
    again = await replog("append", "two words", "--request-id", "r1", "--url", url)
    assert again.out == "already appended as #2 (same request id; w=1)\n"

    listed = await replog("list", "--json", env={"REPLOG_URL": url})
    assert listed.json() == [{"index": 1, "msg": "kek"}, {"index": 2, "msg": "two words"}]
    page = await replog("list", "--from", "2", "--limit", "5", "--url", url)
    assert (page.code, page.out) == (0, "2\ttwo words\n")
    await cluster.wait_converged(["secondary-1"])
    secondary = await replog("list", "--node", cluster.url("secondary-1"), "--limit", "1", "--json")
    assert secondary.json() == [{"index": 1, "msg": "kek"}]


async def test_append_lines_from_stdin_in_batches(cluster: Cluster) -> None:
    url = cluster.url("master")
    lines = "".join(f"line {i}\n" for i in range(2500))
    run = await replog("append", "-", "--w", "2", "--request-id", "import", "--url", url, "--json", stdin=lines)
    assert run.code == 0, run.err
    summary = run.json()
    assert summary == {"count": 2500, "duplicates": 0, "batches": 3, "first_index": 1, "last_index": 2500, "w": 2}
    rerun = await replog("append", "-", "--w", "2", "--request-id", "import", "--url", url, stdin=lines)
    assert rerun.out == "appended 2500 messages as #1..#2500 (w=2, 2500 of them already there)\n"
    assert await cluster.messages("master") == [f"line {i}" for i in range(2500)]
    tail = await replog("tail", "-n", "2", "--url", url, "--json")
    assert [json.loads(line) for line in tail.out.splitlines()] == [
        {"index": 2499, "msg": "line 2498"},
        {"index": 2500, "msg": "line 2499"},
    ]
    small = await replog("append", "-", "--batch-size", "2", "--url", url, "--json", stdin="a\nb\nc")
    assert small.json() | {"w": None} == {
        "count": 3,
        "duplicates": 0,
        "batches": 2,
        "first_index": 2501,
        "last_index": 2503,
        "w": None,
    }
    empty = await replog("append", "-", "--url", url, stdin="")
    assert (empty.code, empty.out) == (0, "nothing to append: stdin was empty\n")


async def test_health(cluster: Cluster) -> None:
    url = cluster.url("master")
    run = await replog("health", "--url", url, "--json")
    health = run.json()
    assert run.code == 0 and health["role"] == "master" and health["read_only"] is False
    assert [s["status"] for s in health["secondaries"]] == ["Healthy", "Healthy"]
    table = await replog("health", "--url", url)
    lines = table.out.splitlines()
    assert lines[0].split()[:3] == ["NODE", "URL", "STATUS"] and "\x1b" not in table.out  # not a TTY: no colour
    assert lines[1].split()[:3] == ["master", url, "read-write"]
    assert [line.split()[3] for line in lines[2:]] == ["Healthy", "Healthy"]


async def test_url_lists_several_nodes_and_skips_one_that_is_down(cluster: Cluster) -> None:
    down, master = f"127.0.0.1:{free_port()}", cluster.url("master")
    nodes = f"{down},{master}"
    appended = await replog("append", "kek", "--url", nodes, "--json")
    assert (appended.code, appended.json(), appended.err) == (0, {"index": 1, "w": 1, "duplicate": False}, "")
    listed = await replog("list", "--json", env={"REPLOG_URL": nodes})
    assert listed.json() == [{"index": 1, "msg": "kek"}]
    table = await replog("health", "--url", nodes)  # Several nodes: each one's own view, one after another.
    lines = table.out.splitlines()
    assert lines[0].startswith(f"http://{down}: ") and table.code == 0
    assert lines[3].split()[:3] == ["master", master, "read-write"]


async def test_faults_show_and_set(cluster: Cluster) -> None:
    url = cluster.url("secondary-0")
    shown = await replog("faults", url, "--json")
    assert shown.json() == {
        "error_after_append": 0.0,
        "delay_ms": [0, 0],
        "internal_looping": 0.0,
        "server_unavailable": 0.0,
    }
    changed = await replog("faults", url, "--delay-ms", "5", "10", "--error-after-append", "0.1", "--json")
    assert changed.json()["delay_ms"] == [5, 10] and changed.json()["error_after_append"] == 0.1
    human = await replog("faults", url.removeprefix("http://"))
    assert human.out.splitlines()[:2] == ["error_after_append  0.1", "delay_ms            5..10"]
    bad = await replog("faults", url, "--error-after-append", "2")
    assert (bad.code, bad.err) == (1, "replog: error_after_append must be a probability in 0..1\n")


async def test_errors_and_exit_codes(cluster: Cluster) -> None:
    url = cluster.url("master")
    bad_w = await replog("append", "x", "--w", "9", "--url", url, "--json")
    assert (bad_w.code, bad_w.err) == (1, "replog: 'w' must be an integer in 1..3, got 9\n")
    assert bad_w.json() == {"error": "'w' must be an integer in 1..3, got 9", "status": 400}
    usage = await replog("append", "x", "--w", "three")
    assert usage.code == 2 and "argument -w/--w: not an integer" in usage.err
    gone = await replog("health", "--url", f"127.0.0.1:{free_port()}")
    assert gone.code == 1 and gone.err.startswith("replog: cannot reach http://127.0.0.1:")
    fixed = await replog("step-down", "--url", url)
    assert (fixed.code, fixed.err) == (1, f"replog: {url} runs without failover: there is no leadership to hand over\n")
    unread = await replog("list", "--json", "--node", f"127.0.0.1:{free_port()}")  # stdout stays one JSON value
    assert unread.code == 1 and unread.json()["error"].startswith("cannot reach http://127.0.0.1:")
    cluster.kill("secondary-1")
    timeout = await replog("append", "slow", "--w", "3", "--timeout-ms", "200", "--url", url, "--json")
    assert timeout.code == 1 and timeout.json()["index"] == 1 and "replication continues" in timeout.err
    cluster.kill("secondary-0")
    await cluster.wait_status(0, "Unhealthy")
    await cluster.wait_status(1, "Unhealthy")
    refused = await replog("append", "x", "--url", url)
    assert (refused.code, refused.err) == (1, f"replog: {READ_ONLY}\n")


async def test_tokens(make_cluster: Callable[..., Cluster]) -> None:
    cluster = make_cluster(client_token="append-secret")
    await cluster.start_all()
    await cluster.wait_status(0, "Healthy")
    url = cluster.url("master")
    refused = await replog("append", "x", "--url", url)
    assert (refused.code, refused.err) == (
        1,
        "replog: missing or wrong token: this request needs the client_token as a Bearer token\n",
    )
    assert (await replog("append", "x", "--url", url, "--token", "append-secret")).code == 0
    assert (await replog("append", "y", "--url", url, env={"REPLOG_TOKEN": "append-secret"})).code == 0
    assert (await replog("list", "--url", url, "--json")).json() == [{"index": 1, "msg": "x"}, {"index": 2, "msg": "y"}]


async def test_tail_follow(cluster: Cluster) -> None:
    url = cluster.url("master")
    await cluster.append("a")
    async with _following("--from", "1", "--url", url) as line:
        assert await line() == {"index": 1, "msg": "a"}
        await cluster.append("b\nwith a line break")
        assert await line() == {"index": 2, "msg": "b\nwith a line break"}
    # Without --from: the last -n messages, then what comes after them, each once.
    async with _following("-n", "1", "--url", url) as line:
        assert (await line())["index"] == 2
        await cluster.append("c")
        assert await line() == {"index": 3, "msg": "c"}


@contextlib.asynccontextmanager
async def _following(*args: str) -> AsyncIterator[Callable[[], Awaitable[Any]]]:
    """`replog tail -f --json ARGS` running; yields a call that reads its next line (15 s at most)."""
    process = await asyncio.create_subprocess_exec(
        *REPLOG, "tail", "-f", "--poll-interval", "0.1", "--json", *args, stdout=asyncio.subprocess.PIPE
    )
    assert process.stdout is not None
    stdout = process.stdout

    async def line() -> Any:
        return json.loads(await asyncio.wait_for(stdout.readline(), 15))

    try:
        yield line
    finally:
        process.terminate()
        await process.wait()


async def test_health_asked_of_a_follower_shows_the_cluster_as_its_leader_sees_it(
    make_cluster: Callable[..., Cluster],
) -> None:
    """After a handover the default URL (the master) is a follower: its one line would hide the cluster.
    With the leader gone, the follower's own view is shown with the reason. The election timeout is long
    (10 s) so that the follower still names the killed leader when the command asks."""
    cluster = make_cluster(failover=True, election_timeout_seconds=10.0)
    await cluster.start_all()
    await until_leader(cluster, "master")
    master = cluster.url("master")
    on_leader = await replog("faults", master, "--delay-ms", "0", "0")
    assert on_leader.code == 0 and on_leader.err.startswith("note: master leads term ")
    assert on_leader.err.endswith(": its faults act once it follows\n")
    on_follower = await replog("faults", cluster.url("secondary-0"))
    assert on_follower.code == 0 and on_follower.err == ""
    handed = await replog("step-down", "--url", master)
    assert handed.code == 0, handed.err
    new_leader = handed.out.split(" handed leadership to ")[1].split()[0]
    follower = "secondary-1" if new_leader == "secondary-0" else "secondary-0"
    await until_leader(cluster, new_leader, seen_by="master")

    table = await replog("health", "--url", master)
    lines = table.out.splitlines()
    assert table.code == 0 and lines[0].startswith("master is a follower in term "), table.out
    assert lines[0].endswith(f"the cluster as its leader {new_leader} sees it:")
    rows = {line.split()[0]: line.split() for line in lines[2:]}
    assert set(rows) == {new_leader, "master", follower}  # every node, from the leader's /health
    assert rows[new_leader][2] == "read-write" and rows["master"][2] in ("Healthy", "Suspected")
    own = await replog("health", "--url", master, "--json")  # scripts still get the asked node's own view
    assert own.json()["role"] == "follower" and own.json()["peers"] == []

    cluster.signal(new_leader, signal.SIGSTOP)  # frozen: its followers still name it for 10 s
    try:
        orphan = await replog("health", "--url", master)
        # Several nodes, one of them frozen: each is asked once, for at most 2 s (it was 30 s a node).
        each = await asyncio.wait_for(replog("health", "--url", f"{cluster.url(new_leader)},{master}"), 15)
    finally:
        cluster.signal(new_leader, signal.SIGCONT)
    assert each.out.startswith(f"{cluster.url(new_leader)}: cannot reach ") and "\nmaster " in each.out
    first, *rest = orphan.out.splitlines()
    assert orphan.code == 0 and first.startswith("master is a follower in term "), orphan.out
    assert f"its leader {new_leader} at {cluster.url(new_leader)}: " in first
    assert rest[1].split()[0] == "master" and len(rest) == 2  # the node's own row only


async def until_leader(cluster: Cluster, name: str, seen_by: str | None = None) -> None:
    """Until `name` leads, as it says itself or, with `seen_by`, as that node says."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 30

    async def leads() -> bool:
        view = await cluster.health(seen_by or name)
        return (view.get("leader") or {}).get("name") == name if seen_by else view.get("role") == "leader"

    while not await leads():
        assert loop.time() < deadline, f"{name} did not lead within 30 s"
        await asyncio.sleep(0.1)  # why: poll, bounded, for an election or a handover to be known
