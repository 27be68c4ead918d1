"""The runs table with 10,000 runs in headless Chromium against a live test-build daemon: the
database is filled directly (jobs, run summaries, tags: as many rows as a busy lab's year), then
the table shows one page of 50 (limit=50 in the URL) the API's way, pages older and newer, and filters by tag and
kind, each change answered with the rows the API gives for the same query. Nothing is timed:
the check is that the page stays usable (pages, not the whole history) at that size. Also: the
views need no horizontal scrolling in a 700-pixel window (a 1400-pixel one at 200% zoom)."""
import json
import sqlite3

import conftest as _conftest
import pytest
from selenium.webdriver.common.by import By

from test_research_views import (api_run_ids, assert_no_script_errors, open_url, route_params,
                                 wait_rows)

# The integration fixtures (Daemon, SANITIZER_MARKERS), whichever conftest answers to "conftest".
_fixtures = getattr(_conftest, "_fixtures", _conftest)
N_RUNS = 10_000
KINDS = ("diagnose", "evaluate", "surgery")


def _fill(db_path):
    db = sqlite3.connect(db_path)
    t0 = 1_780_000_000_000
    jobs, summaries, tags = [], [], []
    for i in range(1, N_RUNS + 1):
        kind = KINDS[i % 3]
        created = t0 + i * 60_000
        jobs.append((i, kind, json.dumps({"kind": kind, "model": "demo"}), "succeeded",
                     created, created + 1000, created + 5000, created + 5000, "{}"))
        summaries.append((i, "run-%05d" % i if i % 3 == 0 else None, "demo"))
        tags.append((i, "sweep:%d" % (i % 10)))
    with db:
        db.executemany("INSERT INTO jobs (id, kind, spec, state, created_at, started_at,"
                       " finished_at, updated_at, result) VALUES (?,?,?,?,?,?,?,?,?)", jobs)
        db.executemany("INSERT INTO run_summaries (run_id, name, model) VALUES (?,?,?)",
                       summaries)
        db.executemany("INSERT INTO run_tags (run_id, tag) VALUES (?,?)", tags)
    db.close()


@pytest.fixture(scope="module")
def busy(surgeond_bin, tmp_path_factory):
    d = _fixtures.Daemon(surgeond_bin, tmp_path_factory.mktemp("busy"))
    d.start()  # creates the database with every migration
    d.stop()
    _fill(d.db_path)
    d.start()
    try:
        yield d
    finally:
        _fixtures.stop_checked(d)


def test_ten_thousand_runs_page_and_filter(busy, browser):
    assert busy.get("/api/v1/runs?limit=1").json()["runs"][0]["id"] == N_RUNS
    open_url(browser, busy, "#/runs?limit=50")
    first = api_run_ids(busy, "?limit=50")
    assert len(first) == 50
    wait_rows(browser, first, "first page of 10,000")
    # only the page is in the document, not the history
    assert len(browser.find_elements(By.CSS_SELECTOR, "#runs-table tbody tr[data-run-id]")) == 50
    browser.find_element(By.ID, "runs-older").click()
    second = api_run_ids(busy, "?limit=50&before=%d" % first[-1])
    wait_rows(browser, second, "second page")
    browser.find_element(By.ID, "runs-older").click()
    wait_rows(browser, api_run_ids(busy, "?limit=50&before=%d" % second[-1]), "third page")
    browser.find_element(By.ID, "runs-newer").click()
    wait_rows(browser, second, "back to the second page")
    # a filter over the whole history, in the URL
    open_url(browser, busy, "#/runs?tag=sweep:7&kind=surgery&limit=50")
    wait_rows(browser, api_run_ids(busy, "?tag=sweep:7&kind=surgery&limit=50"), "tag + kind filter")
    assert route_params(browser)["tag"] == ["sweep:7"]
    assert all(i % 10 == 7 and i % 3 == 2 for i in
               api_run_ids(busy, "?tag=sweep:7&kind=surgery&limit=50"))
    assert_no_script_errors(browser)


def _assert_fits_at_200_percent(browser, d, view):
    """At 200% zoom a 1400-pixel window lays out like a 700-pixel one: the page must not need
    horizontal scrolling (wide tables scroll inside their own box)."""
    size = browser.get_window_size()
    browser.set_window_size(700, 900)
    try:
        open_url(browser, d, view)
        width = browser.execute_script(
            "return [document.documentElement.scrollWidth, window.innerWidth]")
        wide = browser.execute_script(
            "return [...document.querySelectorAll('body *')].filter(e => e.getBoundingClientRect().right"
            " > window.innerWidth + 1 && !e.closest('.table-wrap table'))"
            ".slice(0, 8).map(e => e.tagName + '#' + e.id + '.' + e.className + ':' + Math.round(e.getBoundingClientRect().right) + ':' + getComputedStyle(e).display)")
        assert width[0] <= width[1], "page wider than the window at 200%% zoom: %s %s" % (width, wide)
    finally:
        browser.set_window_size(size["width"], size["height"])


@pytest.mark.parametrize("view", ["#/runs?limit=50", "#/schedules", "#/new"])
def test_readable_at_200_percent_zoom(busy, browser, view):
    _assert_fits_at_200_percent(browser, busy, view)


@pytest.mark.parametrize("view", ["run", "compare", "head", "bands"])
def test_research_views_readable_at_200_percent_zoom(lab, browser, view):
    diag, surgery = lab.runs["diag"], lab.runs["surgery"]
    fragment = {"run": "#/run/%d" % surgery, "compare": "#/compare?a=%d&b=%d" % (diag, surgery),
                "head": "#/run/%d/head/1/6" % surgery, "bands": "#/bands?runs=%d" % diag}[view]
    _assert_fits_at_200_percent(browser, lab, fragment)
