"""Security: who may use the mount, what is created private, and where a
destination's credentials must never show up (see README, "Security").

- Without -o allow_other only the user who mounted may enter the mount (the
  kernel refuses everyone else with EACCES, root's mount included).
- The key file, the state database and its WAL/shared-memory/lock files are
  created 0600 and the cache directory 0700 whatever the umask.
- Neither the log at debug level (with FUSE's own -d tracing) nor any file of
  the mount holds a secret value, a session token or an Authorization header.
- A secret written to .config is not left behind in the daemon's memory once
  the write is applied and the uploads that used it are done.

Acting as another user needs root and setpriv (util-linux); those tests skip
without them.
"""

import errno
import os
import re
import shutil
import subprocess
import tempfile

import pytest

from conftest import TEAM_A, read_bytes, read_text
from rgw_fixture import FAST_SYNC, no_proxy, rgw  # noqa: F401  (fixtures)
from rgw_fixture import settings as store_settings

NOBODY = 65534
DATA = "analytics_daily.csv"


def need_other_user():
    if os.geteuid() != 0:
        pytest.skip("acting as another user needs root")
    if not shutil.which("setpriv"):
        pytest.skip("setpriv (util-linux) is needed to act as another user")


def as_nobody(argv):
    return subprocess.run(["setpriv", f"--reuid={NOBODY}", f"--regid={NOBODY}",
                           "--clear-groups", *argv], capture_output=True, text=True,
                          timeout=30, stdin=subprocess.DEVNULL)


def public_mount(mount_factory, source, *flags, **options):
    """A mount whose mount point other users can reach (pytest's tmp dirs
    are 0700), with extra command-line flags such as -o allow_other."""
    m = mount_factory(source, start=False, **options)
    public = tempfile.mkdtemp(prefix="wfs-sec-", dir="/tmp")
    os.chmod(public, 0o755)
    m.mnt = os.path.join(public, "mnt")
    os.mkdir(m.mnt)
    os.chmod(m.mnt, 0o755)
    argv = m.argv
    m.argv = lambda *a, **k: argv(*a, **k)[:-1] + list(flags) + [m.mnt]
    return m, public


def settings(rgw, prefix, **over):
    return {"team_id": TEAM_A, **store_settings(rgw, prefix, **over)}


def first_file(m, dest):
    team = os.path.join(m.path(dest), TEAM_A)
    date = sorted(os.listdir(team))[0]
    return os.path.join(team, date, DATA)


def sync(m, dest, ok=True):
    p = subprocess.run(["cat", m.path(dest, ".sync")], capture_output=True, text=True,
                       timeout=120, stdin=subprocess.DEVNULL)
    if ok is not None:
        assert (p.returncode == 0) == ok, (p.stdout, p.stderr, m.stderr[-3000:])
    return p


# ------------------------------------------------------------------ access

def test_only_the_owner_enters_the_mount_without_allow_other(
        source_factory, mount_factory):
    need_other_user()
    m, public = public_mount(mount_factory, source_factory())
    try:
        # Before mounting, nobody can list the (empty) mount point: a refusal
        # later is the mount's, not the directory's.
        r = as_nobody(["ls", "-a", m.mnt])
        assert r.returncode == 0, r.stderr
        m.start()
        m.mkdest("main", "*")
        assert "main" in os.listdir(m.mnt)
        for argv in (["ls", m.mnt], ["stat", m.path("main", ".config")],
                     ["cat", m.path("main", ".status")], ["mkdir", m.path("evil")]):
            r = as_nobody(argv)
            assert r.returncode != 0, (argv, r.stdout)
            assert os.strerror(errno.EACCES) in r.stderr, (argv, r.stderr)
        assert sorted(os.listdir(m.mnt)) == ["main"]
    finally:
        m.stop()
        shutil.rmtree(public, ignore_errors=True)


def test_allow_other_lets_others_in_but_keeps_root_files_private(
        source_factory, mount_factory):
    need_other_user()
    m, public = public_mount(mount_factory, source_factory(), "-o", "allow_other")
    try:
        m.start()
        m.mkdest("main", "*")
        r = as_nobody(["ls", m.mnt])
        assert r.returncode == 0 and r.stdout.split() == ["main"], r
        r = as_nobody(["cat", first_file(m, "main")])
        assert r.returncode == 0 and r.stdout.startswith("website_id,date,"), r
        # The counters are for anyone let in; the audit log is the owner's.
        for name in (".status", ".metrics"):
            r = as_nobody(["cat", m.path(name)])
            assert r.returncode == 0 and "cache_bytes" in r.stdout, (name, r)
        r = as_nobody(["cat", m.path(".audit")])
        assert r.returncode != 0, r.stdout
        assert os.strerror(errno.EACCES) in r.stderr, r.stderr
    finally:
        m.stop()
        shutil.rmtree(public, ignore_errors=True)


# ------------------------------------------------------------------ files

def test_key_state_and_cache_are_created_private_whatever_the_umask(
        source_factory, mount_factory):
    m = mount_factory(source_factory(), start=False)
    old = os.umask(0)  # the daemon inherits it
    try:
        m.start()
    finally:
        os.umask(old)
    m.mkdest("main", "*")
    read_bytes(first_file(m, "main"))  # state written, a cache file made
    names = [n for n in os.listdir(m.dir)
             if n.startswith("state.db") or n == "master.key"]
    assert {"master.key", "state.db", "state.db-wal", "state.db-shm"} <= set(names), names
    for n in names:
        mode = os.stat(os.path.join(m.dir, n)).st_mode & 0o777
        assert mode == 0o600, f"{n} is {oct(mode)}"
    assert os.stat(m.cache).st_mode & 0o777 == 0o700
    for root, dirs, files in os.walk(m.cache):
        for f in files:
            mode = os.stat(os.path.join(root, f)).st_mode
            assert mode & 0o077 == 0 or root != m.cache, (f, oct(mode))
        for d in dirs:
            mode = os.stat(os.path.join(root, d)).st_mode & 0o777
            assert mode & 0o077 == 0, (d, oct(mode))


# ------------------------------------------------------------------ secrets

SIGNATURE = re.compile(r"Signature=[0-9a-f]{64}|AWS4-HMAC-SHA256 Credential=")


def test_debug_log_and_mount_files_never_show_credentials(
        rgw, source_factory, mount_factory):
    m = mount_factory(source_factory(), start=False, log_level="debug", **FAST_SYNC)
    argv = m.argv
    m.argv = lambda *a, **k: argv(*a, **k)[:-1] + ["-d", m.mnt]
    m.start()
    token = "SessionTokenThatMustStayPrivate+/=123"
    wrong = "WrongSecretThatMustStayPrivate/abc+def"
    os.mkdir(m.path("good"))
    m.write_config("good", settings(rgw, "sec1/"))
    os.mkdir(m.path("bad"))  # refused by the store: its error paths log too
    m.write_config("bad", settings(rgw, "sec2/", secret_access_key=wrong))
    os.mkdir(m.path("tok"))
    m.write_config("tok", settings(rgw, "sec3/", session_token=token))
    for dest in ("good", "bad", "tok"):
        read_bytes(first_file(m, dest))
    sync(m, "good")
    sync(m, "bad", ok=False)
    sync(m, "tok", ok=None)  # radosgw may accept or refuse the token
    assert "SignatureDoesNotMatch" in read_text(m.path("bad", ".status"))

    seen = {"log": m.stderr}
    for dest in ("good", "bad", "tok"):
        for f in (".config", ".status", ".history"):
            seen[f"{dest}/{f}"] = read_text(m.path(dest, f))
    for f in (".status", ".metrics", ".audit"):
        seen[f] = read_text(m.path(f))
    m.stop()
    for n in os.listdir(m.dir):
        if n.startswith("state.db"):
            seen[n] = read_bytes(os.path.join(m.dir, n)).decode("latin-1")
    assert "debug:" in seen["log"] and "unique:" in seen["log"], \
        "no debug output: the test would not see what debug logging prints"
    for where, text in seen.items():
        for secret in (rgw.secret_key, wrong, token):
            assert secret not in text, f"a secret is in {where}"
        assert "Authorization" not in text and "authorization" not in text, where
        assert not SIGNATURE.search(text), where


def count_in_memory(pid, needles):
    """How many times each of needles occurs in the readable, writable
    mappings of a process (heap, stacks, data), read piece by piece.
    Mappings over 1 GiB are skipped: a sanitizer's shadow memory, reserved
    and mostly never touched."""
    counts = dict.fromkeys(needles, 0)
    overlap = max(len(n) for n in needles) - 1
    piece = 4 << 20
    with open(f"/proc/{pid}/maps") as maps, open(f"/proc/{pid}/mem", "rb", 0) as mem:
        for line in maps:
            fields = line.split()
            lo, hi = (int(x, 16) for x in fields[0].split("-"))
            if not fields[1].startswith("rw") or hi - lo > 1 << 30:
                continue
            tail = b""
            for at in range(lo, hi, piece):
                try:
                    mem.seek(at)
                    data = tail + mem.read(min(piece, hi - at))
                except OSError:
                    break  # [vvar] and guard pages
                for n in needles:
                    # An occurrence inside the carried-over tail was counted
                    # with the previous piece.
                    counts[n] += data.count(n) - tail.count(n)
                tail = data[-overlap:] if overlap else b""
    return counts


def test_secrets_are_wiped_from_memory_after_use(rgw, source_factory, mount_factory):
    if os.geteuid() != 0:
        pytest.skip("reading another process's memory needs root")
    m = mount_factory(source_factory(), **FAST_SYNC)
    secret = rgw.secret_key.encode()
    os.mkdir(m.path("main"))
    m.write_config("main", settings(rgw, "sec4/"))
    read_bytes(first_file(m, "main"))
    sync(m, "main")
    # A later, unrelated .config write reuses libfuse's request buffers.
    os.mkdir(m.path("other"))
    m.write_config("other", {"team_id": TEAM_A, "prefix": "x/" * 40})
    counts = count_in_memory(m.pid, [secret, rgw.access_key.encode()])
    # The scan sees the heap: the access key id (not a secret, kept in the
    # clear with the settings) is found there.
    assert counts[rgw.access_key.encode()], "the scan does not see the daemon's heap"
    assert counts[secret] == 0, \
        f"the secret is still in the daemon's memory ({counts[secret]} copies)"

