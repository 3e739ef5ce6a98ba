"""Source changes show in the files they touch, and only in those."""

import os
import shutil
import sqlite3
import time

from conftest import (TEAM_A, TEAM_B, expected_csv, expected_files, read_bytes,
                      wait_for)


def snapshot(mount, dest="main"):
    """{rel: (bytes, size, mtime_ns)} of every expected file, read through the mount."""
    out = {}
    for rel in expected_files(mount.source):
        p = mount.path(dest, rel)
        st = os.stat(p)
        out[rel] = (read_bytes(p), st.st_size, st.st_mtime_ns)
    return out


def changed_to(mount, rel, want):
    p = mount.path("main", rel)
    return read_bytes(p) == want and os.stat(p).st_size == len(want)


def test_insert_and_update_show_in_that_file_only(mount):
    before = snapshot(mount)
    target = f"{TEAM_B}/2025-01-02/analytics_daily.csv"
    db = sqlite3.connect(mount.source)
    with db:
        db.execute("INSERT INTO websites VALUES ('b-000', ?, 'new.example')", (TEAM_B,))
        db.execute("INSERT INTO analytics_daily VALUES ('b-000','2025-01-02',1,1,1,0.5,2.0)")
        db.execute("UPDATE analytics_daily SET pageviews = 99999 WHERE website_id = 'b-002'"
                   " AND date = '2025-01-02'")
    db.close()
    want = expected_csv(mount.source, TEAM_B, "2025-01-02")
    assert want != before[target][0]
    assert b'"b-000","2025-01-02"' in want and b",99999," in want
    wait_for(lambda: changed_to(mount, target, want), what="the change to show")
    st = os.stat(mount.path("main", target))
    assert st.st_size == len(want) != before[target][1]
    assert st.st_mtime_ns > before[target][2], "mtime did not move forward"
    after = snapshot(mount)
    for rel, (data, size, mtime) in before.items():
        if rel == target:
            continue
        assert after[rel] == (data, size, mtime), f"{rel} changed too"
    # The new version is stable: another remount gives the same mtime.
    mount.remount()
    assert os.stat(mount.path("main", target)).st_mtime_ns == st.st_mtime_ns
    assert read_bytes(mount.path("main", target)) == want


def test_same_size_change_right_after_generation_gets_a_new_mtime(mount):
    """rsync compares size and mtime: a change must move the mtime even when
    it keeps the size and happens within the same second."""
    rel = f"{TEAM_B}/2025-01-01/analytics_daily.csv"
    p = mount.path("main", rel)
    db = sqlite3.connect(mount.source)
    seen = []
    for value in (31, 32, 33, 34):
        st = os.stat(p)
        seen.append(st.st_mtime_ns)
        with db:
            db.execute("UPDATE analytics_daily SET pageviews = ? WHERE website_id = "
                       "'b-002' AND date = '2025-01-01'", (value,))
        want = expected_csv(mount.source, TEAM_B, "2025-01-01")
        assert len(want) == st.st_size  # same size: only the mtime can tell
        wait_for(lambda: read_bytes(p) == want, what=f"pageviews = {value}")
        assert os.stat(p).st_mtime_ns > st.st_mtime_ns, \
            f"content changed but mtime stayed {st.st_mtime}"
    db.close()


def test_new_date_appears(mount):
    db = sqlite3.connect(mount.source)
    with db:
        db.execute("INSERT INTO analytics_daily VALUES ('site-a1','2025-03-01',1,1,1,0.5,2.0)")
    db.close()
    wait_for(lambda: "2025-03-01" in os.listdir(mount.path("main", TEAM_A)),
             what="the new date directory")
    rel = f"{TEAM_A}/2025-03-01/analytics_daily.csv"
    assert read_bytes(mount.path("main", rel)) == expected_csv(mount.source, TEAM_A,
                                                               "2025-03-01")


def test_deleted_rows_make_the_date_disappear(mount):
    rel = f"{TEAM_B}/2025-01-03/analytics_daily.csv"
    read_bytes(mount.path("main", rel))
    db = sqlite3.connect(mount.source)
    with db:
        db.execute("DELETE FROM analytics_daily WHERE date = '2025-01-03'")
    db.close()
    wait_for(lambda: not os.path.exists(mount.path("main", rel)), what="the file to go")
    assert "2025-01-03" not in os.listdir(mount.path("main", TEAM_B))


def test_replacing_the_source_file_is_noticed(mount, tmp_path):
    before = snapshot(mount)
    target = f"{TEAM_A}/2025-01-15/analytics_daily.csv"
    new = str(tmp_path / "new.db")
    shutil.copyfile(mount.source, new)
    db = sqlite3.connect(new)
    with db:
        db.execute("UPDATE analytics_daily SET total_visitors = 424242 WHERE date = "
                   "'2025-01-15' AND website_id = 'site-a1'")
    db.close()
    # Make sure the replacement keeps size and mtime: only the inode differs.
    st = os.stat(mount.source)
    os.utime(new, ns=(st.st_atime_ns, st.st_mtime_ns))
    assert os.stat(new).st_size == st.st_size
    os.rename(new, mount.source)  # what a nightly `mv new.db src.db` does
    want = expected_csv(mount.source, TEAM_A, "2025-01-15")
    assert b"424242" in want
    wait_for(lambda: changed_to(mount, target, want), what="the replaced source")
    assert os.stat(mount.path("main", target)).st_mtime_ns > before[target][2]
    after = snapshot(mount)
    for rel, v in before.items():
        if rel != target:
            assert after[rel] == v, f"{rel} changed too"
    # A second replacement is noticed as well.
    shutil.copyfile(mount.source, new)
    db = sqlite3.connect(new)
    with db:
        db.execute("UPDATE analytics_daily SET total_visitors = 515151 WHERE date = "
                   "'2025-01-15' AND website_id = 'site-a1'")
    db.close()
    os.rename(new, mount.source)
    want2 = expected_csv(mount.source, TEAM_A, "2025-01-15")
    wait_for(lambda: changed_to(mount, target, want2), what="the second replacement")


def test_change_while_unmounted_shows_after_remount(mount):
    rel = f"{TEAM_B}/2025-01-01/analytics_daily.csv"
    old = os.stat(mount.path("main", rel))
    read_bytes(mount.path("main", rel))
    mount.stop()
    time.sleep(1.1)  # a new mtime must be later, whatever the clock resolution
    db = sqlite3.connect(mount.source)
    with db:
        db.execute("UPDATE analytics_daily SET unique_visitors = 7 WHERE date = "
                   "'2025-01-01' AND website_id = 'b-001'")
    db.close()
    mount.start()
    want = expected_csv(mount.source, TEAM_B, "2025-01-01")
    assert read_bytes(mount.path("main", rel)) == want
    assert os.stat(mount.path("main", rel)).st_mtime_ns > old.st_mtime_ns
