"""A real browser for the tests: Debian's Chromium driven by PyPI's Playwright.

Needs /usr/bin/chromium (or REPLOG_CHROMIUM) and `playwright` (never `playwright install`: the browser
comes from the system). Without chromium the tests skip, except under CI=true, where they fail instead
so a missing install step cannot hide. Screenshots go to `test-output/` at the repository root.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

try:
    from playwright.async_api import Page, async_playwright
except ImportError:  # chromium_page fails, naming the fix
    async_playwright = None

__all__ = ["CHROMIUM", "OUTPUT", "WAIT_MS", "chromium_page", "same_origin_page"]

CHROMIUM = Path(os.environ.get("REPLOG_CHROMIUM", "/usr/bin/chromium"))
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
OUTPUT = Path(__file__).resolve().parents[2] / "test-output"
WAIT_MS = 15_000


@contextlib.asynccontextmanager
async def chromium_page(offline: bool = False, **context_options: Any) -> AsyncIterator[tuple[Page, list[str]]]:
    """(a page, the URLs it requested); fails the test on any JavaScript error. `offline`: no network at all."""
    if async_playwright is None:
        pytest.fail("playwright is not installed: pip install playwright (never `playwright install`)")
    if not CHROMIUM.exists():
        missing = f"chromium not installed at {CHROMIUM}: apt-get update && apt-get install -y chromium"
        if os.environ.get("CI"):
            pytest.fail(f"CI=true, so not skipping: {missing}")
        pytest.skip(missing)
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            context = await browser.new_context(viewport={"width": 1280, "height": 960}, **context_options)
            await context.set_offline(offline)
            page = await context.new_page()
            page.set_default_timeout(WAIT_MS)
            errors: list[str] = []
            requests: list[str] = []
            page.on("pageerror", lambda exc: errors.append(str(exc)))
            page.on("request", lambda request: requests.append(request.url))
            yield page, requests
            assert errors == [], f"JavaScript errors on the page: {errors}"
        finally:
            await browser.close()


@contextlib.asynccontextmanager
async def same_origin_page() -> AsyncIterator[Page]:
    """A Chromium page that may talk to nothing but the node that served its /ui (checked when it closes)."""
    async with chromium_page() as (page, requests):
        yield page
        origin = page.url.split("/ui", 1)[0]
        foreign = [url for url in requests if not url.startswith((origin + "/", "data:"))]
        assert foreign == [], f"the page fetched from elsewhere than the node that served it: {foreign}"
