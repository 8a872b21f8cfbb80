"""The dashboard in headless Chromium against the running service: log in, start a tiny training
job from the jobs page, watch its loss curve grow live (over SSE) to SUCCEEDED, see the models
list and a streamed chat reply — every request to the service itself, none to a CDN. Screenshots
are saved under the test's tmp dir and copied to ``artifacts/`` (git-ignored)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from playwright.sync_api import Page, sync_playwright

from tests.sdk.live import ROOT_ARTIFACTS, Live

pytestmark = pytest.mark.stack
# long enough to be watched growing: with one torch thread per worker (session 4) a 10-step
# job could finish before the page had drawn its second point (CI: `assert 10 < 10`)
STEPS = 40


def _points(page: Page) -> int:
    return int(page.get_attribute("#loss-chart", "data-points") or 0)


def _keep(page: Page, folder: Path, name: str) -> Path:
    shot = folder / name
    page.screenshot(path=str(shot), full_page=True)
    ROOT_ARTIFACTS.mkdir(exist_ok=True)
    shutil.copy(shot, ROOT_ARTIFACTS / name)
    return shot


def test_a_job_started_from_the_dashboard_draws_its_loss_curve_live(
    live: Live, chromium_path: str, tmp_path: Path
) -> None:
    with sync_playwright() as driver:
        browser = driver.chromium.launch(executable_path=chromium_path, headless=True,
                                         args=["--no-sandbox", "--disable-gpu"])  # fmt: skip
        page = browser.new_page(viewport={"width": 1100, "height": 800})
        requested: list[str] = []
        page.on("request", lambda request: requested.append(request.url))
        page.goto(f"{live.base_url}/dashboard/")
        page.fill("#username", live.admin[0])
        page.fill("#password", live.admin[1])
        page.click("#login-form button")
        page.wait_for_selector("#jobs-view:not([hidden])")
        page.fill("#job-steps", str(STEPS))
        page.click("#start-job")
        page.wait_for_selector("#job-view:not([hidden])")
        page.wait_for_function("Number(document.querySelector('#loss-chart').dataset.points) >= 2",
                               timeout=90_000)  # fmt: skip
        early = _points(page)
        _keep(page, tmp_path, "dashboard-job-early.png")
        page.wait_for_function("document.querySelector('#job-status').textContent == 'SUCCEEDED'",
                               timeout=120_000)  # fmt: skip
        assert early < _points(page) == STEPS  # it grew while we watched
        assert page.text_content("#job-step") == str(STEPS)
        shot = _keep(page, tmp_path, "dashboard-job.png")
        job_id = page.text_content("#job-id")

        page.goto(f"{live.base_url}/dashboard/#/jobs")
        page.wait_for_selector(f"tr[data-job-id='{job_id}'] .status-SUCCEEDED")
        page.goto(f"{live.base_url}/dashboard/#/models")
        page.wait_for_selector("#models-table tbody tr")
        page.goto(f"{live.base_url}/dashboard/#/chat")
        page.fill("#chat-input", "hello")
        page.press("#chat-input", "Enter")
        page.wait_for_function("document.querySelector('#chat-log .assistant')?.textContent"
                               ".length > 'assistant> '.length", timeout=60_000)  # fmt: skip
        _keep(page, tmp_path, "dashboard-chat.png")
        browser.close()
    assert shot.stat().st_size > 10_000
    assert requested and all(url.startswith(live.base_url) for url in requested), requested
