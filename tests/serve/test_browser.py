"""The clinician page in headless Chromium (Debian's package, driven by Playwright)."""

from __future__ import annotations

from pathlib import Path

import pytest

CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync"]


@pytest.mark.browser
@pytest.mark.skipif(not CHROMIUM.exists(),
                    reason="Debian's chromium is not installed (apt-get install chromium)")
@pytest.mark.timeout(120)
def test_fill_form_submit_and_see_risk_chart_and_red_flags(server):
    from playwright.sync_api import sync_playwright

    ARTIFACTS.mkdir(exist_ok=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        outside = []
        page.on("request", lambda r: outside.append(r.url)
                if not r.url.startswith(server.url) else None)
        page.goto(server.url)
        page.wait_for_selector("body[data-ready='1']")
        assert page.locator("fieldset legend", has_text="red flags").count() == 1
        assert "18-100 years" in page.locator("#row-age").inner_text()
        page.fill("#api-key", server.key)
        page.select_option("#example", "reoperation (PELD)")
        page.click("#load-example")
        page.select_option("#f-red_flag_cauda_equina", "1")
        page.click("#submit")
        page.wait_for_selector("#answer:not([hidden])")
        risk = page.inner_text("#risk")
        assert risk.endswith("%") and 0 < float(risk.rstrip("%")) < 100
        assert "interval" in page.inner_text("#interval")
        assert page.locator("#waterfall rect").count() >= 4
        flag = page.locator(".red-flag")
        assert "cauda equina" in flag.inner_text().lower()
        assert flag.evaluate("e => getComputedStyle(e).color") == "rgb(179, 38, 30)"
        assert "research use" in page.inner_text("#result-notice")
        page.screenshot(path=str(ARTIFACTS / "clinician_page.png"), full_page=True)
        # a bad value comes back as 422 and is shown next to its field
        page.fill("#f-age", "130")
        page.click("#submit")
        page.wait_for_selector("#row-age.bad")
        assert "18-100" in page.inner_text("#row-age .problem")
        browser.close()
    assert outside == [], outside
