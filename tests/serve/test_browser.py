"""The clinician page in headless Chromium (Debian's package, driven by Playwright), at a
desktop (1400x900) and a phone (390x844) viewport. Screenshots go to test-artifacts/."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync"]
TYPICAL = "Typical: endoscopic discectomy (reoperation risk)"
VIEWPORTS = {"desktop": {"width": 1400, "height": 900}, "phone": {"width": 390, "height": 844}}

pytestmark = [pytest.mark.browser, pytest.mark.timeout(180), pytest.mark.skipif(
    not CHROMIUM.exists(), reason="Debian's chromium is not installed (apt-get install chromium)")]

# Geometry checks run in the page: overflow, what is in view, and every chart text inside
# the chart's drawn box (not clipped) at its real size (the chart is not scaled down).
OVERFLOW = "() => document.documentElement.scrollWidth - window.innerWidth"
IN_VIEW = """sel => { const r = document.querySelector(sel).getBoundingClientRect();
  return r.top >= 0 && r.bottom <= window.innerHeight && r.height > 0; }"""
CHART = """() => { const svg = document.getElementById('waterfall');
  const box = svg.viewBox.baseVal, shown = svg.getBoundingClientRect();
  const texts = [...svg.querySelectorAll('text')].map(t => { const b = t.getBBox();
    return {text: t.textContent, x0: b.x, x1: b.x + b.width, y0: b.y, y1: b.y + b.height}; });
  return {width: box.width, height: box.height, shownWidth: shown.width, texts,
          fontSize: parseFloat(getComputedStyle(svg.querySelector('text')).fontSize),
          classes: [...svg.querySelectorAll('rect')].map(r => r.getAttribute('class'))}; }"""


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    ARTIFACTS.mkdir(exist_ok=True)
    with sync_playwright() as p:
        launched = p.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        yield launched
        launched.close()


@pytest.fixture(params=list(VIEWPORTS))
def page(request, browser, server):
    context = browser.new_context(viewport=VIEWPORTS[request.param])
    page = context.new_page()
    page.viewport_name = request.param
    outside, console_errors = [], []
    page.on("request", lambda r: outside.append(r.url)
            if not r.url.startswith(server.url) else None)
    # a Content-Security-Policy violation (inline script or style) is a console error
    page.on("console", lambda m: console_errors.append(m.text) if m.type == "error" else None)
    page.goto(server.url)
    page.wait_for_selector("body[data-ready='1']")
    page.fill("#api-key", server.key)
    yield page
    context.close()
    assert outside == [], outside
    assert [e for e in console_errors if "Failed to load resource" not in e] == []


def _predict_example(page, name=TYPICAL):
    page.select_option("#example", name)
    page.click("#load-example")
    page.click("#submit")
    page.wait_for_selector("#answer:not([hidden])")


def _assert_chart_not_clipped(page) -> dict:
    chart = page.evaluate(CHART)
    assert chart["shownWidth"] == pytest.approx(chart["width"], abs=1)  # drawn at its size
    assert chart["fontSize"] >= 11
    for t in chart["texts"]:
        assert t["x0"] >= -0.5 and t["x1"] <= chart["width"] + 0.5, t
        assert t["y0"] >= -0.5 and t["y1"] <= chart["height"] + 0.5, t
    return chart


def test_result_in_view_no_overflow_and_chart_not_clipped(page, server):
    _predict_example(page)
    assert page.evaluate(IN_VIEW, "#risk"), "the risk is not in view after Predict"
    assert page.evaluate(OVERFLOW) <= 0
    risk = page.inner_text("#risk")
    assert risk.endswith("%") and 0 < float(risk.rstrip("%")) < 100
    chart = _assert_chart_not_clipped(page)
    texts = [t["text"] for t in chart["texts"]]
    assert "0%" in texts and "Average prediction" in "".join(texts)
    assert chart["classes"][0] == chart["classes"][-1] == "total"
    concordance = page.inner_text("#concordance")
    assert "transforaminal endoscopic discectomy (PELD)" in concordance
    assert "peld_transforaminal" not in concordance
    assert "_" not in page.inner_text("#phenotypes")  # clinical phenotype names, not codes
    assert ">=" not in page.inner_text("#result")  # typography: ≥
    page.screenshot(path=str(ARTIFACTS / f"page_{page.viewport_name}_result.png"))
    page.screenshot(path=str(ARTIFACTS / f"page_{page.viewport_name}_full.png"), full_page=True)
    # from the bottom and from the top of the page, Predict brings the new result into view
    for where in ("document.body.scrollHeight", "0"):
        page.evaluate(f"window.scrollTo(0, {where})")
        page.click("#submit")
        page.wait_for_selector("#answer:not([hidden])")
        assert page.evaluate(IN_VIEW, "#risk"), where


def test_the_api_reference_renders_under_the_policy(page, server):
    page.goto(server.url + "/docs")
    page.wait_for_selector(".op")
    assert page.locator(".op").count() >= 4


def test_procedures_and_levels_show_clinical_names(page):
    options = page.locator("#f-procedure option").all_inner_texts()
    assert "facet (medial branch) radiofrequency ablation" in options
    assert "facet_rfa" not in options
    assert "Modic type 2" in page.locator("#f-modic_type option").all_inner_texts()


@pytest.mark.parametrize("failure", ["502", "not json", "refused"])
def test_a_failed_request_replaces_the_previous_result(page, failure):
    _predict_example(page)

    def fail(route):
        if failure == "refused":
            route.abort("connectionrefused")
        else:
            route.fulfill(status=502 if failure == "502" else 500, body="<html>oops</html>",
                          content_type="text/html")

    page.route("**/v1/predict", fail)
    page.click("#submit")
    page.wait_for_selector("#errors:not([hidden])")
    assert page.locator("#answer").is_hidden()
    text = page.inner_text("#errors")
    expected = {"502": "HTTP 502", "not json": "HTTP 500", "refused": "could not be reached"}
    assert expected[failure] in text and "%" not in text
    assert page.evaluate(IN_VIEW, "#errors")


def test_a_bad_value_is_named_by_its_label_next_to_its_field(page):
    _predict_example(page)
    page.fill("#f-age", "130")
    page.click("#submit")
    page.wait_for_selector("#row-age.bad")
    problem = page.inner_text("#row-age .problem")
    assert problem.startswith("Age at the procedure: out of range") and "18-100" in problem
    assert "null" not in problem and page.locator("#answer").is_hidden()
    page.screenshot(path=str(ARTIFACTS / f"page_{page.viewport_name}_error.png"))


@pytest.mark.parametrize(("field", "value", "issue"), [
    ("age", "", "required, but empty"), ("bmi", "1e309", "not")])
def test_empty_required_fields_and_unreadable_numbers_are_not_sent(page, field, value, issue):
    page.select_option("#example", TYPICAL)
    page.click("#load-example")
    page.fill(f"#f-{field}", value)
    sent = []
    page.on("request", lambda r: sent.append(r.url) if "/v1/predict" in r.url else None)
    page.click("#submit")
    page.wait_for_selector(f"#row-{field}.bad")
    assert issue in page.inner_text(f"#row-{field} .problem")
    assert "Not sent" in page.inner_text("#errors") and sent == []


def test_colours_mean_better_or_worse_for_the_outcome(page, client, server, patient):
    """The same drivers drawn for an outcome where higher is better (pain relief) swap
    colours: a step that raises the prediction is 'better' there, 'worse' for risk."""
    real = client.post("/v1/predict", json={"patient": patient},
                       headers={"X-API-Key": server.key}).json()
    steps = real["explanation"]["steps"]
    raises = [s["risk_after"] > s["risk_before"] for s in steps]
    page.select_option("#example", TYPICAL)
    page.click("#load-example")
    for task, good_when_raised in [("reoperation", False), ("response", True)]:
        page.route("**/v1/predict", _answer_with({**real, "task": task}))
        page.click("#submit")
        page.wait_for_selector("#answer:not([hidden])")
        classes = page.evaluate(CHART)["classes"][1:-1]
        assert classes == ["better" if r == good_when_raised else "worse" for r in raises]
        page.unroute("**/v1/predict")


def _answer_with(body: dict):
    def fulfil(route):
        route.fulfill(status=200, body=json.dumps(body), content_type="application/json")
    return fulfil


def test_red_flags_are_shown_in_red(page):
    page.select_option("#example", TYPICAL)
    page.click("#load-example")
    page.select_option("#f-red_flag_cauda_equina", "1")
    page.click("#submit")
    page.wait_for_selector("#answer:not([hidden])")
    flag = page.locator(".red-flag")
    assert "cauda equina" in flag.inner_text().lower()
    assert flag.evaluate("e => getComputedStyle(e).color") == "rgb(179, 38, 30)"
    assert "research use" in page.inner_text("#result-notice")


def test_imputed_findings_get_their_own_line(page, client, server, patient):
    """An answer from a model developed on multiply imputed data lists the findings it
    imputed (API field ``imputed``); the page names them by their labels."""
    real = client.post("/v1/predict", json={"patient": patient},
                       headers={"X-API-Key": server.key}).json()
    page.select_option("#example", TYPICAL)
    page.click("#load-example")
    page.route("**/v1/predict", _answer_with({**real, "imputed": ["bmi", "modic_type"]}))
    page.click("#submit")
    page.wait_for_selector("#answer:not([hidden])")
    text = page.inner_text("#not-assessed")
    assert ("Not recorded, so imputed for the risk and its range: Body-mass index, Modic "
            "endplate change at the index level") in text
    page.unroute("**/v1/predict")
    page.click("#submit")  # the real model imputes nothing: no such line
    page.wait_for_selector("#answer:not([hidden])")
    assert "imputed" not in page.inner_text("#not-assessed")
