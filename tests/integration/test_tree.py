"""The tree on the low-level API: listings, inode numbers, lookup counts
and the kernel's caches kept right by invalidation."""

import datetime
import errno
import os
import sqlite3
import subprocess
import time

import pytest

from conftest import (FAST, TEAM_A, TEAM_B, TEAMS, days_source, expected_csv,
                      read_bytes, wait_for)

# Long kernel caches: only invalidation can make changes show in time.
LONG = {"source_check_ms": "100", "attr_timeout": "3600", "entry_timeout": "3600",
        "negative_timeout": "3600"}


def drop_caches():
    """Makes the kernel forget unused dentries and inodes (FORGETs follow)."""
    try:
        with open("/proc/sys/vm/drop_caches", "w") as f:
            f.write("2\n")
    except OSError as e:
        pytest.skip(f"cannot drop the kernel's caches ({e.strerror}): needs root")


def source_dates(source, team):
    db = sqlite3.connect(source)
    rows = db.execute("SELECT DISTINCT a.date FROM analytics_daily a JOIN websites w "
                      "USING (website_id) WHERE w.team_id = ? ORDER BY 1", (team,))
    out = [r[0] for r in rows]
    db.close()
    return out


def inodes(m, dest):
    """{path relative to the mount: st_ino} of everything below dest, its
    control files included."""
    out = {}
    root = m.path(dest)
    for d, dirs, names in os.walk(root):
        for n in dirs + names:
            p = os.path.join(d, n)
            out[os.path.relpath(p, m.mnt)] = os.stat(p).st_ino
    for c in (".config", ".status", ".history", ".run-now", ".pause", ".resume"):
        out[f"{dest}/{c}"] = os.stat(os.path.join(root, c)).st_ino
    for c in (".status", ".metrics", ".audit"):
        out[c] = os.stat(m.path(c)).st_ino
    out[dest] = os.stat(root).st_ino
    return out


def test_10000_dates_listed_and_stat_name_by_name(tmp_path, mount_factory):
    src = days_source(str(tmp_path / "days.db"), TEAM_A, 1, 10000, first="2000-01-01")
    m = mount_factory(src)
    m.mkdest("main", TEAM_A)
    want = source_dates(src, TEAM_A)
    assert len(want) == 10000
    team = m.path("main", TEAM_A)
    for attempt in range(3):
        # ls -l: the listing, then a stat of every entry (readdirplus answers both).
        p = subprocess.run(["ls", "-l", "--time-style=+%Y-%m-%d", team],
                           capture_output=True, text=True, timeout=120)
        assert p.returncode == 0, p.stderr
        lines = p.stdout.splitlines()[1:]
        assert [line.split()[-1] for line in lines] == want
        for line in lines:
            fields = line.split()
            assert fields[0] == "dr-xr-xr-x", line
            assert fields[-2] == fields[-1], f"a date's mtime is its day: {line}"
        assert sorted(os.listdir(team)) == want
        if attempt == 1:
            drop_caches()
    # Each date's inode number is its own.
    seen = {os.stat(os.path.join(team, d)).st_ino for d in want}
    assert len(seen) == len(want)


def test_lookup_counts_survive_forgets(mount):
    """Thousands of entries looked up, forgotten by the kernel and looked
    up again: every name and inode number comes back the same."""
    base = inodes(mount, "main")
    contents = {rel: read_bytes(mount.path(rel)) for rel in base
                if rel.endswith(".csv")}
    assert len(contents) >= 6
    for _ in range(5):
        drop_caches()
        assert inodes(mount, "main") == base
        drop_caches()
        for rel, data in contents.items():
            assert read_bytes(mount.path(rel)) == data
    assert mount.proc.poll() is None


def test_inode_numbers_are_the_same_after_a_remount(mount):
    before = inodes(mount, "main")
    assert len(set(before.values())) == len(before), "two entries share an inode number"
    assert os.stat(mount.mnt).st_ino == 1
    mount.remount()
    drop_caches()
    assert inodes(mount, "main") == before


def test_source_changes_show_despite_long_timeouts(source_factory, mount_factory):
    m = mount_factory(source_factory(), **LONG)
    m.mkdest("main", TEAM_B)
    rel = f"{TEAM_B}/2025-01-02/analytics_daily.csv"
    p = m.path("main", rel)
    old = read_bytes(p)
    assert os.stat(p).st_size == len(old)
    new_date = m.path("main", TEAM_B, "2025-02-01")
    with pytest.raises(FileNotFoundError):
        os.stat(new_date)  # now a negative entry the kernel may keep an hour
    db = sqlite3.connect(m.source)
    with db:
        db.execute("INSERT INTO websites VALUES ('b-zzz', ?, 'z.example')", (TEAM_B,))
        db.execute("INSERT INTO analytics_daily VALUES ('b-zzz','2025-01-02',1,1,1,0.5,2.0)")
        db.execute("INSERT INTO analytics_daily VALUES ('b-zzz','2025-02-01',1,1,1,0.5,2.0)")
    want = expected_csv(m.source, TEAM_B, "2025-01-02")
    assert len(want) > len(old)
    # stat alone (no open) sees the new size: the attributes were invalidated.
    wait_for(lambda: os.stat(p).st_size == len(want), what="the new size in stat")
    assert read_bytes(p) == want
    wait_for(lambda: os.path.isdir(new_date), what="the new date (negative entry dropped)")
    assert "2025-02-01" in os.listdir(m.path("main", TEAM_B))
    # A date whose rows go disappears, though the kernel had it cached.
    gone = m.path("main", TEAM_B, "2025-01-01")
    assert os.path.isdir(gone)
    with db:
        db.execute("DELETE FROM analytics_daily WHERE date = '2025-01-01'")
    db.close()
    wait_for(lambda: not os.path.exists(gone), what="the emptied date to go")
    assert "2025-01-01" not in os.listdir(m.path("main", TEAM_B))


def test_settings_and_rmdir_invalidate_at_once(source_factory, mount_factory):
    m = mount_factory(source_factory(), **LONG)
    m.mkdest("main", TEAM_A)
    a = m.path("main", TEAM_A)
    assert os.path.isdir(a) and os.listdir(m.path("main")) == [TEAM_A]
    with pytest.raises(FileNotFoundError):
        os.stat(m.path("main", TEAM_B))
    m.write_config("main", {"team_id": TEAM_B})
    # No waiting: the write's close returned after the kernel was told.
    assert not os.path.exists(a)
    assert os.path.isdir(m.path("main", TEAM_B))
    assert os.listdir(m.path("main")) == [TEAM_B]
    # rmdir, then mkdir of the same name: nothing of the old tree shows.
    ino = os.stat(m.path("main")).st_ino
    os.rmdir(m.path("main"))
    assert not os.path.exists(m.path("main", TEAM_B))
    os.mkdir(m.path("main"))
    assert os.listdir(m.path("main")) == []
    assert not os.path.exists(m.path("main", TEAM_B))
    assert os.stat(m.path("main")).st_ino == ino  # derived from the path
    m.write_config("main", {"team_id": "*"})
    assert sorted(os.listdir(m.path("main"))) == sorted(TEAMS)


def test_names_that_cannot_exist(mount):
    team = mount.path("main", TEAM_A)
    for bad in ("..." , "2025-13-01", "x" * 255):
        with pytest.raises(FileNotFoundError):
            os.stat(os.path.join(team, bad))
    with pytest.raises(OSError) as e:
        os.stat(os.path.join(team, "x" * 256))
    assert e.value.errno == errno.ENAMETOOLONG
    with pytest.raises(NotADirectoryError):
        os.listdir(mount.path("main", ".config"))
    f = mount.path("main", TEAM_A, "2025-01-14", "analytics_daily.csv")
    assert os.path.isfile(f)
    with pytest.raises(NotADirectoryError):
        os.stat(os.path.join(f, "x"))


def xattr_dump(path):
    return subprocess.run(["getfattr", "--absolute-names", "-R", "-d", "-m", "-", path], capture_output=True,
                          text=True, timeout=120)


@pytest.mark.parametrize("case", ["unconfigured", "pending"])
def test_xattr_preserving_copies(case, tmp_path, source_factory, mount_factory):
    """rsync -aX and cp -a --preserve=xattr copy every file, and getfattr
    -d reads every name listxattr gives."""
    m = mount_factory(source_factory(), **FAST)
    if case == "unconfigured":
        m.mkdest("main", "*")
    else:
        # Configured, but the endpoint refuses connections: uploads stay pending.
        m.mkdest("main", "*", bucket="pending-bucket", region="us-east-1",
                 endpoint="http://127.0.0.1:9", access_key_id="AKIDEXAMPLE",
                 secret_access_key="secret")
    src = m.path("main")
    files = sorted(os.path.relpath(os.path.join(d, n), src)
                   for d, _, names in os.walk(src) for n in names)
    assert len(files) >= 6
    dump = xattr_dump(src)
    assert dump.returncode == 0 and dump.stderr == "", dump.stderr
    assert dump.stdout.count("user.warehousefs.sha256=") == len(files)
    # ls -l asks for ACLs and security labels: "not supported", not an error.
    p = subprocess.run(["ls", "-lR", src], capture_output=True, text=True, timeout=60)
    assert p.returncode == 0 and p.stderr == "", p.stderr
    want = "none" if case == "unconfigured" else "pending"
    for f in files:
        value = os.getxattr(os.path.join(src, f), "user.warehousefs.sync").decode()
        assert value in ((want,) if case == "unconfigured" else
                         ("pending", "uploading", "failed"))
        for name in os.listxattr(os.path.join(src, f)):
            os.getxattr(os.path.join(src, f), name)  # listed, so readable
    for tool, argv in (("rsync", ["rsync", "-aX", src + "/", str(tmp_path / "rsync")]),
                       ("rsync-acl", ["rsync", "-aAX", src + "/", str(tmp_path / "rsync-acl")]),
                       ("cp", ["cp", "-a", "--preserve=xattr", src,
                               str(tmp_path / "cp")])):
        p = subprocess.run(argv, capture_output=True, text=True, timeout=120)
        assert p.returncode == 0, f"{tool}: {p.stderr}"
        out = tmp_path / tool
        for f in files:
            assert read_bytes(str(out / f)) == read_bytes(os.path.join(src, f))
            sha = os.getxattr(str(out / f), "user.warehousefs.sha256")
            assert sha == os.getxattr(os.path.join(src, f), "user.warehousefs.sha256")
