"""Integration tests: mount the real warehousefs daemon and use it with
ordinary tools, as libfuse's and sshfs's pytest suites do.

The daemon is build/fs/warehousefs, or $WAREHOUSEFS_BIN, or
$WAREHOUSEFS_BUILD/fs/warehousefs (what tests/run.sh sets for each build).
Every mount runs in the foreground (-f) with its stderr in a file; at
teardown it is unmounted with `fusermount3 -u`, must exit by itself, and the
test fails if its stderr holds a sanitizer report.

Fixtures:
    source_factory(name, websites, rows)   a source DB from given rows
    mount_factory(source, **options)        a started Mount (stopped at teardown)
    mount                                   a Mount of the standard source
                                            with destination 'main' exporting '*'
"""

import os
import re
import shutil
import signal
import sqlite3
import subprocess
import time

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SANITIZER_MARKS = ("AddressSanitizer", "LeakSanitizer", "ThreadSanitizer", "runtime error:")
MOUNT_TIMEOUT = 10.0
EXIT_TIMEOUT = 10.0

# Fast change detection, short kernel caches: changes show in ~0.2 s.
FAST = {"source_check_ms": "100", "attr_timeout": "0.1"}


def daemon_binary():
    if os.environ.get("WAREHOUSEFS_BIN"):
        return os.path.abspath(os.environ["WAREHOUSEFS_BIN"])
    if os.environ.get("WAREHOUSEFS_BUILD"):
        return os.path.join(os.path.abspath(os.environ["WAREHOUSEFS_BUILD"]), "fs",
                            "warehousefs")
    return os.path.join(REPO, "build", "fs", "warehousefs")


def _fuse_missing():
    if not os.path.exists("/dev/fuse"):
        return "/dev/fuse does not exist (no FUSE in this kernel or container)"
    if not shutil.which("fusermount3"):
        return "fusermount3 is not installed (apt-get install fuse3)"
    return None


def pytest_collection_modifyitems(config, items):
    why = _fuse_missing()
    if why:
        skip = pytest.mark.skip(reason="cannot mount FUSE filesystems: " + why)
        for item in items:
            # Only the tests that mount; others (--help, S3 clients) still run.
            if {"mount", "mount_factory"} & set(getattr(item, "fixturenames", ())):
                item.add_marker(skip)


def sanitizer_report(text):
    """The first sanitizer line in text, or None."""
    for line in text.splitlines():
        if any(m in line for m in SANITIZER_MARKS):
            return line
    return None


# ---------------------------------------------------------------- sources

SCHEMA = """
CREATE TABLE websites(website_id TEXT PRIMARY KEY, team_id TEXT NOT NULL, domain TEXT);
CREATE TABLE analytics_daily(website_id TEXT NOT NULL, date TEXT NOT NULL,
    total_visitors INTEGER, unique_visitors INTEGER, pageviews INTEGER,
    bounce_rate REAL, avg_session_duration REAL, PRIMARY KEY(website_id, date));
"""


def make_source(path, websites, rows):
    """Writes a source DB: websites = [(website_id, team_id, domain)],
    rows = [(website_id, date, total, unique, pageviews, bounce, duration)]."""
    if os.path.exists(path):
        os.unlink(path)
    db = sqlite3.connect(path)
    db.executescript(SCHEMA)
    with db:
        db.executemany("INSERT INTO websites VALUES (?,?,?)", websites)
        db.executemany("INSERT INTO analytics_daily VALUES (?,?,?,?,?,?,?)", rows)
    db.close()
    return path


def days_source(path, teams, websites, days, first="2020-01-01"):
    """A source of many small files, generated in SQLite: for each team (one
    id or a list), `websites` websites with one row each for `days` days
    from `first`, so len(teams) x days files of `websites` rows."""
    teams = [teams] if isinstance(teams, str) else list(teams)
    make_source(path, [(f"w{i:06d}", team, f"w{i}.example")
                       for i, team in enumerate(t for t in teams for _ in range(websites))],
                [])
    db = sqlite3.connect(path)
    with db:
        db.execute(
            "WITH RECURSIVE d(n) AS (SELECT 0 UNION ALL SELECT n + 1 FROM d WHERE n + 1 < ?) "
            "INSERT INTO analytics_daily SELECT w.website_id, date(?, '+' || d.n || ' days'), "
            "(d.n * 7 + w.rowid) % 100000, (d.n * 3 + w.rowid) % 50000, "
            "(d.n * 11 + w.rowid) % 200000, ((d.n * 7919 + w.rowid) % 1000003) / 1000003.0, "
            "((d.n * 104729 + w.rowid) % 10000019) / 101.0 FROM websites w, d",
            (days, first))
    db.close()
    return path


# The standard source: three exported teams with awkward ids and values, one
# team whose id cannot be a file name, several dates each.
TEAM_A = "7f1c9d2e-0b7a-4d4e-9a51-2f4a8c1e6b3d"
TEAM_B = "team-b"
TEAM_U = "équipe ü,1"   # UTF-8, a comma and a space in a directory name
TEAM_HIDDEN = ".hidden-team"  # starts with '.': never shown
TEAMS = [TEAM_A, TEAM_B, TEAM_U]


def one_day_source(path, team, date, websites):
    """A source with one big team-day: `websites` rows made in one statement."""
    make_source(path, [], [])
    db = sqlite3.connect(path)
    with db:
        db.execute(
            "WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i + 1 < ?) "
            "INSERT INTO websites SELECT printf('site-%07d', i), ?, NULL FROM n",
            (websites, team))
        db.execute(
            "INSERT INTO analytics_daily SELECT website_id, ?, rowid * 7 % 100003, "
            "rowid * 3 % 50021, rowid * 11 % 200003, (rowid * 7919 % 1000003) / 1000003.0, "
            "(rowid * 104729 % 10000019) / 101.0 FROM websites", (date,))
    db.close()
    return path


def standard_rows():
    websites = [
        ("site-a1", TEAM_A, "a1.example.com"),
        ("site,comma", TEAM_A, "comma,domain.example"),
        ('site"quote', TEAM_A, 'quo"te.example'),
        ("site\nnewline", TEAM_A, None),
        ("site\rcr", TEAM_A, "cr.example"),
        ("sité-ü", TEAM_A, "ü.example"),
        ("b-001", TEAM_B, "b1.example"),
        ("b-002", TEAM_B, "b2.example"),
        ("u-1", TEAM_U, "u.example"),
        ("hidden-1", TEAM_HIDDEN, "h.example"),
    ]
    rows = [
        ("site-a1", "2025-01-14", 100, 80, 250, 0.5, 1.0),
        ("site,comma", "2025-01-14", None, None, None, None, None),
        ('site"quote', "2025-01-14", 7, 7, 9, 1.0, 0.0),
        ("site\nnewline", "2025-01-14", 1, 1, 1, 1 / 3, 61.25),
        ("site\rcr", "2025-01-14", 2, 1, 3, 0.1, 1e20),
        ("sité-ü", "2025-01-14", 9223372036854775807, -1, 0, 2.5e-7, 3.0),
        ("site-a1", "2025-01-15", 1, 1, 1, 0.25, 12.0),
        ("sité-ü", "2025-01-15", "12abc", 'x"y', "a,b", "n/a", None),
        ("site-a1", "2024-02-29", 5, 4, 3, 0.0, 100.0),
        ("u-1", "2025-01-14", 3, 2, 1, 0.75, 30.5),
        ("hidden-1", "2025-01-14", 1, 1, 1, 0.5, 1.0),
    ]
    # team-b: a bigger file (about 150 KB) and a few small ones.
    for i in range(1, 3):
        for d in ("2025-01-01", "2025-01-02", "2025-01-03"):
            rows.append((f"b-00{i}", d, i * 10, i * 5, i * 20, i / 10, i * 1.5))
    for i in range(3000):
        wid = f"b-big-{i:05d}"
        websites.append((wid, TEAM_B, f"big{i}.example"))
        rows.append((wid, "2025-01-04", i * 7, i * 3, i * 11, (i % 100) / 100,
                     i * 0.37 if i % 17 else None))
    return websites, rows


def expected_files(source_path, teams=None):
    """{relative path: expected bytes} for every file a destination exporting
    these teams (all valid ones when None) should show, computed
    independently of the daemon by expected_csv()."""
    db = sqlite3.connect(source_path)
    db.text_factory = bytes
    pairs = db.execute("SELECT DISTINCT w.team_id, a.date FROM websites w JOIN "
                       "analytics_daily a ON a.website_id = w.website_id").fetchall()
    db.close()
    out = {}
    for team_b, date_b in pairs:
        team, date = team_b.decode(), date_b.decode()
        if team.startswith(".") or "/" in team:
            continue
        if teams is not None and team not in teams:
            continue
        out[f"{team}/{date}/analytics_daily.csv"] = expected_csv(source_path, team, date)
    return out


def expected_csv(source_path, team, date):
    """The bytes of TEAM/DATE/analytics_daily.csv, computed independently of
    the daemon: the header, then per value SQLite's CAST(... AS TEXT), bare
    for INTEGER and REAL values, empty for NULL, and always quoted (RFC 4180,
    inner quotes doubled) for text."""
    db = sqlite3.connect(source_path)
    db.text_factory = bytes
    cols = ["website_id", "date", "total_visitors", "unique_visitors", "pageviews",
            "bounce_rate", "avg_session_duration"]
    sel = ", ".join(f"CAST(a.{c} AS TEXT), typeof(a.{c})" for c in cols)
    rows = db.execute(f"SELECT {sel} FROM websites w JOIN analytics_daily a "
                      "ON a.website_id = w.website_id WHERE w.team_id = ? AND a.date = ?",
                      (team, date)).fetchall()
    db.close()
    # SQLite's default BINARY collation is memcmp of the UTF-8 bytes.
    rows.sort(key=lambda r: r[0])

    parts = [",".join(cols).encode() + b"\n"]  # names that need no quotes

    def field(text, kind):
        if kind == b"null":
            return b""
        if kind in (b"integer", b"real"):
            return text
        return b'"' + text.replace(b'"', b'""') + b'"'

    for r in rows:
        parts.append(b",".join(field(r[i], r[i + 1]) for i in range(0, len(r), 2)) + b"\n")
    return b"".join(parts)


# ---------------------------------------------------------------- mounts

def is_mounted(path):
    """Whether path is a mount point, from the kernel's mount table:
    os.path.ismount() says no for a FUSE mount whose daemon died (stat fails
    with ENOTCONN there)."""
    path = os.path.abspath(path)
    with open("/proc/self/mountinfo", encoding="utf-8", errors="surrogateescape") as f:
        for line in f:
            point = re.sub(r"\\([0-7]{3})", lambda g: chr(int(g.group(1), 8)),
                           line.split()[4])
            if point == path:
                return True
    return False


class DaemonError(Exception):
    pass


class Mount:
    """One warehousefs daemon on a temp dir: paths, start/stop, stderr."""

    def __init__(self, workdir, source, options=None, binary=None):
        self.dir = str(workdir)
        self.source = str(source)
        self.state = os.path.join(self.dir, "state.db")
        self.cache = os.path.join(self.dir, "cache")
        self.keyfile = os.path.join(self.dir, "master.key")
        self.mnt = os.path.join(self.dir, "mnt")
        self.binary = binary or daemon_binary()
        self.options = dict(FAST)
        self.options.update(options or {})
        self.proc = None
        self.runs = 0
        self.stderr_log = None
        self.stderr_all = ""  # stderr of every run so far
        os.makedirs(self.mnt, exist_ok=True)

    # -- paths
    def path(self, *parts):
        return os.path.join(self.mnt, *parts)

    @property
    def pid(self):
        return self.proc.pid

    def argv(self, mountpoint=None, **extra):
        opts = {"source": self.source, "state": self.state, "cache": self.cache,
                "keyfile": self.keyfile}
        opts.update(self.options)
        opts.update(extra)
        o = ",".join(f"{k}={v}" for k, v in opts.items() if v is not None)
        return [self.binary, "-f", "-o", o, mountpoint or self.mnt]

    @property
    def stderr(self):
        """The daemon's stderr: every run so far plus the current one."""
        cur = ""
        if self.stderr_log and os.path.exists(self.stderr_log):
            with open(self.stderr_log, encoding="utf-8", errors="replace") as f:
                cur = f.read()
        return self.stderr_all + cur

    def start(self, wait=True):
        """Starts the daemon; waits for the mount unless wait is False (to
        kill it while it is still starting)."""
        if not os.path.exists(self.binary):
            pytest.fail(f"daemon binary '{self.binary}' does not exist: build it "
                        "(ninja -C build) or set WAREHOUSEFS_BIN")
        if self.stderr_log:  # a run that ended without stop()
            self.stderr_all += open(self.stderr_log, encoding="utf-8",
                                    errors="replace").read()
        self.runs += 1
        self.stderr_log = os.path.join(self.dir, f"stderr.{self.runs}")
        with open(self.stderr_log, "wb") as err:
            self.proc = subprocess.Popen(self.argv(), stdin=subprocess.DEVNULL,
                                         stdout=err, stderr=err)
        if not wait:
            return self
        deadline = time.monotonic() + MOUNT_TIMEOUT
        while not os.path.ismount(self.mnt):
            if self.proc.poll() is not None:
                raise DaemonError(f"warehousefs exited with {self.proc.returncode} "
                                  f"before mounting; stderr:\n{self.stderr}")
            if time.monotonic() > deadline:
                self.proc.kill()
                self.proc.wait()
                raise DaemonError(f"no mount after {MOUNT_TIMEOUT} s; stderr:\n"
                                  f"{self.stderr}")
            time.sleep(0.02)
        return self

    def stop(self):
        """Unmounts and waits for the daemon; returns its exit status."""
        if not self.proc:
            return None
        proc, self.proc = self.proc, None
        problems = []
        if os.path.ismount(self.mnt):
            r = subprocess.run(["fusermount3", "-u", self.mnt], capture_output=True,
                               text=True)
            if r.returncode != 0:
                problems.append(f"fusermount3 -u failed: {r.stderr.strip()}")
                subprocess.run(["fusermount3", "-u", "-z", self.mnt],
                               capture_output=True)
        try:
            rc = proc.wait(timeout=EXIT_TIMEOUT)
        except subprocess.TimeoutExpired:
            proc.send_signal(signal.SIGKILL)
            proc.wait()
            problems.append(f"daemon did not exit within {EXIT_TIMEOUT} s of unmount")
            rc = None
        with open(self.stderr_log, encoding="utf-8", errors="replace") as f:
            self.stderr_all += f.read()
        self.stderr_log = None
        if problems:
            raise DaemonError("; ".join(problems) + "\nstderr:\n" + self.stderr)
        return rc

    def kill(self):
        """kill -9: the daemon dies at once, whatever it was doing, and its
        dead mount is cleaned up as an administrator would do it (the kernel
        keeps a mount whose daemon died until it is unmounted).  Returns the
        exit status: -9, unless the daemon had already exited by itself."""
        if not self.proc:
            return None
        proc, self.proc = self.proc, None
        proc.send_signal(signal.SIGKILL)
        rc = proc.wait()
        # A reader still holding a file open on it makes umount fail (EBUSY):
        # then detach it lazily, as umount -l does.
        r = subprocess.run(["fusermount3", "-u", self.mnt], capture_output=True)
        if r.returncode != 0 and is_mounted(self.mnt):
            subprocess.run(["fusermount3", "-u", "-z", self.mnt], capture_output=True)
        assert not is_mounted(self.mnt), f"cannot unmount the dead mount {self.mnt}"
        with open(self.stderr_log, encoding="utf-8", errors="replace") as f:
            self.stderr_all += f.read()
        self.stderr_log = None
        return rc

    def remount(self):
        rc = self.stop()
        if rc != 0:
            raise DaemonError(f"daemon exited with {rc} at unmount; stderr:\n"
                              f"{self.stderr}")
        return self.start()

    def run_other(self, argv, timeout=20):
        """Runs another daemon command to completion (for refusals)."""
        return subprocess.run(argv, capture_output=True, text=True, timeout=timeout,
                              stdin=subprocess.DEVNULL)

    # -- destinations
    def mkdest(self, name="main", team="*", **settings):
        os.mkdir(self.path(name))
        self.write_config(name, dict(team_id=team, **settings))
        return self.path(name)

    def write_config(self, name, settings):
        text = "".join(f"{k} = {v}\n" for k, v in settings.items())
        with open(self.path(name, ".config"), "w") as f:
            f.write(text)

    def read_config(self, name):
        return parse_kv(read_text(self.path(name, ".config")))

    def peak_rss_kib(self):
        with open(f"/proc/{self.proc.pid}/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
        raise AssertionError("no VmHWM in /proc/PID/status")


def read_bytes(path):
    with open(path, "rb") as f:
        return f.read()


def read_text(path):
    with open(path, encoding="utf-8") as f:
        return f.read()


def parse_kv(text):
    out = {}
    for line in text.splitlines():
        k, sep, v = line.partition(" = ")
        assert sep, f"not a 'key = value' line: {line!r}"
        out[k] = v
    return out


def wait_for(predicate, timeout=5.0, what="condition"):
    deadline = time.monotonic() + timeout
    while True:
        v = predicate()
        if v:
            return v
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.05)


def status(m, dest):
    """A destination's .status as {key: value}."""
    return parse_kv(read_text(m.path(dest, ".status")))


def files_of(m, dest):
    """{key relative to the destination: bytes} of every data file."""
    root = m.path(dest)
    out = {}
    for d, _, names in os.walk(root):
        for n in names:
            p = os.path.join(d, n)
            out[os.path.relpath(p, root)] = read_bytes(p)
    return out


def cat(path, timeout=60):
    """Reads path with cat(1) in a child process, so that a read that never
    returns fails the test instead of hanging it."""
    try:
        return subprocess.run(["cat", path], capture_output=True, timeout=timeout,
                              stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired:
        raise AssertionError(f"reading '{path}' did not return within {timeout} s")


def sync(m, dest, timeout=120):
    """Reads NAME/.sync: it must succeed and say synced = yes."""
    p = cat(m.path(dest, ".sync"), timeout)
    assert p.returncode == 0, (f".sync of '{dest}' failed: {p.stderr.decode().strip()}\n"
                               f".status:\n{read_text(m.path(dest, '.status'))}\n"
                               f"stderr:\n{m.stderr[-4000:]}")
    report = parse_kv(p.stdout.decode())
    assert report["synced"] == "yes", report
    return report


@pytest.fixture
def source_factory(tmp_path):
    def make(name="src.db", websites=None, rows=None):
        if websites is None and rows is None:
            websites, rows = standard_rows()
        return make_source(str(tmp_path / name), websites, rows)
    return make


@pytest.fixture
def mount_factory(tmp_path, request):
    mounts = []

    def make(source, subdir=None, start=True, **options):
        d = tmp_path / (subdir or f"m{len(mounts)}")
        d.mkdir(exist_ok=True)
        m = Mount(d, source, options)
        mounts.append(m)
        if start:
            m.start()
        return m

    yield make
    failures = []
    for m in mounts:
        try:
            m.stop()
        except DaemonError as e:
            failures.append(str(e))
        report = sanitizer_report(m.stderr)
        if report:
            failures.append(f"sanitizer report in the daemon's stderr: {report}\n"
                            f"full stderr:\n{m.stderr}")
    if failures:
        pytest.fail("\n\n".join(failures), pytrace=False)


@pytest.fixture
def mount(source_factory, mount_factory):
    """The standard source mounted, with destination 'main' exporting every team."""
    m = mount_factory(source_factory())
    m.mkdest("main", "*")
    return m
