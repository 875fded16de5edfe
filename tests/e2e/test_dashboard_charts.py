"""The dashboard's live charts (`/ui`, charts.js + uPlot) in a real headless Chromium against real nodes:
they draw and move, a stopped follower's lag rises and its health mark appears, and after the leader
is killed the page follows the new leader and marks the election. Screenshots go to `test-output/`.

The page exposes what it draws as `window.replogCharts` (each uPlot chart's data, the events, whom it
follows); the assertions read that, and the pixels of the canvases.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import signal
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from playwright.async_api import Page, expect

from tests.e2e.browser import OUTPUT, WAIT_MS, same_origin_page
from tests.e2e.cluster import Cluster, until

pytestmark = pytest.mark.e2e

# The series of a chart by its legend label, e.g. series("lag", "secondary-0").
SERIES = """([chart, label]) => {
  const u = window.replogCharts && window.replogCharts.charts[chart];
  if (!u) return null;
  const i = u.series.findIndex((s) => s.label === label);
  return i < 0 ? null : u.data[i];
}"""
X_RANGE = """() => {
  const u = window.replogCharts.charts.appends;
  return [u.scales.x.min, u.scales.x.max, u.data[0].length];
}"""
# Pixels of a chart's canvas that are not blank (uPlot draws on a transparent canvas).
INKED = """(id) => {
  const canvas = document.querySelector('#' + id + ' canvas');
  const pixels = canvas.getContext('2d').getImageData(0, 0, canvas.width, canvas.height).data;
  let inked = 0;
  for (let i = 3; i < pixels.length; i += 4) if (pixels[i] > 0) inked++;
  return inked;
}"""
HAS_EVENT = """([kind, node, text]) => (window.replogCharts.events || []).some(
  (e) => e.kind === kind && e.node === node && e.text.includes(text))"""


@pytest.fixture
async def page() -> AsyncIterator[Page]:
    """A Chromium page that may talk to nothing but the node that served it."""
    async with same_origin_page() as page:
        yield page


@pytest.fixture
def shoot() -> Callable[[Page, str], Any]:
    OUTPUT.mkdir(exist_ok=True)

    async def take(page: Page, name: str) -> Path:
        """The charts up close, and the whole page around them."""
        path = OUTPUT / f"dashboard-charts-{name}.png"
        await page.locator("#charts-section").screenshot(path=str(path))
        await page.screenshot(path=str(OUTPUT / f"dashboard-charts-{name}-page.png"), full_page=True)
        print(f"screenshot: {path} (and -page.png)")
        return path

    return take


@contextlib.asynccontextmanager
async def appending(cluster: Cluster, node: str) -> AsyncIterator[list[int]]:
    """Appends (w=1) to `node` one after another until the block ends; yields the statuses seen."""
    statuses: list[int] = []
    session = await cluster.http()

    async def run() -> None:
        n = 0
        while True:
            n += 1
            try:
                async with session.post(cluster.url(node) + "/", json={"msg": f"m{n}", "w": 1}) as response:
                    statuses.append(response.status)
            except (aiohttp.ClientError, TimeoutError):
                statuses.append(0)
                await asyncio.sleep(0.05)  # why: pacing while the node is down, not synchronisation

    task = asyncio.get_running_loop().create_task(run())
    try:
        yield statuses
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


async def series(page: Page, chart: str, label: str) -> list[float | None]:
    return list(await page.evaluate(SERIES, [chart, label]) or [])


async def test_charts_draw_move_and_show_a_stopped_followers_lag(page: Page, cluster: Cluster, shoot: Any) -> None:
    async with appending(cluster, "master") as statuses:
        await page.goto(cluster.url("master") + "/ui")
        following = page.locator("#charts-following")
        await expect(following).to_have_attribute("data-leader", "master")
        await expect(following).to_have_text("following the leader: master (fixed master)")

        # They draw: appends flow, so the ok rate and the latency have values, and the canvases have ink.
        async def drawing() -> bool:
            ok, p99 = await series(page, "appends", "ok"), await series(page, "latency", "p99")
            return any(v and v > 0 for v in ok) and any(v and v > 0 for v in p99)

        await until(drawing, WAIT_MS / 1000, "the ok rate and the p99 latency to be charted")
        for chart in ("chart-appends", "chart-latency", "chart-lag"):
            assert await page.evaluate(INKED, chart) > 1000, f"{chart} drew (almost) nothing"
        # They move: a second later the x range has advanced and there are more samples.
        x_min, x_max, length = await page.evaluate(X_RANGE)
        assert x_max - x_min == 300, "the charts show the last five minutes"
        await page.wait_for_function(
            f"([max, length]) => {{ const [, m, n] = ({X_RANGE})(); return m > max && n > length; }}",
            arg=[x_max, length],
            timeout=WAIT_MS,
        )
        assert set(await page.evaluate("window.replogCharts.charts.lag.series.map((s) => s.label)")) >= {
            "secondary-0",
            "secondary-1",
        }
        await page.select_option("#charts-range", "60")  # the time picker: the last minute, up close
        x_min, x_max, _ = await page.evaluate(X_RANGE)
        assert x_max - x_min == 60
        await expect(page.locator("#charts-title")).to_have_text("Last 1 min")
        await shoot(page, "drawing")

        # A stopped follower: its lag rises on its chart, its health marks appear; the other keeps up.
        cluster.signal("secondary-0", signal.SIGSTOP)
        await page.wait_for_function(HAS_EVENT, arg=["health", "secondary-0", "Unhealthy"], timeout=WAIT_MS)
        assert await page.evaluate(HAS_EVENT, ["health", "secondary-0", "Suspected"])
        await expect(
            page.locator('#chart-events li[data-kind="health"][data-node="secondary-0"]').first
        ).to_be_visible()

        async def lag_rose() -> bool:
            lag = [v for v in await series(page, "lag", "secondary-0") if v is not None]
            return len(lag) >= 2 and lag[-1] >= 50 and lag[-1] > lag[-2]

        await until(lag_rose, WAIT_MS / 1000, "secondary-0's lag to rise on the lag chart")
        behind = [v for v in await series(page, "lag", "secondary-0") if v is not None][-1]
        other = [v for v in await series(page, "lag", "secondary-1") if v is not None][-1]
        assert other < behind, f"secondary-1 kept up (lag {other}) while secondary-0 fell behind ({behind})"
        await shoot(page, "follower-stopped")
    assert 201 in statuses


async def test_samples_are_served_as_json_and_bad_queries_refused(cluster: Cluster) -> None:
    session = await cluster.http()
    url = cluster.url("master") + "/ui/samples"

    async def two_samples() -> bool:
        async with session.get(url) as response:
            return len((await response.json())["samples"]) >= 2

    await until(two_samples, 10, "two samples in the master's ring")
    async with session.get(url) as response:
        ring = await response.json()
    assert (ring["node"], ring["role"], ring["term"], ring["leader"]) == ("master", "master", None, "master")
    times = [sample["t"] for sample in ring["samples"]]
    assert times == sorted(set(times)), "one sample per second, in order"
    assert ring["samples"][-1]["lag"].keys() == {"secondary-0", "secondary-1"}
    assert [e["text"] for e in ring["events"] if e["kind"] == "start"] == ["master started"]
    async with session.get(url, params={"since": str(times[-1])}) as response:
        assert all(sample["t"] > times[-1] for sample in (await response.json())["samples"])
    async with session.get(url, params={"node": "leader"}) as response:
        view = await response.json()
        assert view["following"] == {"name": "master", "term": None} and view["served_by"] == "master"
    for query, error in [({"since": "soon"}, "'since' must be unix seconds"), ({"node": "x"}, "'node' must be")]:
        async with session.get(url, params=query) as response:
            assert response.status == 400
            assert (await response.json())["error"].startswith(error)


async def test_charts_follow_the_new_leader_after_the_leader_is_killed(
    page: Page, make_cluster: Callable[..., Cluster], shoot: Any
) -> None:
    cluster = make_cluster(failover=True, election_timeout_seconds=0.5)
    await cluster.start_all()

    async with appending(cluster, "secondary-1"):  # a follower: it forwards to whoever leads
        await page.goto(cluster.url("secondary-0") + "/ui")  # a follower serves the page
        following = page.locator("#charts-following")
        await expect(following).to_have_attribute("data-leader", "master")
        await expect(following).to_contain_text("following the leader: master (term ")
        await page.wait_for_function(HAS_EVENT, arg=["leader", "master", "leader master t"], timeout=WAIT_MS)
        await page.select_option("#charts-range", "60")
        await shoot(page, "failover-master-leads")

        cluster.kill("master")
        await expect(following).to_have_attribute("data-leader", re.compile(r"^secondary-[01]$"))
        leader = await following.get_attribute("data-leader")
        term = await page.evaluate("window.replogCharts.following.term")
        await expect(following).to_contain_text(f"following the leader: {leader} (term {term})")
        # The new leader's mark, and the election that made it, are on the charts.
        await page.wait_for_function(HAS_EVENT, arg=["leader", leader, f"leader {leader} t{term}"], timeout=WAIT_MS)
        assert await page.evaluate(HAS_EVENT, ["election", leader, f"t{term}"])
        await expect(page.locator(f'#chart-events li[data-kind="leader"][data-node="{leader}"]').first).to_be_visible()

        # The charts keep moving with the new leader's samples: its followers (master among them) on lag.
        await page.wait_for_function(
            "(label) => window.replogCharts.charts.lag.series.some((s) => s.label === label)", arg="master"
        )
        before = len(await series(page, "appends", "ok"))

        async def moving() -> bool:
            ok = await series(page, "appends", "ok")
            return len(ok) > before and (ok[-1] or 0) > 0

        await until(moving, WAIT_MS / 1000, "the new leader's appends on the chart")
        await shoot(page, "failover-new-leader")
