"""Ordinary tools see exactly the bucket layout: rsync, cp -r, find."""

import os
import subprocess

from conftest import expected_files, read_bytes


def run(*argv, **kw):
    return subprocess.run(list(argv), capture_output=True, text=True, **kw)


def assert_tree_equals_expected(root, expected):
    found = {}
    for d, dirs, files in os.walk(root):
        for f in files:
            p = os.path.join(d, f)
            found[os.path.relpath(p, root)] = read_bytes(p)
    assert sorted(found) == sorted(expected)
    for rel in expected:
        assert found[rel] == expected[rel], rel


def test_rsync_copies_everything_and_second_run_transfers_nothing(mount, tmp_path):
    out = tmp_path / "out"
    r = run("rsync", "-a", mount.path("main") + "/", str(out) + "/")
    assert r.returncode == 0, r.stderr
    r = run("diff", "-r", mount.path("main"), str(out))
    assert r.returncode == 0, r.stdout + r.stderr
    assert_tree_equals_expected(str(out), expected_files(mount.source))
    assert not os.path.exists(out / ".config")
    assert not os.path.exists(out / ".status")

    r = run("rsync", "-a", "--itemize-changes", mount.path("main") + "/", str(out) + "/")
    assert r.returncode == 0, r.stderr
    transferred = [line for line in r.stdout.splitlines() if line.startswith(">f")]
    assert transferred == [], r.stdout
    # Nothing else changes either (directory times, permissions).
    assert r.stdout.strip() == "", r.stdout

    # And again after a remount: same sizes and mtimes.
    mount.remount()
    r = run("rsync", "-a", "--itemize-changes", mount.path("main") + "/", str(out) + "/")
    assert r.returncode == 0, r.stderr
    assert [line for line in r.stdout.splitlines() if line.startswith(">f")] == [], r.stdout


def test_cp_r(mount, tmp_path):
    out = tmp_path / "copy"
    r = run("cp", "-r", mount.path("main"), str(out))
    assert r.returncode == 0, r.stderr
    r = run("diff", "-r", mount.path("main"), str(out))
    assert r.returncode == 0, r.stdout + r.stderr
    assert_tree_equals_expected(str(out), expected_files(mount.source))


def test_cp_preserve_keeps_mtime(mount, tmp_path):
    rel = next(iter(expected_files(mount.source)))
    dst = tmp_path / "f.csv"
    r = run("cp", "--preserve=timestamps", mount.path("main", rel), str(dst))
    assert r.returncode == 0, r.stderr
    assert os.stat(dst).st_mtime == os.stat(mount.path("main", rel)).st_mtime


def test_find_counts_csv_files_and_no_control_files(mount):
    expected = expected_files(mount.source)
    r = run("sh", "-c", "find \"$1\" -name '*.csv' | wc -l", "sh", mount.path("main"))
    assert r.returncode == 0, r.stderr
    assert int(r.stdout) == len(expected)
    r = run("find", mount.path())
    assert r.returncode == 0, r.stderr
    names = r.stdout.splitlines()
    assert not [n for n in names if os.path.basename(n).startswith(".")], names
    r = run("find", mount.path("main"), "-type", "f")
    assert r.returncode == 0, r.stderr
    assert sorted(os.path.relpath(p, mount.path("main")) for p in r.stdout.splitlines()
                  ) == sorted(expected)


def test_rsync_after_a_source_change_transfers_exactly_that_file(mount, tmp_path):
    import sqlite3

    from conftest import TEAM_B, wait_for
    out = tmp_path / "out"
    r = run("rsync", "-a", mount.path("main") + "/", str(out) + "/")
    assert r.returncode == 0, r.stderr
    db = sqlite3.connect(mount.source)
    with db:  # same size, same second: only content and mtime tell
        db.execute("UPDATE analytics_daily SET total_visitors = 11 WHERE website_id = "
                   "'b-001' AND date = '2025-01-02'")
    db.close()
    rel = f"{TEAM_B}/2025-01-02/analytics_daily.csv"
    want = expected_files(mount.source)[rel]
    wait_for(lambda: read_bytes(mount.path("main", rel)) == want, what="the change")
    r = run("rsync", "-a", "--itemize-changes", mount.path("main") + "/", str(out) + "/")
    assert r.returncode == 0, r.stderr
    transferred = [line.split(" ", 1)[1] for line in r.stdout.splitlines()
                   if line.startswith(">f")]
    assert transferred == [rel], r.stdout
    assert read_bytes(str(out / rel)) == want
    r = run("diff", "-r", mount.path("main"), str(out))
    assert r.returncode == 0, r.stdout + r.stderr


def test_listing_a_team_with_many_dates(source_factory, mount_factory):
    import datetime
    day0 = datetime.date(2020, 1, 1)
    dates = [(day0 + datetime.timedelta(days=i)).isoformat() for i in range(600)]
    m = mount_factory(source_factory(websites=[("w", "t", None)],
                                     rows=[("w", d, 1, 1, 1, 0.5, 1.0) for d in dates]))
    m.mkdest("main", "t")
    assert sorted(os.listdir(m.path("main", "t"))) == dates
    r = run("sh", "-c", "find \"$1\" -name '*.csv' | wc -l", "sh", m.path("main"))
    assert int(r.stdout) == len(dates)
