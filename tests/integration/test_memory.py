"""Generation streams: a 1,000,000-row file costs no more memory than a
1,000-row one (plus a fixed allowance).  A bound, not a timing."""

import hashlib
import os
import sqlite3

from conftest import SCHEMA

TEAM = "big-team"
DATE = "2025-01-14"
REL = f"main/{TEAM}/{DATE}/analytics_daily.csv"
ALLOWANCE_KIB = 32 * 1024
RESULT_FILE = os.path.join(os.path.dirname(os.path.abspath(__file__)), ".last-rss.txt")


def big_source(path, nrows):
    db = sqlite3.connect(path)
    db.executescript(SCHEMA)
    with db:
        db.execute(
            "WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i + 1 < ?)"
            " INSERT INTO websites SELECT printf('w%08d', i), ?, printf('s%d.example', i)"
            " FROM n", (nrows, TEAM))
        db.execute(
            "INSERT INTO analytics_daily SELECT website_id, ?, (rowid * 7919) % 100000,"
            " (rowid * 7919) % 50000, (rowid * 104729) % 1000000,"
            " ((rowid * 31) % 1000) / 1000.0, ((rowid * 17) % 36000) / 10.0"
            " FROM websites", (DATE,))
    db.close()
    return path


def expected_digest(path):
    """sha256 and size of the expected file, computed from the source."""
    db = sqlite3.connect(path)
    h = hashlib.sha256()
    header = (b"website_id,date,total_visitors,unique_visitors,pageviews,bounce_rate,"
              b"avg_session_duration\n")
    h.update(header)
    size = len(header)
    cur = db.execute(
        "SELECT '\"' || replace(a.website_id, '\"', '\"\"') || '\",\"' || a.date || '\",' ||"
        " CAST(a.total_visitors AS TEXT)"
        " || ',' || CAST(a.unique_visitors AS TEXT) || ',' || CAST(a.pageviews AS TEXT)"
        " || ',' || CAST(a.bounce_rate AS TEXT) || ',' ||"
        " CAST(a.avg_session_duration AS TEXT) || char(10)"
        " FROM websites w JOIN analytics_daily a ON a.website_id = w.website_id"
        " WHERE w.team_id = ? AND a.date = ? ORDER BY a.website_id", (TEAM, DATE))
    for (line,) in cur:
        b = line.encode()
        h.update(b)
        size += len(b)
    db.close()
    return h.hexdigest(), size


def read_and_measure(mount):
    p = mount.path(REL)
    size = os.stat(p).st_size
    h = hashlib.sha256()
    n = 0
    with open(p, "rb", buffering=0) as f:
        while True:
            b = f.read(1 << 20)
            if not b:
                break
            h.update(b)
            n += len(b)
    assert n == size
    return mount.peak_rss_kib(), h.hexdigest(), size


def test_peak_rss_does_not_grow_with_file_size(tmp_path, mount_factory):
    small_src = big_source(str(tmp_path / "small.db"), 1_000)
    large_src = big_source(str(tmp_path / "large.db"), 1_000_000)

    small = mount_factory(small_src, subdir="small")
    small.mkdest("main", TEAM)
    small_peak, small_sha, small_size = read_and_measure(small)
    assert (small_sha, small_size) == expected_digest(small_src)

    large = mount_factory(large_src, subdir="large")
    large.mkdest("main", TEAM)
    large_peak, large_sha, large_size = read_and_measure(large)
    assert large_size > 50_000_000
    assert (large_sha, large_size) == expected_digest(large_src)

    report = (f"binary: {small.binary}\n"
              f"peak RSS (VmHWM), 1,000-row file ({small_size} bytes): {small_peak} KiB\n"
              f"peak RSS (VmHWM), 1,000,000-row file ({large_size} bytes): {large_peak} KiB\n"
              f"difference: {large_peak - small_peak} KiB (bound {ALLOWANCE_KIB} KiB)\n")
    with open(RESULT_FILE, "w", encoding="utf-8") as f:
        f.write(report)
    print("\n" + report, end="")
    assert large_peak < small_peak + ALLOWANCE_KIB, report
