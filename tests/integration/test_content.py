"""What the files hold: exact bytes, true sizes, stable mtimes, any offset."""

import os
import random
import subprocess
import threading

from conftest import (TEAM_A, TEAM_B, TEAM_HIDDEN, TEAM_U, TEAMS, expected_csv,
                      expected_files, read_bytes)

BIG = f"{TEAM_B}/2025-01-04/analytics_daily.csv"


def test_every_file_is_byte_identical_to_independent_expectation(mount):
    expected = expected_files(mount.source)
    # The awkward rows are really in there: NULLs, quoting, CR/LF, UTF-8,
    # whole-number REALs, text in numeric columns.
    a14 = expected[f"{TEAM_A}/2025-01-14/analytics_daily.csv"]
    for needle in (b'"site,comma","2025-01-14",,,,,\n',
                   b'"site""quote","2025-01-14",7,7,9,1.0,0.0\n',
                   b'"site\nnewline"', b'"site\rcr"', "sité-ü".encode(), b"1.0e+20",
                   b"0.333333333333333", b"9223372036854775807"):
        assert needle in a14, needle
    assert b'"12abc","x""y","a,b","n/a",\n' in expected[f"{TEAM_A}/2025-01-15/analytics_daily.csv"]
    assert len(expected) == 8
    for rel, want in expected.items():
        got = read_bytes(mount.path("main", rel))
        assert got == want, f"{rel}: content differs from the expectation"


def test_single_team_destination_shows_only_that_team(mount):
    mount.mkdest("only-u", TEAM_U)
    assert os.listdir(mount.path("only-u")) == [TEAM_U]
    rel = f"{TEAM_U}/2025-01-14/analytics_daily.csv"
    assert read_bytes(mount.path("only-u", rel)) == expected_csv(mount.source, TEAM_U,
                                                                 "2025-01-14")
    # Another team's files are not reachable through it.
    assert not os.path.exists(mount.path("only-u", TEAM_A))
    assert not os.path.exists(mount.path("only-u", f"{TEAM_A}/2025-01-14/analytics_daily.csv"))


def test_tree_lists_valid_teams_dates_and_no_control_files(mount):
    assert sorted(os.listdir(mount.path("main"))) == sorted(TEAMS)
    assert TEAM_HIDDEN not in os.listdir(mount.path("main"))
    assert sorted(os.listdir(mount.path("main", TEAM_A))) == ["2024-02-29", "2025-01-14",
                                                             "2025-01-15"]
    assert os.listdir(mount.path("main", TEAM_A, "2025-01-14")) == ["analytics_daily.csv"]
    assert os.listdir(mount.path()) == ["main"]
    # Control files are reachable by path but never listed.
    assert os.path.isfile(mount.path("main", ".config"))
    assert os.path.isfile(mount.path("main", ".status"))
    for root, dirs, files in os.walk(mount.path()):
        for n in dirs + files:
            assert not n.startswith("."), f"{root}/{n} is listed"


def test_stat_gives_true_size_and_mode_before_first_read(mount):
    for rel, want in expected_files(mount.source).items():
        st = os.stat(mount.path("main", rel))
        assert st.st_size == len(want), rel
        assert st.st_mode & 0o777 == 0o444
    # Files never stat-ed before: open and read gives exactly st_size bytes.
    for rel in expected_files(mount.source):
        p = mount.path("main", rel)
        size = os.stat(p).st_size
        assert len(read_bytes(p)) == size


def test_stat_before_read_on_fresh_mount_big_file(mount):
    p = mount.path("main", BIG)
    size = os.stat(p).st_size
    data = read_bytes(p)
    assert size == len(data) > 100_000
    assert data == expected_csv(mount.source, TEAM_B, "2025-01-04")


def test_mtime_stable_across_reads_and_remount(mount):
    rels = list(expected_files(mount.source))
    before = {r: os.stat(mount.path("main", r)) for r in rels}
    for r in rels:
        read_bytes(mount.path("main", r))
    for r in rels:
        st = os.stat(mount.path("main", r))
        assert st.st_mtime_ns == before[r].st_mtime_ns, r
        assert st.st_size == before[r].st_size
    mount.remount()
    for r in rels:
        st = os.stat(mount.path("main", r))
        assert st.st_mtime_ns == before[r].st_mtime_ns, f"{r}: mtime changed by a remount"
        assert read_bytes(mount.path("main", r)) == expected_csv(mount.source,
                                                                 *r.split("/")[:2])


def test_mtime_survives_cache_loss(mount):
    """The mtime belongs to the content, not to the cache file."""
    p = mount.path("main", BIG)
    st = os.stat(p)
    mount.stop()
    for f in os.listdir(os.path.join(mount.cache, "objects")):
        os.unlink(os.path.join(mount.cache, "objects", f))
    mount.start()
    assert os.stat(p).st_mtime_ns == st.st_mtime_ns
    assert read_bytes(p) == expected_csv(mount.source, TEAM_B, "2025-01-04")


def test_head_tail_dd_at_random_offsets(mount):
    p = mount.path("main", BIG)
    want = expected_csv(mount.source, TEAM_B, "2025-01-04")
    rng = random.Random(1234)
    for n in (1, 100, 4096, 70_000):
        got = subprocess.run(["head", "-c", str(n), p], capture_output=True, check=True).stdout
        assert got == want[:n]
        got = subprocess.run(["tail", "-c", str(n), p], capture_output=True, check=True).stdout
        assert got == want[-n:]
    got = subprocess.run(["head", "-n", "3", p], capture_output=True, check=True).stdout
    assert got == b"".join(want.splitlines(keepends=True)[:3])
    got = subprocess.run(["tail", "-n", "2", p], capture_output=True, check=True).stdout
    assert got == b"".join(want.splitlines(keepends=True)[-2:])
    for _ in range(12):
        bs = rng.choice([1, 7, 512, 4096, 65536])
        skip = rng.randrange(0, len(want) // bs + 2)
        count = rng.randrange(1, 5)
        got = subprocess.run(["dd", f"if={p}", f"bs={bs}", f"skip={skip}", f"count={count}",
                              "status=none"], capture_output=True, check=True).stdout
        assert got == want[skip * bs:(skip + count) * bs], (bs, skip, count)
    # pread at random offsets, including past the end.
    fd = os.open(p, os.O_RDONLY)
    try:
        for _ in range(50):
            off = rng.randrange(0, len(want) + 100)
            n = rng.randrange(1, 200_000)
            assert os.pread(fd, n, off) == want[off:off + n]
    finally:
        os.close(fd)


def test_eight_concurrent_readers(mount):
    expected = expected_files(mount.source)
    rels = sorted(expected)
    errors = []
    barrier = threading.Barrier(8)

    def reader(k):
        rng = random.Random(k)
        try:
            barrier.wait()
            for _ in range(3):
                for rel in rng.sample(rels, len(rels)):
                    p = mount.path("main", rel)
                    chunk = rng.choice([1000, 4096, 65536, 1 << 20])
                    parts = []
                    with open(p, "rb", buffering=0) as f:
                        while True:
                            b = f.read(chunk)
                            if not b:
                                break
                            parts.append(b)
                    if b"".join(parts) != expected[rel]:
                        errors.append(f"reader {k}: {rel} differs")
        except Exception as e:  # noqa: BLE001 - report any failure of a thread
            errors.append(f"reader {k}: {e!r}")

    threads = [threading.Thread(target=reader, args=(k,)) for k in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not any(t.is_alive() for t in threads), "a reader hung"
    assert not errors, errors


def test_concurrent_first_access_of_one_file(source_factory, mount_factory):
    """Eight threads stat and read the same never-generated file at once."""
    m = mount_factory(source_factory())
    m.mkdest("main", "*")
    want = expected_csv(m.source, TEAM_B, "2025-01-04")
    p = m.path("main", BIG)
    results = []
    barrier = threading.Barrier(8)

    def go():
        barrier.wait()
        size = os.stat(p).st_size
        results.append((size, read_bytes(p)))

    threads = [threading.Thread(target=go) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert len(results) == 8
    for size, data in results:
        assert size == len(want) and data == want


def test_invalid_dates_in_source_are_not_listed(source_factory, mount_factory):
    """Only calendar dates become directories: readdir and lookup agree."""
    websites = [("w1", "t1", None)]
    rows = [("w1", d, 1, 1, 1, 0.5, 1.0) for d in
            ("2025-01-14", "2025-02-30", "2025-13-01", "garbage", "2025/01/15", "..",
             "2025-01-1")]
    m = mount_factory(source_factory(websites=websites, rows=rows))
    m.mkdest("main", "t1")
    assert os.listdir(m.path("main", "t1")) == ["2025-01-14"]
    out = subprocess.run(["find", m.path("main")], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr


def test_file_bigger_than_the_cache_is_still_served(source_factory, mount_factory):
    """The cache bound evicts old versions, never the one being opened."""
    m = mount_factory(source_factory(), cache_size="64K")
    m.mkdest("main", "*")
    expected = expected_files(m.source)
    assert len(expected[BIG]) > 64 * 1024
    for _ in range(2):
        for rel, want in expected.items():
            assert read_bytes(m.path("main", rel)) == want, rel
    # The cache directory stays near its bound.
    objects = os.path.join(m.cache, "objects")
    total = sum(os.path.getsize(os.path.join(objects, f)) for f in os.listdir(objects))
    assert total <= len(expected[BIG]) + 64 * 1024


def test_source_in_wal_mode(source_factory, mount_factory):
    import sqlite3
    src = source_factory()
    db = sqlite3.connect(src)
    assert db.execute("PRAGMA journal_mode=WAL").fetchone()[0] == "wal"
    m = mount_factory(src)
    m.mkdest("main", TEAM_A)
    rel = f"{TEAM_A}/2025-01-14/analytics_daily.csv"
    assert read_bytes(m.path("main", rel)) == expected_csv(src, TEAM_A, "2025-01-14")
    st = os.stat(m.path("main", rel))
    with db:  # the commit lands in the -wal file: the main file does not change
        db.execute("UPDATE analytics_daily SET pageviews = 1234567 WHERE website_id = "
                   "'site-a1' AND date = '2025-01-14'")
    want = expected_csv(src, TEAM_A, "2025-01-14")
    assert b"1234567" in want

    def changed():
        return read_bytes(m.path("main", rel)) == want

    import time
    deadline = time.monotonic() + 5
    while not changed():
        assert time.monotonic() < deadline, "a WAL commit was not noticed"
        time.sleep(0.05)
    assert os.stat(m.path("main", rel)).st_mtime_ns > st.st_mtime_ns
    db.close()
