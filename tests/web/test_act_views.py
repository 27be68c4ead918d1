"""Acting from the dashboard (#/new and the run view) in headless Chromium against a live
test-build daemon with real runs of the demo model (the ``lab`` fixture): submitting diagnose,
evaluate, generate and surgery jobs from their forms (a surgery's targets picked from a diagnosis
run by class), re-running a run with its spec prefilled, cancelling a job, pausing and resuming
the queue, and API refusals shown next to the field they name (aria-invalid, aria-describedby).
Every check compares the page with the daemon's own API answers.
"""
import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import Select

from test_research_views import active, assert_no_script_errors, js, open_url, wait_for

PROMPT = "Once upon a time"


def wait_form(browser, kind):
    wait_for(browser, lambda b: b.find_elements(By.ID, "new-submit") and
             b.find_element(By.ID, "new-submit").text == "submit " + kind, "the %s form never appeared" % kind)


def fill(browser, field, value):
    el = browser.find_element(By.ID, "new-f-" + field)
    if el.tag_name == "select":
        Select(el).select_by_value(value)
    else:
        el.clear()
        el.send_keys(value)
    return el


def open_more(browser):
    more = browser.find_element(By.CSS_SELECTOR, "#new-form details.more-options")
    if more.get_attribute("open") is None:
        more.find_element(By.TAG_NAME, "summary").click()


def submitted_run(browser, lab, before_ids):
    """The id of the run view the page moved to after a submit; checks it is a new job."""
    wait_for(browser, lambda b: js(b, "return /^#\\/run\\/\\d+$/.test(location.hash)"),
             "submit did not open the new run (status %r)" % js(browser, "const s = document.getElementById('new-status');"
                                                                "return s && s.textContent"))
    rid = int(js(browser, "return location.hash").rsplit("/", 1)[1])
    assert rid not in before_ids
    return rid


def eval_texts(lab):
    """The texts the lab's runs were made with (the baseline diagnosis's)."""
    return lab.get("/api/v1/runs/%d" % lab.runs["diag"]).json()["spec"]["texts"]


def job_ids(lab):
    return {j["id"] for j in lab.get("/api/v1/jobs?limit=500").json()["jobs"]}


def assert_error_at(browser, field, words):
    control = browser.find_element(By.ID, "new-f-" + field)
    err = browser.find_element(By.ID, "new-f-%s-error" % field)
    wait_for(browser, lambda b: err.is_displayed() and words in err.text, "no error at %s (%r)" % (field, err.text))
    assert control.get_attribute("aria-invalid") == "true"
    assert "new-f-%s-error" % field in control.get_attribute("aria-describedby").split()
    assert active(browser).startswith("new-f-%s|" % field), active(browser)


def test_submit_diagnose_evaluate_and_generate_from_their_forms(lab, browser):
    EVAL_TEXTS = eval_texts(lab)
    open_url(browser, lab, "")
    browser.find_element(By.ID, "nav-new").click()
    wait_form(browser, "diagnose")
    assert browser.find_element(By.ID, "nav-new").get_attribute("aria-current") == "page"
    # A refusal names its field: an unknown model is shown at the model box, which gets the focus.
    before = job_ids(lab)
    fill(browser, "model", "no-such-model")
    fill(browser, "texts", "\n".join(EVAL_TEXTS))
    browser.find_element(By.ID, "new-submit").click()
    assert_error_at(browser, "model", "not found")
    assert job_ids(lab) == before
    assert "refused" in browser.find_element(By.ID, "new-status").text
    # Corrected: submitted, and the page opens the run.
    fill(browser, "model", "demo")
    fill(browser, "name", "diagnosed from the page")
    fill(browser, "tags", "web form")
    browser.find_element(By.ID, "new-submit").click()
    rid = submitted_run(browser, lab, before)
    job = lab.get("/api/v1/runs/%d" % rid).json()
    assert job["spec"] == {"kind": "diagnose", "model": "demo", "texts": EVAL_TEXTS, "name": "diagnosed from the page",
                           "tags": ["web", "form"]}
    assert lab.wait_job(rid, timeout=120)["state"] == "succeeded"
    wait_for(browser, lambda b: b.find_elements(By.CSS_SELECTOR, "#map-class .cell"), "the new run's maps never drawn")

    # Evaluate with a boolean and a number from "more options".
    before = job_ids(lab)
    open_url(browser, lab, "#/new?kind=evaluate")
    wait_form(browser, "evaluate")
    fill(browser, "model", "demo")
    fill(browser, "texts", EVAL_TEXTS[0])
    open_more(browser)
    fill(browser, "diagnose", "true")
    fill(browser, "max_length", "1")  # below the range: refused, and the field says so
    browser.find_element(By.ID, "new-submit").click()
    assert_error_at(browser, "max_length", "max_length")
    fill(browser, "max_length", "64")
    browser.find_element(By.ID, "new-submit").click()
    rid = submitted_run(browser, lab, before)
    assert lab.get("/api/v1/runs/%d" % rid).json()["spec"] == {
        "kind": "evaluate", "model": "demo", "texts": [EVAL_TEXTS[0]], "diagnose": True, "max_length": 64}
    assert lab.wait_job(rid, timeout=120)["state"] == "succeeded"

    # Generate.
    before = job_ids(lab)
    open_url(browser, lab, "#/new")
    wait_form(browser, "diagnose")
    Select(browser.find_element(By.ID, "new-kind")).select_by_value("generate")
    wait_form(browser, "generate")
    fill(browser, "model", "demo")
    fill(browser, "prompts", PROMPT)
    open_more(browser)
    fill(browser, "max_new_tokens", "4")
    browser.find_element(By.ID, "new-submit").click()
    rid = submitted_run(browser, lab, before)
    job = lab.wait_job(rid, timeout=120)
    assert job["state"] == "succeeded" and job["spec"] == {"kind": "generate", "model": "demo", "prompts": [PROMPT],
                                                           "max_new_tokens": 4}
    assert_no_script_errors(browser)


def test_rerun_with_the_spec_prefilled(lab, browser):
    ev = lab.runs["eval"]
    spec = lab.get("/api/v1/runs/%d" % ev).json()["spec"]
    open_url(browser, lab, "#/run/%d" % ev)
    wait_for(browser, lambda b: b.find_element(By.ID, "run-rerun"), "no re-run link").click()
    wait_form(browser, "evaluate")
    assert browser.find_element(By.ID, "new-f-model").get_attribute("value") == spec["model"]
    assert browser.find_element(By.ID, "new-f-texts").get_attribute("value") == "\n".join(spec["texts"])
    assert Select(browser.find_element(By.ID, "new-f-diagnose")).first_selected_option.get_attribute("value") == "true"
    assert browser.find_element(By.ID, "new-f-tags").get_attribute("value") == " ".join(spec["tags"])
    assert browser.find_element(By.ID, "new-f-name").get_attribute("value") == spec["name"] + " (re-run)"
    before = job_ids(lab)
    browser.find_element(By.ID, "new-submit").click()
    rid = submitted_run(browser, lab, before)
    again = lab.get("/api/v1/runs/%d" % rid).json()["spec"]
    assert again == dict(spec, name=spec["name"] + " (re-run)")
    # The same re-run twice: the name is taken, and the name field says so.
    open_url(browser, lab, "#/new?from=%d" % ev)
    wait_form(browser, "evaluate")
    before = job_ids(lab)
    browser.find_element(By.ID, "new-submit").click()
    assert_error_at(browser, "name", "name")
    assert job_ids(lab) == before
    lab.wait_job(rid, timeout=120)
    assert_no_script_errors(browser)


def test_surgery_on_a_diagnosis_s_collapsed_heads_then_cancel_it(lab, browser):
    EVAL_TEXTS = eval_texts(lab)
    diag = lab.runs["diag"]
    heads = lab.get("/api/v1/runs/%d/heads" % diag).json()["heads"]
    collapsed = [h for h in heads if h["class"] in ("bos-sink", "dead")]
    open_url(browser, lab, "#/run/%d" % diag)
    wait_for(browser, lambda b: b.find_element(By.ID, "run-surgery"), "no surgery link on the diagnosis").click()
    wait_form(browser, "surgery")
    # The picker names the diagnosis and counts the heads the rule picks, as the API's rows say.
    wait_for(browser, lambda b: b.find_element(By.ID, "new-f-targets-count").get_attribute("data-count") == str(len(collapsed)),
             "picked-head count wrong (%r)" % browser.find_element(By.ID, "new-f-targets-count").text)
    assert browser.find_element(By.ID, "new-f-targets-run").get_attribute("value") == str(diag)
    assert browser.find_element(By.ID, "new-f-model").get_attribute("value") == "demo"
    # Narrowing to layers 2-3 counts fewer.
    browser.find_element(By.ID, "new-f-targets-layers").send_keys("2-3")
    browser.find_element(By.ID, "new-f-targets-heads").click()
    narrow = [h for h in collapsed if 2 <= h["layer"] <= 3]
    wait_for(browser, lambda b: b.find_element(By.ID, "new-f-targets-count").get_attribute("data-count") == str(len(narrow)),
             "narrowed count wrong")
    fill(browser, "corpus", "train.txt")
    fill(browser, "eval_texts", "\n".join(EVAL_TEXTS))
    open_more(browser)
    fill(browser, "epochs", "200")
    fill(browser, "max_length", "32")
    fill(browser, "grad_accum", "1")
    before = job_ids(lab)
    browser.find_element(By.ID, "new-submit").click()
    rid = submitted_run(browser, lab, before)
    try:
        spec = lab.get("/api/v1/runs/%d" % rid).json()["spec"]
        assert spec["targets"] == {"from_run": diag, "classes": ["bos-sink", "dead"], "layers": "2-3"}
        assert spec["epochs"] == 200 and spec["corpus"] == "train.txt" and spec["eval_texts"] == EVAL_TEXTS
        # Cancel from the run view once it runs.
        lab.wait_job(rid, states=("running",), timeout=60)
        cancel = wait_for(browser, lambda b: [e for e in b.find_elements(By.ID, "run-cancel") if e.is_enabled()],
                          "no cancel button on the running surgery")[0]
        cancel.click()
        assert lab.wait_job(rid, timeout=120)["state"] == "cancelled"
        wait_for(browser, lambda b: "cancelled" in b.find_element(By.ID, "run-status").text,
                 "the run view never showed the cancellation")
        assert not browser.find_elements(By.ID, "run-cancel")
    finally:
        lab.post("/api/v1/jobs/%d/cancel" % rid)
        lab.wait_job(rid, timeout=120)
    assert_no_script_errors(browser)


def test_pause_and_resume_the_queue(lab, browser):
    open_url(browser, lab, "#/new")
    btn = wait_for(browser, lambda b: b.find_element(By.ID, "queue-pause-resume"), "no queue button")
    wait_for(browser, lambda b: b.find_element(By.ID, "queue-state").text == "queue running", "queue state not shown")
    assert browser.find_element(By.ID, "queue-state").get_attribute("aria-live") == "polite"
    try:
        btn.click()
        wait_for(browser, lambda b: "paused" in b.find_element(By.ID, "queue-state").text, "pause not shown")
        assert lab.get("/api/v1/queue").json()["paused"] is True
        # While paused a submitted job waits.
        job = lab.submit({"kind": "test-steps", "steps": 1})["id"]
        assert lab.get("/api/v1/jobs/%d" % job).json()["state"] == "queued"
        wait_for(browser, lambda b: b.find_element(By.ID, "queue-pause-resume").text == "resume the queue", "no resume")
        browser.find_element(By.ID, "queue-pause-resume").click()
        wait_for(browser, lambda b: b.find_element(By.ID, "queue-state").text == "queue running", "resume not shown")
        assert lab.get("/api/v1/queue").json()["paused"] is False
        assert lab.wait_job(job)["state"] == "succeeded"
    finally:
        lab.post("/api/v1/queue/resume")
    assert_no_script_errors(browser)


def test_new_job_view_axe(lab, browser):
    open_url(browser, lab, "#/new?kind=surgery&from_run=%d" % lab.runs["diag"])
    wait_form(browser, "surgery")
    browser.find_element(By.ID, "new-submit").click()  # corpus missing: an error state to check too
    wait_for(browser, lambda b: "refused" in b.find_element(By.ID, "new-status").text, "no refusal")
    assert len(browser.find_elements(By.TAG_NAME, "h1")) == 1
    try:
        from axe_selenium_python import Axe
    except ImportError:
        pytest.skip("axe-selenium-python is not installed")
    axe = Axe(browser)
    axe.inject()
    bad = [(v["id"], v["impact"], v["help"], [n["target"] for n in v["nodes"]][:3])
           for v in axe.run()["violations"] if v["impact"] in ("serious", "critical")]
    assert not bad, bad
