"""Runs, schedules and control files, on a real mount and a real radosgw:
.run-now (touch, a date, a range, refused input), the scheduler on the test
clock (daily, hourly, pause, resume, catch-up after downtime, 10,000
destinations due at one tick), auto-pause after failed runs, and the audit
log.

The daemon's clock is the test clock (mount options test_now= and
test_speed=): schedules fire in seconds, and downtime is an unmount followed
by a mount with a later test_now (the state database keeps the clocks).
Each test uses its own object-key prefix in the module's bucket.

    /usr/bin/python3 -m pytest tests/integration/test_runs.py
    WAREHOUSEFS_BUILD=build-asan /usr/bin/python3 -m pytest tests/integration/test_runs.py

test_ten_thousand_destinations_due_at_one_tick and
test_touch_run_now_exports_the_latest_day write their timings to
.last-sched-figures.txt beside this file.
"""

import csv
import datetime
import errno
import hashlib
import io
import os
import re
import shutil
import sqlite3
import subprocess
import tempfile
import time

import pytest

from conftest import (TEAM_A, TEAM_U, cat, expected_csv, make_source, parse_kv, read_text,
                      sanitizer_report, status, sync, wait_for)
from rgw_fixture import no_proxy, rgw, settings  # noqa: F401  (fixtures)

HERE = os.path.dirname(os.path.abspath(__file__))
FIGURES = os.path.join(HERE, ".last-sched-figures.txt")
DATA = "analytics_daily.csv"
HISTORY_HEADER = "run_id,trigger,period,started_at,finished_at,files,bytes,result,error"
DONE = ("ok", "partial", "failed")
ISO8601 = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")
SCHED_LINE = re.compile(r" info: scheduler: (\d+) destination\(s\) due, (\d+) run\(s\) "
                        r"started in ([0-9.]+) ms$")
NOBODY = 65534

# Fast everything: scheduler ticks, retries, source checks, kernel caches.
FAST_RUNS = {"tick_ms": "200", "retry_base_ms": "100", "retry_max_ms": "500",
             "connect_timeout_ms": "2000"}


# ------------------------------------------------------------------ helpers

def start(mount_factory, source, started=True, **options):
    opts = dict(FAST_RUNS)
    opts.update({k: str(v) for k, v in options.items()})
    return mount_factory(source, start=started, **opts)


def t(iso):
    """ISO 8601 UTC text to Unix seconds."""
    return int(datetime.datetime.strptime(iso, "%Y-%m-%dT%H:%M:%SZ").replace(
        tzinfo=datetime.timezone.utc).timestamp())


def dates(first, last):
    d0 = datetime.date.fromisoformat(first)
    n = (datetime.date.fromisoformat(last) - d0).days
    return [(d0 + datetime.timedelta(days=i)).isoformat() for i in range(n + 1)]


def root_status(m):
    return parse_kv(read_text(m.path(".status")))


def sim_now(m):
    """The daemon's clock (the test clock), to the second."""
    st = root_status(m)
    return t(st["started_at"]) + int(st["uptime_seconds"])


def history(m, dest):
    text = read_text(m.path(dest, ".history"))
    assert text.splitlines()[0] == HISTORY_HEADER, text
    return list(csv.DictReader(io.StringIO(text)))


def wait_runs(m, dest, n, timeout=30, results=DONE):
    """Waits until dest's history has n runs, all finished; returns them."""
    def done():
        h = history(m, dest)
        return len(h) >= n and all(r["result"] in results for r in h) and h
    try:
        h = wait_for(done, timeout, f"{n} finished run(s) of '{dest}'")
    except AssertionError:
        raise AssertionError(f"history of '{dest}':\n{read_text(m.path(dest, '.history'))}"
                             f"\nstderr:\n{m.stderr[-3000:]}")
    assert len(h) == n, h
    return h


def check_run(r, trigger, period, result="ok", files=None, nbytes=None, note=""):
    """An ok run's error column is empty, or holds its note ("no rows for ...")."""
    assert (r["trigger"], r["period"], r["result"]) == (trigger, period, result), r
    assert ISO8601.match(r["started_at"]) and ISO8601.match(r["finished_at"]), r
    assert r["started_at"] <= r["finished_at"], r
    if files is not None:
        assert int(r["files"]) == files, r
    if nbytes is not None:
        assert int(r["bytes"]) == nbytes, r
    if result == "ok":
        assert r["error"] == note, r


def touch(path):
    p = subprocess.run(["touch", path], capture_output=True, text=True, timeout=30)
    assert p.returncode == 0, p.stderr


def write_control(path, data):
    """Writes data to a control file as `echo DATA > path` does (one write,
    then close): returns the errno of the write or the close, or 0."""
    fd = os.open(path, os.O_WRONLY | os.O_TRUNC)
    try:
        os.write(fd, data)
    except OSError as e:
        try:
            os.close(fd)
        except OSError:
            pass
        return e.errno
    try:
        os.close(fd)
    except OSError as e:
        return e.errno
    return 0


def days_source(path, team, first, last, websites=2):
    """One team with `websites` rows on every day first..last."""
    days = dates(first, last)
    sites = [(f"{team}-w{i}", team, f"w{i}.example") for i in range(websites)]
    rows = [(s[0], d, 10 + i, 5 + i, 20 + i, 0.25, 12.5)
            for d in days for i, s in enumerate(sites)]
    return make_source(path, sites, rows)


def record_figure(key, value):
    """Keeps one 'key: value' line per figure in .last-sched-figures.txt."""
    lines = {}
    if os.path.exists(FIGURES):
        with open(FIGURES, encoding="utf-8") as f:
            for line in f:
                k, sep, v = line.rstrip("\n").partition(": ")
                if sep:
                    lines[k] = v
    lines["binary"] = os.environ.get("WAREHOUSEFS_BIN") or \
        os.environ.get("WAREHOUSEFS_BUILD") or "build"
    lines[key] = value
    with open(FIGURES, "w", encoding="utf-8") as f:
        for k, v in lines.items():
            f.write(f"{k}: {v}\n")
    print(f"{key}: {value}")


# ------------------------------------------------------------------ 1. touch .run-now

def test_touch_run_now_exports_the_latest_day(rgw, source_factory, mount_factory):
    """touch NAME/.run-now: one run of yesterday (UTC, on the test clock); its
    objects are in the bucket once .sync returns, and .history gains exactly
    one line with the run's files and bytes."""
    m = start(mount_factory, source_factory(), test_now="2025-01-15T12:00:00Z")
    prefix = "r1/"
    m.mkdest("main", "*", **settings(rgw, prefix))
    assert history(m, "main") == []

    touch(m.path("main", ".run-now"))
    sync(m, "main")
    # Yesterday is 2025-01-14: teams A and U have rows then, team-b does not.
    want = {f"{team}/2025-01-14/{DATA}": expected_csv(m.source, team, "2025-01-14")
            for team in (TEAM_A, TEAM_U)}
    objects = rgw.objects(prefix)
    assert sorted(objects) == sorted(prefix + k for k in want)
    for k, data in want.items():
        assert objects[prefix + k] == (len(data), hashlib.md5(data).hexdigest())
        assert rgw.get(prefix + k) == data
    h = wait_runs(m, "main", 1)
    check_run(h[0], "run-now", "2025-01-14", "ok", files=2,
              nbytes=sum(len(d) for d in want.values()))
    time.sleep(0.6)  # three ticks: still exactly one run
    assert len(history(m, "main")) == 1
    st = status(m, "main")
    assert st["last_run"] == f"{h[0]['run_id']} run-now 2025-01-14"
    assert (st["last_run_result"], st["last_run_files"]) == ("ok", "2")
    assert st["uploads_ok"] == "2"
    # team-b has no rows that day: one skipped.
    assert re.search(r" info: run 1 of 'main' \(run-now 2025-01-14\) finished: ok, "
                     r"2 file\(s\), \d+ bytes, 1 skipped, \d+ s$", m.stderr, re.M), \
        m.stderr[-2000:]

    # One team-day, timed from the touch to the object being in the bucket.
    m.mkdest("one", TEAM_A, **settings(rgw, "r1one/"))
    t0 = time.monotonic()
    touch(m.path("one", ".run-now"))
    sync(m, "one")
    elapsed = time.monotonic() - t0
    key = f"r1one/{TEAM_A}/2025-01-14/{DATA}"
    assert list(rgw.objects("r1one/")) == [key]
    size = rgw.objects("r1one/")[key][0]
    record_figure("touch .run-now to object in bucket (one team-day)",
                  f"{elapsed * 1000:.0f} ms ({size} bytes)")
    assert elapsed < 10


def test_each_touch_form_is_one_run(rgw, source_factory, mount_factory):
    """touch(1), a bare utime() and an open-close with nothing written each
    start exactly one run; an hourly destination's touch exports yesterday
    and today so far."""
    m = start(mount_factory, source_factory(), test_now="2025-01-15T12:00:00Z")
    m.mkdest("t", TEAM_A, **settings(rgw, "r1t/"))
    run_now = m.path("t", ".run-now")
    touch(run_now)
    wait_runs(m, "t", 1)
    os.utime(run_now)
    wait_runs(m, "t", 2)
    with open(run_now, "w"):
        pass
    wait_runs(m, "t", 3)
    fd = os.open(run_now, os.O_WRONLY)
    os.utime(fd)  # futimens on the open file: still the close's one trigger
    os.close(fd)
    h = wait_runs(m, "t", 4)
    time.sleep(0.6)
    h = history(m, "t")
    assert len(h) == 4, h
    for r in h:
        check_run(r, "run-now", "2025-01-14", "ok", files=1)
    # The first run uploaded the file; the others found that version there.
    assert status(m, "t")["uploads_ok"] == "1"

    m.write_config("t", {"schedule": "hourly"})
    touch(run_now)
    h = wait_runs(m, "t", 5)
    check_run(h[4], "run-now", "2025-01-14..2025-01-15", "ok", files=2)
    sync(m, "t")
    assert sorted(rgw.objects("r1t/")) == [f"r1t/{TEAM_A}/{d}/{DATA}"
                                           for d in ("2025-01-14", "2025-01-15")]


def test_touch_has_acted_when_it_returns(source_factory, mount_factory):
    """A script may read .status right after touch(1) returns: the pause or
    resume has happened by then (the kernel sends the close's RELEASE
    asynchronously, so the daemon must not wait for it to act)."""
    m = start(mount_factory, source_factory(), test_now="2025-01-15T12:00:00Z")
    m.mkdest("p", TEAM_A)
    stale = []
    for i in range(25):
        touch(m.path("p", ".pause"))
        if status(m, "p")["state"] != "paused":
            stale.append(f"{i}: pause")
        touch(m.path("p", ".resume"))
        if status(m, "p")["state"] != "active":
            stale.append(f"{i}: resume")
    assert not stale, stale
    audit = list(csv.DictReader(io.StringIO(read_text(m.path(".audit")))))
    assert [a["action"] for a in audit[2:]] == ["pause", "resume"] * 25


# ------------------------------------------------------------------ 2. backfill

def test_backfill_range_then_again_uploads_nothing_new(rgw, tmp_path, mount_factory):
    src = days_source(str(tmp_path / "days.db"), "bf", "2023-12-30", "2024-02-02")
    # debug: the log has a line per uploaded object, counted below.
    m = start(mount_factory, src, test_now="2025-01-15T12:00:00Z", log_level="debug")
    prefix = "r2/"
    m.mkdest("bf", "bf", **settings(rgw, prefix))

    p = subprocess.run(["sh", "-c", f"echo 2024-01-01..2024-01-31 > '{m.path('bf', '.run-now')}'"],
                       capture_output=True, text=True)
    assert p.returncode == 0, p.stderr
    sync(m, "bf")
    january = dates("2024-01-01", "2024-01-31")
    objects = rgw.objects(prefix)
    assert sorted(objects) == [f"{prefix}bf/{d}/{DATA}" for d in january]
    for d in ("2024-01-01", "2024-01-17", "2024-01-31"):
        assert rgw.get(f"{prefix}bf/{d}/{DATA}") == expected_csv(src, "bf", d)
    h = wait_runs(m, "bf", 1)
    total = sum(size for size, _ in objects.values())
    check_run(h[0], "backfill", "2024-01-01..2024-01-31", "ok", files=31, nbytes=total)
    st = status(m, "bf")
    assert (st["uploads_ok"], st["bytes_uploaded"]) == ("31", str(total))
    before = root_status(m)
    etags = {k: e for k, (_, e) in objects.items()}

    # The same range again: a new run, nothing uploaded.
    assert write_control(m.path("bf", ".run-now"), b"2024-01-01..2024-01-31\n") == 0
    sync(m, "bf")
    h = wait_runs(m, "bf", 2)
    check_run(h[1], "backfill", "2024-01-01..2024-01-31", "ok", files=31, nbytes=total)
    st = status(m, "bf")
    assert (st["uploads_ok"], st["bytes_uploaded"]) == ("31", str(total))
    after = root_status(m)
    assert (after["uploads_ok"], after["bytes_uploaded"]) == \
        (before["uploads_ok"], before["bytes_uploaded"])
    assert {k: e for k, (_, e) in rgw.objects(prefix).items()} == etags
    assert len(re.findall(r" debug: uploaded s3://", m.stderr)) == 31

    # Lines and commas are one run; days without rows are skipped; only the
    # two new days upload.
    assert write_control(m.path("bf", ".run-now"),
                         b"2023-12-25..2023-12-31\n2024-01-01,2024-01-02\n") == 0
    sync(m, "bf")
    h = wait_runs(m, "bf", 3)
    check_run(h[2], "backfill", "2023-12-25..2023-12-31,2024-01-01,2024-01-02", "ok",
              files=4)
    assert status(m, "bf")["uploads_ok"] == "33"
    assert len(rgw.objects(prefix)) == 33
    assert re.search(r" info: run 3 of 'bf' \(backfill [^)]*\) finished: ok, 4 file\(s\), "
                     r"\d+ bytes, 5 skipped, \d+ s$", m.stderr, re.M), m.stderr[-2000:]

    # One date is a run-now of that date only.
    assert write_control(m.path("bf", ".run-now"), b"2024-02-02\n") == 0
    h = wait_runs(m, "bf", 4)
    check_run(h[3], "run-now", "2024-02-02", "ok", files=1)


def test_a_period_without_rows_is_an_ok_run_that_says_so(rgw, tmp_path, mount_factory):
    """Issue 18.4: a run whose period has no source rows is ok with 0 files,
    and .history (in its error column) and .status (last_run_note) say
    "no rows for PERIOD"; a run that exported files has no note.  A state
    database made before runs had notes gains the column at the next mount."""
    src = days_source(str(tmp_path / "gap.db"), "gap", "2025-01-10", "2025-01-12")
    m = start(mount_factory, src, test_now="2025-01-15T12:00:00Z")
    prefix = "r2gap/"
    m.mkdest("gap", "gap", **settings(rgw, prefix))

    def last(n, trigger, period, files, note):
        h = wait_runs(m, "gap", n)
        check_run(h[-1], trigger, period, "ok", files=files, note=note)
        st = status(m, "gap")
        assert st["last_run"] == f"{h[-1]['run_id']} {trigger} {period}", st
        assert (st["last_run_result"], st["last_run_files"]) == ("ok", str(files)), st
        assert st.get("last_run_note", "") == note and "last_run_error" not in st, st
        return h

    touch(m.path("gap", ".run-now"))  # yesterday, 2025-01-14: no rows
    h = last(1, "run-now", "2025-01-14", 0, "no rows for 2025-01-14")
    assert h[0]["bytes"] == "0", h[0]
    assert write_control(m.path("gap", ".run-now"), b"2024-12-01..2024-12-31\n") == 0
    last(2, "backfill", "2024-12-01..2024-12-31", 0, "no rows for 2024-12-01..2024-12-31")
    assert write_control(m.path("gap", ".run-now"), b"2025-01-12..2025-01-14\n") == 0
    last(3, "backfill", "2025-01-12..2025-01-14", 1, "")
    sync(m, "gap")
    assert list(rgw.objects(prefix)) == [f"{prefix}gap/2025-01-12/{DATA}"]
    assert re.search(r" info: run 1 of 'gap' \(run-now 2025-01-14\) finished: ok, 0 file\(s\), "
                     r"0 bytes, 1 skipped, \d+ s; no rows for 2025-01-14$", m.stderr, re.M), \
        m.stderr[-2000:]

    # Kept across a remount; an older state database (runs without a note
    # column) gets one, and its old runs show no note.
    m.remount()
    assert [r["error"] for r in history(m, "gap")] == \
        ["no rows for 2025-01-14", "no rows for 2024-12-01..2024-12-31", ""]
    assert m.stop() == 0
    db = sqlite3.connect(m.state)
    db.execute("ALTER TABLE runs DROP COLUMN note")
    db.commit()
    db.close()
    m.start()
    assert [r["error"] for r in history(m, "gap")] == ["", "", ""]
    touch(m.path("gap", ".run-now"))
    last(4, "run-now", "2025-01-14", 0, "no rows for 2025-01-14")


# Refused .run-now input: (bytes written, reason in .status).  "Today" is
# 2025-01-15 on the test clock; backfill_span is 100 days.
BAD_RUN_NOW = [
    (b"yesterday\n", "'yesterday' is not a date"),
    (b"2025-1-14\n", "'2025-1-14' is not a date"),
    (b"2025-01-32\n", "is not a date"),
    (b"2025-02-29\n", "is not a date"),
    (b"2025-13-01\n", "is not a date"),
    (b"2025/01/14\n", "is not a date"),
    (b"2025-01-14T00:00:00Z\n", "is not a date"),
    (b"2025-01-01...2025-01-02\n", "is not a date"),
    (b"2025-01-01..\n", "is not a date"),
    (b"2025-01-13 2025-01-14\n", "is not a date"),
    (b"2025-01-14,nope\n", "'nope' is not a date"),
    (b"2025-01-1", "'2025-01-1' is not a date"),  # no newline: refused at close
    (b"rm -rf /\n", "is not a date"),
    (b"2025-01-16\n", "'2025-01-16' is in the future (today is 2025-01-15 UTC)"),
    (b"2026-01-01..2026-01-31\n", "is in the future"),
    (b"2025-01-10..2025-01-01\n", "range '2025-01-10..2025-01-01' ends before it starts"),
    (b"2024-01-01..2024-12-31\n", "366 days asked for, at most 100"),
    (b"2024-10-07..2025-01-15\n", "101 days asked for, at most 100"),
    (b"2024-12-01..2024-12-31,2024-08-01..2024-10-31\n", "123 days asked for, at most 100"),
    (b"2025-01-14\x00\n", "bytes that are not dates"),
    (b"\xff\xfe2025-01-14\n", "bytes that are not dates"),
    ("\uff12\uff10\uff12\uff15-01-14\n".encode(), "bytes that are not dates"),
    (b"2025-01-14\x1b[31m\n", "bytes that are not dates"),
    (b"\x01", "bytes that are not dates"),
]


def test_bad_run_now_input_is_einval_explained_and_starts_nothing(
        rgw, source_factory, mount_factory):
    m = start(mount_factory, source_factory(), test_now="2025-01-15T12:00:00Z",
              backfill_span=100)
    m.mkdest("v", TEAM_A, **settings(rgw, "r2v/"))
    path = m.path("v", ".run-now")
    assert len(BAD_RUN_NOW) >= 15
    problems = []
    for data, why in BAD_RUN_NOW:
        err = write_control(path, data)
        if err != errno.EINVAL:
            problems.append(f"{data!r}: errno {err} ({os.strerror(err) if err else 'ok'})")
            continue
        reason = status(m, "v")["last_config_error"]
        if not reason.startswith(".run-now: ") or why not in reason:
            problems.append(f"{data!r}: .status says {reason!r}, want {why!r}")
    # Several writes: a bad line after a good one refuses the lot, at write().
    fd = os.open(path, os.O_WRONLY)
    os.write(fd, b"2025-01-14\n")
    with pytest.raises(OSError) as e:
        os.write(fd, b"2025-01-13\nbogus\n")
    assert e.value.errno == errno.EINVAL
    with pytest.raises(OSError) as e:
        os.close(fd)
    assert e.value.errno == errno.EINVAL
    assert "'bogus' is not a date" in status(m, "v")["last_config_error"]
    assert not problems, "\n".join(problems)

    # Nothing started: no run, no upload, nothing in the audit log.
    time.sleep(0.5)
    assert history(m, "v") == []
    rs = root_status(m)
    assert (rs["runs_active"], rs["runs_done"], rs["uploads_ok"]) == ("0", "0", "0")
    audit = list(csv.DictReader(io.StringIO(read_text(m.path(".audit")))))
    assert [a["action"] for a in audit] == ["create", "config"], audit
    assert rgw.objects("r2v/") == {}
    assert m.stderr.count("refused .run-now: ") == len(BAD_RUN_NOW) + 1

    # The span itself is accepted (100 days; team A has two of them).
    assert write_control(path, b"2024-10-08..2025-01-15\n") == 0
    h = wait_runs(m, "v", 1)
    check_run(h[0], "backfill", "2024-10-08..2025-01-15", "ok", files=2)


# ------------------------------------------------------------------ 3. schedules

def sched_source(tmp_path):
    return days_source(str(tmp_path / "sched.db"), "sched", "2025-01-05", "2025-01-25")


def schedule_runs(m, dest):
    return [r for r in history(m, dest) if r["trigger"] == "schedule"]


def test_daily_and_hourly_fire_and_pause_skips_and_resume_keeps_the_phase(
        rgw, tmp_path, mount_factory):
    """At 600x (a tick every 2 simulated minutes): the 00:00 slot runs both
    destinations (daily: yesterday; hourly's first slot of the day:
    yesterday and today so far); a paused hourly destination runs nothing at
    01:00 and 02:00; resumed, its clock is at the next hour (same phase), the
    fallen slots do not run, and the next slot does."""
    m = start(mount_factory, sched_source(tmp_path), test_now="2025-01-14T23:30:00Z",
              test_speed=600)
    m.mkdest("daily", "sched", **settings(rgw, "r3d/"))
    m.mkdest("hourly", "sched", **settings(rgw, "r3h/", schedule="hourly"))
    assert sim_now(m) < t("2025-01-14T23:50:00Z"), "the mount took too long"
    assert status(m, "daily")["next_run_at"] == "2025-01-15T00:00:00Z"
    assert status(m, "hourly")["next_run_at"] == "2025-01-15T00:00:00Z"
    assert history(m, "daily") == [] and history(m, "hourly") == []

    hd = wait_runs(m, "daily", 1, timeout=20)
    check_run(hd[0], "schedule", "2025-01-14", "ok", files=1)
    hh = wait_runs(m, "hourly", 1, timeout=20)
    check_run(hh[0], "schedule", "2025-01-14..2025-01-15", "ok", files=2)
    assert sim_now(m) < t("2025-01-15T00:45:00Z"), "too slow to see the 00:00 slot alone"
    touch(m.path("hourly", ".pause"))
    st = status(m, "hourly")
    assert st["state"] == "paused"
    assert st["paused_reason"] == "paused by .pause"
    assert st["next_run_at"] == "2025-01-15T01:00:00Z (paused)"
    assert status(m, "daily")["next_run_at"] == "2025-01-16T00:00:00Z"
    sync(m, "daily")
    assert sorted(rgw.objects("r3d/")) == [f"r3d/sched/2025-01-14/{DATA}"]
    assert sorted(rgw.objects("r3h/")) == [f"r3h/sched/{d}/{DATA}"
                                           for d in ("2025-01-14", "2025-01-15")]

    # 01:00 and 02:00 fall while paused.
    wait_for(lambda: sim_now(m) >= t("2025-01-15T02:05:00Z"), 40, "02:05 on the test clock")
    assert len(history(m, "hourly")) == 1
    assert root_status(m)["destinations_paused"] == "1"
    touch(m.path("hourly", ".resume"))
    resumed_at = sim_now(m)
    assert resumed_at < t("2025-01-15T02:45:00Z"), "too slow to resume before 03:00"
    st = status(m, "hourly")
    assert st["state"] == "active" and "paused_reason" not in st
    assert st["next_run_at"] == "2025-01-15T03:00:00Z"  # minute 0: the phase kept
    time.sleep(0.6)  # 6 simulated minutes: the fallen slots do not run
    assert len(history(m, "hourly")) == 1

    hh = wait_runs(m, "hourly", 2, timeout=30)
    check_run(hh[1], "schedule", "2025-01-15", "ok", files=1)
    assert status(m, "hourly")["next_run_at"] == "2025-01-15T04:00:00Z"
    # The daily destination ran once, at its 00:00 slot only.
    assert len(history(m, "daily")) == 1
    # Two ticks had work: 00:00 (both) and 03:00; none while paused.
    assert [g.group(1, 2) for g in map(SCHED_LINE.search, m.stderr.splitlines()) if g] == \
        [("2", "2"), ("1", "1")]


def test_three_day_downtime_runs_each_destination_once(rgw, tmp_path, mount_factory):
    """Unmounted for three days: at the next mount each destination runs
    once, covering every day it missed; paused destinations do not run;
    resumed, their clocks keep their phase and the slots that fell while
    they were paused are never run."""
    m = start(mount_factory, sched_source(tmp_path), test_now="2025-01-14T12:00:00Z")
    daily = ["d1", "d2", "d3"]
    for name in daily + ["paused", "phase"]:
        m.mkdest(name, "sched", **settings(rgw, f"r4{name}/"))
    m.mkdest("h1", "sched", **settings(rgw, "r4h1/", schedule="hourly"))
    everyone = daily + ["paused", "phase", "h1"]
    m.stop()

    # 2025-01-15 00:00: the first slot of every destination.
    m.options["test_now"] = "2025-01-15T00:00:05Z"
    m.start()
    for name in everyone:
        h = wait_runs(m, name, 1)
        check_run(h[0], "schedule", "2025-01-14..2025-01-15" if name == "h1" else "2025-01-14")
    touch(m.path("paused", ".pause"))
    touch(m.path("phase", ".pause"))
    m.stop()
    # A clock off midnight (as an old version or an operator may leave it).
    db = sqlite3.connect(m.state)
    with db:
        db.execute("UPDATE destinations SET next_run_at = ? WHERE name = 'phase'",
                   (t("2025-01-16T06:30:00Z"),))
    db.close()

    # Three days later.
    m.options["test_now"] = "2025-01-18T00:00:30Z"
    m.start()
    for name in daily:
        h = wait_runs(m, name, 2)
        check_run(h[1], "schedule", "2025-01-15..2025-01-17", "ok", files=3)
        assert status(m, name)["next_run_at"] == "2025-01-19T00:00:00Z"
    h = wait_runs(m, "h1", 2)
    # hourly: the last day covered was only "so far": redone, then to today.
    check_run(h[1], "schedule", "2025-01-15..2025-01-18", "ok", files=4)
    time.sleep(1.0)  # five ticks: once each, not a burst
    for name in everyone:
        assert len(history(m, name)) == (1 if name in ("paused", "phase") else 2), name
    assert re.search(r"scheduler: 4 destination\(s\) due, 4 run\(s\) started", m.stderr)
    sync(m, "d1")
    assert sorted(rgw.objects("r4d1/")) == [f"r4d1/sched/{d}/{DATA}"
                                            for d in dates("2025-01-14", "2025-01-17")]
    assert status(m, "paused")["next_run_at"] == "2025-01-16T00:00:00Z (paused)"
    touch(m.path("paused", ".resume"))
    touch(m.path("phase", ".resume"))
    assert status(m, "paused")["next_run_at"] == "2025-01-19T00:00:00Z"
    assert status(m, "phase")["next_run_at"] == "2025-01-18T06:30:00Z"
    time.sleep(0.6)
    assert len(history(m, "paused")) == 1 and len(history(m, "phase")) == 1
    m.stop()

    # A day later: the resumed ones export only what their next slot covers.
    m.options["test_now"] = "2025-01-19T00:00:10Z"
    m.start()
    check_run(wait_runs(m, "paused", 2)[1], "schedule", "2025-01-18", "ok", files=1)
    check_run(wait_runs(m, "phase", 2)[1], "schedule", "2025-01-17", "ok", files=1)
    assert status(m, "phase")["next_run_at"] == "2025-01-19T06:30:00Z"
    check_run(wait_runs(m, "d1", 3)[2], "schedule", "2025-01-18", "ok", files=1)
    sync(m, "paused")
    assert sorted(rgw.objects("r4paused/")) == [f"r4paused/sched/{d}/{DATA}"
                                                for d in ("2025-01-14", "2025-01-18")]


# ------------------------------------------------------------------ 4. 10,000 due

N_DESTS = 10000


def vault_blob(key, dest_id, secret):
    """A secret as vault.c stores it: version 1 | nonce | AES-256-GCM
    ciphertext | tag, the destination id (decimal) as associated data."""
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM
    nonce = os.urandom(12)
    return b"\x01" + nonce + AESGCM(key).encrypt(nonce, secret.encode(),
                                                 str(dest_id).encode())


def vault_open(key, dest_id, blob):
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM
    assert blob[0] == 1
    return AESGCM(key).decrypt(blob[1:13], blob[13:], str(dest_id).encode()).decode()


def test_ten_thousand_destinations_due_at_one_tick(rgw, tmp_path, mount_factory):
    """10,000 configured destinations due at once: the first tick finds and
    starts all of them (one query, one transaction), without error, and
    their uploads go to radosgw.  The destinations are made by copying the
    settings of one made through the mount into the state database (each
    secret encrypted for its own id, as the vault binds it), because 10,000
    mkdirs and .config writes would take most of a minute."""
    pytest.importorskip("cryptography", reason="python3-cryptography makes the secrets")
    src = make_source(str(tmp_path / "t10k.db"), [("w1", "t10k", "x.example")],
                      [("w1", "2025-01-15", 1, 1, 1, 0.5, 1.0)])
    m = start(mount_factory, src, test_now="2025-01-15T12:00:00Z")
    m.mkdest("d00000", "t10k", **settings(rgw, "r5/d00000/"))
    m.stop()

    key = open(m.keyfile, "rb").read()
    t0 = time.monotonic()
    db = sqlite3.connect(m.state)
    seed, created, next_run_at = db.execute(
        "SELECT id, created_at, next_run_at FROM destinations WHERE name = 'd00000'"
    ).fetchone()
    assert next_run_at == t("2025-01-16T00:00:00Z")
    blob = db.execute("SELECT value FROM settings WHERE dest_id = ? AND "
                      "key = 'secret_access_key'", (seed,)).fetchone()[0]
    assert vault_open(key, seed, blob) == rgw.secret_key  # the format is understood
    with db:
        for i in range(1, N_DESTS):
            name = f"d{i:05d}"
            did = db.execute("INSERT INTO destinations(name, created_at, next_run_at) "
                             "VALUES(?, ?, ?)", (name, created, next_run_at)).lastrowid
            db.execute("INSERT INTO settings(dest_id, key, value) SELECT ?, key, value "
                       "FROM settings WHERE dest_id = ? AND key NOT IN "
                       "('prefix', 'secret_access_key')", (did, seed))
            db.executemany("INSERT INTO settings(dest_id, key, value) VALUES(?, ?, ?)",
                           [(did, "prefix", f"r5/{name}/".encode()),
                            (did, "secret_access_key",
                             vault_blob(key, did, rgw.secret_key))])
    db.close()
    made = time.monotonic() - t0

    m.options["test_now"] = "2025-01-16T00:00:30Z"
    t0 = time.monotonic()
    m.start()
    mounted = time.monotonic() - t0
    line = wait_for(lambda: [SCHED_LINE.search(x) for x in m.stderr.splitlines()
                             if SCHED_LINE.search(x)], 60, "the scheduler's log line")
    due, started, ms = int(line[0].group(1)), int(line[0].group(2)), float(line[0].group(3))
    assert (due, started) == (N_DESTS, N_DESTS), line[0].group(0)
    assert len(line) == 1, [x.group(0) for x in line]  # one tick found them all
    errors = [x for x in m.stderr.splitlines() if " error: " in x]
    assert not errors, errors[:5]
    record_figure(f"scheduler: find and start {N_DESTS} due destinations",
                  f"{ms:.1f} ms (mount with {N_DESTS} destinations: {mounted:.2f} s; "
                  f"made in the state database in {made:.1f} s)")

    rs = root_status(m)
    assert rs["destinations"] == str(N_DESTS)
    assert int(rs["runs_active"]) + int(rs["runs_done"]) == N_DESTS, rs
    for name in ("d00000", "d04567", f"d{N_DESTS - 1:05d}"):
        st = status(m, name)
        assert (st["configured"], st["next_run_at"]) == ("yes", "2025-01-17T00:00:00Z"), st
        assert st["last_run"].endswith(" schedule 2025-01-15"), st
    # Their uploads go to radosgw (all of them would take minutes; see the report).
    t0 = time.monotonic()
    wait_for(lambda: len(rgw.objects("r5/")) >= 200, 120, "200 uploads of the 10,000")
    rate = 200 / (time.monotonic() - t0)
    check_run(wait_runs(m, "d00000", 1, timeout=60)[0], "schedule", "2025-01-15", "ok",
              files=1)
    record_figure(f"runs of the {N_DESTS} (one small file each) finishing", f"~{rate:.0f}/s")
    assert not [x for x in m.stderr.splitlines() if " error: " in x]

    # Unmounting with thousands of runs queued is prompt: runners stop
    # between runs, and the rest wait in the state database for the next mount.
    t0 = time.monotonic()
    assert m.stop() == 0
    assert time.monotonic() - t0 < 5, "unmount waited for the queued runs"
    db = sqlite3.connect(m.state)
    counts = dict(db.execute("SELECT status, COUNT(*) FROM runs GROUP BY status"))
    db.close()
    assert sum(counts.values()) == N_DESTS and counts.get("queued", 0) > 0, counts
    m.options["test_now"] = "2025-01-16T00:10:00Z"
    m.start()
    wait_for(lambda: int(root_status(m)["runs_done"]) > counts.get("done", 0) + 50, 60,
             "the queued runs to go on after the remount")
    assert len([x for x in m.stderr.splitlines() if SCHED_LINE.search(x)]) == 1


# ------------------------------------------------------------------ 5. auto-pause

def test_failed_runs_pause_the_destination_and_resume_restarts_it(
        rgw, source_factory, mount_factory):
    m = start(mount_factory, source_factory(), test_now="2025-01-15T12:00:00Z",
              max_failures=2)
    prefix = "r6/"
    m.mkdest("bad", TEAM_A, **settings(rgw, prefix, secret_access_key="wrong-secret-0001"))
    touch(m.path("bad", ".run-now"))
    h = wait_runs(m, "bad", 1)
    check_run(h[0], "run-now", "2025-01-14", "failed", files=1)
    assert "SignatureDoesNotMatch" in h[0]["error"], h[0]
    st = status(m, "bad")
    assert (st["state"], st["failed_runs_in_a_row"]) == ("active", "1"), st

    touch(m.path("bad", ".run-now"))
    h = wait_runs(m, "bad", 2)
    check_run(h[1], "run-now", "2025-01-14", "failed")
    st = status(m, "bad")
    assert (st["state"], st["failed_runs_in_a_row"]) == ("paused", "2"), st
    assert st["paused_reason"].startswith("auto: 2 runs failed in a row"), st
    assert "SignatureDoesNotMatch" in st["last_run_error"], st
    assert "SignatureDoesNotMatch" in read_text(m.path("bad", ".status"))
    assert root_status(m)["destinations_paused"] == "1"
    assert "paused itself after repeated failed runs" in m.stderr
    p = cat(m.path("bad", ".sync"))
    assert p.returncode == 0 and b"reason = paused" in p.stdout, p

    # While paused, a manual run still works (with the secret fixed).
    m.write_config("bad", {"secret_access_key": rgw.secret_key})
    touch(m.path("bad", ".run-now"))
    h = wait_runs(m, "bad", 3)
    check_run(h[2], "run-now", "2025-01-14", "ok", files=1)
    assert list(rgw.objects(prefix)) == [f"{prefix}{TEAM_A}/2025-01-14/{DATA}"]
    st = status(m, "bad")
    assert (st["state"], st["failed_runs_in_a_row"]) == ("paused", "0"), st

    touch(m.path("bad", ".resume"))
    st = status(m, "bad")
    assert st["state"] == "active" and "paused_reason" not in st, st
    assert st["next_run_at"] == "2025-01-16T00:00:00Z"
    assert root_status(m)["destinations_paused"] == "0"
    sync(m, "bad")


def test_runs_waiting_on_a_dead_endpoint_do_not_hold_up_other_runs(
        rgw, source_factory, mount_factory):
    """70 destinations whose endpoint refuses connections keep their runs'
    uploads retrying; a healthy destination's run still finishes at once
    (finished runs are not queued behind unfinished ones)."""
    m = start(mount_factory, source_factory(), test_now="2025-01-15T12:00:00Z",
              upload_retries=1000, retry_base_ms=200, retry_max_ms=1000)
    dead = []
    for i in range(70):
        name = f"dead{i:02d}"
        m.mkdest(name, TEAM_A, **settings(rgw, f"r8/{name}/",
                                          endpoint="http://127.0.0.1:9"))
        touch(m.path(name, ".run-now"))
        dead.append(name)
    wait_for(lambda: all(history(m, n) and history(m, n)[0]["result"] == "uploading"
                         for n in dead), 30, "the dead destinations' runs to be uploading")
    m.mkdest("alive", TEAM_A, **settings(rgw, "r8/alive/"))
    touch(m.path("alive", ".run-now"))
    sync(m, "alive")
    check_run(wait_runs(m, "alive", 1, timeout=5)[0], "run-now", "2025-01-14", "ok",
              files=1)
    assert all(history(m, n)[0]["result"] == "uploading" for n in dead)


# ------------------------------------------------------------------ 5b. logs

def test_a_run_logs_one_info_line_and_each_object_only_at_debug(
        rgw, tmp_path, mount_factory):
    """Issue 18.6: a 40-day backfill logs one summary line at info (files,
    bytes, duration, result), not one per object; log_level=debug adds a
    line per uploaded object."""
    src = days_source(str(tmp_path / "logs.db"), "logs", "2024-03-01", "2024-04-09")
    for level in ("info", "debug"):
        m = start(mount_factory, src, test_now="2025-01-15T12:00:00Z", log_level=level)
        prefix = f"r5logs-{level}/"
        m.mkdest("logs", "logs", **settings(rgw, prefix))
        assert write_control(m.path("logs", ".run-now"), b"2024-03-01..2024-04-09\n") == 0
        sync(m, "logs")
        objects = rgw.objects(prefix)
        assert len(objects) == 40
        total = sum(size for size, _ in objects.values())
        check_run(wait_runs(m, "logs", 1)[0], "backfill", "2024-03-01..2024-04-09", "ok",
                  files=40, nbytes=total)
        assert m.stop() == 0
        lines = m.stderr.splitlines()
        info = [line for line in lines if " info: " in line]
        runs = [line for line in info if re.search(r" info: run \d+ ", line)]
        assert len(runs) == 1, runs
        assert re.search(r" info: run 1 of 'logs' \(backfill 2024-03-01\.\.2024-04-09\) "
                         rf"finished: ok, 40 file\(s\), {total} bytes, 0 skipped, \d+ s$",
                         runs[0]), runs[0]
        assert not [line for line in info if prefix in line or "s3://" in line], info
        assert len(info) < 10, "\n".join(info)
        uploaded = [line for line in lines if " debug: uploaded s3://" in line]
        assert len(uploaded) == (40 if level == "debug" else 0), uploaded[:5]


# ------------------------------------------------------------------ 6. audit

def as_nobody(argv, stdin=None):
    """Runs argv as uid/gid 65534 (setpriv execs it: its pid is the caller's)."""
    p = subprocess.Popen(["setpriv", f"--reuid={NOBODY}", f"--regid={NOBODY}",
                          "--clear-groups", *argv], stdin=subprocess.PIPE,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    out, err = p.communicate(stdin, timeout=30)
    return p.pid, p.returncode, out.decode(), err.decode()


def test_audit_log_records_who_did_what_and_never_a_secret(
        rgw, source_factory, mount_factory):
    if not shutil.which("setpriv"):
        pytest.skip("setpriv (util-linux) is needed to act as another user")
    if os.geteuid() != 0:
        pytest.skip("acting as another user needs root")
    m = start(mount_factory, source_factory(), started=False,
              test_now="2025-01-15T12:00:00Z")
    # Other users must reach the mount point (pytest's tmp dirs are 0700) and
    # be let in (allow_other, a flag conftest's key=value options cannot say).
    public = tempfile.mkdtemp(prefix="wfs-audit-", dir="/tmp")
    os.chmod(public, 0o755)
    m.mnt = os.path.join(public, "mnt")
    os.mkdir(m.mnt)
    argv = m.argv
    m.argv = lambda *a, **k: argv(*a, **k)[:-1] + ["-o", "allow_other", m.mnt]
    secret_root = rgw.secret_key
    secret_nobody = "NobodysSecret/with+special=chars42"
    try:
        m.start()
        me = os.getpid()
        os.mkdir(m.path("aud"))
        m.write_config("aud", {"team_id": TEAM_A, **settings(rgw, "r7/")})
        touch_pid = subprocess.Popen(["touch", m.path("aud", ".run-now")])
        assert touch_pid.wait() == 0
        os.utime(m.path("aud", ".pause"))
        os.utime(m.path("aud", ".resume"))

        pid_mkdir, rc, _, err = as_nobody(["mkdir", m.path("nob")])
        assert rc == 0, err
        pid_config, rc, _, err = as_nobody(
            ["tee", m.path("nob", ".config")],
            f"team_id = {TEAM_A}\nschedule = hourly\nsecret_access_key = {secret_nobody}\n"
            .encode())
        assert rc == 0, err
        pid_run, rc, _, err = as_nobody(["touch", m.path("nob", ".run-now")])
        assert rc == 0, err
        pid_backfill, rc, _, err = as_nobody(["tee", m.path("nob", ".run-now")],
                                             b"2025-01-01..2025-01-03\n")
        assert rc == 0, err
        pid_pause, rc, _, err = as_nobody(["touch", m.path("nob", ".pause")])
        assert rc == 0, err
        pid_resume, rc, _, err = as_nobody(["touch", m.path("nob", ".resume")])
        assert rc == 0, err
        # Refused input is not an action.
        _, rc, _, _ = as_nobody(["tee", m.path("nob", ".run-now")], b"2099-01-01\n")
        assert rc != 0

        # .audit: the owner's (0400); EACCES for anyone else.
        assert os.stat(m.path(".audit")).st_mode & 0o777 == 0o400
        _, rc, out, err = as_nobody([
            "/usr/bin/python3", "-c",
            "import sys\ntry:\n open(sys.argv[1]).read()\nexcept OSError as e:\n"
            " print(e.errno)\nelse:\n print(0)", m.path(".audit")])
        assert rc == 0 and out.strip() == str(errno.EACCES), (out, err)

        text = read_text(m.path(".audit"))
        rows = list(csv.DictReader(io.StringIO(text)))
        assert text.splitlines()[0] == "time,uid,pid,destination,action,detail"
        got = [(r["uid"], r["pid"], r["destination"], r["action"], r["detail"])
               for r in rows]
        want = [
            ("0", str(me), "aud", "create", ""),
            ("0", str(me), "aud", "config",
             f"team_id = {TEAM_A}, bucket = {rgw.bucket}, endpoint = {rgw.endpoint}, "
             f"region = us-east-1, prefix = r7/, access_key_id = {rgw.access_key}, "
             f"secret_access_key = (set)"),
            ("0", str(touch_pid.pid), "aud", "run-now", "2025-01-14"),
            ("0", str(me), "aud", "pause", ""),
            ("0", str(me), "aud", "resume", ""),
            (str(NOBODY), str(pid_mkdir), "nob", "create", ""),
            (str(NOBODY), str(pid_config), "nob", "config",
             f"team_id = {TEAM_A}, schedule = hourly, secret_access_key = (set)"),
            (str(NOBODY), str(pid_run), "nob", "run-now", "2025-01-14..2025-01-15"),
            (str(NOBODY), str(pid_backfill), "nob", "backfill", "2025-01-01..2025-01-03"),
            (str(NOBODY), str(pid_pause), "nob", "pause", ""),
            (str(NOBODY), str(pid_resume), "nob", "resume", ""),
        ]
        assert got == want, "\n".join(map(str, got))
        for r in rows:
            assert ISO8601.match(r["time"]) and r["time"].startswith("2025-01-15T12:"), r

        # Never a secret: not in any file of the mount, the log, or the state.
        sync(m, "aud")
        seen = [text, m.stderr]
        for dest in ("aud", "nob"):
            for f in (".config", ".status", ".history"):
                seen.append(read_text(m.path(dest, f)))
        seen += [read_text(m.path(".status")), read_text(m.path(".metrics"))]
        for f in os.listdir(m.dir):
            if f.startswith("state.db"):
                with open(os.path.join(m.dir, f), "rb") as fh:
                    seen.append(fh.read().decode("latin-1"))
        for s in (secret_root, secret_nobody):
            for i, blob in enumerate(seen):
                assert s not in blob, f"a secret is in place {i}"
        assert read_text(m.path("nob", ".config")).count("secret_access_key = (set)") == 1
    finally:
        m.stop()
        shutil.rmtree(public, ignore_errors=True)
    report = sanitizer_report(m.stderr)
    assert not report, report
