"""The schedules view (#/schedules, #/schedules/<id>) in headless Chromium against a live
test-build daemon with the demo model (the ``lab`` fixture): a schedule created from the page
(refusals shown at the schedule field and at the job field they name), its trend across real
evaluate runs (perplexity and heads per class, as charts and a table) against
GET /schedules/{id}/runs, skipped ticks with their reasons (a tick whose text file was removed
is skipped as an invalid spec), disable / enable, edit and delete.
"""
import os

import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import Select

from test_research_views import active, assert_no_script_errors, js, open_url, screenshot, wait_for

TEXTS = ["The tide came in slowly over the flat grey sand.", "Two herons stood in the shallow water by the reeds."]


def set_value(browser, el_id, value):
    el = browser.find_element(By.ID, el_id)
    if el.tag_name == "select":
        Select(el).select_by_value(value)
    else:
        el.clear()
        el.send_keys(value)


def assert_error_at(browser, el_id, words):
    err = browser.find_element(By.ID, el_id + "-error")
    wait_for(browser, lambda b: err.is_displayed() and words in err.text, "no error at %s (%r)" % (el_id, err.text))
    control = browser.find_element(By.ID, el_id)
    assert control.get_attribute("aria-invalid") == "true"
    assert el_id + "-error" in control.get_attribute("aria-describedby").split()
    assert active(browser).startswith(el_id + "|"), active(browser)


def click_toggle(browser, sid, pressed_before):
    """Clicks the schedule's enable toggle once, checking it read `pressed_before` first. The
    view re-renders as ticks arrive, so a handle can go stale between finding and clicking it:
    wait_for retries on a stale handle, and a stale click never reached the page."""
    def click(b):
        toggle = b.find_element(By.ID, "sched-enabled-%d" % sid)
        assert toggle.get_attribute("aria-pressed") == pressed_before
        toggle.click()
        return True
    wait_for(browser, click, "could not click the toggle of schedule %d" % sid)


def page_ticks(browser):
    return js(browser, """return [...document.querySelectorAll('#sched-ticks tbody tr')].map(tr => ({
        tick: tr.dataset.tick, run: tr.dataset.run, cells: [...tr.querySelectorAll('td')].map(td => td.textContent)}))""")


def axe_ok(browser, what):
    try:
        from axe_selenium_python import Axe
    except ImportError:
        return False
    axe = Axe(browser)
    axe.inject()
    bad = [(v["id"], v["impact"], v["help"], [n["target"] for n in v["nodes"]][:3])
           for v in axe.run()["violations"] if v["impact"] in ("serious", "critical")]
    assert not bad, "%s: %s" % (what, bad)
    return True


def test_schedule_created_from_the_page_its_trend_skips_edit_and_delete(lab, browser):
    text_file = os.path.join(lab.corpus_root, "sched.txt")
    with open(text_file, "w", encoding="utf-8") as f:
        f.write("\n".join(TEXTS) + "\n")
    open_url(browser, lab, "")
    browser.find_element(By.ID, "nav-schedules").click()
    wait_for(browser, lambda b: "No schedules yet" in b.find_element(By.ID, "schedules-table").text, "empty list not shown")
    wait_for(browser, lambda b: b.find_elements(By.ID, "sched-job-f-model"), "the schedule form never appeared")
    assert Select(browser.find_element(By.ID, "sched-kind")).first_selected_option.get_attribute("value") == "evaluate"
    set_value(browser, "sched-name", "tide watch")
    set_value(browser, "sched-cron", "every second")
    set_value(browser, "sched-job-f-model", "demo")
    browser.find_element(By.CSS_SELECTOR, "#sched-form details.more-options summary").click()
    set_value(browser, "sched-job-f-text_file", "sched.txt")
    set_value(browser, "sched-job-f-diagnose", "true")
    # A malformed cron is refused at the cron box; a job field at the job's control.
    browser.find_element(By.ID, "sched-save").click()
    assert_error_at(browser, "sched-cron", "cron")
    set_value(browser, "sched-cron", "@every 1s")
    set_value(browser, "sched-job-f-model", "no-such-model")
    browser.find_element(By.ID, "sched-save").click()
    assert_error_at(browser, "sched-job-f-model", "not found")
    assert browser.find_element(By.ID, "sched-cron").get_attribute("aria-invalid") is None
    assert lab.get("/api/v1/schedules").json()["schedules"] == []
    set_value(browser, "sched-job-f-model", "demo")
    browser.find_element(By.ID, "sched-save").click()
    wait_for(browser, lambda b: js(b, "return /^#\\/schedules\\/\\d+$/.test(location.hash)"), "the new schedule was not opened")
    sid = int(js(browser, "return location.hash").rsplit("/", 1)[1])
    s = lab.get("/api/v1/schedules/%d" % sid).json()
    assert s["name"] == "tide watch" and s["cron"] == "@every 1s" and s["enabled"] is True
    assert s["job"] == {"kind": "evaluate", "model": "demo", "text_file": "sched.txt", "diagnose": True}
    assert browser.find_element(By.ID, "nav-schedules").get_attribute("aria-current") == "page"

    # Ticks fire real evaluate runs; then the text file goes and the next ticks are skipped.
    def fired(n):
        runs = [f["run"] for f in lab.get("/api/v1/schedules/%d/runs" % sid).json()["firings"] if f["run"]]
        return len(runs) >= n and all(r["state"] == "succeeded" for r in runs[:n])
    lab.wait_until(lambda: fired(2), timeout=120)
    os.remove(text_file)
    lab.wait_until(lambda: any("invalid job spec" in (f["reason"] or "") for f in
                               lab.get("/api/v1/schedules/%d/runs" % sid).json()["firings"]), timeout=60)
    click_toggle(browser, sid, "true")
    wait_for(browser, lambda b: b.find_element(By.ID, "sched-enabled-%d" % sid).get_attribute("aria-pressed") == "false",
             "disable not shown")
    assert lab.get("/api/v1/schedules/%d" % sid).json()["enabled"] is False
    firings = lab.get("/api/v1/schedules/%d/runs" % sid).json()["firings"]
    for f in firings:
        if f["run"]:
            lab.wait_job(f["run"]["id"], timeout=120)
    firings = lab.get("/api/v1/schedules/%d/runs" % sid).json()["firings"]
    runs = [f["run"] for f in firings if f["run"]]
    # The page follows: every tick in order, runs with their numbers, skips with their reasons.
    wait_for(browser, lambda b: [(t["tick"], t["run"]) for t in page_ticks(b)] ==
             [(f["scheduled_for"], str(f["run"]["id"]) if f["run"] else "") for f in firings] and
             all(t["cells"][1] == "succeeded" for t in page_ticks(b) if t["run"]),
             "tick table differs from the API's firings", timeout=30)
    for t, f in zip(page_ticks(browser), firings):
        if f["run"]:
            assert float(t["cells"][2]) == pytest.approx(f["run"]["ppl"], rel=1e-4)
            assert [int(x) for x in t["cells"][3:7]] == [f["run"][k] for k in ("healthy", "bos_sink", "dead", "low_entropy")]
        else:
            assert t["cells"][0] == "skipped" and t["cells"][7] == f["reason"]
    skipped = js(browser, "return [...document.querySelectorAll('#sched-skipped li')].map(li => li.textContent)")
    want = [f["reason"] for f in firings if f["skipped"]]
    assert len(skipped) == len(want) and all(r in s for r, s in zip(want, skipped))
    assert any("invalid job spec" in s for s in skipped)
    ppl = js(browser, "return Chart.getChart(document.querySelector('#sched-ppl-chart canvas')).data.datasets[0].data")
    assert ppl == pytest.approx([r["ppl"] for r in runs])
    dead = js(browser, "return Chart.getChart(document.querySelector('#sched-class-chart canvas')).data.datasets[2].data")
    assert dead == [r["dead"] for r in runs]
    screenshot(browser, "schedule-trend.png")
    axe_ok(browser, "schedule view")

    # Edit: a new cron and name; enable again from the toggle.
    set_value(browser, "sched-name", "tide watch daily")
    set_value(browser, "sched-cron", "@daily")
    browser.find_element(By.ID, "sched-save").click()
    # The stored job names the removed file: the edit is refused at that field until it is back.
    assert_error_at(browser, "sched-job-f-text_file", "sched.txt")
    assert lab.get("/api/v1/schedules/%d" % sid).json()["cron"] == "@every 1s"
    with open(text_file, "w", encoding="utf-8") as f:
        f.write("\n".join(TEXTS) + "\n")
    browser.find_element(By.ID, "sched-save").click()
    wait_for(browser, lambda b: "saved" in b.find_element(By.ID, "sched-form-status").text, "edit not saved")
    s = lab.get("/api/v1/schedules/%d" % sid).json()
    assert (s["name"], s["cron"], s["enabled"]) == ("tide watch daily", "@daily", False)
    click_toggle(browser, sid, "false")
    wait_for(browser, lambda b: b.find_element(By.ID, "sched-enabled-%d" % sid).get_attribute("aria-pressed") == "true",
             "enable not shown")
    assert lab.get("/api/v1/schedules/%d" % sid).json()["enabled"] is True

    # The list shows it; delete asks twice, then it is gone (its runs stay).
    open_url(browser, lab, "#/schedules")
    wait_for(browser, lambda b: b.find_elements(By.CSS_SELECTOR, 'tr[data-schedule-id="%d"]' % sid), "list misses it")
    axe_ok(browser, "schedules list")
    browser.find_element(By.CSS_SELECTOR, 'tr[data-schedule-id="%d"] a.sched-link' % sid).click()
    delete = wait_for(browser, lambda b: b.find_element(By.ID, "sched-delete"), "no delete button")
    delete.click()
    assert lab.get("/api/v1/schedules/%d" % sid).status_code == 200
    browser.find_element(By.ID, "sched-delete").click()
    wait_for(browser, lambda b: js(b, "return location.hash") == "#/schedules", "delete did not go back to the list")
    assert lab.get("/api/v1/schedules/%d" % sid).status_code == 404
    assert lab.get("/api/v1/runs/%d" % runs[0]["id"]).status_code == 200
    assert_no_script_errors(browser)
