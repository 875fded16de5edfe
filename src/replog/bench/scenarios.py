"""The rows of `replog bench`: each starts its system, drives it with the shared load generator, stops it.

A row names its reference row; the report prints the ratio to it, so every figure is read
against something measured on the same machine in the same run.
"""

from __future__ import annotations

import asyncio
import tempfile
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

from replog.bench.cpu import cpu_seconds
from replog.bench.loadgen import LoadResult, Progress, http_post, run_concurrent, run_http
from replog.bench.systems import Children, bare_aiohttp, bench_certs, nats_cluster, redis_cluster, replog_cluster

__all__ = ["Budget", "Plan", "Row", "Scenario", "plans"]

PAYLOAD = "x" * 100


@dataclass(frozen=True)
class Budget:
    count: int
    deadline_s: float


@dataclass
class Row:
    key: str
    system: str
    mode: str
    w: str
    inflight: int
    result: LoadResult | None
    reference: str | None = None  # key of the row this one is compared with
    compare: str = "rate"  # "rate": higher is better; "p50": lower is better
    skipped: str = ""


Scenario = Callable[[Budget, Progress], Awaitable[Row]]


async def _with_children(run: Callable[[Children, Path], Awaitable[Row]]) -> Row:
    with tempfile.TemporaryDirectory(prefix="replog-bench-") as tmp:
        children = Children(Path(tmp))
        try:
            return await run(children, Path(tmp))
        finally:
            children.stop_all()


async def _metered(children: Children, load: Awaitable[LoadResult]) -> LoadResult:
    """Run `load` and record the CPU every process of the system under test spent meanwhile."""
    pids = [process.pid for process in children.processes.values()]
    before = cpu_seconds(pids)
    result = await load
    result.cpu_s = cpu_seconds(pids) - before
    return result


async def _metered_concurrent(
    children: Children,
    operation: Callable[[int], Awaitable[None]],
    concurrency: int,
    budget: Budget,
    progress: Progress,
) -> LoadResult:
    """`operation` kept `concurrency` times in flight within the budget, metered as `_metered` does."""
    return await _metered(
        children,
        run_concurrent(
            operation, concurrency=concurrency, count=budget.count, deadline_s=budget.deadline_s, progress=progress
        ),
    )


def _appends(w: int) -> Callable[[int], bytes]:
    requests = [http_post("/", {"msg": PAYLOAD, "w": w})]
    return lambda _number: requests[0]


def replog_http(
    key: str,
    *,
    w: int,
    concurrency: int,
    reference: str | None,
    compare: str = "rate",
    via: int = 0,
    tls: bool = False,
    **settings: object,
):
    async def scenario(budget: Budget, progress: Progress) -> Row:
        async def run(children: Children, directory: Path) -> Row:
            context = bench_certs(directory) if tls else None
            port = await replog_cluster(children, directory, via=via, tls=context, **settings)
            result = await _metered(
                children,
                run_http(
                    port,
                    _appends(w),
                    concurrency=concurrency,
                    count=budget.count,
                    deadline_s=budget.deadline_s,
                    progress=progress,
                    tls=context,
                ),
            )
            mode = ("HTTPS POST (TLS on every link), " if tls else "HTTP POST, ") + ", ".join(
                f"{k}={v}" for k, v in settings.items()
            )
            mode += ", via a follower" if via else ""
            return Row(key, "replog", mode, str(w), concurrency, result, reference, compare)

        return await _with_children(run)

    return scenario


def replog_pipelined(key: str, *, w: int, inflight: int, reference: str | None, tls: bool = False, **settings: object):
    async def scenario(budget: Budget, progress: Progress) -> Row:
        from replog.pipeline import PipelinedClient

        async def run(children: Children, directory: Path) -> Row:
            context = bench_certs(directory) if tls else None
            port = await replog_cluster(children, directory, tls=context, **settings)
            url = f"{'https' if tls else 'http'}://127.0.0.1:{port}"
            async with PipelinedClient(url, ssl_context=context) as client:

                async def append(_number: int) -> None:
                    await client.append(PAYLOAD, w)

                result = await _metered_concurrent(children, append, inflight, budget, progress)
            mode = ("pipelined wss /stream (TLS on every link), " if tls else "pipelined /stream, ") + ", ".join(
                f"{k}={v}" for k, v in settings.items()
            )
            return Row(key, "replog", mode, str(w), inflight, result, reference)

        return await _with_children(run)

    return scenario


def bare_http(key: str, *, concurrency: int):
    async def scenario(budget: Budget, progress: Progress) -> Row:
        async def run(children: Children, directory: Path) -> Row:
            port = await bare_aiohttp(children)
            result = await _metered(
                children,
                run_http(
                    port,
                    _appends(3),
                    concurrency=concurrency,
                    count=budget.count,
                    deadline_s=budget.deadline_s,
                    progress=progress,
                ),
            )
            return Row(key, "bare aiohttp", "POST handler, no replication", "-", concurrency, result)

        return await _with_children(run)

    return scenario


def nats(key: str, *, inflight: int, sync_always: bool, mode: str):
    async def scenario(budget: Budget, progress: Progress) -> Row:
        try:
            import nats as nats_client  # type: ignore[import-not-found]
        except ImportError:
            return Row(key, "NATS JetStream R3", mode, "2 of 3", inflight, None, skipped="pip install '.[bench]'")

        async def run(children: Children, directory: Path) -> Row:
            ports = await nats_cluster(children, directory, sync_always=sync_always)
            connection = await nats_client.connect(servers=[f"nats://127.0.0.1:{p}" for p in ports])
            try:
                stream = connection.jetstream()
                await _until_ok(lambda: stream.add_stream(name="bench", subjects=["bench"], num_replicas=3))
                payload = PAYLOAD.encode()

                async def publish(_number: int) -> None:
                    await stream.publish("bench", payload)

                result = await _metered_concurrent(children, publish, inflight, budget, progress)
            finally:
                await connection.close()
            return Row(key, "NATS JetStream R3", mode, "2 of 3", inflight, result)

        return await _with_children(run)

    return scenario


def redis(key: str, *, concurrency: int):
    async def scenario(budget: Budget, progress: Progress) -> Row:
        mode = "RPUSH + WAIT 2 0"
        try:
            import redis.asyncio as redis_client  # type: ignore[import-not-found]
        except ImportError:
            return Row(key, "Redis 1+2 replicas", mode, "3", concurrency, None, skipped="pip install '.[bench]'")

        async def run(children: Children, directory: Path) -> Row:
            ports = await redis_cluster(children, directory)
            pool = redis_client.Redis(port=ports[0], max_connections=concurrency)
            try:
                await _until_ok(lambda: _two_replicas(pool))
                payload = PAYLOAD.encode()

                async def push(_number: int) -> None:
                    async with pool.pipeline(transaction=False) as pipe:
                        pipe.rpush("bench", payload)
                        pipe.execute_command("WAIT", 2, 0)
                        await pipe.execute()

                result = await _metered_concurrent(children, push, concurrency, budget, progress)
            finally:
                await pool.aclose()
            return Row(key, "Redis 1+2 replicas", mode, "3", concurrency, result)

        try:
            return await _with_children(run)
        except FileNotFoundError as exc:
            return Row(key, "Redis 1+2 replicas", mode, "3", concurrency, None, skipped=str(exc))

    return scenario


async def _two_replicas(pool: object) -> None:
    info = await pool.info("replication")  # type: ignore[attr-defined]
    if info.get("connected_slaves", 0) < 2:
        raise RuntimeError("replicas not linked yet")


async def _until_ok(attempt: Callable[[], Awaitable[object]], timeout_s: float = 20) -> None:
    """Cluster formation takes a moment: retry an operation until it succeeds or time runs out."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    while True:
        try:
            await attempt()
            return
        except Exception:
            if loop.time() > deadline:
                raise
            await asyncio.sleep(0.2)  # why: retry while a comparison cluster forms, bounded by a deadline


@dataclass(frozen=True)
class Plan:
    key: str
    comparison: bool  # a row of another system, run only with --compare
    run: Scenario


def plans() -> list[Plan]:
    always = {"storage": "disk", "fsync": "always"}
    return [
        Plan("bare", True, bare_http("bare", concurrency=64)),
        Plan("http", False, replog_http("http", w=3, concurrency=64, reference="bare", **always)),
        # TLS on every link (client, replication, votes), against the plain row of the same run.
        Plan("http-tls", False, replog_http("http-tls", w=3, concurrency=64, reference="http", tls=True, **always)),
        Plan(
            "http-interval",
            False,
            replog_http("http-interval", w=3, concurrency=64, reference="http", storage="disk", fsync="interval"),
        ),
        Plan(
            "http-never",
            False,
            replog_http("http-never", w=3, concurrency=64, reference="http", storage="disk", fsync="never"),
        ),
        Plan("http-memory", False, replog_http("http-memory", w=3, concurrency=64, reference="http", storage="memory")),
        Plan("nats-seq", True, nats("nats-seq", inflight=1, sync_always=False, mode="sequential")),
        Plan(
            "nats-seq-sync", True, nats("nats-seq-sync", inflight=1, sync_always=True, mode="sequential, sync: always")
        ),
        Plan("seq", False, replog_http("seq", w=3, concurrency=1, reference="nats-seq-sync", compare="p50", **always)),
        Plan("nats-async", True, nats("nats-async", inflight=64, sync_always=False, mode="async publish")),
        Plan("pipelined", False, replog_pipelined("pipelined", w=3, inflight=64, reference="nats-async", **always)),
        Plan(
            "pipelined-tls",
            False,
            replog_pipelined("pipelined-tls", w=3, inflight=64, reference="pipelined", tls=True, **always),
        ),
        Plan(
            "pipelined-1k",
            False,
            replog_pipelined("pipelined-1k", w=3, inflight=1024, reference="nats-async", **always),
        ),
        Plan("redis", True, redis("redis", concurrency=64)),
        # The default configuration (failover on), against the same references as the fixed-master rows
        # above, so each target of the speed issues reads straight off the table. http-forwarded sends its
        # appends to a follower, which forwards them: one more hop than http-failover.
        Plan(
            "http-failover",
            False,
            replog_http("http-failover", w=3, concurrency=64, reference="bare", failover=True, **always),
        ),
        Plan(
            "http-forwarded",
            True,
            replog_http(
                "http-forwarded", w=3, concurrency=64, reference="http-failover", via=1, failover=True, **always
            ),
        ),
        Plan(
            "seq-failover",
            False,
            replog_http(
                "seq-failover", w=3, concurrency=1, reference="nats-seq-sync", compare="p50", failover=True, **always
            ),
        ),
        Plan(
            "pipelined-failover",
            False,
            replog_pipelined("pipelined-failover", w=3, inflight=64, reference="nats-async", failover=True, **always),
        ),
    ]
