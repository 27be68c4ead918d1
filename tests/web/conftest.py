"""Fixtures for the dashboard's browser tests.

``daemon`` and ``surgeond_bin`` are the integration tests' own fixtures (tests/integration/
conftest.py: the real binary on a free loopback port with a temporary data dir), loaded from that
file rather than copied. ``browser`` is a headless Debian Chromium driven by selenium through
Debian's chromedriver, one per test module; paths can be overridden with CHROMIUM and
CHROMEDRIVER.
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
