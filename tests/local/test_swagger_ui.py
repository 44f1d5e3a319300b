"""Swagger UI renders the function's API in a real browser, offline.

Headless Chromium from the system (/usr/bin/chromium, Debian's package: `make test` installs it
when run as root), driven by the playwright package; ``playwright install`` is never needed (it
downloads browsers).
"""

from __future__ import annotations

import sys
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from local_mode.runner import LocalStack
from tests.local.test_local_mode import child_environment, served_api

CHROMIUM = Path("/usr/bin/chromium")
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

pytestmark = pytest.mark.browser


@pytest.fixture
def chromium():
    if not CHROMIUM.exists():
        pytest.skip("Chromium not installed: apt-get install chromium (make test does, when run as root)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


def test_swagger_ui_renders_both_operations_with_no_network(chromium, tmp_path):
    with LocalStack() as stack:
        session_id = stack.emulator.start_session("etl-nightly")
        stack.emulator.clock.advance(10)
        with served_api(child_environment(stack)) as url:
            page = chromium.new_page()
            requested: list[str] = []
            page.on("request", lambda request: requested.append(request.url))
            page.goto(f"{url}/swagger", wait_until="load")
            page.wait_for_selector(".opblock-summary-path", timeout=15_000)

            assert page.title() == "Swagger UI"
            assert page.locator(".info .title").inner_text().startswith("Athena Spark session monitor")
            paths = sorted(page.locator(".opblock-summary-path").all_inner_texts())
            assert [p.replace("\u200b", "") for p in paths] == ["/sessions", "/sessions/{session_id}"]
            assert page.locator(".opblock-get").count() == 2
            page.screenshot(path=str(tmp_path / "swagger.png"), full_page=True)

            # "Try it out" on GET /sessions/{session_id}: the UI calls the local API, which answers.
            page.locator(".opblock-get", has_text="/sessions/{session_id}").first.locator(".opblock-summary").click()
            page.get_by_role("button", name="Try it out").click()
            page.locator("input[placeholder='session_id']").fill(session_id)
            with page.expect_response(lambda r: r.url.endswith(f"/sessions/{session_id}")) as answer:
                page.get_by_role("button", name="Execute").click()
            assert answer.value.status == 200 and answer.value.json()["state"] == "IDLE"

            # Everything the page loaded came from the local server (Powertools inlines the UI).
            origins = {urlsplit(u).netloc for u in requested if not u.startswith(("data:", "blob:"))}
            assert origins == {urlsplit(url).netloc}
    assert (tmp_path / "swagger.png").stat().st_size > 10_000
    print(f"screenshot: {tmp_path / 'swagger.png'}", file=sys.stderr)
