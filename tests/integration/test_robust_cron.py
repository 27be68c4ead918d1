"""Cron expressions that can never fire are refused over the API: POST and PATCH of a schedule
with February 30th (or April 31st) answer 400 "never matches" on the cron field, while a leap
day (rare but real) is accepted; "@every" exists in the test build the suite runs, and a
release build refuses it."""
import os

import pytest


def assert_never(r):
    assert r.status_code == 400, (r.status_code, r.text)
    body = r.json()
    assert body["field"] == "cron", body
    assert "never matches" in body["detail"], body


STEPS = {"kind": "test-steps", "steps": 1}


def test_never_matching_cron_refused(daemon):
    d = daemon()
    for cron in ("0 0 30 2 *", "0 0 31 apr *", "15 3 30-31 feb *"):
        assert_never(d.post("/api/v1/schedules", json={"name": "n", "cron": cron, "job": STEPS}))
    assert d.get("/api/v1/schedules").json()["schedules"] == []
    r = d.post("/api/v1/schedules", json={"name": "leap", "cron": "0 0 29 2 *", "job": STEPS,
                                          "timezone": "Europe/Berlin"})
    assert r.status_code == 201, r.text
    sid = r.json()["id"]
    assert "-02-29T" in r.json()["next_fire_at"] or "-02-28T" in r.json()["next_fire_at"]
    assert_never(d.patch("/api/v1/schedules/%d" % sid, json={"cron": "0 0 30 2 *"}))
    assert d.get("/api/v1/schedules/%d" % sid).json()["cron"] == "0 0 29 2 *"


def test_every_available_in_test_build(daemon):
    d = daemon()
    assert d.get("/api/v1/version").json()["test_build"] is True
    r = d.post("/api/v1/schedules", json={"name": "e", "cron": "@every 5s", "job": STEPS,
                                          "enabled": False})
    assert r.status_code == 201, r.text


def test_every_refused_by_release_build(daemon):
    """A release build refuses "@every". It runs only when SURGEOND_RELEASE names a release
    binary built from this tree (a build/release/surgeond left from an older tree would test
    old code); the compile-time switch itself is unit-tested in test_core_cron_release.c."""
    path = os.environ.get("SURGEOND_RELEASE")
    if not path or not os.access(path, os.X_OK):
        pytest.skip("set SURGEOND_RELEASE to a release build of this tree (make builds "
                    "build/release/surgeond)")
    d = daemon(start=False)
    d.binary = path
    d.start()
    assert d.get("/api/v1/version").json()["test_build"] is False
    r = d.post("/api/v1/schedules", json={"name": "e", "cron": "@every 5s",
                                          "job": {"kind": "diagnose", "model": "m", "texts": ["a"]}})
    assert r.status_code == 400, r.text
    assert r.json()["field"] == "cron" and "test builds" in r.json()["detail"], r.text
