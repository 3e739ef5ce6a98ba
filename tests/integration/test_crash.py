"""Crash safety: kill -9 at random moments of a 1,000-file sync loses nothing.

A source of 1,000 small files (10 teams x 100 days, 2 rows each) is read
through one destination on a real radosgw (rgw_fixture.py), a chunk of 60
files per trial, and each trial ends with SIGKILL to the daemon at a random
moment.  The trials aim at these moments in turn:

  reads     0-0.5 s into the reads of the chunk: files being materialized and
            queued while the sync workers upload the ones read before,
  uploads   0-0.15 s after .resume: the chunk was read while the destination
            was paused, so resuming starts a burst of uploads to cut short,
  any       0-1.5 s into the reads: during them, after them, or when idle,
  early     0-0.4 s (mostly under 0.1 s) after the daemon was started: before
            or just after its mount appears, while it recovers the uploads
            the last kill interrupted.

What each kill actually cut short (a read, uploads in flight, only queued
work, nothing) is read from the crash state and printed with the figures.

A read is acknowledged when cat got the whole expected content and exited 0:
that version was queued durably before the read was answered and must reach
the bucket.  After each kill, on the state database exactly as the crash left
it (opened read-only): PRAGMA integrity_check is ok, every acknowledged
version is in the ledger or still queued, no upload failed, and the ledger
agrees with the bucket (only an object whose upload was cut short may be
ahead of it).  After each restart the live database is checked again.

At the end one mount runs to completion without reading anything: every
acknowledged file is in the bucket byte for byte, the ledger equals the
bucket, the queue is empty with no duplicate rows and no multipart upload is
left open.  Then the files not yet acknowledged are read and synced, and all
1,000 keys are checked the same way.

When every file has been read once, the source changes (every file gets a new
version) and a new round begins, so any number of trials has uploads to
interrupt.  The sync workers vary from trial to trial (1, 2, 4 or 8).

    WAREHOUSEFS_BUILD=build /usr/bin/python3 -m pytest tests/integration/test_crash.py -s
    WAREHOUSEFS_CRASH_TRIALS=500 /usr/bin/python3 -m pytest tests/integration/test_crash.py -s

WAREHOUSEFS_CRASH_TRIALS: trials (default 20, what CI runs: about 25 s on a
release build, 30 s on the sanitizer build; 500 is a soak of about 8 minutes
on 2 cores).  WAREHOUSEFS_CRASH_SEED: the seed of the random choices (which
files, when to kill, how many workers); every run prints its own, so a
failure can be replayed (timing still varies: replay a few times).
"""

import collections
import concurrent.futures
import hashlib
import os
import random
import signal
import sqlite3
import subprocess
import threading
import time

from conftest import daemon_binary, days_source, expected_files, parse_kv, read_text, sync
from rgw_fixture import FAST_SYNC, no_proxy, rgw, settings  # noqa: F401  (fixtures)

TEAMS = [f"crash-team-{i:02d}" for i in range(10)]
DAYS = 100
WEBSITES = 2
DEST = "crash"
PREFIX = "crash/"
# What each trial aims its kill at, in turn (see the module's docstring),
# and the longest random delays, in seconds.
KINDS = ("reads", "uploads", "any", "uploads", "early")
READS_MAX = 0.5      # from the start of a chunk's reads (60 reads take ~0.5 s)
BURST_MAX = 0.15     # from .resume (a burst of 60 uploads takes 0.1-0.2 s)
MAX_DELAY = 1.5      # "any": from the start of the reads
EARLY_MAX = 0.4      # from the start of the daemon
WORKERS = (1, 2, 4, 8)
CHUNK = 60           # files a trial reads
READ_TIMEOUT = 60
SYNC_TIMEOUT = 120


class Versions:
    """Every version each file had in the source, by round: what a read must
    return and what the bucket may hold."""

    def __init__(self):
        self.sha = collections.defaultdict(dict)  # rel -> {round: sha256}
        self.data = {}                            # sha256 -> (rel, round, bytes, md5)

    def add_round(self, rnd, source):
        files = expected_files(source)
        assert len(files) == len(TEAMS) * DAYS, len(files)
        for rel, data in files.items():
            sha = hashlib.sha256(data).hexdigest()
            assert sha not in self.data, f"{rel}: round {rnd} did not change the file"
            self.sha[rel][rnd] = sha
            self.data[sha] = (rel, rnd, data, hashlib.md5(data).hexdigest())
        return sorted(files)

    def bytes_of(self, rel, rnd):
        return self.data[self.sha[rel][rnd]][2]

    def since(self, rel, rnd):
        """The versions of rel from round rnd on: any may stand for a read
        acknowledged in round rnd (a later one supersedes it)."""
        return {sha for r, sha in self.sha[rel].items() if r >= rnd}


def change_source(path):
    """A new round: every file of the source gets new bytes."""
    db = sqlite3.connect(path)
    with db:
        db.execute("UPDATE analytics_daily SET pageviews = pageviews + 1")
    db.close()


class Reader(threading.Thread):
    """Reads files through the mount with cat(1), one child process each,
    and records which reads were acknowledged (full content, exit 0)."""

    def __init__(self, m, rels, versions, rnd):
        super().__init__(daemon=True)
        self.m, self.rels, self.versions, self.rnd = m, rels, versions, rnd
        self.acked = []
        self.failed = None     # (rel, time it failed, stderr) of the first failure
        self.wrong = []        # reads that returned other bytes
        self.t0 = None

    def run(self):
        self.t0 = time.monotonic()
        for rel in self.rels:
            try:
                p = subprocess.run(["cat", self.m.path(DEST, rel)], capture_output=True,
                                   timeout=READ_TIMEOUT, stdin=subprocess.DEVNULL)
            except subprocess.TimeoutExpired:
                self.failed = (rel, time.monotonic(), f"no answer in {READ_TIMEOUT} s")
                return
            if p.returncode != 0:
                # The daemon died: every later read fails the same way.
                self.failed = (rel, time.monotonic(), p.stderr.decode().strip())
                return
            if p.stdout != self.versions.bytes_of(rel, self.rnd):
                self.wrong.append((rel, len(p.stdout)))
                continue
            self.acked.append(rel)


def open_ro(m):
    """The state database read-only: looking must not change a crash state."""
    return sqlite3.connect(f"file:{m.state}?mode=ro", uri=True, timeout=30)


def check_integrity(m, when):
    db = open_ro(m)
    try:
        ok = db.execute("PRAGMA integrity_check").fetchall()
        fk = db.execute("PRAGMA foreign_key_check").fetchall()
    finally:
        db.close()
    assert ok == [("ok",)], f"{when}: integrity_check of the state database: {ok}"
    assert fk == [], f"{when}: foreign_key_check of the state database: {fk}"


def read_state(m):
    """(upload rows, ledger rows) of the destination."""
    db = open_ro(m)
    try:
        dest_id = db.execute("SELECT id FROM destinations WHERE name = ?",
                             (DEST,)).fetchone()[0]
        rows = db.execute("SELECT id, key, sha256, size, state FROM uploads "
                          "WHERE dest_id = ? ORDER BY id", (dest_id,)).fetchall()
        ledger = db.execute("SELECT bucket, object_key, sha256, etag FROM ledger "
                            "WHERE dest_id = ?", (dest_id,)).fetchall()
    finally:
        db.close()
    return rows, ledger


def check_state(rgw, m, versions, acked, when, final=False):
    """The checks of a crash state (final=False) or of a finished sync.
    acked: {rel: round of its last acknowledged read}.  Returns
    ({rel: sha256 in the ledger}, Counter of rows by state and objects ahead
    of the ledger)."""
    check_integrity(m, when)
    rows, ledger = read_state(m)
    objects = rgw.objects(PREFIX)

    # Every row is a version the source gave, of its size; none failed.
    queued = collections.defaultdict(set)   # rel -> versions still to upload
    seen = collections.Counter()
    counts = collections.Counter()
    for _, rel, sha, size, st in rows:
        assert sha in versions.data and versions.data[sha][0] == rel, \
            f"{when}: upload row of '{rel}' with an unknown version {sha}"
        assert size == len(versions.data[sha][2]), f"{when}: '{rel}' size {size}"
        assert st in ("pending", "uploading", "uploaded"), \
            f"{when}: upload of '{rel}' is {st}:\n{m.stderr[-3000:]}"
        seen[(rel, sha)] += 1
        counts[st] += 1
        if st != "uploaded":
            queued[rel].add(sha)
    dups = [k for k, n in seen.items() if n > 1]
    assert not dups, f"{when}: the same version queued twice: {dups[:5]}"

    # The ledger agrees with the bucket.  Only in a crash state may an
    # object be ahead of it: its upload went out, the kill came before the
    # outcome was recorded, and that version is still queued.
    in_ledger = {}
    for bucket, key, sha, etag in ledger:
        assert bucket == rgw.bucket and key.startswith(PREFIX), (when, bucket, key)
        rel = key[len(PREFIX):]
        assert sha in versions.data and versions.data[sha][0] == rel, \
            f"{when}: ledger holds an unknown version of '{rel}'"
        data, md5 = versions.data[sha][2], versions.data[sha][3]
        assert etag == md5, f"{when}: ledger etag {etag} of '{rel}' is not its MD5 {md5}"
        assert key in objects, f"{when}: the ledger says '{key}' is in the bucket; it is not"
        if objects[key] != (len(data), md5):
            in_flight = {(len(versions.data[s][2]), versions.data[s][3])
                         for s in queued[rel]}
            assert not final and objects[key] in in_flight, \
                (f"{when}: '{key}' in the bucket is {objects[key]}, the ledger says "
                 f"{(len(data), md5)} (round {versions.data[sha][1]}), queued "
                 f"{sorted(in_flight)}")
            counts["ahead"] += 1
        in_ledger[rel] = sha
    for key, (size, etag) in objects.items():
        rel = key[len(PREFIX):]
        if rel in in_ledger:
            continue
        in_flight = {(len(versions.data[s][2]), versions.data[s][3]) for s in queued[rel]}
        assert not final and (size, etag) in in_flight, \
            f"{when}: '{key}' is in the bucket, not in the ledger, and not being uploaded"
        counts["ahead"] += 1

    # Nothing acknowledged is lost: each acknowledged version (or a newer
    # one) is in the ledger or still queued.
    lost = []
    for rel, rnd in acked.items():
        good = versions.since(rel, rnd)
        if in_ledger.get(rel) not in good and not (queued[rel] & good):
            lost.append(rel)
    assert not lost, (f"{when}: {len(lost)} acknowledged file(s) neither uploaded nor "
                      f"queued, e.g. {lost[:3]}")

    if final:
        assert not queued, f"{when}: still queued after .sync: {dict(queued)}"
        # The bucket holds the newest version queued for each key: an older
        # upload finishing late must not overwrite a newer one.
        newest = {}
        for _, rel, sha, _, _ in rows:
            newest[rel] = sha
        stale = [rel for rel, sha in in_ledger.items() if newest.get(rel, sha) != sha]
        assert not stale, f"{when}: the bucket holds an older version of {stale[:3]}"
    return in_ledger, counts


def verify_bodies(rgw, versions, rels, in_ledger, acked, when):
    """GETs each object: the bytes of the version the ledger names, which is
    the acknowledged one or newer.  Returns how many were verified."""
    def check(rel):
        body = rgw.get(PREFIX + rel)
        sha = hashlib.sha256(body).hexdigest()
        assert sha == in_ledger[rel], f"{when}: '{rel}' in the bucket is not the ledger's"
        assert sha in versions.since(rel, acked[rel]), \
            f"{when}: '{rel}' in the bucket is older than its acknowledged read"

    # One GET takes ~50 ms on loopback, mostly waiting: a few at once.
    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        list(pool.map(check, rels))
    return len(rels)


def touch(path):
    with open(path, "a"):
        pass


def test_kill_9_at_random_moments_loses_nothing(rgw, tmp_path, mount_factory):
    trials = int(os.environ.get("WAREHOUSEFS_CRASH_TRIALS", "20"))
    seed = int(os.environ.get("WAREHOUSEFS_CRASH_SEED") or
               random.SystemRandom().randrange(1 << 32))
    print(f"\ncrash test: seed {seed} (replay: WAREHOUSEFS_CRASH_SEED={seed}), "
          f"{trials} trials, {CHUNK} files a trial, daemon {daemon_binary()}")
    rng = random.Random(seed)
    t_begin = time.monotonic()

    src = days_source(str(tmp_path / "src.db"), TEAMS, WEBSITES, DAYS)
    versions = Versions()
    rnd = 0
    todo = versions.add_round(rnd, src)
    rng.shuffle(todo)
    # log_level=debug: the PUTs are counted from their per-object log lines.
    opts = dict(FAST_SYNC, upload_retries="1000", sync_workers=str(rng.choice(WORKERS)),
                log_level="debug")
    m = mount_factory(src, **opts)
    m.mkdest(DEST, "*", **settings(rgw, PREFIX))

    acked = {}                        # rel -> round of its last acknowledged read
    reads_acked = 0
    kinds = collections.Counter()     # the moment each trial aimed at
    cut = collections.Counter()       # what each kill found under way
    for trial in range(trials):
        when = f"trial {trial + 1}/{trials} of seed {seed}"
        kind = KINDS[trial % len(KINDS)]
        if trial > 0:
            if not todo:
                # Every file was read in this round: the next gets new versions.
                rnd += 1
                change_source(src)
                todo = versions.add_round(rnd, src)
                rng.shuffle(todo)
            m.options["sync_workers"] = str(rng.choice(WORKERS))
        reader = None
        if kind == "early":
            m.start(wait=False)
            time.sleep(EARLY_MAX * rng.random() ** 2)  # most within 0.1 s
            cut["early, mounted" if os.path.ismount(m.mnt) else "early, not mounted"] += 1
        else:
            if trial > 0:
                m.start()
            chunk, todo = todo[:CHUNK], todo[CHUNK:]
            reader = Reader(m, chunk, versions, rnd)
            if kind == "uploads":
                # Reads queue while the destination is paused; resuming
                # starts a burst of uploads, which the kill cuts short.
                touch(m.path(DEST, ".pause"))
                reader.run()
                touch(m.path(DEST, ".resume"))
                time.sleep(rng.uniform(0, BURST_MAX))
            else:
                delay = rng.uniform(0, READS_MAX if kind == "reads" else MAX_DELAY)
                reader.start()
                if trial > 0:
                    check_integrity(m, f"{when}, running after the restart")
                time.sleep(max(0.0, delay - (time.monotonic() - reader.t0)))
            assert m.proc.poll() is None, \
                f"{when}: the daemon exited by itself:\n{m.stderr[-4000:]}"
        kinds[kind] += 1
        t_kill = time.monotonic()
        rc = m.kill()
        assert rc == -signal.SIGKILL, \
            f"{when}: the daemon exited with {rc} before the kill:\n{m.stderr[-4000:]}"
        if reader:
            if reader.ident:  # a thread, not run in place
                reader.join(READ_TIMEOUT + 10)
                assert not reader.is_alive(), f"{when}: a read hangs after the kill"
            assert not reader.wrong, f"{when}: reads returned wrong bytes: {reader.wrong}"
            if reader.failed and reader.failed[1] < t_kill:
                raise AssertionError(f"{when}: reading '{reader.failed[0]}' failed before "
                                     f"the kill: {reader.failed[2]}\n{m.stderr[-4000:]}")
            for rel in reader.acked:
                acked[rel] = rnd
            reads_acked += len(reader.acked)
            done = set(reader.acked)
            todo += [rel for rel in chunk if rel not in done]  # read again later
        _, counts = check_state(rgw, m, versions, acked, f"{when}, after a {kind} kill")
        if reader:
            cut["a read"] += bool(reader.failed)
            cut["uploads"] += counts["uploading"] > 0
            cut["only queued work"] += counts["uploading"] == 0 and counts["pending"] > 0
            cut["nothing"] += not reader.failed and counts["uploading"] + counts["pending"] == 0
        cut["rows left uploading"] += counts["uploading"]
        cut["objects ahead of the ledger"] += counts["ahead"]
    t_trials = time.monotonic() - t_begin

    # The last mount runs to completion, reading nothing: whatever was
    # acknowledged must come out of the queue alone.
    t0 = time.monotonic()
    m.options["sync_workers"] = "8"
    m.start()
    check_integrity(m, f"final mount of seed {seed}, running")
    report = sync(m, DEST, timeout=SYNC_TIMEOUT)
    assert report.get("failed", "0") == "0", report
    st = parse_kv(read_text(m.path(DEST, ".status")))
    assert (st["state"], st["pending"], st["failed"]) == ("active", "0", "0"), st
    assert m.stop() == 0, f"the last mount did not exit cleanly:\n{m.stderr[-4000:]}"
    when = f"after the final sync of seed {seed}"
    in_ledger, _ = check_state(rgw, m, versions, acked, when, final=True)
    verified = verify_bodies(rgw, versions, sorted(acked), in_ledger, acked, when)
    assert rgw.unfinished_uploads(PREFIX) == []
    acked_files = len(acked)

    # Then every file not acknowledged in this round is read, and all 1,000
    # keys must hold this round's version.
    rest = sorted(rel for rel in versions.sha if acked.get(rel) != rnd)
    m.start()
    reader = Reader(m, rest, versions, rnd)
    reader.run()
    assert not reader.failed and not reader.wrong, (reader.failed, reader.wrong)
    for rel in rest:
        acked[rel] = rnd
    sync(m, DEST, timeout=SYNC_TIMEOUT)
    assert m.stop() == 0, f"the last mount did not exit cleanly:\n{m.stderr[-4000:]}"
    when = f"after reading the rest, seed {seed}"
    in_ledger, _ = check_state(rgw, m, versions, acked, when, final=True)
    assert len(in_ledger) == len(versions.sha) == len(rgw.objects(PREFIX))
    assert all(in_ledger[rel] == versions.sha[rel][rnd] for rel in versions.sha)
    verified += verify_bodies(rgw, versions, rest, in_ledger, acked, when)
    assert rgw.unfinished_uploads(PREFIX) == []

    resumed = sum(int(line.split(" resuming ")[1].split()[0])
                  for line in m.stderr.splitlines() if " resuming " in line)
    puts = m.stderr.count(" debug: uploaded s3://")
    took = time.monotonic() - t_begin
    print(f"crash test: {trials} kills aimed at: " +
          ", ".join(f"{kinds[k]} {k}" for k in sorted(set(KINDS), key=KINDS.index)) +
          f"; {rnd + 1} round(s) of the source, sync_workers among {WORKERS}")
    print("crash test: the kills cut short: " + ", ".join(
        f"{k} {cut[k]}" for k in ("a read", "uploads", "only queued work", "nothing",
                                  "early, not mounted", "early, mounted")) +
          f"; {cut['rows left uploading']} rows left uploading, "
          f"{cut['objects ahead of the ledger']} objects seen ahead of the ledger, "
          f"{resumed} interrupted uploads resumed")
    print(f"crash test: {reads_acked} reads acknowledged during the trials "
          f"({acked_files} files), {len(rest)} read at the end; {puts} PUTs in all")
    print(f"crash test: {verified} objects verified byte for byte, {len(in_ledger)} keys "
          f"ledger == bucket; {took:.1f} s: trials {t_trials:.1f} s, "
          f"final mounts and checks {time.monotonic() - t0:.1f} s")
