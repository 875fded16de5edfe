"""The master's dashboard (`GET /ui`) in a real headless Chromium (tests/e2e/browser.py), against real
node processes. Screenshots go to `test-output/` at the repository root; their paths are printed.
"""

from __future__ import annotations

import signal
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest
from playwright.async_api import Locator, Page, expect

from tests.e2e.browser import OUTPUT, WAIT_MS, same_origin_page
from tests.e2e.cluster import Cluster

TOKENS = {"client_token": "client-secret", "read_token": "read-secret", "cluster_token": "cluster-secret"}

pytestmark = pytest.mark.e2e

# Records every data-status a card shows, so a state that lasts a fraction of a second is not missed.
RECORD_STATUSES = """() => {
  window.seenStatuses = {};
  for (const card of document.querySelectorAll(".card")) {
    const seen = (window.seenStatuses[card.dataset.node] = [card.dataset.status]);
    new MutationObserver(() => {
      if (seen[seen.length - 1] !== card.dataset.status) seen.push(card.dataset.status);
    }).observe(card, { attributes: true, attributeFilter: ["data-status"] });
  }
}"""
HAS_SEEN = "([node, status]) => (window.seenStatuses[node] || []).includes(status)"


@pytest.fixture
async def page() -> AsyncIterator[Page]:
    """A Chromium page that may talk to nothing but the node that served it."""
    async with same_origin_page() as page:
        yield page


@pytest.fixture
def shoot(request: pytest.FixtureRequest) -> Callable[[Page, str], Any]:
    OUTPUT.mkdir(exist_ok=True)
    paths: list[str] = []

    async def take(page: Page, name: str) -> Path:
        path = OUTPUT / f"dashboard-{name}.png"
        await page.screenshot(path=str(path), full_page=True)
        print(f"screenshot: {path}")
        paths.append(str(path))
        request.node.user_properties.append(("screenshots", ", ".join(paths)))
        return path

    return take


async def open_dashboard(page: Page, cluster: Cluster) -> None:
    response = await page.goto(cluster.url("master") + "/ui")
    assert response is not None and response.status == 200, (
        f"GET /ui answered {response and response.status}: is add_ui_routes(app, node) called from master_app?"
    )
    for name in ("master", "secondary-0", "secondary-1"):
        await expect(card(page, name)).to_be_visible()


def card(page: Page, node: str) -> Locator:
    return page.locator(f'.card[data-node="{node}"]')


async def wait_seen(page: Page, node: str, status: str) -> None:
    await page.wait_for_function(HAS_SEEN, arg=[node, status], timeout=WAIT_MS, polling=50)


async def faults_of(cluster: Cluster, name: str) -> dict[str, Any]:
    session = await cluster.http()
    async with session.get(cluster.url(name) + "/faults") as response:
        return dict(await response.json())


async def test_dashboard_watches_and_drives_the_cluster(page: Page, cluster: Cluster, shoot: Any) -> None:
    await open_dashboard(page, cluster)
    s0, s1 = card(page, "secondary-0"), card(page, "secondary-1")
    for secondary in (s0, s1):
        await expect(secondary).to_have_attribute("data-status", "Healthy")
        await expect(secondary.locator(".acked")).to_have_text("0")
    await expect(page.locator("#banner")).to_have_attribute("data-state", "writable")

    # Append through the form with w=3; the text is shown as text, never as markup.
    text = 'hello <b>dashboard</b> & <img src=x onerror="window.pwned=1">'
    await page.fill("#append-msg", text)
    await page.select_option("#append-w", "3")
    await page.click("#append-submit")
    await expect(page.locator("#append-result")).to_have_text("201: index 1, w=3")
    await expect(page.locator("#messages li .text").first).to_have_text(text)
    assert await page.locator("#messages b, #messages img").count() == 0
    assert await page.evaluate("window.pwned") is None
    for secondary in (s0, s1):
        await expect(secondary.locator(".acked")).to_have_text("1")
        await expect(secondary.locator(".lag")).to_have_text("0")
    await shoot(page, "appended")

    # A stopped secondary turns Suspected, then Unhealthy; quorum (2 of 3) holds.
    await page.evaluate(RECORD_STATUSES)
    cluster.signal("secondary-0", signal.SIGSTOP)
    await wait_seen(page, "secondary-0", "Unhealthy")
    assert await page.evaluate("window.seenStatuses['secondary-0']") == ["Healthy", "Suspected", "Unhealthy"]
    await expect(page.locator("#banner")).to_have_attribute("data-state", "writable")
    await shoot(page, "secondary-0-unhealthy")

    # Both stopped: the read-only banner, and the server's refusal shown under the form.
    cluster.signal("secondary-1", signal.SIGSTOP)
    await expect(page.locator("#banner")).to_have_attribute("data-state", "read-only")
    await expect(page.locator("#banner")).to_contain_text("READ-ONLY")
    await expect(card(page, "master")).to_have_attribute("data-status", "Read-only")
    await page.fill("#append-msg", "refused")
    await page.select_option("#append-w", "1")
    await page.click("#append-submit")
    await expect(page.locator("#append-result")).to_have_text(
        "503: read-only: no quorum (1 of 3 nodes alive, 2 needed)"
    )
    await shoot(page, "read-only")

    cluster.signal("secondary-0", signal.SIGCONT)
    cluster.signal("secondary-1", signal.SIGCONT)
    for secondary in (s0, s1):
        await expect(secondary).to_have_attribute("data-status", "Healthy")
    await expect(page.locator("#banner")).to_have_attribute("data-state", "writable")

    # Faults switched from the page reach the secondary; the secondary's refusals are shown.
    faults = s1.locator(".faults-form")
    await faults.locator('input[name="delay_min"]').fill("25")
    await faults.locator('input[name="delay_max"]').fill("40")
    await faults.locator("button.apply").click()
    await expect(s1.locator(".faults-result")).to_contain_text("applied")
    await expect(s1.locator(".faults-active")).to_have_text("active: delay 25\u201340 ms")
    assert (await faults_of(cluster, "secondary-1"))["delay_ms"] == [25, 40]
    assert (await faults_of(cluster, "secondary-0"))["delay_ms"] == [0, 0]
    await shoot(page, "fault-set")

    await faults.locator('input[name="delay_min"]').fill("50")
    await faults.locator("button.apply").click()
    await expect(s1.locator(".faults-result")).to_have_text(
        "400: delay_ms must be [min, max] milliseconds with 0 <= min <= max <= 600000"
    )
    await faults.locator("button.clear").click()
    await expect(s1.locator(".faults-active")).to_have_text("no faults")
    assert await faults_of(cluster, "secondary-1") == {
        "error_after_append": 0.0,
        "delay_ms": [0, 0],
        "internal_looping": 0.0,
        "server_unavailable": 0.0,
    }


async def test_faults_proxy_names_an_unreachable_secondary(cluster: Cluster) -> None:
    session = await cluster.http()
    master = cluster.url("master")
    async with session.post(master + "/ui/faults/0", json={"error_after_append": 0.25}) as response:
        assert response.status == 200, await response.text()
        assert (await response.json())["error_after_append"] == 0.25
    async with session.post(master + "/ui/faults/0", json={"bogus": 1}) as response:
        assert response.status == 400
        assert "unknown fault" in (await response.json())["error"]
    async with session.get(master + "/ui/faults/9") as response:
        assert response.status == 404
        assert (await response.json())["error"] == "no secondary 9: ids are 0..1"
    cluster.kill("secondary-1")
    async with session.get(master + "/ui/faults/1") as response:
        assert response.status == 502
        error = (await response.json())["error"]
        assert error.startswith(f"secondary 1 (127.0.0.1:{cluster.secondary_ports[1]}) unreachable: "), error


async def test_dashboard_with_tokens(page: Page, make_cluster: Callable[..., Cluster], shoot: Any) -> None:
    cluster = make_cluster(**TOKENS)
    await cluster.start_all()
    await cluster.wait_status(0, "Healthy")
    await cluster.wait_status(1, "Healthy")
    session = await cluster.http()
    async with session.post(cluster.url("master") + "/ui/faults/0", json={"delay_ms": 5}) as response:
        assert response.status == 401, "the proxy must not lend the cluster token to anyone"

    await open_dashboard(page, cluster)
    await expect(page.locator("#access")).to_be_visible()
    await expect(page.locator("#messages-error")).to_contain_text("401")
    await page.fill("#token-read", TOKENS["read_token"])
    await expect(page.locator("#messages-error")).to_be_hidden()

    await page.fill("#append-msg", "with tokens")
    await page.select_option("#append-w", "3")
    await page.click("#append-submit")
    await expect(page.locator("#append-result")).to_contain_text("401: missing or wrong token")
    await page.fill("#token-client", TOKENS["client_token"])
    await page.click("#append-submit")
    await expect(page.locator("#append-result")).to_have_text("201: index 1, w=3")
    await expect(page.locator("#messages li .text").first).to_have_text("with tokens")

    s0 = card(page, "secondary-0")
    await s0.locator('input[name="delay_min"]').fill("7")
    await s0.locator("button.apply").click()
    await expect(s0.locator(".faults-result")).to_contain_text("401: missing or wrong token")
    await page.fill("#token-cluster", TOKENS["cluster_token"])
    await s0.locator("button.apply").click()
    await expect(s0.locator(".faults-active")).to_have_text("active: delay 7 ms")
    assert (await faults_of(cluster, "secondary-0"))["delay_ms"] == [7, 7]
    await shoot(page, "tokens")


async def test_with_failover_any_node_shows_who_leads_and_each_term(
    page: Page, make_cluster: Callable[..., Cluster], shoot: Any
) -> None:
    cluster = make_cluster(failover=True, election_timeout_seconds=0.5)
    await cluster.start_all()
    response = await page.goto(cluster.url("secondary-0") + "/ui")  # A follower serves the page too.
    assert response is not None and response.status == 200
    rows = page.locator("#cluster-rows tr")
    master_row = page.locator('#cluster-rows tr[data-node="master"]')
    await expect(rows).to_have_count(3)
    await expect(master_row).to_have_attribute("data-role", "leader")
    await expect(page.locator("#banner")).to_contain_text("Leader: master, term ")
    await shoot(page, "failover-master-leads")
    cluster.kill("master")
    await expect(master_row).to_have_attribute("data-role", "unreachable")
    new_leader = page.locator('#cluster-rows tr[data-role="leader"]')
    await expect(new_leader).to_have_count(1)
    assert await new_leader.get_attribute("data-node") in ("secondary-0", "secondary-1")
    await expect(page.locator("#banner")).not_to_contain_text("Leader: master")
    await shoot(page, "failover-after-master-killed")
