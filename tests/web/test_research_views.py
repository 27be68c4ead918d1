"""The research views (runs table, run view, compare view) in headless Chromium against a live
test-build daemon holding real runs of the demo model (the ``lab`` fixture: a diagnosis, an
evaluation with a diagnosis, a surgery that wakes the planted heads, and a test job).

Every check compares the page with the daemon's own API answers. Waits are explicit conditions,
never fixed sleeps. Screenshots of the run and compare views are written under
build/web-screenshots/ for a reviewer.
"""
import csv
import io
import os
import re

import pytest
from selenium.common.exceptions import StaleElementReferenceException, TimeoutException
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support.ui import Select, WebDriverWait

from conftest import SCREENSHOT_DIR

WAIT_S = 20
CLASSES = ["healthy", "low-entropy", "bos-sink", "dead"]


# ---- helpers --------------------------------------------------------------------------------
def wait_for(browser, predicate, message, timeout=WAIT_S):
    def check(b):
        try:
            return predicate(b)
        except StaleElementReferenceException:
            return False
    try:
        return WebDriverWait(browser, timeout, poll_frequency=0.1).until(check)
    except TimeoutException:
        raise AssertionError(message) from None


def js(browser, script, *args):
    return browser.execute_script(script, *args)


def open_url(browser, lab, fragment):
    browser.get(lab.url + "/" + fragment)
    wait_for(browser, lambda b: b.find_element(By.ID, "conn").text == "live", "page never reached the daemon")


def shown_run_ids(browser):
    return js(browser, "return [...document.querySelectorAll('#runs-table tbody tr[data-run-id]')]"
                       ".map(tr => Number(tr.dataset.runId))")


def api_run_ids(lab, query=""):
    r = lab.get("/api/v1/runs" + query)
    assert r.status_code == 200, r.text
    return [x["id"] for x in r.json()["runs"]]


def wait_rows(browser, expected, what):
    try:
        wait_for(browser, lambda b: shown_run_ids(b) == expected, "")
    except AssertionError:
        raise AssertionError("%s: table shows %s, API says %s" % (what, shown_run_ids(browser), expected)) from None


def route_params(browser):
    """The query of the URL hash as a dict of lists."""
    frag = js(browser, "return location.hash")
    m = re.match(r"#/[a-z]+(?:/[^?]*)?(?:\?(.*))?$", frag)
    assert m, frag
    out = {}
    for k, v in re.findall(r"([^&=]+)=([^&]*)", m.group(1) or ""):
        out.setdefault(k, []).append(v)
    return out


def class_map(browser, map_id):
    """{(layer, head): class} of a class map, read from its cells."""
    cells = js(browser, "return [...document.querySelectorAll('#' + arguments[0] + ' .map-grid .cell')]"
                        ".map(c => [Number(c.dataset.layer), Number(c.dataset.head), c.dataset.class, c.textContent])",
               map_id)
    return {(l, h): (c, glyph) for l, h, c, glyph in cells}


def transition_matrix(browser):
    return js(browser, """
        const out = {};
        for (const tr of document.querySelectorAll('#transitions tbody tr')) {
          out[tr.dataset.from] = {};
          for (const td of tr.querySelectorAll('td')) out[tr.dataset.from][td.dataset.to] = Number(td.textContent);
        }
        return out;""")


def screenshot(browser, name):
    os.makedirs(SCREENSHOT_DIR, exist_ok=True)
    height = js(browser, "const v = document.getElementById('research-view'); v.scrollTop = 0; return v.scrollHeight + v.getBoundingClientRect().top + 160")
    browser.set_window_size(1400, max(900, min(height, 4000)))
    path = os.path.join(SCREENSHOT_DIR, name)
    assert browser.save_screenshot(path), path
    browser.set_window_size(1400, 900)
    return path


def assert_no_script_errors(browser):
    errors = [e["message"] for e in browser.get_log("browser")
              if e["level"] == "SEVERE" and re.search(r"Uncaught|Error:|is not (a function|defined)", e["message"])]
    assert not errors, "script errors on the page: %s" % errors


def wait_compare(browser):
    wait_for(browser, lambda b: b.find_elements(By.CSS_SELECTOR, "#transitions tbody tr"),
             "compare view never showed its transition matrix (status: %r)"
             % js(browser, "const s = document.getElementById('cmp-status'); return s && s.textContent"))


def check_compare_against_api(browser, lab, a, b, drift=None):
    params = {"a": a, "b": b}
    if drift is not None:
        params["drift"] = drift
    r = lab.get("/api/v1/compare", params=params)
    assert r.status_code == 200, r.text
    want = r.json()
    wait_compare(browser)
    assert transition_matrix(browser) == want["transitions"]
    assert int(browser.find_element(By.ID, "woken-count").text) == len(want["woken"])
    assert int(browser.find_element(By.ID, "newly-sick-count").text) == len(want["newly_sick"])
    assert int(browser.find_element(By.ID, "drift-in-count").text) == len(want["drifters"]["in_zone"])
    assert int(browser.find_element(By.ID, "drift-out-count").text) == len(want["drifters"]["out_of_zone"])
    woken = js(browser, "return [...document.querySelectorAll('#woken li')].map(li => li.textContent)")
    assert woken == ["L%d H%d" % (x["layer"], x["head"]) for x in want["woken"]]
    a_map, b_map = class_map(browser, "map-a"), class_map(browser, "map-b")
    for row in want["heads"]:
        key = (row["layer"], row["head"])
        assert a_map[key][0] == row["class_a"] and b_map[key][0] == row["class_b"], key
    delta = want["perplexity"]["delta"]
    if delta is not None:
        shown = float(browser.find_element(By.ID, "ppl-delta").text.replace("+", ""))
        assert shown == pytest.approx(delta, rel=1e-3)
    return want


# ---- the runs table -------------------------------------------------------------------------
def test_runs_table_by_click_and_url_with_filters_sorting_paging_and_csv(lab, browser):
    open_url(browser, lab, "")
    browser.find_element(By.ID, "nav-runs").click()
    wait_rows(browser, api_run_ids(lab), "all runs")
    assert browser.find_element(By.ID, "nav-runs").get_attribute("aria-current") == "page"
    assert browser.find_element(By.ID, "jobs-view").get_attribute("hidden") is not None
    # The headline numbers are the API's.
    surgery = [x for x in lab.get("/api/v1/runs").json()["runs"] if x["id"] == lab.runs["surgery"]][0]
    cell = browser.find_element(By.CSS_SELECTOR, 'tr[data-run-id="%d"] .headline-cell' % surgery["id"]).text
    assert "woken %d" % surgery["heads_woken"] in cell and "beats baseline" in cell

    # Each filter changes the rows as the API's filter does, and lands in the URL.
    Select(browser.find_element(By.ID, "runs-kind")).select_by_value("diagnose")
    wait_rows(browser, api_run_ids(lab, "?kind=diagnose"), "kind=diagnose")
    assert route_params(browser)["kind"] == ["diagnose"]
    Select(browser.find_element(By.ID, "runs-kind")).select_by_value("")
    wait_rows(browser, api_run_ids(lab), "kind cleared")

    tag = browser.find_element(By.ID, "runs-tag")
    tag.send_keys("demo", Keys.ENTER)
    wait_rows(browser, api_run_ids(lab, "?tag=demo"), "tag=demo")
    assert len(shown_run_ids(browser)) == 2
    q = browser.find_element(By.ID, "runs-q")
    q.send_keys("EVAL", Keys.ENTER)
    wait_rows(browser, api_run_ids(lab, "?tag=demo&q=EVAL"), "tag=demo&q=EVAL")
    assert shown_run_ids(browser) == [lab.runs["eval"]]
    assert route_params(browser) == {"q": ["EVAL"], "tag": ["demo"]}

    # The view is a link: loading its URL afresh shows the same rows and filled-in controls.
    url = browser.current_url
    browser.get(lab.url + "/")
    browser.get(url)
    wait_rows(browser, [lab.runs["eval"]], "the same view by URL")
    assert browser.find_element(By.ID, "runs-q").get_attribute("value") == "EVAL"
    assert browser.find_element(By.ID, "runs-tag").get_attribute("value") == "demo"
    # The CSV link asks for the same view.
    href = browser.find_element(By.ID, "runs-csv").get_attribute("href")
    r = lab.get(href[len(lab.url):])
    assert r.status_code == 200 and r.headers["Content-Type"].startswith("text/csv"), r.text
    assert [int(x["id"]) for x in csv.DictReader(io.StringIO(r.text))] == [lab.runs["eval"]]

    # State and model filters, by URL.
    open_url(browser, lab, "#/runs?state=succeeded&model=dem*&kind=surgery")
    wait_rows(browser, api_run_ids(lab, "?state=succeeded&model=dem*&kind=surgery"), "state+model+kind")
    assert Select(browser.find_element(By.ID, "runs-state")).first_selected_option.get_attribute("value") == "succeeded"
    # A time range that excludes everything (runs were created before "until").
    open_url(browser, lab, "#/runs?until=2000-01-01T00:00:00Z")
    wait_for(browser, lambda b: "No runs match" in b.find_element(By.ID, "runs-table").text, "until filter ignored")
    open_url(browser, lab, "#/runs?range=1h")
    wait_rows(browser, api_run_ids(lab), "last hour")
    # An explicit window: since = the surgery's creation time leaves out the runs before it.
    since = surgery["created_at"]
    open_url(browser, lab, "#/runs?since=" + since)
    wait_rows(browser, api_run_ids(lab, "?since=" + since), "since the surgery")
    assert lab.runs["diag"] not in shown_run_ids(browser)
    assert browser.find_element(By.ID, "runs-since").get_attribute("value") != ""

    # Sorting by the API's orders.
    open_url(browser, lab, "#/runs")
    wait_rows(browser, api_run_ids(lab), "default order")
    browser.find_element(By.ID, "sort-created").click()
    wait_rows(browser, api_run_ids(lab, "?order=created"), "oldest first")
    assert browser.find_element(By.ID, "sort-created").find_element(By.XPATH, "..").get_attribute("aria-sort") == "ascending"
    browser.find_element(By.ID, "sort-ppl").click()
    wait_rows(browser, api_run_ids(lab, "?order=ppl"), "lowest perplexity first")
    assert route_params(browser)["order"] == ["ppl"]

    # Paging with limit/before.
    open_url(browser, lab, "#/runs?limit=2")
    first = api_run_ids(lab, "?limit=2")
    wait_rows(browser, first, "first page")
    browser.find_element(By.ID, "runs-older").click()
    wait_rows(browser, api_run_ids(lab, "?limit=2&before=%d" % first[-1]), "second page")
    assert route_params(browser)["before"] == [str(first[-1])]
    assert route_params(browser)["limit"] == ["2"]
    browser.find_element(By.ID, "runs-first").click()
    wait_rows(browser, first, "back to the first page")
    assert_no_script_errors(browser)


def test_rename_tag_and_note_in_place(lab, browser):
    rid = lab.runs["steps"]
    open_url(browser, lab, "#/runs")
    wait_for(browser, lambda b: rid in shown_run_ids(b), "test run not listed")
    browser.find_element(By.CSS_SELECTOR, 'tr[data-run-id="%d"] button.edit' % rid).click()
    name = wait_for(browser, lambda b: b.find_element(By.ID, "edit-name"), "editor never opened")
    assert name.get_attribute("value") == "a test job"
    name.clear()
    name.send_keys("renamed in place")
    browser.find_element(By.ID, "edit-tags").send_keys("smoke checked")
    browser.find_element(By.ID, "edit-notes").send_keys("edited from the dashboard")
    browser.find_element(By.CSS_SELECTOR, ".editor button[type=submit]").click()
    wait_for(browser, lambda b: b.find_element(By.CSS_SELECTOR, 'tr[data-run-id="%d"] td.name' % rid).text
             == "renamed in place", "row never showed the new name")
    run = lab.get("/api/v1/runs/%d" % rid).json()
    assert run["name"] == "renamed in place"
    assert sorted(run["tags"]) == ["checked", "smoke"]
    assert run["notes"] == "edited from the dashboard"
    tags = js(browser, "return [...document.querySelectorAll('tr[data-run-id=\"%d\"] .tag')].map(t => t.textContent)" % rid)
    assert sorted(tags) == ["checked", "smoke"]
    # A refused change (a name another run has) is shown, and nothing changes.
    browser.find_element(By.CSS_SELECTOR, 'tr[data-run-id="%d"] button.edit' % rid).click()
    name = wait_for(browser, lambda b: b.find_element(By.ID, "edit-name"), "editor never opened again")
    name.clear()
    name.send_keys("demo baseline")
    browser.find_element(By.CSS_SELECTOR, ".editor button[type=submit]").click()
    wait_for(browser, lambda b: "conflict" in b.find_element(By.CSS_SELECTOR, ".editor [role=alert]").text,
             "a refused rename was not reported")
    assert lab.get("/api/v1/runs/%d" % rid).json()["name"] == "renamed in place"
    assert_no_script_errors(browser)


# ---- the run view ---------------------------------------------------------------------------
def test_run_view_of_a_diagnosis_by_click(lab, browser):
    rid = lab.runs["diag"]
    open_url(browser, lab, "#/runs")
    wait_for(browser, lambda b: rid in shown_run_ids(b), "diagnosis not listed")
    browser.find_element(By.CSS_SELECTOR, 'tr[data-run-id="%d"] a.run-link' % rid).click()
    wait_for(browser, lambda b: b.find_elements(By.CSS_SELECTOR, "#map-class .cell"), "class map never drawn")
    assert js(browser, "return location.hash") == "#/run/%d" % rid
    heads = lab.get("/api/v1/runs/%d/heads" % rid).json()["heads"]
    shown = class_map(browser, "map-class")
    assert len(shown) == len(heads) == 32
    glyph_of = {}
    for h in heads:
        cls, glyph = shown[(h["layer"], h["head"])]
        assert cls == h["class"]
        glyph_of.setdefault(cls, set()).add(glyph)
    # Each class has its own glyph (not colour alone).
    assert all(len(g) == 1 for g in glyph_of.values())
    assert len({next(iter(g)) for g in glyph_of.values()}) == len(glyph_of) >= 3

    # The table view is the heatmap's text alternative: same numbers, aria-pressed toggle.
    toggle = browser.find_element(By.CSS_SELECTOR, "#map-bos figcaption button")
    assert toggle.get_attribute("aria-pressed") == "false"
    toggle.click()
    assert toggle.get_attribute("aria-pressed") == "true"
    table = browser.find_element(By.CSS_SELECTOR, "#map-bos .map-table table")
    assert table.is_displayed()
    assert not browser.find_element(By.CSS_SELECTOR, "#map-bos .map-grid").is_displayed()
    cells = js(browser, "return [...arguments[0].querySelectorAll('tbody tr')].map(tr => "
                        "[...tr.querySelectorAll('td')].map(td => Number(td.textContent)))", table)
    for h in heads:
        assert cells[h["layer"]][h["head"]] == pytest.approx(h["bos_mass"], rel=1e-3, abs=1e-6)
    toggle.click()
    assert toggle.get_attribute("aria-pressed") == "false"
    for map_id in ("map-entropy", "map-local"):
        assert len(browser.find_elements(By.CSS_SELECTOR, "#%s .map-grid .cell" % map_id)) == 32
    # Histogram of BOS mass: every head counted once, in its bin.
    counts = js(browser, "return [...document.querySelectorAll('#hist-bos .hbar')].map(b => Number(b.dataset.count))")
    want = [0] * 10
    for h in heads:
        want[min(9, int(h["bos_mass"] * 10))] += 1
    assert counts == want
    # Sick band per head index with slopes: the diagnosis result's head_bands.
    bands = lab.get("/api/v1/runs/%d" % rid).json()["result"]["head_bands"]
    rows = js(browser, "return [...document.querySelectorAll('#sick-band tbody tr')].map(tr => "
                       "[...tr.children].slice(0, 3).map(c => c.textContent))")
    assert [(int(r[0]), float(r[1]), int(r[2].split("/")[0])) for r in rows] == \
        [(b["head"], pytest.approx(b["slope"], rel=1e-3), b["sick_layers"]) for b in bands]
    assert_no_script_errors(browser)


def test_run_view_of_a_surgery_by_url(lab, browser):
    rid = lab.runs["surgery"]
    open_url(browser, lab, "#/run/%d" % rid)
    wait_for(browser, lambda b: b.find_elements(By.CSS_SELECTOR, "#checkpoints tbody tr"), "checkpoint table never drawn")
    run = lab.get("/api/v1/runs/%d" % rid).json()
    result = run["result"]
    ckpts = lab.get("/api/v1/runs/%d/checkpoints" % rid).json()["checkpoints"]
    rows = js(browser, "return [...document.querySelectorAll('#checkpoints tbody tr')].map(tr => ({"
                       "name: tr.dataset.checkpoint, ppl: tr.querySelector('.ppl').textContent,"
                       "woken: tr.querySelector('.woken').textContent, best: tr.querySelector('.best-cell').textContent,"
                       "improves: tr.querySelector('.improves').textContent}))")
    assert [r["name"] for r in rows] == [c["name"] for c in ckpts]
    for r, c in zip(rows, ckpts):
        assert float(r["ppl"]) == pytest.approx(c["ppl"], rel=1e-4)
        assert int(r["woken"]) == c["woken"]
        assert ("best" in r["best"]) == c["best"]
        assert r["improves"] == ("yes" if c["ppl"] < result["baseline_ppl"] else "no")
    assert float(browser.find_element(By.ID, "baseline-ppl").text) == pytest.approx(result["baseline_ppl"], rel=1e-4)
    # The heads of the last checkpoint are shown; "start" is one choice away.
    sel = Select(browser.find_element(By.ID, "run-checkpoint"))
    names = [o.get_attribute("value") for o in sel.options]
    assert names[0] == "start" and names[-1] == ckpts[-1]["name"]
    sel.select_by_value("start")
    start = {(h["layer"], h["head"]): h["class"] for h in
             lab.get("/api/v1/runs/%d/heads?checkpoint=start" % rid).json()["heads"]}
    wait_for(browser, lambda b: {k: v[0] for k, v in class_map(b, "map-class").items()} == start,
             "start's class map not shown")
    assert "checkpoint=start" in js(browser, "return location.hash")
    # Curves: loss, lr, perplexity, woken; smoothing and log scale.
    wait_for(browser, lambda b: len(b.find_elements(By.CSS_SELECTOR, ".curve-card")) == 4, "curves missing")
    assert js(browser, "return [...document.querySelectorAll('.curve-card')].map(c => c.dataset.curve)") == \
        ["loss", "lr", "ppl", "woken"]
    log = browser.find_element(By.ID, "curve-log")
    log.click()
    assert log.get_attribute("aria-pressed") == "true"
    assert js(browser, "return Chart.getChart(document.querySelector('[data-curve=loss] canvas')).options.scales.y.type") == "logarithmic"
    slider = browser.find_element(By.ID, "curve-smoothing")
    js(browser, "arguments[0].value = 0.9; arguments[0].dispatchEvent(new Event('input'))", slider)
    raw = [p["value"] for p in lab.get("/api/v1/runs/%d/curves?name=loss" % rid).json()["points"]]
    drawn = js(browser, "return Chart.getChart(document.querySelector('[data-curve=loss] canvas')).data.datasets[0].data.map(p => p.y)")
    assert drawn[0] == pytest.approx(raw[0]) and len(drawn) == len(raw)
    assert max(drawn) - min(drawn) < max(raw) - min(raw)  # smoothed
    # per-checkpoint ppl and the step_ppl points (eval_every_steps) on one chart, by step, as recorded
    ppl = [(p["step"], p["value"]) for name in ("ppl", "step_ppl")
           for p in lab.get("/api/v1/runs/%d/curves?name=%s" % (rid, name)).json()["points"]]
    assert any(step % 3 == 0 and step > 0 for step, _ in ppl)
    assert js(browser, "return Chart.getChart(document.querySelector('[data-curve=ppl] canvas'))"
                       ".data.datasets[0].data.map(p => p.y)") == [v for _, v in sorted(ppl, key=lambda p: p[0])]
    log.click()
    path = screenshot(browser, "run-view-surgery.png")
    assert os.path.getsize(path) > 0
    open_url(browser, lab, "#/run/%d" % lab.runs["diag"])
    wait_for(browser, lambda b: b.find_elements(By.CSS_SELECTOR, "#sick-band tbody tr"), "sick band missing")
    screenshot(browser, "run-view-diagnosis.png")
    assert_no_script_errors(browser)


# ---- the compare view -----------------------------------------------------------------------
def test_compare_from_the_runs_table_the_surgery_and_by_url(lab, browser):
    diag, ev, sid = lab.runs["diag"], lab.runs["eval"], lab.runs["surgery"]
    # From the runs table: tick two runs.
    open_url(browser, lab, "#/runs")
    wait_for(browser, lambda b: diag in shown_run_ids(b), "runs not listed")
    button = browser.find_element(By.ID, "runs-compare")
    assert not button.is_enabled()
    for rid in (diag, ev):
        browser.find_element(By.CSS_SELECTOR, 'tr[data-run-id="%d"] input.pick' % rid).click()
    assert button.is_enabled()
    button.click()
    wait_compare(browser)
    params = route_params(browser)
    assert sorted(params["a"] + params["b"]) == sorted([str(diag), str(ev)])
    check_compare_against_api(browser, lab, params["a"][0], params["b"][0])

    # From a surgery run: baseline vs best in one click.
    open_url(browser, lab, "#/run/%d" % sid)
    link = wait_for(browser, lambda b: b.find_element(By.ID, "baseline-vs-best"), "no baseline-vs-best link")
    link.click()
    best = lab.get("/api/v1/runs/%d" % sid).json()["result"]["best_checkpoint"]
    wait_for(browser, lambda b: route_params(b).get("b") == ["%d%%2F%s" % (sid, best)]
             or route_params(b).get("b") == ["%d/%s" % (sid, best)], "baseline vs best URL wrong")
    want = check_compare_against_api(browser, lab, "%d/start" % sid, "%d/%s" % (sid, best))
    assert len(want["woken"]) == 5  # the planted heads
    path = screenshot(browser, "compare-view-surgery.png")
    assert os.path.getsize(path) > 0

    # By URL, with a drift threshold; and a refused side is reported, not drawn.
    open_url(browser, lab, "#/compare?a=%d/start&b=%d/%s&drift=0" % (sid, sid, best))
    r = check_compare_against_api(browser, lab, "%d/start" % sid, "%d/%s" % (sid, best), drift=0)
    assert r["drifters"]["out_of_zone"], "drift=0 should make every changed healthy head a drifter"
    open_url(browser, lab, "#/compare?a=%d&b=%d" % (sid, diag))
    wait_for(browser, lambda b: "cannot compare" in b.find_element(By.ID, "cmp-status").text,
             "a refused comparison was not reported")
    assert not browser.find_elements(By.CSS_SELECTOR, "#transitions")
    # The form: side A corrected and submitted with Enter; the focus stays in the form.
    side_a = browser.find_element(By.ID, "cmp-a")
    side_a.clear()
    side_a.send_keys(str(ev), Keys.ENTER)
    check_compare_against_api(browser, lab, str(ev), str(diag))
    assert js(browser, "return document.activeElement.id") == "cmp-a"
    assert route_params(browser)["a"] == [str(ev)]
    assert_no_script_errors(browser)


# ---- keyboard and accessibility -------------------------------------------------------------
def active(browser):
    return js(browser, "const e = document.activeElement; return e ? (e.id || '') + '|' + e.tagName + '|' + "
                       "(e.getAttribute('aria-label') || e.textContent || '').trim().slice(0, 60) : ''")


def tab_to(browser, predicate, what, limit=80):
    seen = []
    for _ in range(limit):
        browser.switch_to.active_element.send_keys(Keys.TAB)
        a = active(browser)
        seen.append(a)
        if predicate(a):
            return a
    raise AssertionError("Tab never reached %s; went through %s" % (what, seen))


def test_keyboard_only_walk_through_the_runs_table(lab, browser):
    diag, ev = lab.runs["diag"], lab.runs["eval"]
    open_url(browser, lab, "")
    # From the top of the page: Tab to the navigation, Enter opens the runs table.
    tab_to(browser, lambda a: a.startswith("nav-runs|"), "the Runs link")
    browser.switch_to.active_element.send_keys(Keys.ENTER)
    wait_for(browser, lambda b: diag in shown_run_ids(b), "runs table not shown by keyboard")
    # The search box, typed into; Enter applies it.
    tab_to(browser, lambda a: a.startswith("runs-q|"), "the search box")
    browser.switch_to.active_element.send_keys("demo", Keys.ENTER)
    wait_rows(browser, api_run_ids(lab, "?q=demo"), "search by keyboard")
    # The kind filter, changed with the arrow keys.
    tab_to(browser, lambda a: a.startswith("runs-kind|"), "the kind filter")
    # Sort header, then the row controls: tick two runs with Space.
    tab_to(browser, lambda a: a.startswith("sort-created|"), "the age sort button")
    browser.switch_to.active_element.send_keys(Keys.ENTER)
    wait_rows(browser, api_run_ids(lab, "?q=demo&order=created"), "sort by keyboard")
    for rid in (diag, ev):
        tab_to(browser, lambda a, rid=rid: "select run %d for comparison" % rid in a, "run %d's checkbox" % rid)
        browser.switch_to.active_element.send_keys(Keys.SPACE)
    # Edit opens with the keyboard and Escape closes it, focus back on its button.
    tab_to(browser, lambda a: "edit name, tags and notes of run %d" % ev in a, "the edit button")
    browser.switch_to.active_element.send_keys(Keys.ENTER)
    wait_for(browser, lambda b: active(b).startswith("edit-name|"), "editor did not take the focus")
    browser.switch_to.active_element.send_keys(Keys.ESCAPE)
    wait_for(browser, lambda b: "edit name, tags and notes of run %d" % ev in active(b), "focus lost after Escape")
    # Back up to the compare button (Shift+Tab) and open the comparison.
    for _ in range(80):
        browser.switch_to.active_element.send_keys(Keys.SHIFT, Keys.TAB)
        if active(browser).startswith("runs-compare|"):
            break
    else:
        raise AssertionError("Shift+Tab never reached the compare button")
    browser.switch_to.active_element.send_keys(Keys.ENTER)
    wait_compare(browser)
    params = route_params(browser)
    assert sorted(params["a"] + params["b"]) == sorted([str(diag), str(ev)])
    # The new view's heading has the focus.
    assert active(browser).split("|")[1] == "H2"
    assert_no_script_errors(browser)


def test_landmarks_live_regions_and_axe(lab, browser):
    sid = lab.runs["surgery"]
    best = lab.get("/api/v1/runs/%d" % sid).json()["result"]["best_checkpoint"]
    views = {"runs": ("#/runs", "#runs-table tbody tr"),
             "run": ("#/run/%d" % sid, "#checkpoints tbody tr"),
             "compare": ("#/compare?a=%d/start&b=%d/%s" % (sid, sid, best), "#transitions tbody tr")}
    try:
        from axe_selenium_python import Axe
    except ImportError:
        Axe = None
    for name, (frag, ready) in views.items():
        open_url(browser, lab, frag)
        wait_for(browser, lambda b: b.find_elements(By.CSS_SELECTOR, ready), "%s view not drawn" % name)
        assert len(browser.find_elements(By.TAG_NAME, "h1")) == 1
        assert len(browser.find_elements(By.CSS_SELECTOR, "main")) == 1
        assert browser.find_elements(By.CSS_SELECTOR, "header"), "no banner landmark"
        assert browser.find_elements(By.CSS_SELECTOR, "nav[aria-label]"), "no navigation landmark"
        assert browser.find_elements(By.CSS_SELECTOR, "#research-view [aria-live]"), "%s: no live region" % name
        # Every heatmap has a table view.
        for fig in browser.find_elements(By.CSS_SELECTOR, "#research-view figure.map"):
            assert fig.find_elements(By.CSS_SELECTOR, "button[aria-pressed] + *, .map-table table")
        if Axe is None:
            continue
        axe = Axe(browser)
        axe.inject()
        results = axe.run()
        bad = [(v["id"], v["impact"], v["help"], [n["target"] for n in v["nodes"]][:3])
               for v in results["violations"] if v["impact"] in ("serious", "critical")]
        assert not bad, "%s view: %s" % (name, bad)
    if Axe is None:
        pytest.skip("axe-selenium-python is not installed: landmarks checked, axe not run")


def test_run_view_from_the_jobs_page(lab, browser):
    rid = lab.runs["diag"]
    open_url(browser, lab, "#job=%d" % rid)
    link = wait_for(browser, lambda b: [e for e in b.find_elements(By.CSS_SELECTOR, ".open-run-view") if e.is_displayed()],
                    "job detail has no link to the run view")[0]
    link.click()
    wait_for(browser, lambda b: b.find_elements(By.CSS_SELECTOR, "#map-class .cell"), "run view not shown")
    assert js(browser, "return location.hash") == "#/run/%d" % rid
    assert browser.find_element(By.ID, "nav-runs").get_attribute("aria-current") == "page"
    # Back to the jobs page by its link.
    browser.find_element(By.ID, "nav-jobs").click()
    wait_for(browser, lambda b: b.find_element(By.ID, "jobs-view").is_displayed(), "jobs page not shown again")
    assert not browser.find_element(By.ID, "research-view").is_displayed()


def test_runs_table_announces_state_changes(lab, browser):
    job = lab.submit({"kind": "test-steps", "steps": 600, "step_ms": 40, "name": "watched run"})["id"]
    try:
        # The run view shows a running run's progress as a progressbar.
        open_url(browser, lab, "#/run/%d" % job)
        bar = wait_for(browser, lambda b: b.find_element(By.CSS_SELECTOR, "#research-view [role=progressbar][aria-valuenow]"),
                       "no progressbar for the running run")
        assert 0 <= int(bar.get_attribute("aria-valuenow")) <= 100
        open_url(browser, lab, "#/runs?kind=test-steps")
        wait_for(browser, lambda b: js(b, "const e = document.querySelector('tr[data-run-id=\"%d\"] .badge');"
                                          "return e && e.textContent" % job) == "running", "run never shown running")
        assert browser.find_element(By.ID, "runs-status").get_attribute("aria-live") == "polite"
    finally:
        assert lab.post("/api/v1/jobs/%d/cancel" % job).status_code in (200, 202)
    lab.wait_job(job)
    wait_for(browser, lambda b: "run #%d cancelled" % job in b.find_element(By.ID, "runs-status").text,
             "the state change was not announced in the live region")
    assert_no_script_errors(browser)
