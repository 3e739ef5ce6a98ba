"""Sync through a faulty network: a fault-injecting proxy (fault_proxy.py)
between the daemon and radosgw answers 500 and 503 SlowDown, stalls,
resets connections while the body arrives, truncates answers, and loses
answers after the store stored the object.  Whatever it does, every
version read lands in the bucket byte for byte, the newest version of a
key is the one that stays, and the ledger in the state database says
exactly what the bucket holds.

The daemon runs with short backoff (20-500 ms) and a 1 s stall timeout,
so that 1,000 files with 30 % of their PUTs failing take about half a
minute on two cores.  Each test has its own key prefix in the module's
bucket.  `pytest -s` shows the figures of each test (faults injected by
kind, requests the store answered, retries the daemon logged).

    /usr/bin/python3 -m pytest tests/integration/test_faults.py -s
    WAREHOUSEFS_BUILD=build-asan /usr/bin/python3 -m pytest tests/integration/test_faults.py
"""

import collections
import hashlib
import os
import random
import re
import sqlite3
import subprocess
import time

import pytest

from conftest import (days_source, expected_csv, expected_files, files_of, one_day_source,
                      parse_kv, read_bytes, status, sync, wait_for)
from fault_proxy import FAULTS, FaultProxy
from rgw_fixture import no_proxy, rgw, settings  # noqa: F401  (fixtures)

DATA = "analytics_daily.csv"
RETRYING = re.compile(r" warning: upload of '(.*)' failed \(attempt \d+\): .*; retrying in ")
# A line per uploaded object: at debug (a run logs one summary at info).
UPLOADED = re.compile(r" debug: uploaded s3://([^/]+)/(.*) \((\d+) bytes, etag (\S*)\)$")

# Short backoff, a stall noticed after a second, retries enough that a
# version never runs out of them by bad luck (0.3 ** 60).
FAULTY_SYNC = {"retry_base_ms": "20", "retry_max_ms": "500", "upload_retries": "60",
               "stall_timeout": "1", "connect_timeout_ms": "2000"}


@pytest.fixture
def proxy(rgw):
    """A fault proxy in front of the module's radosgw, faultless until told."""
    p = FaultProxy(("127.0.0.1", rgw.port), rate=0.0, seed=20250114, stall_seconds=5)
    yield p
    p.close()
    assert p.errors == [], f"the fault proxy itself failed: {p.errors}"


# ------------------------------------------------------------------ helpers

def start(mount_factory, source, **options):
    opts = dict(FAULTY_SYNC, log_level="debug")  # for the per-object lines
    opts.update({k: str(v) for k, v in options.items()})
    return mount_factory(source, **opts)


def through(proxy, rgw, prefix):
    """Destination settings that reach the store through the proxy."""
    return settings(rgw, prefix, endpoint=proxy.endpoint, addressing="path")


def logged(m, pattern):
    """Counter of object keys over the daemon's log lines matching pattern."""
    n = collections.Counter()
    for line in m.stderr.splitlines():
        g = pattern.search(line)
        if g:
            n[g.group(2 if pattern is UPLOADED else 1)] += 1
    return n


def md5(data):
    return hashlib.md5(data).hexdigest()


def sha256(data):
    return hashlib.sha256(data).hexdigest()


def state_db(m):
    """The stopped daemon's state database, read-only."""
    assert m.proc is None, "read the state database after the daemon stopped"
    return sqlite3.connect(f"file:{m.state}?mode=ro", uri=True)


def check_ledger(m, dest, prefix, files, bucket, etags=None):
    """After unmount: the state database is sound, every key has one ledger
    row naming the version read last (SHA-256) and the ETag the store has,
    its last upload row (if any: a key changed back to bytes the ledger has
    keeps none) is that version, uploaded, and nothing is left pending,
    uploading or failed.  ETags are the MD5s of the files, or etags[key].
    Returns {key: attempts of its last upload row}."""
    db = state_db(m)
    try:
        assert db.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
        assert db.execute("PRAGMA foreign_key_check").fetchall() == []
        (dest_id,) = db.execute("SELECT id FROM destinations WHERE name = ?",
                                (dest,)).fetchone()
        ledger = collections.defaultdict(list)
        for b, key, sha, etag in db.execute("SELECT bucket, object_key, sha256, etag "
                                            "FROM ledger WHERE dest_id = ?", (dest_id,)):
            ledger[key].append((b, sha, etag))
        rows = collections.defaultdict(list)
        for key, sha, state, etag, attempts in db.execute(
                "SELECT key, sha256, state, etag, attempts FROM uploads WHERE dest_id = ? "
                "ORDER BY id", (dest_id,)):
            rows[key].append((sha, state, etag, attempts))
    finally:
        db.close()
    assert sorted(ledger) == sorted(prefix + k for k in files), \
        f"{len(ledger)} ledger keys for {len(files)} files"
    wrong = {}
    for k, data in files.items():
        etag = etags[k] if etags else md5(data)
        want = [(bucket, sha256(data), etag)]
        if ledger[prefix + k] != want:
            wrong[k] = ("ledger", ledger[prefix + k], want)
        mine = rows.get(k, [])
        unfinished = [r for r in mine if r[1] != "uploaded"]
        if unfinished:
            wrong[k] = ("rows", mine)
        elif mine and mine[-1][:3] != (sha256(data), "uploaded", etag):
            wrong[k] = ("last row", mine, sha256(data))
    assert not wrong, f"{len(wrong)} keys wrong, e.g. {list(wrong.items())[:3]}"
    assert set(rows) <= set(files), set(rows) - set(files)
    return {k: rows[k][-1][3] for k in rows}


def check_bucket(rgw, prefix, files, every=1, also=()):
    """The bucket holds exactly these keys with these sizes and MD5s (the
    ETag the store computed); bodies are compared for every `every`-th key
    and for the keys in `also`.  Returns the number of bodies compared."""
    objects = rgw.objects(prefix)
    assert sorted(objects) == sorted(prefix + k for k in files), \
        f"{len(objects)} objects for {len(files)} files: " \
        f"{sorted(set(objects) ^ {prefix + k for k in files})[:5]}"
    wrong = [k for k, data in files.items()
             if objects[prefix + k] != (len(data), md5(data))]
    assert not wrong, f"{len(wrong)} objects differ from what the mount reads, e.g. " \
                      f"{[(k, objects[prefix + k], len(files[k])) for k in wrong[:3]]}"
    keys = sorted(set(sorted(files)[::every]) | set(also))
    for k in keys:
        assert rgw.get(prefix + k) == files[k], k
    assert rgw.unfinished_uploads(prefix) == []
    return len(keys)


def figures(title, proxy, m, t0, **more):
    s = proxy.stats()
    retries = sum(logged(m, RETRYING).values())
    faults = ", ".join(f"{k} {s['faults'].get(k, 0)}" for k in FAULTS)
    extra = "".join(f", {k.replace('_', ' ')} {v}" for k, v in more.items())
    print(f"\n{title}: {s['requests']} requests, {s['forwarded']} forwarded, "
          f"{s['faults_total']} faults ({faults}; {s['stalls_after_store']} of the "
          f"stalls after the store stored), {retries} retries logged{extra}, "
          f"{time.monotonic() - t0:.1f} s")


# ------------------------------------------------------------------ 1. 30 % faults

def add_rows(source, round_no, pairs):
    """A new website for each team in pairs, with a row on each (team, date):
    those files get a new version."""
    db = sqlite3.connect(source)
    with db:
        for team in sorted({t for t, _ in pairs}):
            db.execute("INSERT INTO websites VALUES (?, ?, NULL)",
                       (f"chg{round_no}-{team}", team))
        db.executemany("INSERT INTO analytics_daily VALUES (?, ?, ?, ?, ?, ?, ?)",
                       [(f"chg{round_no}-{t}", d, round_no, 1, 2, 0.5, 10.0 * round_no)
                        for t, d in pairs])
    db.close()


def drop_rows(source, round_no, pairs):
    """Takes back add_rows(round_no) for these (team, date): their files go
    back to the bytes they had before."""
    db = sqlite3.connect(source)
    with db:
        db.executemany("DELETE FROM analytics_daily WHERE website_id = ? AND date = ?",
                       [(f"chg{round_no}-{t}", d) for t, d in pairs])
    db.close()


def read_until(m, dest, source, pairs):
    """Reads each (team, date) until it shows the source's bytes (changes
    show within source_check_ms); returns {key: bytes read}."""
    out = {}
    for team, date in pairs:
        rel = f"{team}/{date}/{DATA}"
        want = expected_csv(source, team, date)
        wait_for(lambda: read_bytes(m.path(dest, rel)) == want, timeout=30,
                 what=f"the new version of {rel}")
        out[rel] = want
    return out


def test_thirty_percent_faults_over_1000_files(rgw, proxy, tmp_path, mount_factory):
    """1,000 files uploaded while 30 % of the PUTs fail in every way the
    proxy knows, and while the source changes under the uploads (new
    versions of 150 keys in three rounds, then 40 of them changed back):
    every key lands once more, byte for byte, with the newest bytes read."""
    teams = [f"team{i:02d}" for i in range(10)]
    src = days_source(str(tmp_path / "faults.db"), teams, 1, 100)
    m = start(mount_factory, src)
    prefix = "tf1/"
    m.mkdest("f", "*", **through(proxy, rgw, prefix))
    proxy.set_rate(0.3)
    t0 = time.monotonic()

    files = files_of(m, "f")
    assert len(files) == 1000

    # New versions while the first ones are still going out: 50 keys in
    # each of three rounds (some in several), then 40 of the third round's
    # changed back to the bytes they had before it.
    rng = random.Random(7)
    pairs = [tuple(k.split("/")[:2]) for k in sorted(files)]
    changed = set()
    st = status(m, "f")
    in_flight = int(st["pending"]) + int(st["uploading"])
    for round_no in (1, 2, 3):
        pick = rng.sample(pairs, 50)
        add_rows(src, round_no, pick)
        files.update(read_until(m, "f", src, pick))
        changed.update(pick)
        time.sleep(0.5)
    back = rng.sample(sorted(pick), 40)
    drop_rows(src, 3, back)
    files.update(read_until(m, "f", src, back))
    assert files == expected_files(src), "the mount reads other bytes than the source gives"

    # No read after this point until the bucket is checked: a read would
    # queue again whatever the ledger does not have, and hide a lost version.
    sync(m, "f", timeout=300)
    changed_keys = [f"{t}/{d}/{DATA}" for t, d in changed]
    compared = check_bucket(rgw, prefix, files, every=5, also=changed_keys)
    st = status(m, "f")
    assert (st["pending"], st["uploading"], st["failed"], st["uploads_failed"]) == \
        ("0", "0", "0", "0"), st
    assert st["last_error"] == "none", st
    uploads = logged(m, UPLOADED)
    retries = logged(m, RETRYING)
    s = proxy.stats()
    assert all(s["faults"].get(k, 0) > 0 for k in FAULTS), s
    assert sum(retries.values()) > 0

    # Reading everything again finds nothing to upload: the ledger agrees.
    proxy.set_rate(0)
    ok = st["uploads_ok"]
    assert files_of(m, "f") == files
    sync(m, "f")
    assert status(m, "f")["uploads_ok"] == ok
    figures("30% faults over 1,000 files", proxy, m, t0, objects_verified=len(files),
            bodies_compared=compared, versions_waiting_at_first_change=in_flight,
            keys_changed=len(changed), changed_back=len(back),
            uploads_logged=sum(uploads.values()))
    m.stop()
    check_ledger(m, "f", prefix, files, rgw.bucket)
    # Unchanged keys were recorded uploaded once (a lost answer means a
    # second PUT of the same bytes, not a second version).
    unchanged = set(files) - set(changed_keys)
    assert [k for k in unchanged if uploads[prefix + k] != 1] == []


# ------------------------------------------------------------------ 2. outage

def test_store_unreachable_then_uploads_resume(rgw, proxy, tmp_path, mount_factory):
    """The store's address refuses connections for several seconds (radosgw
    itself keeps running): versions read meanwhile wait and are retried,
    none is marked failed, .sync keeps waiting; once the address answers
    again every version lands, each with one PUT."""
    src = days_source(str(tmp_path / "outage.db"), ["out-a", "out-b", "out-c"], 1, 20)
    # No stalls here: a slow answer must not count as a second PUT.
    m = start(mount_factory, src, upload_retries=1000, stall_timeout=30)
    prefix = "tf2/"
    m.mkdest("o", "*", **through(proxy, rgw, prefix))
    t0 = time.monotonic()
    before = {f"out-a/{d}/{DATA}": read_bytes(m.path("o", "out-a", d, DATA))
              for d in sorted(os.listdir(m.path("o", "out-a")))}
    sync(m, "o")

    proxy.set_reachable(False)
    try:
        files = files_of(m, "o")
        assert len(files) == 60
        assert all(files[k] == v for k, v in before.items())

        def retrying():
            s = status(m, "o")
            return s if s.get("last_error_retrying") == "yes" and int(s["pending"]) else None
        st = wait_for(retrying, timeout=20, what="a retried connection failure in .status")
        assert st["last_error"] == "ConnectionRefused", st
        assert st["last_error_hint"].strip(), st
        waiter = subprocess.Popen(["cat", m.path("o", ".sync")], stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE, stdin=subprocess.DEVNULL)
        try:
            time.sleep(5)
            assert waiter.poll() is None, \
                f".sync returned during the outage: {waiter.communicate()}"
        except BaseException:
            waiter.kill()
            waiter.wait()
            raise
        st = status(m, "o")
        assert (st["failed"], st["uploads_failed"]) == ("0", "0"), st
        assert int(st["pending"]) + int(st["uploading"]) == 40, st
        assert st["uploads_ok"] == "20", st
        retried = sum(logged(m, RETRYING).values())
        assert retried > 0
        assert proxy.stats()["requests"] == 20, "a request got through the outage"
    finally:
        proxy.set_reachable(True)
    try:
        out, err = waiter.communicate(timeout=120)
    except subprocess.TimeoutExpired:
        waiter.kill()
        raise AssertionError(f".sync did not return after the outage: {status(m, 'o')}")
    assert waiter.returncode == 0, err.decode()
    report = parse_kv(out.decode())
    assert (report["synced"], report["failed"], report["uploads_ok"]) == ("yes", "0", "60"), \
        report

    compared = check_bucket(rgw, prefix, files)
    st = status(m, "o")
    assert (st["pending"], st["failed"], st["uploads_failed"], st["last_error"]) == \
        ("0", "0", "0", "none"), st
    # Exactly once: one PUT reached the store per key, one upload recorded.
    puts = {k: proxy.attempts("PUT", f"/{rgw.bucket}/{prefix}{k}") for k in files}
    assert [k for k, n in puts.items() if n != 1] == [], puts
    uploads = logged(m, UPLOADED)
    assert uploads == {prefix + k: 1 for k in files}
    figures("store unreachable", proxy, m, t0, objects_verified=len(files),
            bodies_compared=compared, retries_during_outage=retried)
    m.stop()
    check_ledger(m, "o", prefix, files, rgw.bucket)


# ------------------------------------------------------------------ 3. lost answers

def test_lost_responses_do_not_corrupt_the_ledger(rgw, proxy, tmp_path, mount_factory):
    """Every PUT's answer is lost, after radosgw stored the object, for the
    first two attempts of each key: the daemon cannot know the object is
    there and uploads it again; the ledger ends with one row per key, for
    the right version and ETag.  Five keys get a new version while their
    first upload hangs after the store took it (the answer never comes):
    the new version must be the one that stays.  Then three keys get a
    new version whose every answer is lost, and change back before it
    succeeds: the bucket holds that version, so the ledger's record of the
    old one is no longer true, and the old bytes must go out again."""
    teams = ["lost-a", "lost-b", "lost-c"]
    src = days_source(str(tmp_path / "lost.db"), teams, 1, 10)
    m = start(mount_factory, src)
    prefix = "tf3/"
    m.mkdest("l", "*", **through(proxy, rgw, prefix))
    lost = 2
    moving = [(t, f"2020-01-0{d}") for t, d in (("lost-a", 2), ("lost-a", 5), ("lost-b", 3),
                                                ("lost-c", 1), ("lost-c", 9))]
    moving_paths = {f"/{rgw.bucket}/{prefix}{t}/{d}/{DATA}" for t, d in moving}

    answers_lost = set()  # versions (SHA-256) whose every PUT loses its answer

    def policy(req):
        if req.method != "PUT":
            return None
        if req.header("x-amz-content-sha256") in answers_lost:
            return "lost_response"
        if req.path in moving_paths:
            # The first attempt hangs after the store stored it.
            if req.attempt == 1:
                return "stall"
            return "lost_response" if req.attempt <= 1 + lost else None
        return "lost_response" if req.attempt <= lost else None
    proxy.stall_where = "after"
    proxy.policy = policy
    t0 = time.monotonic()

    files = files_of(m, "l")
    assert len(files) == 30
    wait_for(lambda: all(proxy.attempts("PUT", p) for p in moving_paths), timeout=30,
             what="the first uploads of the keys to change")
    add_rows(src, 1, moving)
    files.update(read_until(m, "l", src, moving))
    assert files == expected_files(src)
    sync(m, "l", timeout=120)

    compared = check_bucket(rgw, prefix, files)
    moving_keys = {f"{t}/{d}/{DATA}" for t, d in moving}
    # (At least: an answer slower than the 1 s stall timeout is one more.)
    puts = {k: proxy.attempts("PUT", f"/{rgw.bucket}/{prefix}{k}") for k in files}
    assert all(puts[k] >= lost + 1 for k in files), puts
    assert all(puts[k] >= lost + 2 for k in moving_keys), puts
    uploads = logged(m, UPLOADED)
    assert {k: n for k, n in uploads.items() if k[len(prefix):] not in moving_keys} == \
        {prefix + k: 1 for k in files if k not in moving_keys}
    assert all(logged(m, RETRYING)[prefix + k] >= 1 for k in files)

    # Changed, the new version stored but never acknowledged, changed back.
    returning = [("lost-a", "2020-01-07"), ("lost-b", "2020-01-08"), ("lost-c", "2020-01-04")]
    add_rows(src, 2, returning)
    answers_lost.update(sha256(expected_csv(src, t, d)) for t, d in returning)
    read_until(m, "l", src, returning)

    def stored():
        objects = rgw.objects(prefix)
        return all(objects[f"{prefix}{t}/{d}/{DATA}"][1] != md5(files[f"{t}/{d}/{DATA}"])
                   for t, d in returning)
    wait_for(stored, timeout=30, what="the store to hold the versions whose answers are lost")
    drop_rows(src, 2, returning)
    assert read_until(m, "l", src, returning) == \
        {f"{t}/{d}/{DATA}": files[f"{t}/{d}/{DATA}"] for t, d in returning}
    sync(m, "l", timeout=120)
    compared += check_bucket(rgw, prefix, files, every=len(files),
                             also=[f"{t}/{d}/{DATA}" for t, d in returning])

    st = status(m, "l")
    assert (st["pending"], st["failed"], st["uploads_failed"], st["last_error"]) == \
        ("0", "0", "0", "none"), st
    for k, data in files.items():
        path = m.path("l", k)
        assert os.getxattr(path, "user.warehousefs.sync") == b"uploaded", k
        assert os.getxattr(path, "user.warehousefs.etag").decode() == md5(data), k
    s = proxy.stats()
    figures("lost answers", proxy, m, t0, objects_verified=len(files), bodies_compared=compared)
    m.stop()
    attempts = check_ledger(m, "l", prefix, files, rgw.bucket)
    assert sorted(attempts) == sorted(files)
    once_lost = set(files) - moving_keys - {f"{t}/{d}/{DATA}" for t, d in returning}
    assert all(attempts[k] >= 2 for k in once_lost), attempts

    # After a restart the ledger still says everything is there: reading
    # every file again sends nothing.
    proxy.policy = None
    m.start()
    assert files_of(m, "l") == files
    sync(m, "l")
    assert status(m, "l")["uploads_ok"] == st["uploads_ok"]
    assert proxy.stats()["requests"] == s["requests"]


# ------------------------------------------------------------------ 4. multipart

# Which faults each part meets, attempt after attempt, in the first and the
# second multipart upload of the file.  Part 2 fails three times in the
# first: that is all the retries a part gets, so the upload is aborted and
# the version tried again, as a new upload.
PART_FAULTS = {
    1: {1: ["reset_body", "lost_response"], 2: ["error500", "slowdown", "stall"],
        3: ["truncate"]},
    2: {1: ["stall"], 2: ["lost_response"], 3: ["reset_body", "truncate"]},
}


def test_multipart_upload_through_faulty_parts(rgw, proxy, tmp_path, mount_factory):
    """A file of three 8 MiB parts whose part uploads meet every kind of
    fault: parts are retried, an upload that runs out of part retries is
    aborted and started again, and the object that lands is the file, with
    the standard multipart ETag; no upload is left unfinished."""
    src = one_day_source(str(tmp_path / "big.db"), "bigteam", "2025-02-01", 290_000)
    m = start(mount_factory, src, multipart_threshold="9M", part_size="8M",
              part_parallelism="2")
    prefix = "tf4/"
    m.mkdest("b", "bigteam", **through(proxy, rgw, prefix))
    upload_ids = []

    def policy(req):
        q = dict(kv.split("=", 1) for kv in req.query.split("&") if "=" in kv)
        if req.method != "PUT" or "partNumber" not in q:
            return None
        if q["uploadId"] not in upload_ids:
            upload_ids.append(q["uploadId"])
        plan = PART_FAULTS.get(upload_ids.index(q["uploadId"]) + 1, {})
        kinds = plan.get(int(q["partNumber"]), [])
        return kinds[req.attempt - 1] if req.attempt <= len(kinds) else None
    proxy.policy = policy
    t0 = time.monotonic()
    rel = f"bigteam/2025-02-01/{DATA}"
    data = read_bytes(m.path("b", rel))
    assert 16 * 2 ** 20 < len(data) <= 24 * 2 ** 20, len(data)
    sync(m, "b", timeout=240)

    parts = [data[i:i + 8 * 2 ** 20] for i in range(0, len(data), 8 * 2 ** 20)]
    etag = md5(b"".join(hashlib.md5(p).digest() for p in parts)) + f"-{len(parts)}"
    assert rgw.objects(prefix) == {prefix + rel: (len(data), etag)}
    assert rgw.get(prefix + rel) == data
    assert rgw.unfinished_uploads(prefix) == []
    assert os.getxattr(m.path("b", rel), "user.warehousefs.etag").decode() == etag
    st = status(m, "b")
    assert (st["uploads_ok"], st["failed"], st["last_error"]) == ("1", "0", "none"), st
    s = proxy.stats()
    assert all(s["faults"].get(k, 0) > 0 for k in FAULTS), s
    assert len(upload_ids) >= 2, "the first upload was not started again"
    aborted = m.stderr.count("aborted the multipart upload")
    assert aborted >= 1
    figures("multipart", proxy, m, t0, bytes=len(data), parts=len(parts),
            multipart_uploads=len(upload_ids), uploads_aborted=aborted)
    m.stop()
    attempts = check_ledger(m, "b", prefix, {rel: data}, rgw.bucket, {rel: etag})
    assert attempts[rel] >= 2
