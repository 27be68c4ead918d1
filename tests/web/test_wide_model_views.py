"""The run, compare and head views at large models' head layouts (24 layers × 16 heads, the layout
of BLOOM-560m and 1b1; 30 layers × 32 heads, that of BLOOM-3b and 7b1), in headless Chromium against a live test-build daemon: a
random-weight BLOOM of that layout (wide_model.py) diagnosed twice and one head inspected.
Checks that every head is drawn and tabled, that the head view's numbers and pattern are the
API's, and leaves screenshots at each size under build/web-screenshots/.
"""
import os

import conftest as _conftest
import pytest
from selenium.webdriver.common.by import By

from test_research_views import assert_no_script_errors, class_map, js, screenshot, wait_for
from wide_model import write_wide_bloom

# The integration fixtures (Daemon, SANITIZER_MARKERS), whichever conftest answers to "conftest".
_fixtures = getattr(_conftest, "_fixtures", _conftest)
SHAPES = [(24, 16), (30, 32)]
TEXTS_A = ["The river ran past the old mill and the children played in the water.",
           "A quiet morning in the town square, with pigeons on the fountain."]
TEXTS_B = ["Snow fell all night and the village woke to white roofs and silent roads."]


@pytest.fixture(scope="module", params=SHAPES, ids=["%dx%d" % s for s in SHAPES])
def wide(request, surgeond_bin, tmp_path_factory):
    """A daemon with two diagnoses of a model of the param's (layers, heads): .runs = {"a",
    "b"}, .layers, .heads, .tag ("30x32")."""
    d = _fixtures.Daemon(surgeond_bin, tmp_path_factory.mktemp("wide"))
    d.layers, d.heads = request.param
    d.tag = "%dx%d" % request.param
    d.start()
    try:
        demo = os.path.join(d.model_root, "demo")
        r = d.run_cli("demo-model", "--out", demo)
        assert r.returncode == 0, r.stdout + r.stderr
        write_wide_bloom(demo, os.path.join(d.model_root, "wide"), n_layer=d.layers, n_head=d.heads)
        d.runs = {k: d.submit({"kind": "diagnose", "model": "wide", "texts": t})["id"]
                  for k, t in (("a", TEXTS_A), ("b", TEXTS_B))}
        for rid in d.runs.values():
            assert d.wait_job(rid, timeout=300)["state"] == "succeeded"
        yield d
    finally:
        _fixtures.stop_checked(d)


def open_url(browser, d, fragment):
    browser.get(d.url + "/" + fragment)
    wait_for(browser, lambda b: b.find_element(By.ID, "conn").text == "live", "page never reached the daemon")


def test_run_and_compare_views_at_large_layouts(wide, browser):
    a, b = wide.runs["a"], wide.runs["b"]
    heads = wide.get("/api/v1/runs/%d/heads" % a).json()["heads"]
    assert len(heads) == wide.layers * wide.heads
    open_url(browser, wide, "#/run/%d" % a)
    wait_for(browser, lambda br: len(br.find_elements(By.CSS_SELECTOR, "#map-class .map-grid .cell")) == wide.layers * wide.heads,
             "class map does not draw every head")
    shown = class_map(browser, "map-class")
    assert {k: v[0] for k, v in shown.items()} == {(h["layer"], h["head"]): h["class"] for h in heads}
    for map_id in ("map-bos", "map-entropy", "map-local"):
        assert len(browser.find_elements(By.CSS_SELECTOR, "#%s .map-grid .cell" % map_id)) == wide.layers * wide.heads
    # The table view has a row per layer and a column per head.
    dims = js(browser, "const t = document.querySelector('#map-bos .map-table table');"
                       "return [t.querySelectorAll('tbody tr').length, t.querySelectorAll('thead th').length - 1]")
    assert dims == [wide.layers, wide.heads]
    # Every map fits the page width side by side or wrapped, never wider than the window.
    overflow = js(browser, "return [...document.querySelectorAll('#research-view figure.map')]"
                           ".some(f => f.getBoundingClientRect().right > window.innerWidth)")
    assert not overflow
    screenshot(browser, "run-view-diagnosis-%s.png" % wide.tag)
    open_url(browser, wide, "#/compare?a=%d&b=%d" % (a, b))
    wait_for(browser, lambda br: len(br.find_elements(By.CSS_SELECTOR, "#map-b .map-grid .cell")) == wide.layers * wide.heads,
             "compare maps not drawn")
    want = wide.get("/api/v1/compare?a=%d&b=%d" % (a, b)).json()
    shown = class_map(browser, "map-b")
    assert all(shown[(r["layer"], r["head"])][0] == r["class_b"] for r in want["heads"])
    # Many drifters: the list shows its first 24 heads and opens on demand.
    out = want["drifters"]["out_of_zone"]
    visible = js(browser, "return [...document.querySelectorAll('#drift-out li')].filter(li => !li.hidden).length")
    assert visible == min(24, len(out))
    if len(out) > 24:
        more = browser.find_element(By.CSS_SELECTOR, "button[aria-controls=drift-out]")
        assert more.get_attribute("aria-expanded") == "false"
        more.click()
        assert more.get_attribute("aria-expanded") == "true"
        assert js(browser, "return [...document.querySelectorAll('#drift-out li')].filter(li => !li.hidden).length") == len(out)
        more.click()
    screenshot(browser, "compare-view-%s.png" % wide.tag)
    assert_no_script_errors(browser)


def test_head_view_at_large_layouts_with_an_inspected_pattern(wide, browser):
    a = wide.runs["a"]
    layer, head = wide.layers - 1, wide.heads - 1
    open_url(browser, wide, "#/run/%d" % a)
    cell = wait_for(browser, lambda br: br.find_element(
        By.CSS_SELECTOR, '#map-class .cell[data-layer="%d"][data-head="%d"]' % (layer, head)), "class map not drawn")
    js(browser, "arguments[0].scrollIntoView({block: 'center'})", cell)
    cell.click()
    wait_for(browser, lambda br: js(br, "return location.hash") == "#/run/%d/head/%d/%d" % (a, layer, head), "head view not opened")
    row = [r for r in wide.get("/api/v1/runs/%d/heads" % a).json()["heads"] if (r["layer"], r["head"]) == (layer, head)][0]
    wait_for(browser, lambda br: js(br, "const c = document.querySelector('#head-numbers [data-class]'); return c && c.dataset.class")
             == row["class"], "head numbers not the API's")
    wait_for(browser, lambda br: "No inspect run of wide" in br.find_element(By.ID, "pattern-status").text, "no offer to inspect")
    browser.find_element(By.ID, "inspect-submit").click()
    wait_for(browser, lambda br: br.find_elements(By.ID, "attn-canvas"), "pattern never drawn", timeout=120)
    runs = wide.get("/api/v1/runs?kind=inspect").json()["runs"]
    assert len(runs) == 1
    att = wide.get("/api/v1/runs/%d/attention?layer=%d&head=%d" % (runs[0]["id"], layer, head)).json()
    canvas = browser.find_element(By.ID, "attn-canvas")
    assert int(canvas.get_attribute("data-tokens")) == att["T"]
    screenshot(browser, "head-view-%s.png" % wide.tag)
    assert_no_script_errors(browser)
