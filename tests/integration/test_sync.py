"""Sync: every version read through a configured destination lands in its
bucket, byte for byte, signed, durably.

A real radosgw on loopback (rgw_fixture.py: one cluster for the module)
checks signatures, payload hashes and access; every object is read back with
botocore (tests/s3/s3.py), an independent S3 client.  radosgw does not apply
SSE over plain HTTP, so a loopback listener records what is sent for the
session-token and SSE tests, and botocore's signer recomputes the signature.

Each test uses its own object-key prefix, so tests sharing the bucket cannot
see each other's objects.  Settings are fast (backoff 100-500 ms, source
checks every 100 ms) so the module stays quick.

    /usr/bin/python3 -m pytest tests/integration/test_sync.py
    WAREHOUSEFS_BUILD=build-asan /usr/bin/python3 -m pytest tests/integration/test_sync.py

WAREHOUSEFS_SYNC_FIGURES=1 also runs test_throughput_figures, which measures
1,000 small files and one 256 MiB file and writes .last-sync-figures.txt.
"""

import base64
import collections
import datetime
import errno
import hashlib
import http.server
import os
import re
import signal
import sqlite3
import subprocess
import threading
import time
from unittest import mock

import pytest

from conftest import (TEAM_A, TEAM_B, TEAM_U, cat, daemon_binary, days_source, expected_csv,
                      files_of, one_day_source, read_bytes, read_text, status, sync,
                      wait_for)
from rgw_fixture import FAST_SYNC, no_proxy, rgw, settings  # noqa: F401  (fixtures)

HERE = os.path.dirname(os.path.abspath(__file__))
MIB = 1024 * 1024
DATA = "analytics_daily.csv"
ISO8601 = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")
RETRYING = re.compile(r" warning: upload of '(.*)' failed \(attempt \d+\): .*; retrying in ")
# A line per uploaded object: at debug (a run logs one summary at info).
UPLOADED = re.compile(r" debug: uploaded s3://([^/]+)/(.*) \((\d+) bytes, etag (\S*)\)$")

# A daemon asked to stop with uploads pending must be gone this fast.
EXIT_SECONDS = 5.0


# ------------------------------------------------------------------ helpers

def start(mount_factory, source, **options):
    opts = dict(FAST_SYNC, log_level="debug")  # for the per-object lines
    opts.update({k: str(v) for k, v in options.items()})
    return mount_factory(source, **opts)


def sync_fails(m, dest, timeout=60):
    """Reads NAME/.sync: it must fail with EIO."""
    p = cat(m.path(dest, ".sync"), timeout)
    assert p.returncode != 0, f".sync of '{dest}' succeeded: {p.stdout.decode()}"
    assert os.strerror(errno.EIO) in p.stderr.decode(), p.stderr.decode()


def xattrs(path):
    out = {}
    for name in ("sync", "sha256", "etag", "uploaded_at"):
        try:
            out[name] = os.getxattr(path, f"user.warehousefs.{name}").decode()
        except OSError as e:
            assert e.errno == errno.ENODATA, f"getxattr {name}: {e}"
    return out


def uploads_logged(m):
    """Counter of object keys over the daemon's 'uploaded' log lines, all runs."""
    n = collections.Counter()
    for line in m.stderr.splitlines():
        g = UPLOADED.search(line)
        if g:
            n[g.group(2)] += 1
    return n


def retries_logged(m):
    """Counter of object keys over the daemon's 'retrying' log lines, all runs."""
    n = collections.Counter()
    for line in m.stderr.splitlines():
        g = RETRYING.search(line)
        if g:
            n[g.group(1)] += 1
    return n


def read_all(m, dest):
    """Reads every data file of a destination with find -exec cat, as a
    script would."""
    root = m.path(dest)
    p = subprocess.run(["find", root, "-name", DATA, "-exec", "cat", "{}", "+"],
                       stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, timeout=300)
    assert p.returncode == 0, p.stderr.decode()


def state_counts(m, dest):
    """{state: rows} of a destination's uploads, read from the state database
    directly (for a daemon that is not running)."""
    db = sqlite3.connect(f"file:{m.state}?mode=ro", uri=True)
    try:
        rows = db.execute("SELECT u.state, COUNT(*) FROM uploads u JOIN destinations d "
                          "ON d.id = u.dest_id WHERE d.name = ? GROUP BY u.state",
                          (dest,)).fetchall()
    finally:
        db.close()
    return collections.Counter(dict(rows))


# ------------------------------------------------------------------ 1. round trip

def test_read_uploads_to_the_key_once_and_a_change_uploads_again(
        rgw, source_factory, mount_factory):
    m = start(mount_factory, source_factory())
    prefix = "t1/exports+x y/"
    m.mkdest("one", TEAM_B, **settings(rgw, prefix))
    rel = f"{TEAM_B}/2025-01-04/{DATA}"
    key = prefix + rel
    path = m.path("one", rel)

    data = read_bytes(path)
    assert data == expected_csv(m.source, TEAM_B, "2025-01-04")
    report = sync(m, "one")
    assert report["failed"] == "0"
    assert rgw.objects(prefix) == {key: (len(data), hashlib.md5(data).hexdigest())}
    assert rgw.get(key) == data
    head = rgw.head(key)
    assert head["ContentType"] == "text/csv" or head["ContentType"].startswith("text/csv;")
    x = xattrs(path)
    assert x["sync"] == "uploaded"
    assert x["sha256"] == hashlib.sha256(data).hexdigest()
    assert x["etag"] == hashlib.md5(data).hexdigest() == head["ETag"].strip('"')
    assert ISO8601.match(x["uploaded_at"]), x
    st = status(m, "one")
    assert (st["uploads_ok"], st["bytes_uploaded"], st["pending"], st["failed"]) == \
        ("1", str(len(data)), "0", "0")
    assert st["last_error"] == "none"
    assert uploads_logged(m) == {key: 1}

    # Reading again, stat-ing, remounting: nothing new goes out.  Wait past a
    # second first, so that a second PUT would show in LastModified.
    time.sleep(1.1)
    assert read_bytes(path) == data
    os.stat(path)
    sync(m, "one")
    m.remount()
    assert read_bytes(path) == data
    assert xattrs(path)["sync"] == "uploaded"
    sync(m, "one")
    assert status(m, "one")["uploads_ok"] == "1"
    assert rgw.head(key)["LastModified"] == head["LastModified"]
    assert uploads_logged(m) == {key: 1}

    # A source change: the new version goes to the same key.
    db = sqlite3.connect(m.source)
    with db:
        db.execute("UPDATE analytics_daily SET pageviews = 424242 WHERE website_id = "
                   "'b-big-00007' AND date = '2025-01-04'")
    db.close()
    new = expected_csv(m.source, TEAM_B, "2025-01-04")
    assert new != data and b",424242," in new
    wait_for(lambda: read_bytes(path) == new, what="the source change to show")
    sync(m, "one")
    assert rgw.objects(prefix) == {key: (len(new), hashlib.md5(new).hexdigest())}
    assert rgw.get(key) == new
    x = xattrs(path)
    assert (x["sync"], x["sha256"], x["etag"]) == \
        ("uploaded", hashlib.sha256(new).hexdigest(), hashlib.md5(new).hexdigest())
    st = status(m, "one")
    assert (st["uploads_ok"], st["bytes_uploaded"]) == ("2", str(len(data) + len(new)))
    assert uploads_logged(m) == {key: 2}

    # Changed back: the first bytes go out again (the bucket holds the new
    # ones), and the file's xattrs tell that upload, etag and time included.
    pageviews = int(data.split(b'"b-big-00007",')[1].split(b",")[3])
    db = sqlite3.connect(m.source)
    with db:
        db.execute("UPDATE analytics_daily SET pageviews = ? WHERE website_id = "
                   "'b-big-00007' AND date = '2025-01-04'", (pageviews,))
    db.close()
    assert expected_csv(m.source, TEAM_B, "2025-01-04") == data
    wait_for(lambda: read_bytes(path) == data, what="the change back to show")
    sync(m, "one")
    assert rgw.get(key) == data
    x = xattrs(path)
    assert (x["sync"], x["sha256"], x["etag"]) == \
        ("uploaded", hashlib.sha256(data).hexdigest(), hashlib.md5(data).hexdigest())
    assert ISO8601.match(x["uploaded_at"]), x

    # Changed and back again while paused, so the in-between version never
    # goes out: nothing is uploaded (the bucket has these bytes), and the
    # xattrs still tell the upload from the ledger.
    logged = uploads_logged(m)
    os.utime(m.path("one", ".pause"))
    for value, want in ((424242, new), (pageviews, data)):
        db = sqlite3.connect(m.source)
        with db:
            db.execute("UPDATE analytics_daily SET pageviews = ? WHERE website_id = "
                       "'b-big-00007' AND date = '2025-01-04'", (value,))
        db.close()
        wait_for(lambda: read_bytes(path) == want, what="the source change to show")
    os.utime(m.path("one", ".resume"))
    sync(m, "one")
    assert uploads_logged(m) == logged
    assert rgw.get(key) == data
    x = xattrs(path)
    assert (x["sync"], x["sha256"], x["etag"]) == \
        ("uploaded", hashlib.sha256(data).hexdigest(), hashlib.md5(data).hexdigest())
    assert ISO8601.match(x["uploaded_at"]), x


def test_awkward_team_id_lands_at_its_exact_key(rgw, source_factory, mount_factory):
    """A team id with UTF-8, a comma and a space becomes the same characters
    in the object key (URI-encoded once on the wire, not mangled)."""
    m = start(mount_factory, source_factory())
    prefix = "t1u/"
    m.mkdest("u", TEAM_U, **settings(rgw, prefix))
    rel = f"{TEAM_U}/2025-01-14/{DATA}"
    data = read_bytes(m.path("u", rel))
    sync(m, "u")
    assert list(rgw.objects(prefix)) == [prefix + rel]
    assert rgw.get(prefix + rel) == data


def test_new_prefix_or_bucket_gets_the_file_at_its_next_read(
        rgw, source_factory, mount_factory):
    """A version is known to be in one bucket under one key: after a change
    of prefix or bucket, reading the file exports it there too (as it does
    after a remount), and the object already uploaded is left alone."""
    m = start(mount_factory, source_factory())
    m.mkdest("mv", TEAM_B, **settings(rgw, "t1m/a/"))
    rel = f"{TEAM_B}/2025-01-02/{DATA}"
    data = read_bytes(m.path("mv", rel))
    sync(m, "mv")
    m.write_config("mv", {"prefix": "t1m/b/"})
    assert read_bytes(m.path("mv", rel)) == data
    sync(m, "mv")
    assert sorted(rgw.objects("t1m/")) == ["t1m/a/" + rel, "t1m/b/" + rel]
    assert rgw.get("t1m/b/" + rel) == data
    rgw.client.create_bucket(Bucket="t1m-second")
    m.write_config("mv", {"bucket": "t1m-second"})
    assert read_bytes(m.path("mv", rel)) == data
    sync(m, "mv")
    assert s3_get(rgw, "t1m-second", "t1m/b/" + rel) == data
    assert status(m, "mv")["uploads_ok"] == "3"
    # Back to the first settings: that version is there already.
    m.write_config("mv", {"bucket": rgw.bucket, "prefix": "t1m/a/"})
    assert read_bytes(m.path("mv", rel)) == data
    sync(m, "mv")
    assert status(m, "mv")["uploads_ok"] == "3"


def s3_get(rgw, bucket, key):
    body = rgw.client.get_object(Bucket=bucket, Key=key)["Body"]
    try:
        return body.read()
    finally:
        body.close()


# ------------------------------------------------------------------ 2. errors

def test_store_errors_are_reported_and_a_fixed_secret_uploads(
        rgw, source_factory, mount_factory):
    wrong = "WRONGsecret/Do+Not=Log0123456789abcdefXYZ"
    m = start(mount_factory, source_factory())
    rel = f"{TEAM_A}/2025-01-14/{DATA}"

    m.mkdest("badsecret", TEAM_A, **settings(rgw, "t2s/", secret_access_key=wrong))
    m.mkdest("nobucket", TEAM_A, **settings(rgw, "t2b/", bucket="no-such-bucket-t2"))
    m.mkdest("other", TEAM_A, **settings(rgw, "t2o/", access_key_id=rgw.other_access_key,
                                         secret_access_key=rgw.other_secret_key))
    prefixes = {"badsecret": "t2s/", "nobucket": "t2b/", "other": "t2o/"}
    want = {"badsecret": ("403 SignatureDoesNotMatch", "secret_access_key"),
            "nobucket": ("404 NoSuchBucket", "bucket"),
            "other": ("403 AccessDenied", "")}
    # What the store itself answers (botocore): .status must show the same.
    store = {"badsecret": rgw.put_error("t2x", secret_key=wrong),
             "nobucket": rgw.put_error("t2x", bucket="no-such-bucket-t2"),
             "other": rgw.put_error("t2x", access_key=rgw.other_access_key,
                                    secret_key=rgw.other_secret_key)}
    for dest, (error, hint_word) in want.items():
        status_code, code, message = store[dest]
        assert f"{status_code} {code}" == error, store[dest]
        data = read_bytes(m.path(dest, rel))
        sync_fails(m, dest)
        st = status(m, dest)
        assert st["last_error"] == error, (dest, st)
        # The store's Message exactly (radosgw's is empty), not an errno text.
        assert st["last_error_message"] == message, (dest, st, message)
        assert st["last_error_request_id"].strip(), (dest, st)
        assert st["last_error_hint"].strip(), (dest, st)
        assert hint_word in st["last_error_hint"], (dest, st)
        assert st["last_error_object"] == prefixes[dest] + rel, (dest, st)
        assert ISO8601.match(st["last_error_at"]), st
        # A permanent error fails the version once; it is not retried in a loop.
        assert (st["failed"], st["pending"], st["uploads_failed"], st["uploads_ok"]) == \
            ("1", "0", "1", "0"), (dest, st)
        assert xattrs(m.path(dest, rel))["sync"] == "failed"
    time.sleep(0.5)
    for dest in want:
        assert status(m, dest)["uploads_failed"] == "1", f"{dest}: retried in a loop"
    assert "retrying" not in m.stderr
    for prefix in prefixes.values():
        assert rgw.objects(prefix) == {}

    # Fixing the secret puts the failed version back in the queue.
    m.write_config("badsecret", {"secret_access_key": rgw.secret_key})
    report = sync(m, "badsecret")
    assert report["failed"] == "0"
    assert rgw.get("t2s/" + rel) == data
    st = status(m, "badsecret")
    assert (st["last_error"], st["uploads_ok"], st["failed"]) == ("none", "1", "0")
    assert xattrs(m.path("badsecret", rel))["sync"] == "uploaded"

    # No secret anywhere: not in .config, .status, logs, state or cache.
    assert "secret_access_key = (set)" in read_text(m.path("badsecret", ".config"))
    m.stop()
    leaks = []
    for secret in (wrong, rgw.secret_key, rgw.other_secret_key):
        if secret in m.stderr:
            leaks.append("a secret is in the daemon's stderr")
        for d, _, names in os.walk(m.dir):
            if os.path.relpath(d, m.dir).startswith("mnt"):
                continue
            for n in names:
                p = os.path.join(d, n)
                if secret.encode() in read_bytes(p):
                    leaks.append(f"a secret is in '{p}'")
    assert not leaks, leaks


# ------------------------------------------------------------------ 3. multipart

def test_multipart_round_trips(rgw, tmp_path, mount_factory):
    src = one_day_source(str(tmp_path / "big.db"), "bigteam", "2025-02-01", 300_000)
    m = start(mount_factory, src, multipart_threshold="9M", part_size="8M",
              part_parallelism=2)
    prefix = "t3/"
    m.mkdest("big", "bigteam", **settings(rgw, prefix))
    rel = f"bigteam/2025-02-01/{DATA}"
    data = read_bytes(m.path("big", rel))
    assert len(data) > 20 * MIB, f"the test file is only {len(data)} bytes"
    assert data == expected_csv(src, "bigteam", "2025-02-01")
    sync(m, "big", timeout=180)

    parts = [data[i:i + 8 * MIB] for i in range(0, len(data), 8 * MIB)]
    want_etag = hashlib.md5(b"".join(hashlib.md5(p).digest() for p in parts)).hexdigest() \
        + f"-{len(parts)}"
    objects = rgw.objects(prefix)
    assert list(objects) == [prefix + rel]
    head = rgw.head(prefix + rel)
    assert head["ContentLength"] == len(data)
    assert head["ETag"].strip('"') == want_etag
    assert xattrs(m.path("big", rel))["etag"] == want_etag
    assert rgw.get(prefix + rel) == data
    assert rgw.unfinished_uploads(prefix) == []
    assert status(m, "big")["bytes_uploaded"] == str(len(data))


# ------------------------------------------------------------------ 4. crashes

def hold_uploads_and_read(rgw, m, dest):
    """Reads every file while the store is down, so every version is queued
    and none can go out; returns {key: bytes} as read through the mount."""
    rgw.stop_gateway()
    try:
        t0 = time.monotonic()
        read_all(m, dest)
        files = files_of(m, dest)
        st = status(m, dest)
        assert int(st["pending"]) + int(st["uploading"]) == len(files), st
        assert st["uploads_ok"] == "0" and st["failed"] == "0", st
        check_outage_backoff(m, len(files), time.monotonic() - t0)
    finally:
        rgw.start_gateway()
    return files


def check_outage_backoff(m, versions, seconds):
    """While the store is down, each version read is tried once, then the
    destination waits at a backoff, probed by its oldest version: the daemon
    must not cycle through every queued version as fast as it can (which
    flooded the log and the state database, and made reads 8x slower)."""
    retries = sum(retries_logged(m).values())
    assert retries <= versions + 30 * seconds + 10, \
        f"{retries} retries of {versions} versions in {seconds:.1f} s of outage"


def wait_uploads_started(m, n=5):
    wait_for(lambda: sum(uploads_logged(m).values()) >= n, timeout=30,
             what=f"{n} uploads after the store came back")


def check_bucket(rgw, prefix, files):
    objects = rgw.objects(prefix)
    assert sorted(objects) == sorted(prefix + k for k in files), \
        f"{len(objects)} objects for {len(files)} files"
    for k, data in files.items():
        assert objects[prefix + k] == (len(data), hashlib.md5(data).hexdigest()), k
    # ETag is the MD5 the store computed; spot-check bodies too.
    for k in sorted(files)[::50]:
        assert rgw.get(prefix + k) == files[k], k


def test_kill_9_with_500_pending_loses_nothing(rgw, tmp_path, mount_factory):
    src = days_source(str(tmp_path / "days.db"), "killteam", 2, 600)
    m = start(mount_factory, src, sync_workers=1, upload_retries=10000)
    prefix = "t4k/"
    m.mkdest("k", "killteam", **settings(rgw, prefix))
    files = hold_uploads_and_read(rgw, m, "k")
    assert len(files) == 600
    # Some uploads go out, then the daemon dies in the middle of its work.
    wait_uploads_started(m)
    m.kill()
    counts = state_counts(m, "k")
    assert sum(counts.values()) == 600, counts  # every read version was queued
    assert counts["pending"] + counts["uploading"] >= 500, counts
    assert counts["failed"] == 0, counts
    before = uploads_logged(m)

    m.options["sync_workers"] = "4"
    m.start()
    sync(m, "k", timeout=90)
    st = status(m, "k")
    assert (st["pending"], st["uploading"], st["failed"]) == ("0", "0", "0"), st
    check_bucket(rgw, prefix, files)
    assert files_of(m, "k") == files
    # Versions recorded as uploaded before the crash are not uploaded again
    # (the one in flight when it died may be: an idempotent overwrite, and
    # the kill may fall between recording an upload and logging it).
    after = uploads_logged(m)
    assert set(after) <= {prefix + k for k in files}
    assert len(after) >= len(files) - 1
    again = [k for k in before if after[k] > before[k]]
    assert again == [], f"uploaded again after the crash: {again}"
    assert max(after.values()) == 1


def test_sigterm_with_uploads_pending_exits_cleanly_and_resumes(
        rgw, tmp_path, mount_factory):
    src = days_source(str(tmp_path / "days.db"), "termteam", 2, 300)
    m = start(mount_factory, src, sync_workers=1, upload_retries=10000)
    prefix = "t4t/"
    m.mkdest("t", "termteam", **settings(rgw, prefix))
    files = hold_uploads_and_read(rgw, m, "t")
    wait_uploads_started(m)
    t0 = time.monotonic()
    m.proc.send_signal(signal.SIGTERM)
    try:
        rc = m.proc.wait(timeout=EXIT_SECONDS)
    except subprocess.TimeoutExpired:
        raise AssertionError(f"the daemon did not exit within {EXIT_SECONDS} s of SIGTERM")
    took = time.monotonic() - t0
    assert rc == 0, f"exit status {rc} after SIGTERM; stderr:\n{m.stderr[-3000:]}"
    assert not os.path.ismount(m.mnt)
    counts = state_counts(m, "t")
    assert sum(counts.values()) == len(files), counts
    assert counts["pending"] > 0, f"nothing was pending at SIGTERM: {counts}"
    assert counts["uploading"] == 0 and counts["failed"] == 0, counts
    before = uploads_logged(m)

    m.start()
    sync(m, "t", timeout=120)
    check_bucket(rgw, prefix, files)
    after = uploads_logged(m)
    assert all(after[k] == 1 for k in after), \
        [k for k in after if after[k] > 1]  # a clean stop repeats nothing
    assert len(after) == len(files) and set(before) <= set(after)
    print(f"SIGTERM with {counts['pending']} pending: exit in {took:.2f} s")


# ------------------------------------------------------------------ 5. outage

def test_store_outage_then_all_uploads_complete_once(rgw, tmp_path, mount_factory):
    src = days_source(str(tmp_path / "days.db"), "outteam", 3, 80)
    m = start(mount_factory, src, sync_workers=2, upload_retries=1000)
    prefix = "t5/"
    m.mkdest("o", "outteam", **settings(rgw, prefix))
    dates = sorted(os.listdir(m.path("o", "outteam")))
    first, second = dates[:40], dates[40:]
    for d in first:
        read_bytes(m.path("o", "outteam", d, DATA))
    rgw.stop_gateway()
    t0 = time.monotonic()
    try:
        for d in second:
            read_bytes(m.path("o", "outteam", d, DATA))
        # The store is down: versions wait and retry, none fails.
        def retrying():
            s = status(m, "o")
            return s if s.get("last_error_retrying") == "yes" and int(s["pending"]) else None
        st = wait_for(retrying, timeout=10, what="a retried transport error in .status")
        assert st["failed"] == "0", st
        assert st["last_error"] in ("ConnectionRefused", "ConnectionReset",
                                    "TransportError"), st
        assert st["last_error_hint"].strip(), st
        time.sleep(2)
        st = status(m, "o")
        assert st["failed"] == "0" and int(st["pending"]) >= len(second) - 2, st
        check_outage_backoff(m, len(dates), time.monotonic() - t0)
    finally:
        rgw.start_gateway()
    sync(m, "o", timeout=60)
    files = files_of(m, "o")
    assert len(files) == len(dates)
    check_bucket(rgw, prefix, files)
    st = status(m, "o")
    assert (st["uploads_ok"], st["failed"], st["uploads_failed"], st["last_error"]) == \
        (str(len(files)), "0", "0", "none"), st
    logged = uploads_logged(m)
    assert len(logged) == len(files)
    assert [k for k, n in logged.items() if n != 1] == [], "uploaded more than once"
    # Reading everything again sends nothing.
    read_all(m, "o")
    sync(m, "o")
    assert status(m, "o")["uploads_ok"] == str(len(files))


# ------------------------------------------------------------------ 6. headers

class Recorder:
    """A loopback HTTP/1.1 server that records every request and answers 200
    with the body's MD5 as ETag, as S3 does for a PutObject."""

    def __init__(self):
        self.requests = []
        rec = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def do_PUT(self):
                length = int(self.headers.get("Content-Length", "0"))
                body = self.rfile.read(length) if length else b""
                path, _, query = self.path.partition("?")
                rec.requests.append({"method": self.command, "path": path, "query": query,
                                     "headers": list(self.headers.items()), "body": body})
                self.send_response(200)
                self.send_header("ETag", '"%s"' % hashlib.md5(body).hexdigest())
                self.send_header("x-amz-request-id", "REC%d" % len(rec.requests))
                self.send_header("Content-Length", "0")
                self.end_headers()

            do_POST = do_GET = do_DELETE = do_PUT

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def recorder():
    r = Recorder()
    yield r
    r.close()


def header(req, name):
    values = [v for k, v in req["headers"] if k.lower() == name.lower()]
    assert len(values) <= 1, f"{name} sent {len(values)} times"
    return values[0] if values else None


def signed_headers(req):
    m = re.search(r"SignedHeaders=([^,]+)", header(req, "Authorization"))
    assert m, header(req, "Authorization")
    return m.group(1).split(";")


def botocore_authorization(req, access, secret, token, region):
    """The Authorization header botocore's S3 signer computes for the captured
    request, at the time the request says it was signed."""
    from botocore.auth import S3SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials

    own = {"authorization", "x-amz-date", "x-amz-content-sha256", "x-amz-security-token",
           "host"}
    headers = {k: v for k, v in req["headers"]
               if k.lower() in signed_headers(req) and k.lower() not in own}
    url = f"http://{header(req, 'Host')}{req['path']}" + \
        (f"?{req['query']}" if req["query"] else "")
    r = AWSRequest(method=req["method"], url=url, headers=headers, data=req["body"])
    when = datetime.datetime.strptime(header(req, "X-Amz-Date"), "%Y%m%dT%H%M%SZ")
    with mock.patch("botocore.auth.datetime") as fake:
        fake.datetime.utcnow.return_value = when
        S3SigV4Auth(Credentials(access, secret, token), "s3", region).add_auth(r)
    return r.headers["Authorization"]


def test_session_token_and_sse_headers_are_sent_and_signed(
        recorder, source_factory, mount_factory):
    pytest.importorskip("botocore", reason="botocore is not installed (python3-botocore)")
    m = start(mount_factory, source_factory())
    access, secret = "AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"
    token = "FQoGZXIvYXdzEBYaDNyeT8H/+token+with/slash=="
    kms = "arn:aws:kms:eu-central-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab"
    common = {"bucket": "bkt", "endpoint": f"http://127.0.0.1:{recorder.port}",
              "region": "eu-central-1", "access_key_id": access,
              "secret_access_key": secret}
    m.mkdest("kms", TEAM_U, prefix="t6k/", session_token=token, sse="aws:kms",
             sse_kms_key_id=kms, **common)
    m.mkdest("aes", TEAM_U, prefix="t6a/", sse="AES256", **common)
    rel = f"{TEAM_U}/2025-01-14/{DATA}"
    data = read_bytes(m.path("kms", rel))
    sync(m, "kms")
    assert read_bytes(m.path("aes", rel)) == data
    sync(m, "aes")
    puts = {r["path"]: r for r in recorder.requests if r["method"] == "PUT"}
    assert len(puts) == len(recorder.requests) == 2, [r["path"] for r in recorder.requests]
    enc = "%C3%A9quipe%20%C3%BC%2C1"  # the team id, URI-encoded once
    for prefix, kind in (("t6k/", "kms"), ("t6a/", "aes")):
        path = f"/bkt/{prefix}{enc}/2025-01-14/{DATA}"
        assert path in puts, sorted(puts)
        req = puts[path]
        assert req["body"] == data
        assert header(req, "Host") == f"127.0.0.1:{recorder.port}"
        assert header(req, "Content-MD5") == base64.b64encode(hashlib.md5(data).digest()).decode()
        assert header(req, "x-amz-content-sha256") == hashlib.sha256(data).hexdigest()
        assert header(req, "Content-Type").startswith("text/csv")
        signed = signed_headers(req)
        must = ["host", "content-md5", "x-amz-content-sha256", "x-amz-date",
                "x-amz-server-side-encryption"]
        if kind == "kms":
            assert header(req, "x-amz-security-token") == token
            assert header(req, "x-amz-server-side-encryption") == "aws:kms"
            assert header(req, "x-amz-server-side-encryption-aws-kms-key-id") == kms
            must += ["x-amz-security-token", "x-amz-server-side-encryption-aws-kms-key-id"]
        else:
            assert header(req, "x-amz-security-token") is None
            assert header(req, "x-amz-server-side-encryption") == "AES256"
            assert header(req, "x-amz-server-side-encryption-aws-kms-key-id") is None
        for name in must:
            assert name in signed, f"{name} is not signed: {signed}"
        auth = header(req, "Authorization")
        assert auth.startswith(f"AWS4-HMAC-SHA256 Credential={access}/")
        assert "/eu-central-1/s3/aws4_request" in auth
        assert auth == botocore_authorization(req, access, secret,
                                              token if kind == "kms" else None,
                                              "eu-central-1")
        assert secret not in str(req["headers"])
    for dest in ("kms", "aes"):
        x = xattrs(m.path(dest, rel))
        assert (x["sync"], x["etag"]) == ("uploaded", hashlib.md5(data).hexdigest())
    assert token not in m.stderr and secret not in m.stderr
    assert "session_token = (set)" in read_text(m.path("kms", ".config"))


# ------------------------------------------------------------------ 7. virtual host

def test_virtual_hosted_addressing(rgw, source_factory, mount_factory):
    """addressing = virtual: Host is BUCKET.s3.test (radosgw's rgw_dns_name),
    pinned to 127.0.0.1 with the resolve mount option, never looked up."""
    m = start(mount_factory, source_factory(),
              resolve=f"{rgw.bucket}.s3.test:{rgw.port}:127.0.0.1")
    prefix = "t7/"
    m.mkdest("v", TEAM_A, **settings(rgw, prefix, endpoint=f"http://s3.test:{rgw.port}",
                                     addressing="virtual"))
    assert m.read_config("v")["addressing"] == "virtual"
    rel = f"{TEAM_A}/2025-01-15/{DATA}"
    data = read_bytes(m.path("v", rel))
    sync(m, "v")
    assert rgw.objects(prefix) == {prefix + rel: (len(data), hashlib.md5(data).hexdigest())}
    assert rgw.get(prefix + rel) == data


# ------------------------------------------------------------------ figures

@pytest.mark.skipif(not os.environ.get("WAREHOUSEFS_SYNC_FIGURES"),
                    reason="set WAREHOUSEFS_SYNC_FIGURES=1 to measure throughput")
def test_throughput_figures(rgw, tmp_path, mount_factory):
    """1,000 small files (sync_workers=4) and one 256 MiB file (multipart,
    default settings): time from the first read to .sync returning."""
    lines = [f"# warehousefs sync throughput to a local radosgw (memstore), "
             f"{datetime.datetime.utcnow():%Y-%m-%dT%H:%M:%SZ}, "
             f"{os.cpu_count()} CPUs, daemon {daemon_binary()}"]

    src = days_source(str(tmp_path / "small.db"), "smallteam", 130, 1000)
    m = start(mount_factory, src, subdir="small", sync_workers=4)
    m.mkdest("s", "smallteam", **settings(rgw, "fig-small/"))
    t0 = time.monotonic()
    read_all(m, "s")
    t1 = time.monotonic()
    sync(m, "s", timeout=600)
    t2 = time.monotonic()
    st = status(m, "s")
    n, size = int(st["uploads_ok"]), int(st["bytes_uploaded"])
    assert n == 1000
    assert len(rgw.objects("fig-small/")) == 1000
    lines.append(f"small files: {n} files, {size / 1e6:.1f} MB (avg {size / n / 1024:.1f} KiB), "
                 f"find -exec cat {t1 - t0:.2f} s, then .sync {t2 - t1:.2f} s; total "
                 f"{t2 - t0:.2f} s = {n / (t2 - t0):.0f} files/s, "
                 f"{size / 1e6 / (t2 - t0):.2f} MB/s")
    # The upload side alone: the same files read while the store is down
    # (a fresh cache and state), then the store comes back.
    m2 = start(mount_factory, src, subdir="small2", sync_workers=4, upload_retries=1000)
    m2.mkdest("s", "smallteam", **settings(rgw, "fig-small2/"))
    rgw.stop_gateway()
    try:
        read_all(m2, "s")
    finally:
        rgw.start_gateway()
    t3 = time.monotonic()
    sync(m2, "s", timeout=600)
    t4 = time.monotonic()
    assert status(m2, "s")["uploads_ok"] == "1000"
    lines.append(f"small files, uploads alone (read while the store was down): .sync "
                 f"{t4 - t3:.2f} s = {n / (t4 - t3):.0f} files/s (includes up to "
                 f"{FAST_SYNC['retry_max_ms']} ms of backoff)")
    m.stop()
    m2.stop()
    rgw.delete_all("fig-small/")
    rgw.delete_all("fig-small2/")

    rows = 256 * MIB // 77  # ~77 bytes a row
    src = one_day_source(str(tmp_path / "huge.db"), "hugeteam", "2025-03-01", rows)
    m = start(mount_factory, src, subdir="huge")
    m.mkdest("h", "hugeteam", **settings(rgw, "fig-huge/"))
    rel = m.path("h", "hugeteam", "2025-03-01", DATA)
    t0 = time.monotonic()
    h = hashlib.sha256()
    size = 0
    with open(rel, "rb") as f:
        while True:
            b = f.read(4 * MIB)
            if not b:
                break
            h.update(b)
            size += len(b)
    t1 = time.monotonic()
    sync(m, "h", timeout=600)
    t2 = time.monotonic()
    key = f"fig-huge/hugeteam/2025-03-01/{DATA}"
    head = rgw.head(key)
    assert head["ContentLength"] == size
    assert hashlib.sha256(rgw.get(key)).hexdigest() == h.hexdigest()
    lines.append(f"big file: {size / MIB:.1f} MiB, etag {head['ETag']}, read (generate) "
                 f"{t1 - t0:.2f} s, then .sync {t2 - t1:.2f} s = "
                 f"{size / MIB / (t2 - t1):.1f} MiB/s upload; total {t2 - t0:.2f} s = "
                 f"{size / MIB / (t2 - t0):.1f} MiB/s")
    rgw.delete_all("fig-huge/")
    text = "\n".join(lines) + "\n"
    with open(os.path.join(HERE, ".last-sync-figures.txt"), "w") as f:
        f.write(text)
    print(text)



# ------------------------------------------------------------------ xattr copies

def test_xattr_preserving_copies_of_uploaded_files(rgw, tmp_path, source_factory,
                                                   mount_factory):
    """Once uploaded, a file lists and gives all four attributes, and
    rsync -aX / cp -a --preserve=xattr copy them (issue: rsync -aX exited 23)."""
    m = start(mount_factory, source_factory())
    prefix = "xattr-copies/"
    m.mkdest("x", "*", **settings(rgw, prefix))
    src = m.path("x")
    files = sorted(os.path.relpath(os.path.join(d, n), src)
                   for d, _, names in os.walk(src) for n in names)
    assert len(files) >= 6
    for f in files:
        read_bytes(os.path.join(src, f))  # reading exports it
    sync(m, "x")
    for f in files:
        p = os.path.join(src, f)
        assert sorted(os.listxattr(p)) == sorted(
            f"user.warehousefs.{n}" for n in ("sync", "sha256", "etag", "uploaded_at"))
        assert os.getxattr(p, "user.warehousefs.sync") == b"uploaded"
        assert ISO8601.match(os.getxattr(p, "user.warehousefs.uploaded_at").decode())
        etag = os.getxattr(p, "user.warehousefs.etag").decode().strip('"')
        assert etag == hashlib.md5(read_bytes(p)).hexdigest()
    dump = subprocess.run(["getfattr", "--absolute-names", "-R", "-d", "-m", "-", src],
                          capture_output=True, text=True, timeout=60)
    assert dump.returncode == 0 and dump.stderr == "", dump.stderr
    assert dump.stdout.count("user.warehousefs.etag=") == len(files)
    for tool, argv in (("rsync", ["rsync", "-aX", src + "/", str(tmp_path / "rsync")]),
                       ("cp", ["cp", "-a", "--preserve=xattr", src, str(tmp_path / "cp")])):
        p = subprocess.run(argv, capture_output=True, text=True, timeout=120)
        assert p.returncode == 0, f"{tool}: {p.stderr}"
        for f in files:
            out = str(tmp_path / tool / f)
            assert read_bytes(out) == read_bytes(os.path.join(src, f))
            for name in ("user.warehousefs.etag", "user.warehousefs.uploaded_at"):
                assert os.getxattr(out, name) == os.getxattr(os.path.join(src, f), name)
