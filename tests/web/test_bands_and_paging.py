"""The sick-bands view (#/bands?runs=…) and the runs table's paging both ways, in headless
Chromium against a live test-build daemon with real runs of the demo model (the ``lab``
fixture). The bands are compared with GET /sick-bands, the pages with GET /runs?limit=&before=.
"""
import pytest
from selenium.webdriver.common.by import By

from test_research_views import (api_run_ids, assert_no_script_errors, js, open_url, route_params, shown_run_ids,
                                 wait_for, wait_rows)


def tick(browser, rid):
    browser.find_element(By.CSS_SELECTOR, 'tr[data-run-id="%d"] input.pick' % rid).click()


def test_sick_bands_of_diagnoses_ticked_in_the_runs_table(lab, browser):
    diag, ev, sid = lab.runs["diag"], lab.runs["eval"], lab.runs["surgery"]
    open_url(browser, lab, "#/runs")
    wait_for(browser, lambda b: diag in shown_run_ids(b), "runs not listed")
    button = browser.find_element(By.ID, "runs-bands")
    assert not button.is_enabled()
    tick(browser, diag)
    assert button.is_enabled()
    tick(browser, sid)  # a surgery is no diagnosis
    assert not button.is_enabled()
    tick(browser, sid)
    tick(browser, ev)
    assert button.is_enabled()
    button.click()
    wait_for(browser, lambda b: b.find_elements(By.CSS_SELECTOR, "#bands-table tbody tr"), "sick bands never drawn")
    assert route_params(browser)["runs"] in (["%d,%d" % (diag, ev)], ["%d%%2C%d" % (diag, ev)])
    assert browser.find_element(By.ID, "nav-runs").get_attribute("aria-current") == "page"
    want = lab.get("/api/v1/sick-bands?runs=%d,%d" % (diag, ev)).json()["runs"]
    assert js(browser, "return [...document.querySelectorAll('#bands-table thead th[data-run]')].map(th => Number(th.dataset.run))") \
        == [diag, ev]
    shown = js(browser, """return [...document.querySelectorAll('#bands-table tbody tr')].map(tr =>
        [Number(tr.dataset.head), ...[...tr.querySelectorAll('td.band-cell')].map(td => Number(td.dataset.sick))])""")
    assert shown == [[b["head"]] + [r["head_bands"][i]["sick_layers"] for r in want] for i, b in enumerate(want[0]["head_bands"])]
    # The same shapes: one slope column, the API's slopes.
    slopes = js(browser, "return [...document.querySelectorAll('#bands-table tbody tr')].map(tr => Number(tr.querySelector('td.num').textContent))")
    assert slopes == pytest.approx([b["slope"] for b in want[0]["head_bands"]], rel=1e-3)
    rho = js(browser, "return [...document.querySelectorAll('#bands-table .spearman')].map(e => e.textContent)")
    for r, s in zip(want, rho):
        if r["slope_sickness_spearman"] is None:
            assert s == "—"
        else:
            assert float(s) == pytest.approx(r["slope_sickness_spearman"], rel=1e-2, abs=1e-3)
    # By URL, with a run that is not a diagnosis: the API's refusal is shown, nothing drawn.
    open_url(browser, lab, "#/bands?runs=%d,%d" % (diag, sid))
    wait_for(browser, lambda b: "cannot show sick bands" in b.find_element(By.ID, "bands-status").text, "refusal not shown")
    assert not browser.find_elements(By.CSS_SELECTOR, "#bands-table")
    # The form: one run, submitted with Enter.
    field = browser.find_element(By.ID, "bands-runs")
    field.clear()
    field.send_keys(str(diag), "\n")
    wait_for(browser, lambda b: len(b.find_elements(By.CSS_SELECTOR, "#bands-table thead th[data-run]")) == 1, "one-run bands")
    try:
        from axe_selenium_python import Axe
    except ImportError:
        Axe = None
    if Axe is not None:
        axe = Axe(browser)
        axe.inject()
        bad = [(v["id"], v["impact"], v["help"]) for v in axe.run()["violations"] if v["impact"] in ("serious", "critical")]
        assert not bad, bad
    assert_no_script_errors(browser)


def test_runs_table_pages_older_and_back_newer(lab, browser):
    pages = [api_run_ids(lab, "?limit=1")]
    while True:
        r = lab.get("/api/v1/runs?limit=1&before=%d" % pages[-1][-1]).json()
        if not r["runs"]:
            break
        pages.append([x["id"] for x in r["runs"]])
    assert len(pages) >= 4
    open_url(browser, lab, "#/runs?limit=1")
    wait_rows(browser, pages[0], "page 1")
    newer = browser.find_element(By.ID, "runs-newer")
    assert not newer.is_enabled()
    for i in range(1, 4):
        browser.find_element(By.ID, "runs-older").click()
        wait_rows(browser, pages[i], "page %d" % (i + 1))
    # The way back is in the URL: reloading it keeps it.
    url = browser.current_url
    browser.get(lab.url + "/")
    browser.get(url)
    wait_rows(browser, pages[3], "page 4 by URL")
    for i in (2, 1, 0):
        wait_for(browser, lambda b: b.find_element(By.ID, "runs-newer").is_enabled(), "newer disabled on page %d" % (i + 2))
        browser.find_element(By.ID, "runs-newer").click()
        wait_rows(browser, pages[i], "back to page %d" % (i + 1))
    assert "before" not in route_params(browser) and "back" not in route_params(browser)
    assert not browser.find_element(By.ID, "runs-newer").is_enabled()
    assert_no_script_errors(browser)
