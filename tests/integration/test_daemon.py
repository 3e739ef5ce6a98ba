"""Starting the daemon: clear refusals, --help, --version, the fstab form."""

import os
import re
import stat
import subprocess

from conftest import REPO, TEAM_A, daemon_binary, expected_csv, read_bytes

SECRET = "another-Secret-Value-0123456789abcdef"


def project_version():
    with open(os.path.join(REPO, "meson.build"), encoding="utf-8") as f:
        return re.search(r"version\s*:\s*'([^']+)'", f.read()).group(1)


def test_help():
    r = subprocess.run([daemon_binary(), "--help"], capture_output=True, text=True,
                       timeout=10)
    assert r.returncode == 0, r.stderr
    for word in ("source=", "state=", "cache=", "keyfile=", "cache_size=",
                 "source_check_ms=", "attr_timeout="):
        assert word in r.stdout, word


def test_version():
    r = subprocess.run([daemon_binary(), "--version"], capture_output=True, text=True,
                       timeout=10)
    assert r.returncode == 0, r.stderr
    assert r.stdout.splitlines()[0] == f"warehousefs {project_version()}"


def test_key_file_is_created_0600_and_state_db(mount):
    st = os.stat(mount.keyfile)
    assert stat.S_IMODE(st.st_mode) == 0o600
    assert st.st_size == 32
    assert os.path.exists(mount.state)


def test_missing_source_is_a_clear_error(tmp_path, mount_factory):
    m = mount_factory(str(tmp_path / "nope.db"), start=False)
    r = m.run_other(m.argv())
    assert r.returncode == 1, r.stderr
    assert f"cannot open source '{tmp_path / 'nope.db'}'" in r.stderr
    assert "No such file" in r.stderr
    assert not os.path.ismount(m.mnt)


def test_source_that_is_not_a_database(tmp_path, mount_factory):
    bad = tmp_path / "bad.db"
    bad.write_bytes(b"this is not sqlite\n" * 100)
    m = mount_factory(str(bad), start=False)
    r = m.run_other(m.argv())
    assert r.returncode == 1
    assert "source" in r.stderr and str(bad) in r.stderr
    assert not os.path.ismount(m.mnt)


def test_source_without_the_schema(tmp_path, mount_factory):
    import sqlite3
    p = tmp_path / "other.db"
    db = sqlite3.connect(p)
    db.execute("CREATE TABLE t(x)")
    db.close()
    m = mount_factory(str(p), start=False)
    r = m.run_other(m.argv())
    assert r.returncode == 1
    assert str(p) in r.stderr and "websites" in r.stderr
    assert not os.path.ismount(m.mnt)


def test_second_daemon_on_same_state_is_refused(mount, tmp_path):
    other = tmp_path / "mnt2"
    other.mkdir()
    r = mount.run_other(mount.argv(mountpoint=str(other)))
    assert r.returncode == 1, r.stderr
    assert mount.state in r.stderr and "already in use" in r.stderr
    assert str(mount.pid) in r.stderr
    assert not os.path.ismount(other)
    # The first one is unharmed.
    assert os.listdir(mount.path()) == ["main"]


def test_wrong_key_file_on_remount_is_refused(mount):
    mount.write_config("main", {"secret_access_key": SECRET})
    mount.stop()
    good = open(mount.keyfile, "rb").read()
    with open(mount.keyfile, "wb") as f:
        f.write(os.urandom(32))
    r = mount.run_other(mount.argv())
    assert r.returncode == 1
    assert "does not match" in r.stderr and mount.keyfile in r.stderr, r.stderr
    assert not os.path.ismount(mount.mnt)
    assert SECRET not in r.stderr
    # A missing key file does not silently become a new key either.
    os.unlink(mount.keyfile)
    r = mount.run_other(mount.argv())
    assert r.returncode == 1, r.stderr
    assert "does not match" in r.stderr or "key" in r.stderr
    assert not os.path.ismount(mount.mnt)
    # The right key works again, with the secret intact.
    with open(mount.keyfile, "wb") as f:
        f.write(good)
    os.chmod(mount.keyfile, 0o600)
    mount.start()
    assert mount.read_config("main")["secret_access_key"] == "(set)"


def test_key_file_readable_by_others_is_refused(mount):
    mount.stop()
    os.chmod(mount.keyfile, 0o644)
    r = mount.run_other(mount.argv())
    assert r.returncode == 1
    assert mount.keyfile in r.stderr
    os.chmod(mount.keyfile, 0o600)
    mount.start()


def test_fstab_form_source_first(source_factory, mount_factory):
    """mount(8) runs `warehousefs SRC MOUNTPOINT -o ...`."""
    m = mount_factory(source_factory(), start=False)
    argv = m.argv()
    opts = argv[3].split(",")
    opts = [o for o in opts if not o.startswith("source=")]
    proc = subprocess.Popen([m.binary, m.source, m.mnt, "-f", "-o", ",".join(opts)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        import time
        deadline = time.monotonic() + 10
        while not os.path.ismount(m.mnt):
            assert proc.poll() is None, proc.stderr.read().decode()
            assert time.monotonic() < deadline
            time.sleep(0.02)
        os.mkdir(m.path("d"))
        m.write_config("d", {"team_id": TEAM_A})
        rel = f"{TEAM_A}/2025-01-14/analytics_daily.csv"
        assert read_bytes(m.path("d", rel)) == expected_csv(m.source, TEAM_A, "2025-01-14")
    finally:
        subprocess.run(["fusermount3", "-u", m.mnt])
        proc.wait(10)
    err = proc.stderr.read().decode()
    assert proc.returncode == 0, err
    for mark in ("AddressSanitizer", "LeakSanitizer", "runtime error:"):
        assert mark not in err, err


def test_open_file_outlives_rmdir_of_its_destination(mount):
    rel = f"{TEAM_A}/2025-01-14/analytics_daily.csv"
    want = expected_csv(mount.source, TEAM_A, "2025-01-14")
    with open(mount.path("main", rel), "rb") as f:
        os.rmdir(mount.path("main"))
        assert f.read() == want
    assert os.listdir(mount.path()) == []
    assert not os.path.exists(mount.path("main", rel))


def test_a_clean_run_logs_only_its_own_lines(mount):
    for rel in ("main/.config", "main/.status"):
        read_bytes(mount.path(rel))
    mount.remount()
    mount.stop()
    for line in mount.stderr.splitlines():
        assert line.startswith("warehousefs: "), f"unexpected stderr line: {line!r}"
        assert " info: " in line, f"unexpected warning or error: {line!r}"


def test_sigterm_exits_cleanly(mount):
    """SIGTERM unmounts and exits 0, even right after files were closed
    (whose RELEASE the kernel may not deliver before the mount ends)."""
    import signal
    for i in range(8):
        for _ in range(10):
            with open(mount.path("main", ".config"), "w") as f:
                f.write("schedule = daily\n")
            with open(mount.path("main", TEAM_A, "2025-01-14", "analytics_daily.csv"),
                      "rb") as f:
                f.read(10)
        proc = mount.proc
        proc.send_signal(signal.SIGTERM)
        rc = proc.wait(10)
        mounted = os.path.ismount(mount.mnt)
        if mounted:
            subprocess.run(["fusermount3", "-u", "-z", mount.mnt])
        assert rc == 0 and not mounted, f"run {i}: exit {rc}, still mounted: {mounted}\n" \
            + mount.stderr
        mount.proc = None
        mount.start()
    assert os.listdir(mount.path()) == ["main"]
