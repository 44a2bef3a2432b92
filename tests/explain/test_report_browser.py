"""The report as a browser shows it: headless Chromium opens the written file (file://),
every image decodes, every section heading is there, nothing is logged as an error, and a
full-page screenshot is kept for people to look at (``$ACCELML_TEST_ARTIFACTS/report.png``).

Skipped without Chromium at /usr/bin/chromium or without Playwright, unless
``ACCELML_REQUIRE_BROWSER=1`` (CI sets it), where their absence fails the test.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

import accelml
from accelml.explain.report import write_report
from tests.explain.conftest import FittedCase

CHROMIUM = Path("/usr/bin/chromium")
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync"]
HEADINGS = ["Contents", "The task", "Data audit", "Leaderboard", "The ensemble",
            "Overfitting and calibration", "Metrics on the given data", "Explanations",
            "Fairness slices", "Search cost"]
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def _browser() -> Any:
    """Playwright's sync API, or a skip (a failure where the browser is required)."""
    missing = []
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        missing.append("playwright is not installed (pip install 'accelml[test]')")
        sync_playwright = None
    if not CHROMIUM.exists():
        missing.append(f"{CHROMIUM} is missing (apt-get install chromium)")
    if missing:
        reason = "; ".join(missing)
        if os.environ.get("ACCELML_REQUIRE_BROWSER") == "1":
            pytest.fail(f"ACCELML_REQUIRE_BROWSER=1 but {reason}")
        pytest.skip(reason)
    return sync_playwright


def _artifacts(tmp_path: Path) -> Path:
    folder = os.environ.get("ACCELML_TEST_ARTIFACTS")
    if not folder:
        return tmp_path
    Path(folder).mkdir(parents=True, exist_ok=True)
    return Path(folder)


def test_the_report_opens_offline_in_chromium(cancer_case: FittedCase, tmp_path: Path) -> None:
    sync_playwright = _browser()
    predictor = accelml.load(cancer_case.model_dir)
    page_file = write_report(predictor, tmp_path / "report.html", cancer_case.test,
                             slice_by=["size_band", "texture_band"])
    screenshot = _artifacts(tmp_path) / "report.png"
    screenshot.unlink(missing_ok=True)
    errors: list[str] = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=ARGS,
                                             timeout=60_000)
        try:
            page = browser.new_page(viewport={"width": 1200, "height": 900})
            page.on("console", lambda message: errors.append(f"console: {message.text}")
                    if message.type == "error" else None)
            page.on("pageerror", lambda error: errors.append(f"page error: {error}"))
            response = page.goto(page_file.resolve().as_uri(), wait_until="load",
                                 timeout=30_000)
            assert response is None or response.ok
            images = page.evaluate("Array.from(document.images, i => "
                                   "[i.complete, i.naturalWidth, i.alt])")
            headings = page.evaluate("Array.from(document.querySelectorAll('h2'), "
                                     "h => h.textContent)")
            title = page.title()
            page.screenshot(path=str(screenshot), full_page=True)
        finally:
            browser.close()
    assert title == "AccelML report: Binary classification of diagnosis"
    assert len(images) >= 9  # search, calibration, 3 metric plots, 2 explanations, 2 slices
    broken = [alt for complete, width, alt in images if not complete or width <= 0]
    assert broken == []
    assert headings[:len(HEADINGS)] == HEADINGS  # the modality's own sections may follow
    assert errors == []
    assert screenshot.stat().st_size > 10_000
    assert screenshot.read_bytes()[:8] == PNG_SIGNATURE
