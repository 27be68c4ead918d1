"""Schedules against the real binary: CRUD and validation, a schedule firing within seconds
(the "@every Ns" extension; five-field cron is covered by the C unit tests), a skipped tick while
the previous job still runs, a tick missed while the daemon was down firing once at start-up,
and no tick ever firing twice (also across a kill -9)."""
import time
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

STEPS = {"kind": "test-steps", "steps": 1}


def assert_error(r, status, field=None):
    assert r.status_code == status, (r.status_code, r.text)
    body = r.json()
    assert set(body) == {"error", "detail", "field"}
    if field is not None:
        assert body["field"] == field, body


def schedule_jobs(d, sid):
    jobs = d.get("/api/v1/jobs?limit=500").json()["jobs"]
    return [j for j in jobs if j["schedule_id"] == sid]


def test_crud_and_validation(daemon):
    d = daemon()
    r = d.post("/api/v1/schedules", json={"name": "nightly", "cron": "30 2 * * *",
                                          "job": STEPS, "enabled": False})
    assert r.status_code == 201, r.text
    s = r.json()
    assert s["name"] == "nightly" and s["cron"] == "30 2 * * *" and s["enabled"] is False
    assert s["timezone"] == "UTC" and s["job"] == STEPS
    assert s["next_fire_at"].endswith("T02:30:00.000Z")
    assert s["last_fired_at"] is None
    assert [x["id"] for x in d.get("/api/v1/schedules").json()["schedules"]] == [s["id"]]
    got = d.get("/api/v1/schedules/%d" % s["id"]).json()
    assert got["firings"] == []
    r = d.patch("/api/v1/schedules/%d" % s["id"], json={"enabled": True, "cron": "@hourly"})
    assert r.status_code == 200 and r.json()["enabled"] is True
    assert r.json()["next_fire_at"].endswith(":00:00.000Z")
    r = d.patch("/api/v1/schedules/%d" % s["id"], json={"timezone": "+02:00", "cron": "@daily"})
    assert r.json()["next_fire_at"].endswith("T22:00:00.000Z")  # local midnight at UTC+2
    # An IANA zone: 02:30 in Berlin, whatever the season (the DST rules are unit-tested).
    r = d.patch("/api/v1/schedules/%d" % s["id"], json={"timezone": "Europe/Berlin",
                                                       "cron": "30 2 * * *"})
    assert r.status_code == 200 and r.json()["timezone"] == "Europe/Berlin", r.text
    fire = datetime.fromisoformat(r.json()["next_fire_at"].replace("Z", "+00:00"))
    local = fire.astimezone(ZoneInfo("Europe/Berlin"))
    assert (local.hour, local.minute) == (2, 30)
    assert timedelta(0) < fire - datetime.now(timezone.utc) <= timedelta(days=1)
    assert_error(d.post("/api/v1/schedules", json={"name": "nightly", "cron": "@daily",
                                                    "job": STEPS}), 409, "name")
    bad = [
        ({"cron": "@daily", "job": STEPS}, "name"),
        ({"name": "x", "job": STEPS}, "cron"),
        ({"name": "x", "cron": "@daily"}, "job"),
        ({"name": "x", "cron": "61 * * * *", "job": STEPS}, "cron"),
        ({"name": "x", "cron": "* * * *", "job": STEPS}, "cron"),
        ({"name": "x", "cron": "@sometimes", "job": STEPS}, "cron"),
        ({"name": "x", "cron": "@daily", "job": {"kind": "test-steps"}}, "job.steps"),
        ({"name": "x", "cron": "@daily", "job": {"kind": "nope"}}, "job.kind"),
        ({"name": "x", "cron": "@daily", "job": dict(STEPS, client_id="c")}, "job.client_id"),
        ({"name": "x", "cron": "@daily", "job": STEPS, "enabled": "yes"}, "enabled"),
        ({"name": "x", "cron": "@daily", "job": STEPS, "timezone": "Mars/Base"}, "timezone"),
        ({"name": "x", "cron": "@daily", "job": STEPS, "timezone": "../etc/localtime"}, "timezone"),
        ({"name": "x", "cron": "@daily", "job": STEPS, "extra": 1}, "extra"),
    ]
    for body, field in bad:
        assert_error(d.post("/api/v1/schedules", json=body), 400, field)
    assert_error(d.patch("/api/v1/schedules/999", json={"enabled": False}), 404)
    assert_error(d.delete("/api/v1/schedules/999"), 404)
    assert d.delete("/api/v1/schedules/%d" % s["id"]).status_code == 200
    assert_error(d.get("/api/v1/schedules/%d" % s["id"]), 404)
    assert d.get("/api/v1/schedules").json()["schedules"] == []


def test_fires_within_seconds_and_never_twice(daemon):
    d = daemon()
    r = d.post("/api/v1/schedules", json={"name": "fast", "cron": "@every 1s", "job": STEPS})
    sid = r.json()["id"]
    d.wait_until(lambda: len(schedule_jobs(d, sid)) >= 3, timeout=20)
    d.patch("/api/v1/schedules/%d" % sid, json={"enabled": False})
    time.sleep(0.5)
    jobs = schedule_jobs(d, sid)
    for j in jobs:
        assert d.wait_job(j["id"])["state"] == "succeeded"
    s = d.get("/api/v1/schedules/%d" % sid).json()
    fired = [f for f in s["firings"] if not f["skipped"]]
    assert sorted(f["job_id"] for f in fired) == sorted(j["id"] for j in jobs)
    slots = [j["scheduled_for"] for j in jobs]
    assert len(set(slots)) == len(slots), "a tick fired twice"
    for slot in slots:
        assert slot.endswith(".000Z")
    assert s["last_fired_at"] == max(slots)
    # disabled: nothing more fires
    n = len(schedule_jobs(d, sid))
    time.sleep(2.2)
    assert len(schedule_jobs(d, sid)) == n


def test_tick_skipped_while_previous_job_runs(daemon):
    d = daemon()
    r = d.post("/api/v1/schedules", json={
        "name": "slow", "cron": "@every 1s",
        "job": {"kind": "test-steps", "steps": 40, "step_ms": 100}})
    sid = r.json()["id"]

    def skipped():
        s = d.get("/api/v1/schedules/%d" % sid).json()
        return [f for f in s["firings"] if f["skipped"]]
    skips = d.wait_until(skipped, timeout=20)
    assert "still queued or running" in skips[0]["reason"]
    assert skips[0]["job_id"] is None
    d.patch("/api/v1/schedules/%d" % sid, json={"enabled": False})
    jobs = schedule_jobs(d, sid)
    assert len(jobs) == 1, "only one job while the first was still running"
    d.post("/api/v1/jobs/%d/cancel" % jobs[0]["id"])
    d.wait_job(jobs[0]["id"])


def test_missed_tick_fires_once_after_restart(daemon):
    d = daemon()
    r = d.post("/api/v1/schedules", json={"name": "m", "cron": "@every 2s", "job": STEPS})
    sid = r.json()["id"]
    d.wait_until(lambda: len(schedule_jobs(d, sid)) >= 1, timeout=20)
    d.stop()
    with d.db() as db:
        before = db.execute("SELECT COUNT(*) FROM jobs WHERE schedule_id=?", (sid,)).fetchone()[0]
        next_fire = db.execute("SELECT next_fire_at FROM schedules WHERE id=?", (sid,)).fetchone()[0]
    time.sleep(5.5)  # at least two ticks missed while down
    down_until = int(time.time() * 1000)
    d.start()
    d.wait_until(lambda: len(schedule_jobs(d, sid)) > before, timeout=10)
    d.patch("/api/v1/schedules/%d" % sid, json={"enabled": False})
    with d.db() as db:
        rows = db.execute("SELECT scheduled_for FROM jobs WHERE schedule_id=? ORDER BY scheduled_for",
                          (sid,)).fetchall()
    slots = [x[0] for x in rows]
    assert len(set(slots)) == len(slots)
    # the missed ticks between next_fire and the restart produced exactly one job
    missed = [s for s in slots if next_fire <= s < down_until]
    assert missed == [next_fire], (slots, next_fire, down_until)


def test_no_double_firing_across_kill9(daemon):
    d = daemon()
    r = d.post("/api/v1/schedules", json={"name": "k", "cron": "@every 1s", "job": STEPS})
    sid = r.json()["id"]
    d.wait_until(lambda: len(schedule_jobs(d, sid)) >= 2, timeout=20)
    d.kill9()
    d.start()
    d.wait_until(lambda: len(schedule_jobs(d, sid)) >= 4, timeout=20)
    d.patch("/api/v1/schedules/%d" % sid, json={"enabled": False})
    with d.db() as db:
        slots = [x[0] for x in db.execute(
            "SELECT scheduled_for FROM jobs WHERE schedule_id=?", (sid,)).fetchall()]
        firings = db.execute(
            "SELECT COUNT(*) FROM schedule_firings WHERE schedule_id=? AND skipped=0",
            (sid,)).fetchone()[0]
    assert len(set(slots)) == len(slots)
    assert firings == len(slots)
