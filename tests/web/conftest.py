"""Fixtures for the dashboard's browser tests.

``daemon`` and ``surgeond_bin`` are the integration tests' own fixtures (tests/integration/
conftest.py: the real binary on a free loopback port with a temporary data dir), loaded from that
file rather than copied. ``browser`` is a headless Debian Chromium driven by selenium through
Debian's chromedriver, one per test module; paths can be overridden with CHROMIUM and
CHROMEDRIVER. ``lab`` is one daemon per test module with the demo model, a training corpus and
real runs of it (a diagnosis, an evaluation with a diagnosis and a surgery), for the research
views' tests; ``SCREENSHOT_DIR`` is where those tests leave screenshots for a reviewer.
"""
import importlib.util
import os
import shutil

import pytest
from selenium import webdriver
from selenium.webdriver.chrome.service import Service

_INTEGRATION_CONFTEST = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "integration", "conftest.py")
_spec = importlib.util.spec_from_file_location("hs_integration_fixtures", _INTEGRATION_CONFTEST)
_fixtures = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_fixtures)

daemon = _fixtures.daemon
surgeond_bin = _fixtures.surgeond_bin

SCREENSHOT_DIR = os.path.join(_fixtures.REPO_ROOT, "build", "web-screenshots")
# Test modules import names "from conftest"; whichever folder's conftest pytest registered
# under that name first answers, so both conftests define REPO_ROOT and SCREENSHOT_DIR.
REPO_ROOT = _fixtures.REPO_ROOT
_INTEGRATION_DIR = os.path.dirname(_INTEGRATION_CONFTEST)

# The surgery of the integration tests (tests/integration/test_compare_runs.py): it wakes the
# demo model's planted heads in two short epochs.
PLANTED = {"1": [6], "2": [6], "3": [4, 6, 7]}


@pytest.fixture(scope="module")
def lab(surgeond_bin, tmp_path_factory):
    """A daemon with real runs of the demo model: lab.runs = {"diag", "eval", "surgery",
    "steps"} -> run id. Stopped at the end of the module; sanitizer reports fail it."""
    import sys
    sys.path.insert(0, _INTEGRATION_DIR)
    try:
        from test_surgery_api import EVAL_TEXTS, _corpus_text
    finally:
        sys.path.remove(_INTEGRATION_DIR)
    d = _fixtures.Daemon(surgeond_bin, tmp_path_factory.mktemp("lab"))
    d.start()
    try:
        r = d.run_cli("demo-model", "--out", os.path.join(d.model_root, "demo"))
        assert r.returncode == 0, r.stdout + r.stderr
        with open(os.path.join(d.corpus_root, "train.txt"), "w", encoding="utf-8") as f:
            f.write(_corpus_text())
        specs = {
            "diag": {"kind": "diagnose", "model": "demo", "texts": EVAL_TEXTS, "name": "demo baseline",
                     "tags": ["demo", "baseline"], "notes": "the untouched demo model"},
            "eval": {"kind": "evaluate", "model": "demo", "texts": EVAL_TEXTS, "diagnose": True,
                     "name": "demo eval", "tags": ["demo"]},
            "steps": {"kind": "test-steps", "steps": 2, "name": "a test job"},
            "surgery": {"kind": "surgery", "model": "demo", "corpus": "train.txt", "eval_texts": EVAL_TEXTS,
                        "targets": PLANTED, "lr": 3e-3, "batch_size": 2, "grad_accum": 2, "max_length": 32,
                        "epochs": 2, "checkpoint_every": 1, "patience": 0, "seed": 11,
                        "eval_every_steps": 3, "name": "wake planted", "tags": ["surgery"]},
        }
        d.runs = {}
        for key, spec in specs.items():
            d.runs[key] = d.submit(spec)["id"]
        for key, rid in d.runs.items():
            assert d.wait_job(rid, timeout=300)["state"] == "succeeded", key
        yield d
    finally:
        _fixtures.stop_checked(d)


def _find(env, *names):
    path = os.environ.get(env)
    if path:
        return path
    for name in names:
        found = shutil.which(name)
        if found:
            return found
    pytest.fail("%s not found (install Debian's chromium and chromium-driver, "
                "or set %s)" % ("/".join(names), env))


@pytest.fixture(scope="module")
def browser():
    options = webdriver.ChromeOptions()
    options.binary_location = _find("CHROMIUM", "chromium", "chromium-browser")
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--disable-extensions", "--window-size=1400,900", "--lang=en-US"):
        options.add_argument(arg)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(_find("CHROMEDRIVER", "chromedriver")), options=options)
    driver.set_page_load_timeout(30)
    try:
        yield driver
    finally:
        driver.quit()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    if report.when == "call":
        item.hs_call_failed = report.failed


@pytest.fixture(autouse=True)
def page_state_on_failure(request, daemon, browser):
    """After a failed test, prints what the page showed and its console, for the CI log.
    Asks for daemon and browser so that it runs before they are torn down."""
    yield
    if not getattr(request.node, "hs_call_failed", False):
        return
    driver = browser
    try:
        print("\n---- page at failure: %s ----" % driver.current_url)
        print(driver.execute_script("return document.body.innerText")[-4000:])
        for entry in driver.get_log("browser"):
            print("console %s: %s" % (entry["level"], entry["message"][:400]))
    except Exception as e:  # the browser itself may be the failure
        print("could not read the page: %r" % e)
