"""The jobs page (web/) in headless Chromium against a live test-build daemon.

Jobs are of the test-only kind "test-steps" (progress, a log line and a loss point per step).
Every check reads the page and compares it with the daemon's own API answers; waits are
explicit (WebDriverWait on a condition), never fixed sleeps.
"""
import json
import re

from selenium.common.exceptions import StaleElementReferenceException, TimeoutException
from selenium.webdriver.common.action_chains import ActionChains
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

WAIT_S = 20
# A job that runs long enough to be watched and cancelled: 600 steps of 40 ms (24 s).
LONG_JOB = {"kind": "test-steps", "steps": 600, "step_ms": 40, "log_every": 1}


# ---- page helpers ---------------------------------------------------------------------------
def open_page(browser, d):
    browser.get(d.url + "/")
    browser.execute_script("localStorage.clear()")
    browser.get(d.url + "/")
    WebDriverWait(browser, WAIT_S).until(
        lambda b: b.find_element(By.ID, "conn").text == "live", "page never reached the daemon")


def wait_for(browser, predicate, message, timeout=WAIT_S):
    def check(b):
        try:
            return predicate(b)
        except StaleElementReferenceException:
            return False
    return WebDriverWait(browser, timeout, poll_frequency=0.1).until(check, message)


def row(browser, job_id):
    rows = browser.find_elements(By.CSS_SELECTOR, 'tr[data-job-id="%d"]' % job_id)
    return rows[0] if rows else None


def cell_text(browser, job_id, selector):
    """textContent of one element of a job's row, read in one script call (the page replaces
    badges when states change, so an element handle could go stale between lookups)."""
    return browser.execute_script(
        "const e = document.querySelector(arguments[0]); return e ? e.textContent : null;",
        'tr[data-job-id="%d"] %s' % (job_id, selector))


def row_state(browser, job_id):
    return cell_text(browser, job_id, "td.state .badge")


def row_steps(browser, job_id):
    """(step, total) as the row shows them ("12/600"), or None."""
    m = re.fullmatch(r"(\d+)/(\d+)", (cell_text(browser, job_id, ".steps") or "").strip())
    return (int(m.group(1)), int(m.group(2))) if m else None


def wait_row_state(browser, job_id, state):
    try:
        wait_for(browser, lambda b: row_state(b, job_id) == state, "")
    except TimeoutException:
        raise AssertionError("job %d never showed state %s (shows %r)"
                             % (job_id, state, row_state(browser, job_id))) from None


def log_text(browser):
    logs = browser.find_elements(By.ID, "job-log")
    return logs[0].get_attribute("textContent") if logs else ""


def api_log(d, job_id):
    """The job's whole log as the API serves it, following next_offset."""
    text, offset = "", 0
    for _ in range(1000):
        r = d.get("/api/v1/jobs/%d/log?offset=%d" % (job_id, offset))
        assert r.status_code == 200, r.text
        body = r.json()
        text += body["text"]
        if not body["text"] or body["next_offset"] == offset:
            return text
        offset = body["next_offset"]
    return text


def assert_no_script_errors(browser):
    errors = [e["message"] for e in browser.get_log("browser")
              if e["level"] == "SEVERE" and re.search(r"Uncaught|Error:|is not (a function|defined)", e["message"])]
    assert not errors, "script errors on the page: %s" % errors


# ---- tests ----------------------------------------------------------------------------------
def test_jobs_appear_progress_moves_log_grows_and_cancel_works(daemon, browser):
    d = daemon()
    running = d.submit(LONG_JOB)["id"]
    queued = d.submit({"kind": "test-steps", "steps": 5, "step_ms": 10})["id"]  # behind it: one worker
    open_page(browser, d)

    # Submitted jobs appear, in their states.
    wait_for(browser, lambda b: row(b, running) and row(b, queued), "submitted jobs never appeared")
    wait_row_state(browser, running, "running")
    assert row_state(browser, queued) == "queued"
    assert d.job(queued)["state"] == "queued"

    # Progress moves, and never runs ahead of what the daemon reports.
    first = wait_for(browser, lambda b: (row_steps(b, running) or (0, 0))[0] > 0 and row_steps(b, running),
                     "progress of job %d never started" % running)
    assert first[1] == LONG_JOB["steps"]
    wait_for(browser, lambda b: (row_steps(b, running) or (0, 0))[0] > first[0],
             "progress of job %d stuck at %s" % (running, first))
    shown = row_steps(browser, running)[0]
    assert shown <= d.job(running)["progress"]["step"]
    width = row(browser, running).find_element(By.CSS_SELECTOR, ".progress .fill").value_of_css_property("width")
    assert float(width.replace("px", "")) > 0
    # Elapsed time and an ETA are shown for the running job (their values are timings: only
    # their form is checked), none for the queued one.
    duration = re.compile(r"\d+(\.\d)? s|\d+m \d\ds|\d+h \d\dm")
    wait_for(browser, lambda b: duration.fullmatch(row(b, running).find_element(By.CSS_SELECTOR, "td.c-eta").text),
             "no ETA shown for the running job")
    assert duration.fullmatch(row(browser, running).find_element(By.CSS_SELECTOR, "td.c-elapsed").text)
    assert row(browser, queued).find_element(By.CSS_SELECTOR, "td.c-eta").text == "—"
    assert browser.title.startswith("(1 running)")

    # The queue panel shows the worker busy with it.
    wait_for(browser, lambda b: "#%d" % running in b.find_element(By.CSS_SELECTOR, ".workers").text,
             "the worker never showed job %d" % running)

    # The detail panel's log grows live and is exactly what the daemon logged so far.
    row(browser, running).click()
    wait_for(browser, lambda b: b.find_elements(By.CSS_SELECTOR, '.detail[data-job-id="%d"]' % running),
             "detail panel of job %d never opened" % running)
    wait_for(browser, lambda b: "step 1 of 600" in log_text(b), "the log panel stayed empty")
    before = len(log_text(browser))
    wait_for(browser, lambda b: len(log_text(b)) > before, "the log panel did not grow")
    page_log = log_text(browser)
    assert api_log(d, running).startswith(page_log)

    # Cancel from the page: the queued job from its row, the running one from the detail panel.
    row(browser, queued).find_element(By.CSS_SELECTOR, "button.cancel").click()
    wait_row_state(browser, queued, "cancelled")
    assert d.job(queued)["state"] == "cancelled"

    browser.find_element(By.ID, "detail-cancel").click()
    wait_row_state(browser, running, "cancelled")
    job = d.job(running)
    assert job["state"] == "cancelled"
    assert job["progress"]["step"] < LONG_JOB["steps"]
    assert not row(browser, running).find_element(By.CSS_SELECTOR, "button.cancel").is_displayed()
    # The runner's last words reach the log panel.
    wait_for(browser, lambda b: "stopped before step" in log_text(b), "the log never showed the stop")
    assert_no_script_errors(browser)


def test_queue_pause_resume_filters_result_and_curve(daemon, browser):
    d = daemon()
    open_page(browser, d)
    toggle = browser.find_element(By.ID, "queue-toggle")
    wait_for(browser, lambda b: toggle.text == "pause", "queue panel never loaded")

    toggle.click()
    d.wait_until(lambda: d.get("/api/v1/queue").json()["paused"] is True, timeout=WAIT_S)
    wait_for(browser, lambda b: toggle.text == "resume", "pause button never turned into resume")

    ok = d.submit({"kind": "test-steps", "steps": 3, "step_ms": 5})["id"]
    bad = d.submit({"kind": "test-steps", "steps": 3, "fail_at": 2})["id"]
    wait_for(browser, lambda b: row_state(b, ok) == "queued" and row_state(b, bad) == "queued",
             "jobs did not show as queued while paused")
    queued_depth = d.get("/api/v1/queue").json()["depth"]["queued"]
    wait_for(browser, lambda b: b.find_element(
        By.CSS_SELECTOR, '.depth-item[data-state="queued"] b').text == str(queued_depth),
        "queue depth never showed %d queued" % queued_depth)

    toggle.click()
    d.wait_until(lambda: d.get("/api/v1/queue").json()["paused"] is False, timeout=WAIT_S)
    wait_row_state(browser, ok, "succeeded")
    wait_row_state(browser, bad, "failed")
    assert d.job(ok)["state"] == "succeeded" and d.job(bad)["state"] == "failed"
    assert "fail_at reached" in row(browser, bad).find_element(By.CSS_SELECTOR, "td.message").get_attribute("textContent")

    # State filter: only the failed job is listed, then all again.
    browser.find_element(By.CSS_SELECTOR, '.segmented button[data-state="failed"]').click()
    wait_for(browser, lambda b: row(b, ok) is None and row(b, bad) is not None, "failed filter wrong")
    browser.find_element(By.CSS_SELECTOR, '.segmented button[data-state=""]').click()
    wait_for(browser, lambda b: row(b, ok) is not None and row(b, bad) is not None, "all filter wrong")

    # The succeeded job's result, and its loss curve: test-steps records 1/(step+1) per step,
    # so the last point is 1/(3+1) at step 3.
    row(browser, ok).click()
    result = wait_for(browser, lambda b: [e for e in b.find_elements(By.CSS_SELECTOR, ".detail pre.json")
                                          if e.get_attribute("textContent").strip().startswith("{")
                                          and "steps_done" in e.get_attribute("textContent")],
                      "result never shown")
    assert json.loads(result[0].get_attribute("textContent")) == d.job(ok)["result"] == {"steps_done": 3}
    latest = wait_for(browser, lambda b: b.find_elements(By.CSS_SELECTOR, '.curve-card[data-curve="loss"] .latest'),
                      "loss curve never shown")
    assert latest[0].text == "0.25 @ step 3"
    assert browser.execute_script("return typeof window.Chart") == "function"
    assert_no_script_errors(browser)


def test_cancel_needs_token_and_prompts_for_it(daemon, browser):
    d = daemon(token="s3cret-token")
    job = d.submit(LONG_JOB)["id"]
    open_page(browser, d)
    wait_row_state(browser, job, "running")

    # Without a token the daemon refuses (401) and the page says what to do.
    row(browser, job).find_element(By.CSS_SELECTOR, "button.cancel").click()
    banner = browser.find_element(By.ID, "banner")
    wait_for(browser, lambda b: banner.is_displayed() and "token" in banner.text, "no prompt after a 401")
    assert d.job(job)["state"] == "running"

    banner.find_element(By.TAG_NAME, "button").click()  # "set token"
    box = browser.find_element(By.ID, "token-input")
    wait_for(browser, lambda b: box.is_displayed(), "token dialog never opened")
    box.send_keys("s3cret-token")
    browser.find_element(By.CSS_SELECTOR, '#token-form button[value="save"]').click()
    wait_for(browser, lambda b: not box.is_displayed(), "token dialog never closed")

    row(browser, job).find_element(By.CSS_SELECTOR, "button.cancel").click()
    wait_row_state(browser, job, "cancelled")
    assert d.job(job)["state"] == "cancelled"


def test_run_view_heatmap_shows_every_head_of_a_diagnosis(daemon, browser):
    d = daemon()
    made = d.run_cli("demo-model", "--out", d.model_root + "/demo")
    assert made.returncode == 0, made.stderr
    job = d.submit({"kind": "diagnose", "model": "demo",
                    "texts": ["the quick brown fox jumps over the lazy dog", "heads collapse onto the first token"]})["id"]
    assert d.wait_job(job)["state"] == "succeeded"
    heads = d.get("/api/v1/runs/%d/heads" % job).json()["heads"]
    assert heads

    browser.get("%s/#job=%d" % (d.url, job))
    # Read every cell in one script call (the view may re-render between element lookups).
    cells = wait_for(browser, lambda b: b.execute_script(
        "return [...document.querySelectorAll('.heatmap-grid .cell')].map(c => "
        "[Number(c.dataset.layer), Number(c.dataset.head), c.className])"), "heatmap never shown")
    assert len(cells) == len(heads)
    shown = {(layer, head): next(k[4:] for k in cls.split() if k.startswith("cls-"))
             for layer, head, cls in cells}
    assert shown == {(r["layer"], r["head"]): r["class"] for r in heads}

    # Class counts agree with the rows.
    for cls in ("healthy", "bos-sink", "dead", "low-entropy"):
        count = browser.find_element(By.CSS_SELECTOR, '.class-count[data-class="%s"] b' % cls).text
        assert int(count) == sum(1 for r in heads if r["class"] == cls), cls

    # Hovering a head shows its statistics.
    target = max(heads, key=lambda r: r["bos_mass"])
    selector = '.heatmap-grid .cell[data-layer="%d"][data-head="%d"]' % (target["layer"], target["head"])

    def hover_tooltip(b):
        ActionChains(b).move_to_element(b.find_element(By.CSS_SELECTOR, selector)).perform()
        return [t for t in b.find_elements(By.CSS_SELECTOR, ".heatmap .tooltip") if t.is_displayed()]
    tip = wait_for(browser, hover_tooltip, "no tooltip on hover")[0]
    assert "layer %d · head %d" % (target["layer"], target["head"]) in tip.text
    assert target["class"] in tip.text
    assert "%.3f" % target["bos_mass"] in tip.text or ("%.3g" % target["bos_mass"]) in tip.text
    assert_no_script_errors(browser)


def test_schedules_are_listed_and_can_be_disabled(daemon, browser):
    d = daemon()
    r = d.post("/api/v1/schedules", json={"name": "nightly-eval", "cron": "@daily",
                                          "job": {"kind": "test-steps", "steps": 3}, "enabled": True})
    assert r.status_code in (200, 201), r.text
    sid = r.json()["id"]
    open_page(browser, d)

    def schedule_row(b):
        rows = b.find_elements(By.CSS_SELECTOR, 'tr[data-schedule-id="%d"]' % sid)
        return rows[0] if rows else None
    text = wait_for(browser, lambda b: schedule_row(b) and schedule_row(b).text, "the schedule never appeared")
    assert "nightly-eval" in text and "@daily" in text and "test-steps" in text

    def click_toggle(b):  # the list is re-rendered when it changes: retry on a stale handle
        schedule_row(b).find_element(By.CSS_SELECTOR, "button.toggle").click()
        return True
    wait_for(browser, click_toggle, "could not click disable")
    d.wait_until(lambda: d.get("/api/v1/schedules").json()["schedules"][0]["enabled"] is False, timeout=WAIT_S)
    wait_for(browser, lambda b: "disabled" in schedule_row(b).text, "the page never showed it disabled")
    wait_for(browser, click_toggle, "could not click enable")
    d.wait_until(lambda: d.get("/api/v1/schedules").json()["schedules"][0]["enabled"] is True, timeout=WAIT_S)
    assert_no_script_errors(browser)
