"""`replog chaos --report`: a short real failover run through the CLI writes one HTML file, and Debian's
Chromium opens it with no network at all and shows the run's faults, leaders and verdict. The same run's
history with a violation planted in it renders a FAIL whose marker on the timeline leads to the violation's
row and its history records. Screenshots: test-output/chaos-report-*.png.
"""

from __future__ import annotations

import dataclasses
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from replog.chaos.checker import check
from replog.chaos.history import FaultRecord, FinalRecord, History, load_history
from replog.chaos.report import summarize
from replog.chaos.report_html import write_report
from tests.e2e.browser import OUTPUT, chromium_page

try:
    from playwright.async_api import Page
except ImportError:  # chromium_page fails the test, naming the fix
    Page = object  # type: ignore[assignment,misc]

pytestmark = pytest.mark.e2e

SEED = 5
DURATION_S = 8
RUN_TIMEOUT_S = 120
# Pixels of the rate chart's canvas that are not transparent: a chart that drew nothing has none.
DRAWN_PIXELS = """() => {
  const canvas = document.querySelector('#rate canvas');
  const pixels = canvas.getContext('2d').getImageData(0, 0, canvas.width, canvas.height).data;
  let drawn = 0;
  for (let i = 3; i < pixels.length; i += 4) if (pixels[i] !== 0) drawn++;
  return drawn;
}"""


@dataclass(frozen=True, slots=True)
class ShortRun:
    history: Path
    report: Path
    stdout: str


@pytest.fixture(scope="module")
def short_run(tmp_path_factory: pytest.TempPathFactory) -> ShortRun:
    workdir = tmp_path_factory.mktemp("chaos-report")
    report = workdir / "report.html"
    command = [sys.executable, "-m", "replog", "chaos", "--duration", str(DURATION_S), "--seed", str(SEED)]
    command += ["--data-dir", str(workdir / "run"), "--report", str(report)]
    done = subprocess.run(command, capture_output=True, text=True, timeout=RUN_TIMEOUT_S)
    assert done.returncode == 0, done.stdout + done.stderr
    return ShortRun(workdir / "run" / "history.jsonl", report, done.stdout)


def _applied(history: History) -> int:
    return sum(1 for f in history.faults if f.error is None or f.error.startswith("heal failed"))


async def test_the_report_of_a_short_run_opens_offline_and_shows_its_faults_and_verdict(short_run: ShortRun) -> None:
    assert f"report: {short_run.report}" in short_run.stdout
    history = load_history(short_run.history)
    applied = _applied(history)
    assert applied > 0 and history.leaders
    OUTPUT.mkdir(exist_ok=True)
    async with chromium_page(offline=True) as (page, requests):
        await page.goto(short_run.report.as_uri())
        await page.wait_for_selector("body[data-ready]")
        assert await page.locator("#verdict").inner_text() == "PASS: 0 violations"
        assert await page.evaluate(DRAWN_PIXELS) > 1000
        bands = page.locator("#timeline .band.applied")
        assert await bands.count() == applied
        assert await page.locator("#timeline .band.not-applied").count() == len(history.faults) - applied
        assert await page.locator("#timeline .leader-interval").count() == len(history.leaders)
        # One time axis: the chart's plot area and the timeline's are the same span of the page.
        plot = await page.locator("#timeline .u-over").bounding_box()
        chart = await page.locator("#rate .u-over").bounding_box()
        assert plot is not None and chart is not None
        assert (round(plot["x"]), round(plot["width"])) == (round(chart["x"]), round(chart["width"]))
        # Every band lies inside the timeline's plot area, and all bands of one lane on one row.
        rows: dict[str, set[float]] = {}
        for i in range(applied):
            box = await bands.nth(i).bounding_box()
            assert box is not None and box["width"] >= 3
            assert plot["x"] - 1 <= box["x"] and box["x"] + box["width"] <= plot["x"] + plot["width"] + 1
            rows.setdefault(str(await bands.nth(i).get_attribute("data-lane")), set()).add(round(box["y"]))
        assert all(len(tops) == 1 for tops in rows.values()), rows
        assert len({top for tops in rows.values() for top in tops}) == len(rows)  # one row per lane
        await page.screenshot(path=str(OUTPUT / "chaos-report-pass.png"), full_page=True)
        await _zoom_on_the_chart_zooms_the_timeline(page)
        await bands.first.click()
        assert await page.evaluate("location.hash") == "#fault-" + str(_first_applied_id(history))
        assert all(url.startswith(("file:", "data:")) for url in requests), requests


def _first_applied_id(history: History) -> int:
    ordered = sorted(history.faults, key=lambda f: f.start)
    return next(i for i, f in enumerate(ordered) if f.error is None or f.error.startswith("heal failed"))


async def test_a_planted_violation_is_marked_on_the_timeline_and_linked_to_its_records(
    short_run: ShortRun, tmp_path: Path
) -> None:
    history = load_history(short_run.history)
    final = next(f for f in history.finals if f.readable)
    where = final.index_of()
    lost = next(a for a in history.appends if a.outcome == "ok" and a.w >= 2 and a.msg in where)
    at = final.log.index(lost.msg)
    planted = dataclasses.replace(
        history,
        reads=[],  # the reads would also (rightly) flag it; one violation keeps the marker unambiguous
        finals=[
            dataclasses.replace(f, log=f.log[:at] + f.log[at + 1 :], indexes=f.indexes[:at] + f.indexes[at + 1 :])
            for f in history.finals
        ],
    )
    violations = check(planted)
    assert [v.rule for v in violations] == ["majority_ack_lost"]
    OUTPUT.mkdir(exist_ok=True)
    report = write_report(tmp_path / "planted.html", planted, violations, summarize(planted, violations, elapsed_s=0))
    async with chromium_page(offline=True) as (page, requests):
        await page.goto(report.as_uri())
        await page.wait_for_selector("body[data-ready]")
        assert (await page.locator("#verdict").inner_text()).startswith("FAIL: 1 violation majority_ack_lost: 1")
        marker = page.locator("#timeline a.violation-marker")
        assert await marker.count() == 1
        await marker.click()
        assert await page.evaluate("location.hash") == "#violation-0"
        row = page.locator("tr#violation-0")
        assert await row.is_visible()
        text = await row.inner_text()
        assert "majority_ack_lost" in text and f'"request_id": "{lost.request_id}"' in text
        assert '"type": "append"' in text and '"type": "final"' in text
        await page.screenshot(path=str(OUTPUT / "chaos-report-fail.png"))
        assert all(url.startswith(("file:", "data:")) for url in requests), requests


async def _widths(page: Page) -> list[float]:
    script = "bands => bands.map(b => b.getBoundingClientRect().width)"
    return await page.eval_on_selector_all("#timeline .band", script)


async def _zoom_on_the_chart_zooms_the_timeline(page: Page) -> None:
    """Dragging over the rate chart zooms the timeline too (to the same span); reset zoom undoes both."""
    before = await _widths(page)
    chart = await page.locator("#rate .u-over").bounding_box()
    assert chart is not None
    y = chart["y"] + chart["height"] / 2
    await page.mouse.move(chart["x"] + chart["width"] * 0.2, y)
    await page.mouse.down()
    await page.mouse.move(chart["x"] + chart["width"] * 0.6, y, steps=5)
    await page.mouse.up()
    zoomed = await _widths(page)
    assert any(after > 2 * width for width, after in zip(before, zoomed, strict=True)), (before, zoomed)
    await page.click("#reset-zoom")
    assert await _widths(page) == pytest.approx(before, abs=1)


async def test_a_classic_history_without_a_wall_clock_draws_on_seconds(tmp_path: Path) -> None:
    """No leader lane (the master is fixed), proxies as lanes, a fault not applied drawn dashed, and bands
    placed by seconds since the start when the history has no wall-clock start."""
    history = History(
        faults=[
            FaultRecord("partition", "proxy-0", 1.0, 2.5),
            FaultRecord("kill_master", "master", 3.0, 3.4),
            FaultRecord("pause", "secondary-1", 4.0, 4.0, error="ProcessLookupError: no such process"),
        ],
        finals=[FinalRecord(n, (), True) for n in ("master", "secondary-0", "secondary-1")],
        meta={"seed": 1, "duration": 6.0, "urls": {n: "u" for n in ("master", "secondary-0", "secondary-1")}},
    )
    report = write_report(tmp_path / "classic.html", history, check(history), summarize(history, [], elapsed_s=6))
    async with chromium_page(offline=True) as (page, _):
        await page.goto(report.as_uri())
        await page.wait_for_selector("body[data-ready]")
        assert await page.locator("#verdict").inner_text() == "PASS: 0 violations"
        assert await page.locator("#timeline .band.applied").count() == 2
        assert await page.locator("#timeline .band.not-applied").count() == 1
        assert await page.locator("#timeline .leader-interval").count() == 0
        lanes = await page.evaluate("JSON.parse(document.getElementById('report-data').textContent).lanes")
        assert lanes == ["master", "secondary-0", "secondary-1", "proxy-0"]  # axis labels are canvas text
        plot = await page.locator("#timeline .u-over").bounding_box()
        first = await page.locator("#timeline .band").first.bounding_box()
        assert plot is not None and first is not None
        # proxy-0's partition, 1.0 s to 2.5 s of a 6 s axis, on the bottom lane of four.
        assert first["x"] - plot["x"] == pytest.approx(plot["width"] / 6, abs=3)
        assert first["width"] == pytest.approx(plot["width"] * 1.5 / 6, abs=3)
        assert first["y"] > plot["y"] + plot["height"] * 3 / 4
        assert "classic" in await page.locator("header").inner_text()
