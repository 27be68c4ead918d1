"""The head view (#/run/<id>/head/<layer>/<head>) in headless Chromium against a live test-build
daemon with real runs of the demo model (the ``lab`` fixture): reached from the maps of the run
and compare views (click, and the table view's links by keyboard) and by URL; its numbers across
a surgery's checkpoints against GET /runs/{id}/heads; the attention pattern of an inspect job
submitted from the page, read by hover, by keyboard and from its table view against
GET /runs/{id}/attention; a refused inspect shown next to the text box. Screenshots of the head
view go under build/web-screenshots/ (the demo model's 4 × 8 heads: the fixtures have no larger
model).
"""
import pytest
from selenium.webdriver.common.action_chains import ActionChains
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support.ui import Select

from test_research_views import (active, assert_no_script_errors, js, open_url, route_params, screenshot,
                                 tab_to, wait_for)

LAYER, HEAD = 1, 6  # a planted collapsed head of the demo model, a surgery target
MY_TEXT = "The fishermen mended their nets while the harbour bell rang twice."


def head_hash(run, layer, head):
    return "#/run/%d/head/%d/%d" % (run, layer, head)


def wait_head_numbers(browser):
    return wait_for(browser, lambda b: b.find_elements(By.CSS_SELECTOR, "#head-numbers tbody tr"),
                    "head view never showed its numbers (status: %r)"
                    % js(browser, "const s = document.getElementById('head-status'); return s && s.textContent"))


def shown_numbers(browser):
    return js(browser, """return [...document.querySelectorAll('#head-numbers tbody tr')].map(tr => ({
        checkpoint: tr.dataset.checkpoint, cls: tr.querySelector('[data-class]').dataset.class,
        bos: Number(tr.querySelector('[data-metric=bos_mass]').textContent),
        entropy: Number(tr.querySelector('[data-metric=entropy]').textContent),
        local: Number(tr.querySelector('[data-metric=local_mass]').textContent)}))""")


def readout(browser):
    return js(browser, "const r = document.getElementById('attn-readout'); return r.dataset.q === undefined ? null :"
                       "[Number(r.dataset.q), Number(r.dataset.k), Number(r.dataset.weight), r.textContent]")


def hover_cell(browser, q, k):
    canvas = browser.find_element(By.ID, "attn-canvas")
    js(browser, "arguments[0].scrollIntoView({block: 'center'})", canvas)
    geo = js(browser, "const c = arguments[0], r = c.getBoundingClientRect(); return [Number(c.dataset.left),"
                      "Number(c.dataset.top), Number(c.dataset.cell), r.width, r.height]", canvas)
    left, top, cell, width, height = geo
    x = left + k * cell + cell / 2
    y = top + q * cell + cell / 2
    ActionChains(browser).move_to_element_with_offset(canvas, int(x - width / 2), int(y - height / 2)).perform()


def test_head_view_from_a_map_numbers_across_checkpoints(lab, browser):
    sid = lab.runs["surgery"]
    open_url(browser, lab, "#/run/%d" % sid)
    # The run view's headline is the run's own summary (GET /runs/{id}).
    summary = lab.get("/api/v1/runs/%d" % sid).json()["summary"]
    wait_for(browser, lambda b: "woken %d" % summary["heads_woken"] in b.find_element(By.CSS_SELECTOR, ".run-head .facts").text,
             "run view headline lacks the summary's woken count")
    cell = wait_for(browser, lambda b: b.find_element(
        By.CSS_SELECTOR, '#map-class .cell[data-layer="%d"][data-head="%d"]' % (LAYER, HEAD)), "class map not drawn")
    cell.click()
    wait_for(browser, lambda b: js(b, "return location.hash") == head_hash(sid, LAYER, HEAD), "a map cell did not open the head view")
    wait_head_numbers(browser)
    assert browser.find_element(By.ID, "nav-runs").get_attribute("aria-current") == "page"
    assert active(browser).split("|")[1] == "H2"
    # One row per checkpoint that has head statistics, in training order, with the API's numbers.
    heads = [r for r in lab.get("/api/v1/runs/%d/heads" % sid).json()["heads"] if (r["layer"], r["head"]) == (LAYER, HEAD)]
    steps = {c["name"]: c["step"] for c in lab.get("/api/v1/runs/%d/checkpoints" % sid).json()["checkpoints"]}
    want = sorted(heads, key=lambda r: -1 if r["checkpoint"] == "start" else steps[r["checkpoint"]])
    shown = shown_numbers(browser)
    assert [r["checkpoint"] for r in shown] == [r["checkpoint"] for r in want]
    assert len(shown) >= 3 and shown[0]["checkpoint"] == "start"
    for s, w in zip(shown, want):
        assert s["cls"] == w["class"]
        assert s["bos"] == pytest.approx(w["bos_mass"], rel=1e-3, abs=1e-9)
        assert s["entropy"] == pytest.approx(w["entropy"], rel=1e-3, abs=1e-9)
        assert s["local"] == pytest.approx(w["local_mass"], rel=1e-3, abs=1e-9)
    # The planted head starts collapsed and is woken by the surgery.
    assert shown[0]["cls"] in ("dead", "bos-sink") and shown[-1]["cls"] == "healthy"
    # The chart draws the same numbers.
    drawn = js(browser, "return Chart.getChart(document.querySelector('#head-chart canvas')).data.datasets.map(d => d.data)")
    assert drawn[0] == pytest.approx([w["bos_mass"] for w in want])
    assert drawn[2] == pytest.approx([w["entropy"] for w in want])
    # Neighbouring heads are one link away.
    browser.find_element(By.CSS_SELECTOR, ".head-nav a[aria-label='layer %d, head %d']" % (LAYER, HEAD + 1)).click()
    wait_for(browser, lambda b: js(b, "return location.hash") == head_hash(sid, LAYER, HEAD + 1), "next head link")
    wait_for(browser, lambda b: "head %d" % (HEAD + 1) in b.find_element(By.ID, "head-title").text, "title not updated")
    assert_no_script_errors(browser)


def test_head_view_from_a_table_view_by_keyboard_and_from_compare(lab, browser):
    diag, sid = lab.runs["diag"], lab.runs["surgery"]
    open_url(browser, lab, "#/run/%d" % diag)
    toggle = wait_for(browser, lambda b: b.find_element(By.CSS_SELECTOR, "#map-bos figcaption button"), "BOS map not drawn")
    toggle.click()
    tab_to(browser, lambda a: "layer 3 head 4:" in a, "the table view's link of L3 H4")
    browser.switch_to.active_element.send_keys(Keys.ENTER)
    wait_for(browser, lambda b: js(b, "return location.hash") == head_hash(diag, 3, 4), "table link did not open the head view")
    shown = wait_head_numbers(browser) and shown_numbers(browser)
    row = [r for r in lab.get("/api/v1/runs/%d/heads" % diag).json()["heads"] if (r["layer"], r["head"]) == (3, 4)][0]
    assert [(s["checkpoint"], s["cls"]) for s in shown] == [("", row["class"])]
    # From the compare view: side B's map opens the head in B's run.
    best = lab.get("/api/v1/runs/%d" % sid).json()["result"]["best_checkpoint"]
    open_url(browser, lab, "#/compare?a=%d&b=%d/%s" % (diag, sid, best))
    wait_for(browser, lambda b: b.find_elements(By.CSS_SELECTOR, "#map-b .cell"), "compare maps not drawn")
    browser.find_element(By.CSS_SELECTOR, '#map-b .cell[data-layer="2"][data-head="6"]').click()
    wait_for(browser, lambda b: js(b, "return location.hash") == head_hash(sid, 2, 6), "compare map did not open the head view")
    wait_head_numbers(browser)
    # An unknown head of a run says so instead of drawing nothing.
    open_url(browser, lab, head_hash(diag, 9, 0))
    wait_for(browser, lambda b: "has no head L9 H0" in b.find_element(By.ID, "head-status").text, "missing head not reported")
    assert_no_script_errors(browser)


def test_inspect_from_the_head_view_hover_keyboard_and_table(lab, browser):
    sid, diag = lab.runs["surgery"], lab.runs["diag"]
    open_url(browser, lab, head_hash(sid, LAYER, HEAD))
    wait_head_numbers(browser)
    # No inspect run of the demo model yet: the page says so and offers the form, prefilled.
    wait_for(browser, lambda b: "No inspect run of demo" in b.find_element(By.ID, "pattern-status").text,
             "missing inspect run not reported (%r)" % browser.find_element(By.ID, "pattern-status").text)
    text = browser.find_element(By.ID, "inspect-text")
    assert text.get_attribute("value").strip()
    # An empty text is refused by the API; the message sits next to the text box.
    text.clear()
    browser.find_element(By.ID, "inspect-submit").click()
    err = wait_for(browser, lambda b: [e for e in b.find_elements(By.ID, "inspect-text-error") if e.is_displayed() and e.text],
                   "refused inspect not shown at the text box")[0]
    assert "text" in err.text
    assert text.get_attribute("aria-invalid") == "true"
    assert "inspect-text-error" in text.get_attribute("aria-describedby").split()
    assert not lab.get("/api/v1/runs?kind=inspect").json()["runs"]
    # Submitted for real: the page polls the job and draws its matrix.
    text.send_keys(MY_TEXT)
    browser.find_element(By.ID, "inspect-submit").click()
    wait_for(browser, lambda b: b.find_elements(By.ID, "attn-canvas"), "attention pattern never drawn (status %r)"
             % js(browser, "return document.getElementById('pattern-status').textContent"), timeout=120)
    assert text.get_attribute("aria-invalid") is None
    runs = lab.get("/api/v1/runs?kind=inspect").json()["runs"]
    assert len(runs) == 1 and runs[0]["state"] == "succeeded"
    iid = runs[0]["id"]
    job = lab.get("/api/v1/runs/%d" % iid).json()
    assert job["spec"]["heads"] == [[LAYER, HEAD]] and job["spec"]["text"] == MY_TEXT and job["spec"]["model"] == "demo"
    assert route_params(browser)["inspect"] == [str(iid)]
    att = lab.get("/api/v1/runs/%d/attention?layer=%d&head=%d" % (iid, LAYER, HEAD)).json()
    probs, T = att["probs"], att["T"]
    tokens = job["result"]["tokens"]
    assert T == len(tokens) > 5
    # Hover reads out the pair and its weight.
    for q, k in ((T - 1, 0), (4, 2), (T // 2, T // 2)):
        hover_cell(browser, q, k)
        wait_for(browser, lambda b, q=q, k=k: (readout(b) or [None])[:2] == [q, k], "hover over (%d, %d) not read out" % (q, k))
        got = readout(browser)
        assert got[2] == pytest.approx(probs[q][k], abs=1e-6)
        assert "query %d" % q in got[3] and "key %d" % k in got[3]
    # Keyboard: focus the matrix and walk it with the arrow keys; the live region follows.
    canvas = browser.find_element(By.ID, "attn-canvas")
    assert canvas.get_attribute("tabindex") == "0"
    assert browser.find_element(By.ID, "attn-readout").get_attribute("aria-live") == "polite"
    js(browser, "arguments[0].focus()", canvas)
    start = readout(browser)[:2]
    canvas.send_keys(Keys.ARROW_UP)
    wait_for(browser, lambda b: readout(b)[:2] == [start[0] - 1, min(start[1], start[0] - 1)], "ArrowUp did not move")
    canvas.send_keys(Keys.HOME)
    q = readout(browser)[0]
    assert readout(browser)[:2] == [q, 0]
    canvas.send_keys(Keys.ARROW_RIGHT, Keys.ARROW_RIGHT)
    wait_for(browser, lambda b: readout(b)[:2] == [q, 2], "ArrowRight did not move")
    assert readout(browser)[2] == pytest.approx(probs[q][2], abs=1e-6)
    # The table view: the same weights as text, aria-pressed toggle.
    toggle = browser.find_element(By.ID, "attn-table-toggle")
    toggle.click()
    assert toggle.get_attribute("aria-pressed") == "true"
    assert not canvas.is_displayed()
    cells = js(browser, "return [...document.querySelectorAll('#attn-table tbody tr')].map(tr => "
                        "[...tr.querySelectorAll('td')].map(td => td.textContent))")
    assert len(cells) == T
    for qq in range(T):
        for kk in range(T):
            if kk <= qq:
                assert float(cells[qq][kk]) == pytest.approx(probs[qq][kk], rel=2e-3, abs=1e-6), (qq, kk)
            else:
                assert cells[qq][kk] == ""
    toggle.click()
    assert canvas.is_displayed()
    screenshot(browser, "head-view-surgery-demo.png")

    # Another run of the same model finds this inspect run by itself: no new job.
    open_url(browser, lab, head_hash(diag, LAYER, HEAD))
    wait_for(browser, lambda b: b.find_elements(By.ID, "attn-canvas"), "existing inspect run not found")
    assert browser.find_element(By.ID, "pattern-status").get_attribute("data-run") == str(iid)
    assert browser.find_element(By.ID, "inspect-source-text").text == MY_TEXT
    assert len(lab.get("/api/v1/runs?kind=inspect").json()["runs"]) == 1
    screenshot(browser, "head-view-diagnosis-demo.png")
    # The inspect run's own view lists its heads; each opens its pattern.
    open_url(browser, lab, "#/run/%d" % iid)
    link = wait_for(browser, lambda b: b.find_element(By.CSS_SELECTOR, "#inspected-heads a"), "inspect run lists no heads")
    assert link.text == "L%d H%d" % (LAYER, HEAD)
    link.click()
    wait_for(browser, lambda b: b.find_elements(By.ID, "attn-canvas"), "pattern not drawn from the inspect run's view")
    assert browser.find_element(By.ID, "pattern-status").get_attribute("data-run") == str(iid)
    # A surgery's checkpoint is another model: nothing inspected there yet.
    open_url(browser, lab, head_hash(sid, LAYER, HEAD))
    wait_head_numbers(browser)
    sel = Select(wait_for(browser, lambda b: b.find_element(By.ID, "head-model"), "no model choice"))
    best = lab.get("/api/v1/runs/%d" % sid).json()["result"]["best_checkpoint"]
    sel.select_by_value("run:%d/%s" % (sid, best))
    wait_for(browser, lambda b: "No inspect run of run:%d/%s" % (sid, best) in b.find_element(By.ID, "pattern-status").text,
             "checkpoint model not looked up on its own")
    assert route_params(browser)["model"] == ["run%%3A%d%%2F%s" % (sid, best)] or \
        route_params(browser)["model"] == ["run:%d/%s" % (sid, best)]
    # Inspected there from the page: the woken head's pattern, drawn from the checkpoint's run.
    browser.find_element(By.ID, "inspect-submit").click()
    wait_for(browser, lambda b: b.find_elements(By.ID, "attn-canvas"), "checkpoint pattern never drawn", timeout=120)
    mine = [r for r in lab.get("/api/v1/runs?kind=inspect&model=run:%d/%s" % (sid, best)).json()["runs"]]
    assert len(mine) == 1 and browser.find_element(By.ID, "pattern-status").get_attribute("data-run") == str(mine[0]["id"])
    screenshot(browser, "head-view-surgery-checkpoint-demo.png")
    assert_no_script_errors(browser)


def test_head_view_landmarks_and_axe(lab, browser):
    sid = lab.runs["surgery"]
    open_url(browser, lab, head_hash(sid, LAYER, HEAD))
    wait_head_numbers(browser)
    wait_for(browser, lambda b: b.find_elements(By.ID, "attn-canvas"), "the pattern (inspected above) not drawn")
    assert len(browser.find_elements(By.TAG_NAME, "h1")) == 1
    assert len(browser.find_elements(By.CSS_SELECTOR, "main")) == 1
    assert browser.find_elements(By.CSS_SELECTOR, "#research-view [aria-live]")
    try:
        from axe_selenium_python import Axe
    except ImportError:
        pytest.skip("axe-selenium-python is not installed: landmarks checked, axe not run")
    axe = Axe(browser)
    axe.inject()
    bad = [(v["id"], v["impact"], v["help"], [n["target"] for n in v["nodes"]][:3])
           for v in axe.run()["violations"] if v["impact"] in ("serious", "critical")]
    assert not bad, bad


def test_head_view_follows_an_inspect_job_already_queued_for_the_head(lab, browser):
    """An inspect job for this head that is still queued is followed, not submitted again."""
    layer, head = 0, 1
    assert lab.post("/api/v1/queue/pause").status_code == 200
    try:
        job = lab.submit({"kind": "inspect", "model": "demo", "text": MY_TEXT, "heads": [[layer, head]]})
        assert lab.get("/api/v1/jobs/%d" % job["id"]).json()["state"] == "queued"
        open_url(browser, lab, head_hash(lab.runs["diag"], layer, head))
        wait_for(browser, lambda b: "inspect run #%d queued" % job["id"] in b.find_element(By.ID, "pattern-status").text,
                 "the queued inspect job is not followed (status: %r)" % js(browser, "return document.getElementById('pattern-status').textContent"))
        assert not browser.find_element(By.ID, "inspect-submit").is_enabled()
    finally:
        assert lab.post("/api/v1/queue/resume").status_code == 200
    wait_for(browser, lambda b: b.find_elements(By.ID, "attn-canvas"), "pattern never drawn", timeout=120)
    assert js(browser, "return document.getElementById('pattern-status').dataset.run") == str(job["id"])
    named = [j for j in lab.get("/api/v1/jobs?kind=inspect&limit=100").json()["jobs"]
             if j["spec"].get("heads") == [[layer, head]]]
    assert [j["id"] for j in named] == [job["id"]]
    assert_no_script_errors(browser)
