#!/usr/bin/python3
"""warehousefs benchmarks: each line is warehousefs against the tool a user
would pick instead, measured alternately in the same run on the same machine.

Run it through tests/bench/run.sh (which installs the packages and builds the
optimized binaries first); `bench.py --help` lists the options.  Standard
library only, plus Debian's botocore through tests/s3/s3.py.

Benchmarks (see tests/bench/README.md for what each one isolates and why):
  gen     one large team-day file vs the sqlite3 CLI on the same query;
          every file of a 1,000,000-row source (find -exec cat, cold cache)
          vs a shell loop running the CLI once per file, and vs the CLI's
          single full-table export (the ceiling)
  read    sequential read of the largest file, cold / warm / cached, vs
          libfuse's passthrough_hp and passthrough_ll examples, the disk and
          tmpfs; `ls -l` and stat of a directory of 10,000 entries vs
          passthrough_hp over 10,000 directories and tmpfs
  upload  1,000 ~10 KB files and one 512 MiB file: warehousefs sync vs
          rclone, s3cmd, aws s3 cp, curl (sequential, and a parallel batch:
          the server's ceiling); every client's objects verified
  sched   finding and starting 10,000 due destinations vs the same SQL
          transaction run directly on the state database
Every line also records the daemon's peak RSS (VmHWM) while it ran.
"""

import argparse
import datetime
import hashlib
import json
import os
import platform
import re
import shlex
import shutil
import signal
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(REPO, "tests", "s3"))
import s3  # noqa: E402  (botocore client of the tests)

# The query warehousefs runs for one analytics_daily.csv, as a user would type
# it for the sqlite3 CLI.  Team ids are UUIDs and dates YYYY-MM-DD, so they are
# pasted in as literals (what a shell loop does).  The CLI's -csv quotes a
# value only when it needs quotes, and warehousefs quotes every text value
# (README, "The analytics source"): the query spells that out, and the CLI
# prints it as is (list mode), so the bytes are the same, and checked.
# char(34) is '"', which the shell command lines below could not hold.
CLI = "sqlite3 -list -separator , -header"


def csv_value(col):
    return (f"CASE WHEN typeof({col}) IN ('text', 'blob') THEN char(34) || "
            f"replace({col}, char(34), char(34) || char(34)) || char(34) "
            f"ELSE {col} END AS {col.split('.')[-1]}")


COLUMNS = ", ".join(csv_value("a." + c) for c in (
    "website_id", "date", "total_visitors", "unique_visitors", "pageviews",
    "bounce_rate", "avg_session_duration"))
QUERY = ("SELECT " + COLUMNS + " FROM websites w JOIN analytics_daily a "
         "ON a.website_id = w.website_id WHERE w.team_id = '{team}' AND a.date = '{date}' "
         "ORDER BY a.website_id")
FULL_QUERY = ("SELECT " + COLUMNS + " FROM websites w JOIN analytics_daily a "
              "ON a.website_id = w.website_id ORDER BY w.team_id, a.date, a.website_id")
CSV = "analytics_daily.csv"

# Sizes.  Rows are ~70 bytes of CSV; gendata writes ~150k rows/s here.
SIZES = {
    "default": {
        "gen_rows": 300_000,           # one team-day
        "files": (4, 2500, 100),       # teams, websites, days: 1,000,000 rows, 400 files
        "big_rows": 7_650_000,         # one team-day of ~515 MiB
        "ls_days": 10_000,             # date directories of one team
        "up_small": (10, 140, 100),    # 1,000 files of ~10 KB
        "sched": 10_000,               # destinations
        "reps": 5, "reps_slow": 3,
        "rclone_transfers": (4, 16, 32),
        "sync_workers": (8, 16),
    },
    "quick": {
        "gen_rows": 50_000,
        "files": (2, 500, 100),        # 100,000 rows, 200 files
        "big_rows": 1_000_000,         # ~70 MB
        "ls_days": 2_000,
        "up_small": (2, 140, 100),     # 200 files
        "sched": 1_000,
        "reps": 2, "reps_slow": 2,
        "rclone_transfers": (4, 16),
        "sync_workers": (8, 16),
    },
}
DEFAULT_SYNC_WORKERS = 8        # the daemon's default (fs/main.c)
BIG_PART = 16 << 20             # part size of the curl multipart ceiling
CURL_PARALLEL = 16              # curl processes of the parallel small-file batch
CURL_BATCH = 25                 # files per curl process in that batch
CURL_PART_PARALLEL = 8          # parts in flight for the curl multipart ceiling
ALL_BENCHES = ("gen", "read", "upload", "sched")
NEED_DISK = {"default": 6 << 30, "quick": 1 << 30}   # scratch + generated sources
FINISH_WAIT = 45                # seconds to watch the scheduled runs finish

T0 = time.monotonic()
# Debian's tools (awscli, python3 + botocore), not whatever an earlier PATH entry
# (pyenv, pip --user) may shadow them with.
os.environ["PATH"] = "/usr/sbin:/usr/bin:/sbin:/bin:" + os.environ.get("PATH", "")


def log(msg):
    print(f"[{time.monotonic() - T0:6.1f}s] {msg}", file=sys.stderr, flush=True)


class BenchError(Exception):
    pass


def run(cmd, check=True, capture=False, env=None, cwd=None, timeout=None, stdin=None):
    """Run CMD (a list, or a string for bash); return CompletedProcess."""
    shell = isinstance(cmd, str)
    r = subprocess.run(["/bin/bash", "-c", cmd] if shell else cmd,
                       stdout=subprocess.PIPE if capture else None,
                       stderr=subprocess.PIPE if capture else None,
                       env=env, cwd=cwd, timeout=timeout, text=True, stdin=stdin)
    if check and r.returncode != 0:
        out = (r.stderr or "")[-2000:] if capture else ""
        raise BenchError(f"command failed ({r.returncode}): {cmd if shell else shlex.join(cmd)}"
                         f"\n{out}")
    return r


def timed(cmd, **kw):
    """Seconds CMD took (wall clock); fails if it fails."""
    t = time.perf_counter()
    run(cmd, **kw)
    return time.perf_counter() - t


def sha256_file(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while True:
            b = f.read(1 << 20)
            if not b:
                return h.hexdigest()
            h.update(b)


def md5_file(path, part=None):
    """Hex MD5 of PATH; with PART, the S3 multipart ETag for that part size."""
    with open(path, "rb") as f:
        if part is None:
            h = hashlib.md5()
            while True:
                b = f.read(1 << 20)
                if not b:
                    return h.hexdigest()
                h.update(b)
        digests = []
        while True:
            b = f.read(part)
            if not b:
                break
            digests.append(hashlib.md5(b).digest())
        return f"{hashlib.md5(b''.join(digests)).hexdigest()}-{len(digests)}"


def evict(path, fuse=False):
    """Drop PATH's pages from the page cache (this file only, not the
    machine's).  Dirty pages cannot be dropped: a local file is written back
    first (a file on a FUSE mount is only read here, never dirty)."""
    fd = os.open(path, os.O_RDONLY)
    try:
        if not fuse:
            os.fsync(fd)
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
    finally:
        os.close(fd)


def is_mounted(path):
    path = os.path.realpath(path)
    with open("/proc/self/mountinfo") as f:
        for line in f:
            if line.split()[4] == path:
                return True
    return False


# ---- statistics and the results -------------------------------------------------

def fmt_time(s):
    if s is None:
        return "n/a"
    if s < 0.001:
        return f"{s * 1e6:.0f} µs"
    if s < 1:
        return f"{s * 1e3:.0f} ms" if s >= 0.01 else f"{s * 1e3:.1f} ms"
    return f"{s:.2f} s"


def fmt_rate(x, unit):
    if unit == "bytes":
        return f"{x / 1e6:.0f} MB/s" if x >= 1e7 else f"{x / 1e6:.1f} MB/s"
    for div, suffix in ((1e6, "M"), (1e3, "k")):
        if x >= div * 10:
            return f"{x / div:.0f}{suffix} {unit}/s"
        if x >= div:
            return f"{x / div:.1f}{suffix} {unit}/s"
    return f"{x:.0f} {unit}/s" if x >= 10 else f"{x:.1f} {unit}/s"


def summary(times):
    if not times:
        return None
    return {"times": [round(t, 6) for t in times], "min": min(times),
            "median": statistics.median(times)}


class Line:
    """One row of the table: warehousefs against one anchor."""

    def __init__(self, lid, bench, title, work, wfs, anchor, kind="anchor", note=""):
        self.id, self.bench, self.title = lid, bench, title
        self.work = work            # [(unit, amount)], first one shown in the table
        self.wfs_label, self.anchor_label = wfs, anchor
        self.kind = kind            # anchor | ceiling | info (no anchor)
        self.note = note
        self.wfs, self.anchor, self.rss = [], [], []
        self.error = None
        self.extra = {}

    def rates(self, t):
        return {u: n / t for u, n in self.work} if t else {}

    def to_json(self):
        w, a = summary(self.wfs), summary(self.anchor)
        d = {"id": self.id, "bench": self.bench, "title": self.title, "kind": self.kind,
             "work": dict(self.work), "warehousefs": self.wfs_label, "anchor": self.anchor_label,
             "note": self.note}
        if w:
            d["warehousefs_s"] = w
            d["warehousefs_rate_median"] = self.rates(w["median"])
            d["warehousefs_rate_best"] = self.rates(w["min"])
        if a:
            d["anchor_s"] = a
            d["anchor_rate_median"] = self.rates(a["median"])
            d["anchor_rate_best"] = self.rates(a["min"])
        if w and a:
            # > 1: warehousefs is faster than its anchor.
            d["ratio_median"] = a["median"] / w["median"]
            d["ratio_min"] = a["min"] / w["min"]
        if self.rss:
            d["peak_rss_kib"] = max(self.rss)
        if self.extra:
            d["extra"] = self.extra
        if self.error:
            d["error"] = self.error
        return d


# ---- the daemon and other mounts ----------------------------------------------

class Daemon:
    """One warehousefs process in the foreground, with its own mount point."""

    def __init__(self, b, tag, source, state_dir=None, opts=(), test_now=None):
        self.b = b
        self.dir = state_dir or b.newdir(tag)
        self.mnt = b.newdir(tag + "-mnt")
        self.state = os.path.join(self.dir, "state.db")
        self.cache = os.path.join(self.dir, "cache")
        self.source = source
        self.opts = list(opts)
        if test_now:
            self.opts.append(f"test_now={test_now}")
        self.proc = None
        self.peak_kib = None
        self.logpath = os.path.join(self.dir, "daemon.log")

    def start(self):
        o = ",".join([f"source={self.source}", f"state={self.state}", f"cache={self.cache}",
                      f"keyfile={self.b.keyfile}"] + self.opts)
        self.logf = open(self.logpath, "a")
        self.t_start = time.perf_counter()
        self.proc = subprocess.Popen([self.b.wfs, "-f", "-o", o, self.mnt],
                                     stdout=self.logf, stderr=self.logf,
                                     stdin=subprocess.DEVNULL)
        self.b.live.append(self)
        deadline = time.monotonic() + 60
        while not is_mounted(self.mnt):
            if self.proc.poll() is not None:
                raise BenchError(f"warehousefs exited ({self.proc.returncode}):\n" +
                                 self.log_tail())
            if time.monotonic() > deadline:
                raise BenchError("warehousefs did not mount in 60 s:\n" + self.log_tail())
            time.sleep(0.005)
        self.t_mounted = time.perf_counter()
        return self

    def log_tail(self, n=20):
        try:
            with open(self.logpath, errors="replace") as f:
                return "".join(f.readlines()[-n:])
        except OSError:
            return ""

    def hwm_kib(self):
        try:
            with open(f"/proc/{self.proc.pid}/status") as f:
                for line in f:
                    if line.startswith("VmHWM:"):
                        return int(line.split()[1])
        except OSError:
            pass
        return None

    def stop(self):
        if not self.proc:
            return self.peak_kib
        self.peak_kib = self.hwm_kib()
        if is_mounted(self.mnt):
            run(["fusermount3", "-u", self.mnt], check=False)
        try:
            self.proc.wait(timeout=120)
        except subprocess.TimeoutExpired:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if is_mounted(self.mnt):
            run(["fusermount3", "-uz", self.mnt], check=False)
        self.logf.close()
        self.proc = None
        if self in self.b.live:
            self.b.live.remove(self)
        return self.peak_kib

    # Destinations -----------------------------------------------------------
    def add_dest(self, name, team, upload=False, paused=False):
        d = os.path.join(self.mnt, name)
        os.mkdir(d)
        lines = [f"team_id = {team}"]
        if upload:
            e = self.b.rgw
            lines += [f"bucket = {e['RGW_BUCKET']}", f"endpoint = {e['RGW_ENDPOINT']}",
                      f"access_key_id = {e['RGW_ACCESS_KEY']}",
                      f"secret_access_key = {e['RGW_SECRET_KEY']}"]
        with open(os.path.join(d, ".config"), "w") as f:
            f.write("\n".join(lines) + "\n")
        if paused:
            run(["touch", os.path.join(d, ".pause")])
        return d


class Passthrough:
    """One of libfuse's passthrough examples over a directory, in the
    foreground: "ll" (passthrough_ll, from libfuse3-dev's examples) or "hp"
    (passthrough_hp, from ../shared/anchors/libfuse/)."""

    def __init__(self, b, source_dir, kind="ll"):
        self.b, self.src, self.kind = b, source_dir, kind
        self.name = f"passthrough_{kind}"
        self.mnt = b.newdir(self.name + "-mnt")
        self.proc = None

    def start(self):
        if self.kind == "ll":
            # cache=always: the kernel keeps pages across opens, as warehousefs's
            # auto_cache does for an unchanged file; without it every open drops them.
            cmd = [self.b.passthrough, "-f", "-o", f"source={self.src},cache=always", self.mnt]
        else:
            # Its defaults are already its fastest: keep_cache, 1-day entry and
            # attribute timeouts, readdirplus, splice.
            cmd = [self.b.passthrough_hp, "--foreground", self.src, self.mnt]
        self.logf = open(os.path.join(self.b.scratch, self.name + ".log"), "a")
        self.proc = subprocess.Popen(cmd, stdout=self.logf, stderr=self.logf,
                                     stdin=subprocess.DEVNULL)
        self.b.live.append(self)
        deadline = time.monotonic() + 30
        while not is_mounted(self.mnt):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise BenchError(f"{self.name} did not mount")
            time.sleep(0.005)
        return self

    def stop(self):
        if not self.proc:
            return
        run(["fusermount3", "-u", self.mnt], check=False)
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.logf.close()
        self.proc = None
        if self in self.b.live:
            self.b.live.remove(self)


# ---- the harness ------------------------------------------------------------------

class Bench:
    def __init__(self, args):
        self.args = args
        self.size_name = "quick" if args.quick else "default"
        self.size = dict(SIZES[self.size_name])
        if args.reps:
            self.size["reps"] = self.size["reps_slow"] = args.reps
        self.build = os.path.abspath(args.build)
        self.wfs = os.path.join(self.build, "fs", "warehousefs")
        self.gendata = os.path.join(self.build, "examples", "warehousefs-gendata")
        for p in (self.wfs, self.gendata):
            if not os.access(p, os.X_OK):
                raise BenchError(f"{p} is missing: build first (tests/bench/run.sh does)")
        base = args.scratch or "/var/tmp"
        os.makedirs(base, exist_ok=True)
        need = NEED_DISK[self.size_name]
        if shutil.disk_usage(base).free < need:
            raise BenchError(f"{base} has less than {need >> 30} GiB free: use --scratch DIR")
        self.scratch = tempfile.mkdtemp(prefix="wfsbench.", dir=base)
        # The S3 server's directory holds unix sockets: keep its path short.
        self.rgw_dir = os.path.join(self.scratch, "rgw")
        self.tmpfs = tempfile.mkdtemp(prefix="wfsbench.", dir=tmpfs_dir())
        self.data_dir = os.path.abspath(args.data_dir) if args.data_dir else \
            os.path.join(self.scratch, "data")
        os.makedirs(self.data_dir, exist_ok=True)
        self.keyfile = os.path.join(self.scratch, "master.key")
        self.live = []
        self.lines = []
        self.info = {}
        self.errors = []
        self.rgw = None
        self.s3 = None
        self.seq = 0
        self.passthrough = None
        self.passthrough_hp = None
        self.passthrough_hp_missing = None   # why it is not built, once known
        self.big = None
        self.nbucket = 0

    def newdir(self, tag):
        self.seq += 1
        d = os.path.join(self.scratch, "runs", f"{self.seq:04d}-{tag}")
        os.makedirs(d)
        return d

    def line(self, *a, **kw):
        ln = Line(*a, **kw)
        self.lines.append(ln)
        return ln

    def cleanup(self):
        for m in list(reversed(self.live)):
            try:
                m.stop()
            except Exception as e:  # keep cleaning up
                log(f"cleanup: {e}")
        if self.rgw:
            run([os.path.join(REPO, "tests", "s3", "rgw.sh"), "stop", self.rgw_dir], check=False)
        if self.args.keep:
            log(f"kept {self.scratch} and {self.tmpfs}")
        else:
            shutil.rmtree(self.tmpfs, ignore_errors=True)
            shutil.rmtree(self.scratch, ignore_errors=True)

    def reps(self, slow=False):
        return self.size["reps_slow" if slow else "reps"]

    # Data ---------------------------------------------------------------------
    def source(self, name, teams, websites, days, start="2024-01-01"):
        """A deterministic source database, reused from --data-dir when it matches."""
        args = ["--teams", str(teams), "--websites", str(websites), "--days", str(days),
                "--start", start, "--seed", "1"]
        path = os.path.join(self.data_dir, f"{name}.db")
        stamp = path + ".args"
        want = json.dumps({"args": args, "gendata": sha256_file(self.gendata)})
        if os.path.exists(path) and os.path.exists(stamp):
            with open(stamp) as f:
                if f.read() == want:
                    return path
        log(f"generating {name}.db: {teams} team(s) x {websites} websites x {days} days")
        t = timed([self.gendata, "-q", "-f"] + args + [path])
        self.info.setdefault("gendata_s", {})[name] = round(t, 2)
        with open(stamp, "w") as f:
            f.write(want)
        return path

    def start_rgw(self):
        if self.rgw:
            return
        log("starting radosgw")
        run([os.path.join(REPO, "tests", "s3", "rgw.sh"), "start", self.rgw_dir], capture=True)
        self.rgw = s3.load_env(os.path.join(self.rgw_dir, "env"))
        self.s3 = s3.client(self.rgw["RGW_ENDPOINT"], self.rgw["RGW_ACCESS_KEY"],
                            self.rgw["RGW_SECRET_KEY"])
        self.empty_bucket()

    def empty_bucket(self):
        s3.delete_all(self.s3, self.rgw["RGW_BUCKET"])
        # Deleted objects' data waits for RGW's garbage collector (2 h by
        # default) and memstore keeps it in RAM: collect it now.
        run(["radosgw-admin", "-c", os.path.join(self.rgw_dir, "ceph.conf"), "gc", "process",
             "--include-all"], capture=True, check=False)


def tmpfs_dir():
    with open("/proc/mounts") as f:
        for line in f:
            dev, mnt, fstype = line.split()[:3]
            if mnt == "/dev/shm" and fstype == "tmpfs":
                return mnt
    raise BenchError("/dev/shm is not a tmpfs")


def team_dates(src):
    con = sqlite3.connect(f"file:{src}?mode=ro", uri=True)
    try:
        return con.execute("SELECT DISTINCT w.team_id, a.date FROM websites w JOIN "
                           "analytics_daily a ON a.website_id = w.website_id "
                           "ORDER BY 1, 2").fetchall()
    finally:
        con.close()


def first_team(src):
    con = sqlite3.connect(f"file:{src}?mode=ro", uri=True)
    try:
        return con.execute("SELECT team_id FROM websites ORDER BY rowid LIMIT 1").fetchone()[0]
    finally:
        con.close()


def warm(path):
    run(f"cat {shlex.quote(path)} >/dev/null")


def alternate(rep, items):
    """Run order for repetition REP: forwards, then backwards, to cancel drift."""
    return list(items) if rep % 2 == 0 else list(reversed(items))


def cli_export(src, team, date, out):
    return f"{CLI} {shlex.quote(src)} \"{QUERY.format(team=team, date=date)}\" >{shlex.quote(out)}"


# ---- 1. generation ------------------------------------------------------------------

def bench_gen(b):
    s = b.size
    # One large team-day.
    src = b.source("gen", 1, s["gen_rows"], 1)
    (team, date), = team_dates(src)
    warm(src)
    out = os.path.join(b.scratch, "cli-gen.csv")
    ln = b.line("1a", "gen", f"generate one team-day file ({s['gen_rows']:,} rows)",
                [("rows", s["gen_rows"])], "cat MNT/…/analytics_daily.csv (cold cache)",
                "sqlite3 CLI, same query, to a file")
    wfs_sha = None
    for rep in range(b.reps()):
        for who in alternate(rep, ("wfs", "cli")):
            if who == "wfs":
                d = Daemon(b, "gen", src).start()
                d.add_dest("d", team)
                path = os.path.join(d.mnt, "d", team, date, CSV)
                ln.wfs.append(timed(f"cat {path} >/dev/null"))
                if wfs_sha is None:
                    wfs_sha = sha256_file(path)
                ln.rss.append(d.stop())
                shutil.rmtree(d.dir)
            else:
                ln.anchor.append(timed(cli_export(src, team, date, out)))
        log(f"1a rep {rep + 1}: wfs {fmt_time(ln.wfs[-1])}, cli {fmt_time(ln.anchor[-1])}")
    cli_sha = sha256_file(out)
    with open(out, "rb") as f:
        nrows = sum(1 for _ in f) - 1
    if wfs_sha != cli_sha or nrows != s["gen_rows"]:
        raise BenchError(f"1a: output differs from sqlite3's (sha256 {wfs_sha} vs {cli_sha}, "
                         f"{nrows} rows)")
    ln.extra["identical_to_sqlite3"] = True

    # Every file of a 1,000,000-row source.
    teams, websites, days = s["files"]
    src = b.source("files", teams, websites, days)
    pairs = team_dates(src)
    nrows = teams * websites * days
    warm(src)
    listing = os.path.join(b.scratch, "files.list")
    with open(listing, "w") as f:
        f.writelines(f"{t} {d}\n" for t, d in pairs)
    loop = os.path.join(b.scratch, "cli-loop.sh")
    with open(loop, "w") as f:
        f.write("#!/bin/bash\n# one sqlite3 process per file, as a shell script would\n"
                "set -e\nsrc=$1 out=$2\nwhile read -r t d; do\n"
                f"\t{CLI} \"$src\" \"" +
                QUERY.format(team="$t", date="$d") + "\" >\"$out/$t/$d.csv\"\ndone\n")
    outdir = os.path.join(b.scratch, "cli-files")
    full = os.path.join(b.scratch, "cli-full.csv")
    work = [("files", len(pairs)), ("rows", nrows)]
    ln_loop = b.line("1b", "gen", f"every file of a {nrows:,}-row source "
                     f"({len(pairs)} files, {teams} teams)", work,
                     "find MNT/d -name '*.csv' -exec cat {} + (cold cache)",
                     "shell loop: sqlite3 CLI once per file")
    ln_full = b.line("1c", "gen", "same, vs one full-table export", work,
                     "(as 1b)", "sqlite3 CLI, one query for all rows (ceiling)",
                     kind="ceiling")
    for rep in range(b.reps(slow=True)):
        for who in alternate(rep, ("wfs", "loop", "full")):
            if who == "wfs":
                d = Daemon(b, "files", src).start()
                d.add_dest("d", "*")
                t = timed(f"find {d.mnt}/d -name '*.csv' -exec cat {{}} + >/dev/null")
                ln_loop.wfs.append(t)
                ln_full.wfs.append(t)
                if rep == b.reps(slow=True) - 1:
                    wfs_files = {(tm, dt): sha256_file(os.path.join(d.mnt, "d", tm, dt, CSV))
                                 for tm, dt in pairs}
                    found = run(f"find {d.mnt}/d -name '*.csv' | wc -l", capture=True).stdout
                    if int(found) != len(pairs):
                        raise BenchError(f"1b: find saw {found.strip()} files, not {len(pairs)}")
                rss = d.stop()
                ln_loop.rss.append(rss)
                ln_full.rss.append(rss)
                shutil.rmtree(d.dir)
            elif who == "loop":
                shutil.rmtree(outdir, ignore_errors=True)
                for t in {p[0] for p in pairs}:
                    os.makedirs(os.path.join(outdir, t))
                with open(listing) as f:
                    ln_loop.anchor.append(timed(["bash", loop, src, outdir], stdin=f))
            else:
                ln_full.anchor.append(timed(f"{CLI} {src} \"{FULL_QUERY}\" >{full}"))
        log(f"1b rep {rep + 1}: wfs {fmt_time(ln_loop.wfs[-1])}, loop "
            f"{fmt_time(ln_loop.anchor[-1])}, full {fmt_time(ln_full.anchor[-1])}")
    bad = [p for p in pairs
           if wfs_files[p] != sha256_file(os.path.join(outdir, p[0], p[1] + ".csv"))]
    if bad:
        raise BenchError(f"1b: {len(bad)} files differ from sqlite3's, e.g. {bad[0]}")
    ln_loop.extra["identical_to_sqlite3"] = True
    shutil.rmtree(outdir, ignore_errors=True)
    os.unlink(full)


# ---- 2. reads -------------------------------------------------------------------------

def setup_big(b):
    """The largest file: generated once through a destination that is fully
    configured but paused, so it is materialized and queued for upload but
    not uploaded.  The state + cache are kept as a snapshot that the read and
    upload benchmarks clone."""
    if b.big:
        return b.big
    b.start_rgw()
    rows = b.size["big_rows"]
    src = b.source("big", 1, rows, 1)
    team = first_team(src)
    date = "2024-01-01"
    snap = b.newdir("big-snapshot")
    d = Daemon(b, "big", src, state_dir=snap).start()
    d.add_dest("d", team, upload=True, paused=True)
    path = os.path.join(d.mnt, "d", team, date, CSV)
    log(f"materializing the largest file ({rows:,} rows)")
    t = timed(f"cat {path} >/dev/null")
    size = os.stat(path).st_size
    sha = sha256_file(path)
    rss = d.stop()
    ln = b.line("1d", "gen", f"generate the largest file ({rows:,} rows, {size / 2**20:.0f} MiB)",
                [("rows", rows), ("bytes", size)], "cat MNT/…/analytics_daily.csv (cold cache)",
                "—", kind="info", note="one run, no anchor: 1a compares generation with the CLI")
    ln.wfs.append(t)
    ln.rss.append(rss)
    cached = [os.path.join(dp, f) for dp, _, fs in os.walk(os.path.join(snap, "cache"))
              for f in fs if os.path.getsize(os.path.join(dp, f)) == size]
    if len(cached) != 1 or sha256_file(cached[0]) != sha:
        raise BenchError("cannot find the largest file in the cache")
    # The same bytes for the anchors: on disk (passthrough_ll's source, the
    # upload clients' source) and on tmpfs.
    key = f"{team}/{date}/{CSV}"
    disk_dir = os.path.join(b.scratch, "big-src")
    os.makedirs(os.path.join(disk_dir, team, date))
    disk = os.path.join(disk_dir, key)
    shutil.copyfile(cached[0], disk)
    b.big = {"src": src, "team": team, "date": date, "snap": snap, "size": size, "sha": sha,
             "rows": rows, "key": key, "disk_dir": disk_dir, "disk": disk,
             "cached": cached[0]}
    return b.big


def clone_state(b, snap, tag):
    """A new state dir holding SNAP's state database and its cache (hard links:
    the daemon never writes a cache file in place)."""
    d = b.newdir(tag)
    for f in os.listdir(snap):
        p = os.path.join(snap, f)
        if f.startswith("state.db") and not f.endswith(".lock"):
            shutil.copy2(p, d)
    run(["cp", "-al", os.path.join(snap, "cache"), os.path.join(d, "cache")])
    return d


def build_passthrough(b):
    if b.passthrough:
        return b.passthrough
    ex = "/usr/share/doc/libfuse3-dev/examples"
    out = os.path.join(b.scratch, "passthrough_ll")
    srcdir = os.path.join(b.scratch, "passthrough-src")
    os.makedirs(srcdir, exist_ok=True)
    for f in ("passthrough_ll.c", "passthrough_helpers.h"):
        shutil.copy(os.path.join(ex, f), srcdir)
    run(f"gcc -O2 -o {out} {srcdir}/passthrough_ll.c $(pkg-config --cflags --libs fuse3)",
        capture=True)
    b.passthrough = out
    return out


def build_passthrough_hp(b):
    """libfuse's passthrough_hp, built once per run into the scratch directory
    from ../shared/anchors/libfuse/ (outside the project's tree: it is GPL and
    only measured against).  None, with the reason in b.passthrough_hp_missing,
    when g++ or that folder is absent: its lines are then skipped."""
    if b.passthrough_hp or b.passthrough_hp_missing:
        return b.passthrough_hp
    src = os.path.join(os.path.dirname(REPO), "shared", "anchors", "libfuse", "passthrough_hp.cc")
    if not os.path.exists(src):
        b.passthrough_hp_missing = f"passthrough_hp skipped: no '{src}'"
    elif not shutil.which("g++"):
        b.passthrough_hp_missing = "passthrough_hp skipped: no g++ (tests/deps.sh --bench installs it)"
    if b.passthrough_hp_missing:
        log(b.passthrough_hp_missing)
        return None
    out = os.path.join(b.scratch, "passthrough_hp")
    log("building passthrough_hp")
    run(f"g++ -O2 -std=c++17 -o {out} {shlex.quote(src)} $(pkg-config --cflags --libs fuse3) "
        "-lpthread", capture=True)
    b.passthrough_hp = out
    return out


def last(ln):
    """LN's latest anchor time, for the progress log."""
    return fmt_time(ln.anchor[-1]) if ln.anchor else "n/a"


def skip_hp(b, lines):
    """Marks LINES as not measured when passthrough_hp could not be built."""
    for ln in lines:
        ln.error = b.passthrough_hp_missing


def bench_read(b):
    big = setup_big(b)
    build_passthrough(b)
    hp = build_passthrough_hp(b)
    size = big["size"]
    work = [("bytes", size)]
    tag = f"{size / 2**20:.0f} MiB"
    state = clone_state(b, big["snap"], "read")
    d = Daemon(b, "read", big["src"], state_dir=state).start()
    wfs_file = os.path.join(d.mnt, "d", big["team"], big["date"], CSV)
    backing = [os.path.join(dp, f) for dp, _, fs in os.walk(d.cache) for f in fs
               if os.path.getsize(os.path.join(dp, f)) == size][0]
    pt = Passthrough(b, big["disk_dir"]).start()
    pt_file = os.path.join(pt.mnt, big["key"])
    php = Passthrough(b, big["disk_dir"], "hp").start() if hp else None
    hp_file = php and os.path.join(php.mnt, big["key"])
    tmp_file = os.path.join(b.tmpfs, "big.csv")
    shutil.copyfile(big["disk"], tmp_file)
    disk_file = big["disk"]

    cold_hp = b.line("2a", "read", f"sequential read, cold ({tag})", work,
                     "cat, nothing in page cache", "passthrough_hp, nothing in page cache")
    cold_pt = b.line("2b", "read", f"sequential read, cold ({tag})", work,
                     "(as 2a)", "passthrough_ll, nothing in page cache")
    cold_disk = b.line("2c", "read", f"sequential read, cold ({tag})", work,
                       "(as 2a)", "ext4 directly, not in page cache")
    warm_hp = b.line("2d", "read", f"sequential read, warm ({tag})", work,
                     "cat, backing file in page cache", "passthrough_hp, same")
    warm_pt = b.line("2e", "read", f"sequential read, warm ({tag})", work,
                     "(as 2d)", "passthrough_ll, same")
    warm_tmp = b.line("2f", "read", f"sequential read, warm ({tag})", work,
                      "(as 2d)", "tmpfs")
    hot_tmp = b.line("2g", "read", f"re-read from the mount's page cache ({tag})", work,
                     "cat again", "tmpfs")
    hot_hp = b.line("2h", "read", f"re-read from the mount's page cache ({tag})", work,
                    "(as 2g)", "passthrough_hp, cat again")
    hot_pt = b.line("2i", "read", f"re-read from the mount's page cache ({tag})", work,
                    "(as 2g)", "passthrough_ll, cat again")
    if not hp:
        skip_hp(b, (cold_hp, warm_hp, hot_hp))

    def resident(tag, *paths):
        """Bytes still in page cache after eviction (util-linux fincore), once."""
        key = "resident_after_evict_bytes"
        if tag in cold_pt.extra.get(key, {}):
            return
        r = run(["fincore", "--bytes", "--noheadings", "--output", "RES"] + list(paths),
                capture=True, check=False)
        cold_pt.extra.setdefault(key, {})[tag] = [int(x) for x in r.stdout.split()
                                                  if x.isdigit()]

    def wfs_cold():
        evict(backing)
        evict(wfs_file, fuse=True)
        resident("warehousefs: backing, mount", backing, wfs_file)
        return timed(f"cat {wfs_file} >/dev/null")

    def fuse_cold(name, path):
        """A passthrough example's file, it and its backing file evicted."""
        evict(disk_file)
        evict(path, fuse=True)
        resident(f"{name}: backing, mount", disk_file, path)
        return timed(f"cat {path} >/dev/null")

    def disk_cold():
        evict(disk_file)
        resident("ext4", disk_file)
        return timed(f"cat {disk_file} >/dev/null")

    def wfs_warm():
        warm(backing)
        evict(wfs_file, fuse=True)
        return timed(f"cat {wfs_file} >/dev/null")

    def fuse_warm(path):
        warm(disk_file)
        evict(path, fuse=True)
        return timed(f"cat {path} >/dev/null")

    def hot(path):
        warm(path)
        return timed(f"cat {path} >/dev/null")

    for path in (wfs_file, pt_file) + ((hp_file,) if hp else ()):
        if sha256_file(path) != big["sha"]:
            raise BenchError(f"2: {path} does not show the same bytes as the source")
    steps = [
        ("wfs cold", lambda: (t := wfs_cold(), cold_hp.wfs.append(t), cold_pt.wfs.append(t),
                              cold_disk.wfs.append(t))),
        ("pt cold", lambda: cold_pt.anchor.append(fuse_cold("passthrough_ll", pt_file))),
        ("disk cold", lambda: cold_disk.anchor.append(disk_cold())),
        ("wfs warm", lambda: (t := wfs_warm(), warm_hp.wfs.append(t), warm_pt.wfs.append(t),
                              warm_tmp.wfs.append(t))),
        ("pt warm", lambda: warm_pt.anchor.append(fuse_warm(pt_file))),
        ("tmpfs", lambda: (t := hot(tmp_file), warm_tmp.anchor.append(t),
                           hot_tmp.anchor.append(t))),
        ("wfs hot", lambda: (t := hot(wfs_file), hot_tmp.wfs.append(t), hot_hp.wfs.append(t),
                             hot_pt.wfs.append(t))),
        ("pt hot", lambda: hot_pt.anchor.append(hot(pt_file))),
    ]
    if hp:
        steps += [
            ("hp cold", lambda: cold_hp.anchor.append(fuse_cold("passthrough_hp", hp_file))),
            ("hp warm", lambda: warm_hp.anchor.append(fuse_warm(hp_file))),
            ("hp hot", lambda: hot_hp.anchor.append(hot(hp_file))),
        ]

    for rep in range(b.reps()):
        for _, step in alternate(rep, steps):
            step()
        log(f"2 rep {rep + 1}: cold {fmt_time(cold_pt.wfs[-1])} (hp {last(cold_hp)}, "
            f"ll {last(cold_pt)}), warm {fmt_time(warm_pt.wfs[-1])} (hp {last(warm_hp)}, "
            f"ll {last(warm_pt)}, tmpfs {last(warm_tmp)}), hot {fmt_time(hot_tmp.wfs[-1])} "
            f"(hp {last(hot_hp)}, tmpfs {last(hot_tmp)})")
    rss = d.stop()
    log(f"2a-2i: warehousefs peak RSS {rss / 1024:.1f} MiB" if rss else
        "2a-2i: warehousefs peak RSS unknown")
    pt.stop()
    if php:
        php.stop()
    for ln in (cold_hp, cold_pt, cold_disk, warm_hp, warm_pt, warm_tmp, hot_tmp, hot_hp, hot_pt):
        ln.rss.append(rss)
    os.unlink(tmp_file)
    shutil.rmtree(state)
    bench_ls(b, hp)


def bench_ls(b, hp):
    """ls -l and stat of a directory of N date directories: warehousefs,
    passthrough_hp over N directories on the same disk (fresh mount each
    time, as for warehousefs), and tmpfs."""
    n = b.size["ls_days"]
    src = b.source("ls", 1, 1, n, start="1990-01-01")
    pairs = team_dates(src)
    team = pairs[0][0]
    tdir = os.path.join(b.tmpfs, "ls")
    hdir = os.path.join(b.scratch, "ls-src")
    for top in (tdir, hdir):
        os.makedirs(top)
        for _, date in pairs:
            os.mkdir(os.path.join(top, date))
    ls_cold_hp = b.line("2j", "read", f"ls -l of {n:,} date directories, first after mount",
                        [("entries", n)], "ls -l MNT/d/TEAM",
                        f"passthrough_hp over {n:,} directories, first after mount")
    ls_cold = b.line("2k", "read", f"ls -l of {n:,} date directories, first after mount",
                     [("entries", n)], "(as 2j)", "tmpfs, ls -l")
    ls_warm_hp = b.line("2l", "read", f"ls -l of {n:,} date directories, again",
                        [("entries", n)], "ls -l MNT/d/TEAM again", "passthrough_hp, again")
    ls_warm = b.line("2m", "read", f"ls -l of {n:,} date directories, again",
                     [("entries", n)], "(as 2l)", "tmpfs, ls -l")
    st_cold_hp = b.line("2n", "read", f"stat of {n:,} date directories, first after mount",
                        [("entries", n)], "find MNT/d/TEAM -printf '%s %m' (lstat, no xattr)",
                        "passthrough_hp, same, first after mount")
    st_cold = b.line("2o", "read", f"stat of {n:,} date directories, first after mount",
                     [("entries", n)], "(as 2n)", "tmpfs, same")
    if not hp:
        skip_hp(b, (ls_cold_hp, ls_warm_hp, st_cold_hp))

    def ls(path):
        return timed(f"ls -l {path} >/dev/null")

    def stat(path):
        return timed(f"find {path} -mindepth 1 -maxdepth 1 -printf '%s %m\\n' >/dev/null")

    def count(path, what):
        got = len(run(f"ls {path}", capture=True).stdout.split())
        if got != n:
            raise BenchError(f"2j: {what} showed {got} entries, not {n}")

    who_all = ("wfs", "tmpfs", "wfs-stat", "tmpfs-stat") + (("hp", "hp-stat") if hp else ())
    for rep in range(b.reps()):
        for who in alternate(rep, who_all):
            if who.startswith("wfs"):
                d = Daemon(b, "ls", src).start()
                d.add_dest("d", team)
                path = os.path.join(d.mnt, "d", team)
                if who == "wfs":
                    t = ls(path)
                    ls_cold_hp.wfs.append(t)
                    ls_cold.wfs.append(t)
                    t = ls(path)
                    ls_warm_hp.wfs.append(t)
                    ls_warm.wfs.append(t)
                    lines = (ls_cold_hp, ls_cold, ls_warm_hp, ls_warm)
                else:
                    t = stat(path)
                    st_cold_hp.wfs.append(t)
                    st_cold.wfs.append(t)
                    lines = (st_cold_hp, st_cold)
                if rep == 0 and who == "wfs":
                    count(path, "warehousefs")
                rss = d.stop()
                for ln in lines:
                    ln.rss.append(rss)
                shutil.rmtree(d.dir)
            elif who.startswith("hp"):
                m = Passthrough(b, hdir, "hp").start()
                if who == "hp":
                    ls_cold_hp.anchor.append(ls(m.mnt))
                    ls_warm_hp.anchor.append(ls(m.mnt))
                    if rep == 0:
                        count(m.mnt, "passthrough_hp")
                else:
                    st_cold_hp.anchor.append(stat(m.mnt))
                m.stop()
            elif who == "tmpfs":
                t = ls(tdir)
                ls_cold.anchor.append(t)
                ls_warm.anchor.append(t)
            else:
                st_cold.anchor.append(stat(tdir))
        log(f"2j rep {rep + 1}: ls wfs {fmt_time(ls_cold.wfs[-1])} then "
            f"{fmt_time(ls_warm.wfs[-1])}, hp {last(ls_cold_hp)} then {last(ls_warm_hp)}, "
            f"tmpfs {last(ls_cold)}; stat wfs {fmt_time(st_cold.wfs[-1])}, "
            f"hp {last(st_cold_hp)}, tmpfs {last(st_cold)}")
    peak = max((x for x in ls_cold.rss + st_cold.rss if x), default=None)
    log(f"2j-2o: warehousefs peak RSS {peak / 1024:.1f} MiB" if peak else
        "2j-2o: warehousefs peak RSS unknown")
    shutil.rmtree(tdir)
    shutil.rmtree(hdir)


# ---- 3. uploads -------------------------------------------------------------------------

def client_env(b):
    e = dict(os.environ)
    r = b.rgw
    e.update({k: v for k, v in r.items()})
    # rclone 1.60 fails with LoadCustomCABundleError when this is set.
    e.pop("AWS_CA_BUNDLE", None)
    for k in ("http_proxy", "https_proxy", "HTTP_PROXY", "HTTPS_PROXY", "all_proxy", "ALL_PROXY"):
        e.pop(k, None)
    e["NO_PROXY"] = e["no_proxy"] = "*"
    e.update({
        "RCLONE_CONFIG": "/dev/null",
        "RCLONE_CONFIG_BENCH_TYPE": "s3",
        "RCLONE_CONFIG_BENCH_PROVIDER": "Other",
        "RCLONE_CONFIG_BENCH_ACCESS_KEY_ID": r["RGW_ACCESS_KEY"],
        "RCLONE_CONFIG_BENCH_SECRET_ACCESS_KEY": r["RGW_SECRET_KEY"],
        "RCLONE_CONFIG_BENCH_ENDPOINT": r["RGW_ENDPOINT"],
        "RCLONE_CONFIG_BENCH_REGION": "us-east-1",
        "RCLONE_CONFIG_BENCH_FORCE_PATH_STYLE": "true",
        "AWS_CONFIG_FILE": b.aws_config,
        "AWS_SHARED_CREDENTIALS_FILE": "/dev/null",
        "AWS_ACCESS_KEY_ID": r["RGW_ACCESS_KEY"],
        "AWS_SECRET_ACCESS_KEY": r["RGW_SECRET_KEY"],
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_PAGER": "",
    })
    return e


def s3cmd_args(b):
    r = b.rgw
    host = r["RGW_ENDPOINT"].split("://", 1)[1]
    return ["s3cmd", "-c", "/dev/null", "--no-ssl", f"--host={host}", f"--host-bucket={host}",
            f"--access_key={r['RGW_ACCESS_KEY']}", f"--secret_key={r['RGW_SECRET_KEY']}",
            "--region=us-east-1", "--no-progress", "-q"]


def expected_objects(root):
    exp = {}
    for dp, _, fs in os.walk(root):
        for f in fs:
            p = os.path.join(dp, f)
            exp[os.path.relpath(p, root)] = (os.path.getsize(p), md5_file(p), p)
    return exp


def verify_bucket(b, expected, who, bucket=None):
    """Every expected object is there, with the right size and an ETag that is
    the MD5 of the local bytes (or the multipart ETag for some part size)."""
    got = s3.list_objects(b.s3, bucket or b.rgw["RGW_BUCKET"])
    if set(got) != set(expected):
        missing = sorted(set(expected) - set(got))[:3]
        extra = sorted(set(got) - set(expected))[:3]
        raise BenchError(f"{who}: bucket holds {len(got)} objects, expected {len(expected)} "
                         f"(missing e.g. {missing}, unexpected e.g. {extra})")
    for key, (size, md5, path) in expected.items():
        gsize, etag = got[key]
        if gsize != size:
            raise BenchError(f"{who}: {key} has {gsize} bytes, not {size}")
        if "-" not in etag:
            if etag != md5:
                raise BenchError(f"{who}: {key} ETag {etag} is not the MD5 {md5}")
            continue
        nparts = int(etag.split("-")[1])
        cache = b.mp_etags.setdefault(path, {})
        ok = False
        for mib in range(5, 513):
            part = mib << 20
            if -(-size // part) != nparts:
                continue
            if part not in cache:
                cache[part] = md5_file(path, part)
            if cache[part] == etag:
                ok = True
                break
        if not ok:
            raise BenchError(f"{who}: {key} multipart ETag {etag} matches no part size")
    return len(got)


def wfs_upload(b, snap, src, tag, opts=(), bucket=None):
    """Mount a clone of SNAP (destination paused, every file already
    materialized and queued), then time .resume + reading .sync: the upload
    alone, from the same page-cache-warm files the other clients read.
    With BUCKET, the destination is pointed at it first (pending versions
    upload to the settings in force when they upload)."""
    state = clone_state(b, snap, tag)
    d = Daemon(b, tag, src, state_dir=state, opts=opts).start()
    dest = os.path.join(d.mnt, "d")
    if bucket:
        with open(os.path.join(dest, ".config"), "w") as f:
            f.write(f"bucket = {bucket}\n")
    run(f"find {d.cache} -type f -exec cat {{}} + >/dev/null")
    t = time.perf_counter()
    run(["touch", os.path.join(dest, ".resume")])
    # touch acts when FUSE's RELEASE arrives, which the kernel sends after
    # close() has returned: wait until .status says active (counted below).
    waits = 0
    while True:
        with open(os.path.join(dest, ".status")) as f:
            if re.search(r"^state = active$", f.read(), re.M):
                break
        waits += 1
        if waits > 10000:
            raise BenchError(f"{tag}: still paused after touching .resume")
        time.sleep(0.0005)
    with open(os.path.join(dest, ".sync")) as f:
        report = f.read()
    t = time.perf_counter() - t
    if waits:
        b.info["resume_not_yet_applied"] = b.info.get("resume_not_yet_applied", 0) + 1
    if "synced = yes" not in report or not re.search(r"^failed = 0$", report, re.M):
        raise BenchError(f"{tag}: .sync says:\n{report}\n{d.log_tail()}")
    rss = d.stop()
    shutil.rmtree(state)
    return t, rss


def prepare_small(b):
    teams, websites, days = b.size["up_small"]
    src = b.source("upload", teams, websites, days)
    snap = b.newdir("small-snapshot")
    d = Daemon(b, "small", src, state_dir=snap).start()
    d.add_dest("d", "*", upload=True, paused=True)
    root = os.path.join(b.scratch, "small-src")
    # Materialize (and queue, paused) every file; copy them out for the others.
    run(["cp", "-r", os.path.join(d.mnt, "d"), root])
    d.stop()
    exp = expected_objects(root)
    if len(exp) != teams * days:
        raise BenchError(f"3: {len(exp)} small files, expected {teams * days}")
    return src, snap, root, exp


def bench_upload(b):
    b.start_rgw()
    b.aws_config = os.path.join(b.scratch, "aws-config")
    with open(b.aws_config, "w") as f:
        f.write("[default]\nregion = us-east-1\ns3 =\n    addressing_style = path\n")
    b.mp_etags = {}
    env = client_env(b)
    bucket = b.rgw["RGW_BUCKET"]
    curl_put = os.path.join(HERE, "curl-put.sh")
    aws_ok = aws_works(b, env)

    src, snap, root, exp = prepare_small(b)
    nfiles = len(exp)
    nbytes = sum(v[0] for v in exp.values())
    listing = os.path.join(b.scratch, "small.list")
    with open(listing, "w") as f:
        f.writelines(k + "\n" for k in sorted(exp))
    work = [("files", nfiles), ("bytes", nbytes)]
    what = f"upload {nfiles:,} files of ~{nbytes / nfiles / 1e3:.0f} KB"
    sw = b.size["sync_workers"]
    # Each small-file run uploads into a new, empty bucket: deleting 1,000
    # objects costs RGW ~2 s, and the ~10 MB they hold may stay in memstore.
    clients = {}
    for n in sw:
        clients[f"wfs{n}"] = ("wfs", n)
    for n in b.size["rclone_transfers"]:
        clients[f"rclone{n}"] = lambda bk, n=n: (f"rclone copy --transfers {n} --checkers {n} "
                                                  f"{root} bench:{bk}")
    clients["s3cmd"] = lambda bk: shlex.join(s3cmd_args(b) + ["put", "--recursive", root + "/",
                                                              f"s3://{bk}/"])
    if aws_ok:
        clients["aws"] = lambda bk: (f"aws --endpoint-url {b.rgw['RGW_ENDPOINT']} s3 cp "
                                     f"--recursive --only-show-errors {root} s3://{bk}/")
    clients["curl-seq"] = lambda bk: (f"cd {root} && while read -r f; do {curl_put} \"$f\"; "
                                      f"done <{listing}")
    clients["curl-par"] = lambda bk: (f"cd {root} && xargs -P {CURL_PARALLEL} -n {CURL_BATCH} "
                                      f"{curl_put} <{listing}")
    # The slowest client (~30 s a run at the default size) runs at most twice.
    max_runs = {"curl-seq": 2}
    times = {k: [] for k in clients}
    rss = {k: [] for k in clients}
    for rep in range(b.reps(slow=True)):
        for name in alternate(rep, list(clients)):
            if len(times[name]) >= max_runs.get(name, 1 << 30):
                continue
            spec = clients[name]
            b.nbucket += 1
            bk = f"bench-{b.nbucket}"
            b.s3.create_bucket(Bucket=bk)
            if isinstance(spec, tuple):
                t, r = wfs_upload(b, snap, src, f"up-{name}", opts=[f"sync_workers={spec[1]}"],
                                  bucket=bk)
                rss[name].append(r)
            else:
                run(f"find {root} -type f -exec cat {{}} + >/dev/null")
                e = dict(env, RGW_BUCKET=bk)
                tt = time.perf_counter()
                r = run(spec(bk), env=e, capture=True)
                t = time.perf_counter() - tt
                if name.startswith("curl"):
                    codes = r.stdout.split()
                    if len(codes) != nfiles or set(codes) != {"200"}:
                        raise BenchError(f"{name}: HTTP statuses {sorted(set(codes))}, "
                                         f"{len(codes)} answers")
            verify_bucket(b, exp, name, bk)
            times[name].append(t)
        log(f"3 small rep {rep + 1}: " + ", ".join(f"{k} {fmt_time(v[-1])}" for k, v in times.items()))
    upload_lines(b, "3", what, work, times, rss, sw, nfiles)

    # One large file.
    big = setup_big(b)
    exp = expected_objects(big["disk_dir"])
    parts_dir = os.path.join(b.tmpfs, "parts")
    os.makedirs(parts_dir)
    run(["split", "-b", str(BIG_PART), "-d", "-a", "3", big["disk"], os.path.join(parts_dir, "p")])
    key = big["key"]
    work = [("bytes", big["size"])]
    what = f"upload one {big['size'] / 2**20:.0f} MiB file"
    clients = {"wfs4": ("wfs", 4),
               "rclone4": (f"rclone copy --transfers 4 {big['disk_dir']} bench:{bucket}",),
               "s3cmd": (shlex.join(s3cmd_args(b) + ["put", big["disk"], f"s3://{bucket}/{key}"]),)}
    if aws_ok:
        clients["aws"] = (f"aws --endpoint-url {b.rgw['RGW_ENDPOINT']} s3 cp --only-show-errors "
                          f"{big['disk']} s3://{bucket}/{key}",)
    clients["curl-seq"] = (f"cd {big['disk_dir']} && {curl_put} {key}",)
    clients["curl-par"] = (f"{os.path.join(HERE, 'curl-multipart.sh')} {key} {parts_dir} "
                           f"{CURL_PART_PARALLEL} >/dev/null",)
    times = {k: [] for k in clients}
    rss = {k: [] for k in clients}
    for rep in range(b.reps(slow=True)):
        for name in alternate(rep, list(clients)):
            spec = clients[name]
            if spec[0] == "wfs":
                warm(big["cached"])
                t, r = wfs_upload(b, big["snap"], big["src"], f"upbig-{name}",
                                  opts=[f"sync_workers={spec[1]}"])
                rss[name].append(r)
            else:
                warm(big["disk"])
                if name == "curl-par":
                    run(f"cat {parts_dir}/* >/dev/null")
                tt = time.perf_counter()
                r = run(spec[0], env=env, capture=True)
                t = time.perf_counter() - tt
                if name == "curl-seq" and r.stdout.split() != ["200"]:
                    raise BenchError(f"curl PUT: HTTP {r.stdout.strip()}")
            verify_bucket(b, exp, f"big {name}")
            b.empty_bucket()
            times[name].append(t)
        log(f"3 big rep {rep + 1}: " + ", ".join(f"{k} {fmt_time(v[-1])}" for k, v in times.items()))
    shutil.rmtree(parts_dir)
    upload_lines(b, "3", what, work, times, rss, (4,), 1, big=True)


def aws_works(b, env):
    """Debian's awscli crashes on RGW's empty error <Message>; see whether a
    plain upload works, and report n/a with the reason if not."""
    probe = os.path.join(b.scratch, "aws-probe")
    with open(probe, "w") as f:
        f.write("probe\n")
    r = run(f"aws --endpoint-url {b.rgw['RGW_ENDPOINT']} s3 cp --only-show-errors {probe} "
            f"s3://{b.rgw['RGW_BUCKET']}/aws-probe", env=env, capture=True, check=False)
    b.empty_bucket()
    if r.returncode != 0:
        b.info["aws_cli"] = f"n/a: aws s3 cp failed ({r.returncode}): {r.stderr.strip()[-300:]}"
        log(b.info["aws_cli"])
        return False
    return True


def upload_lines(b, num, what, work, times, rss, sw, nfiles, big=False):
    labels = {
        "s3cmd": "s3cmd put" + (" --recursive" if not big else ""),
        "aws": "aws s3 cp" + (" --recursive" if not big else ""),
        "curl-seq": "curl --aws-sigv4, one process per file" if not big else
                    "curl --aws-sigv4, one PUT",
        "curl-par": f"curl, xargs -P {CURL_PARALLEL} × {CURL_BATCH} files per process (ceiling)"
                    if not big else
                    f"curl multipart, {BIG_PART >> 20} MiB parts, xargs -P {CURL_PART_PARALLEL} (ceiling)",
    }
    med = {k: statistics.median(v) for k, v in times.items() if v}
    wfs_default = f"wfs{sw[0]}"
    rcl = [k for k in times if k.startswith("rclone")]
    best_rclone = min(rcl, key=lambda k: med[k])
    best_wfs = min((k for k in times if k.startswith("wfs")), key=lambda k: med[k])
    letters = iter("ghijkl" if big else "abcdef")
    order = [best_rclone, "s3cmd", "aws", "curl-seq", "curl-par"]
    for k in order:
        if k not in times:
            ln = b.line(f"{num}{next(letters)}", "upload", what, work,
                        "sync", "aws s3 cp", kind="anchor")
            ln.error = b.info.get("aws_cli", "n/a")
            continue
        label = labels.get(k) or (f"rclone copy --transfers {k[6:]}" +
                                  (" (its best)" if not big else ""))
        ln = b.line(f"{num}{next(letters)}", "upload", what, work,
                    f"sync, sync_workers={sw[0]}" +
                    (" (default)" if sw[0] == DEFAULT_SYNC_WORKERS else ""), label,
                    kind="ceiling" if k == "curl-par" else "anchor")
        ln.wfs = list(times[wfs_default])
        ln.anchor = list(times[k])
        ln.rss = list(rss[wfs_default])
    if best_wfs != wfs_default:
        ln = b.line(f"{num}{next(letters)}", "upload", what, work,
                    f"sync, sync_workers={best_wfs[3:]}", labels["curl-par"], kind="ceiling")
        ln.wfs, ln.anchor, ln.rss = list(times[best_wfs]), list(times["curl-par"]), list(rss[best_wfs])
    b.info.setdefault("upload_variants", {})[what] = {
        k: summary(v) for k, v in times.items()}


# ---- 4. scheduler -----------------------------------------------------------------------

SCHED_RE = re.compile(r"scheduler: (\d+) destination\(s\) due, (\d+) run\(s\) started in "
                      r"([\d.]+) ms")


def iso(ts):
    return datetime.datetime.fromtimestamp(ts, datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def sched_anchor(state_db, now):
    """The scheduler's work as plain SQL on the same database: select the due
    destinations, insert one run each and move each clock, in one transaction."""
    con = sqlite3.connect(state_db, isolation_level=None)
    con.execute("PRAGMA journal_mode=WAL")
    con.execute("PRAGMA synchronous=FULL")
    con.execute("PRAGMA foreign_keys=ON")
    t = time.perf_counter()
    con.execute("BEGIN IMMEDIATE")
    due = con.execute(
        "SELECT d.id, d.next_run_at, COALESCE(d.last_sched_day, 0), "
        "COALESCE((SELECT value FROM settings WHERE dest_id = d.id AND key = 'schedule'), "
        "'daily') FROM destinations d WHERE d.paused = 0 AND d.next_run_at <= ?1 "
        "ORDER BY d.next_run_at", (now,)).fetchall()
    day = now // 86400 - 1
    period = datetime.date.fromordinal(datetime.date(1970, 1, 1).toordinal() + day).isoformat()
    con.executemany("INSERT INTO runs(dest_id, trigger, period, first_day, last_day, created_at) "
                    "VALUES(?1, 'schedule', ?2, ?3, ?3, ?4)",
                    [(r[0], period, day, now) for r in due])
    con.executemany("UPDATE destinations SET next_run_at = ?2 WHERE id = ?1",
                    [(r[0], (now // 86400 + 1) * 86400) for r in due])
    con.execute("COMMIT")
    t = time.perf_counter() - t
    con.close()
    return t, len(due)


def bench_sched(b):
    b.start_rgw()
    n = b.size["sched"]
    src = b.source("sched", 2, 5, 30)
    team = first_team(src)
    snap = b.newdir("sched-snapshot")
    d = Daemon(b, "sched-create", src, state_dir=snap).start()
    log(f"creating {n:,} destinations through the mount")
    t = time.perf_counter()
    for i in range(n):
        d.add_dest(f"d{i:05d}", team, upload=True)
    t = time.perf_counter() - t
    rss = d.stop()
    ln = b.line("4b", "sched", f"create {n:,} destinations (mkdir + write .config)",
                [("destinations", n)], "mkdir MNT/NAME; write 5 .config lines", "—", kind="info")
    ln.wfs.append(t)
    ln.rss.append(rss)
    con = sqlite3.connect(f"file:{os.path.join(snap, 'state.db')}?mode=ro", uri=True)
    last = con.execute("SELECT max(next_run_at), count(*) FROM destinations").fetchone()
    con.close()
    if last[1] != n:
        raise BenchError(f"4: {last[1]} destinations in the state, not {n}")
    now = last[0] + 3600
    main = b.line("4a", "sched", f"find and start {n:,} due destinations (one tick)",
                  [("destinations", n)], "scheduler tick, from its log line",
                  "the same SELECT + INSERT + UPDATE in one SQLite transaction (floor)")
    finish = b.line("4c", "sched", "", [("runs", n)],
                    "runs done, counted from the mount", "—", kind="info",
                    note=f"one run, at most {FINISH_WAIT} s")
    for rep in range(b.reps(slow=True)):
        for who in alternate(rep, ("wfs", "sql")):
            if who == "wfs":
                state = clone_state(b, snap, "sched")
                d = Daemon(b, "sched", src, state_dir=state, test_now=iso(now)).start()
                deadline = time.monotonic() + 300
                m = None
                while not m:
                    with open(d.logpath) as f:
                        m = SCHED_RE.search(f.read())
                    if time.monotonic() > deadline:
                        raise BenchError("4: no scheduler line in 300 s:\n" + d.log_tail())
                    time.sleep(0.01)
                due, started, ms = int(m.group(1)), int(m.group(2)), float(m.group(3))
                if due != n or started != n:
                    raise BenchError(f"4: {due} due, {started} started, expected {n}")
                main.wfs.append(ms / 1000)
                if rep == 0:
                    # How fast the runners get through them: until all are done,
                    # or FINISH_WAIT seconds (then the rate so far).
                    con = sqlite3.connect(f"file:{os.path.join(state, 'state.db')}?mode=ro",
                                          uri=True, timeout=30)
                    until = time.monotonic() + FINISH_WAIT
                    while True:
                        done = con.execute("SELECT count(*) FROM runs "
                                           "WHERE status = 'done'").fetchone()[0]
                        if done >= n or time.monotonic() > until:
                            break
                        time.sleep(0.05)
                    con.close()
                    finish.wfs.append(time.perf_counter() - d.t_mounted)
                    finish.work = [("runs", done)]
                    finish.extra["runs_done"] = done
                    finish.title = (f"{done:,} of {n:,} scheduled runs finished (no data for "
                                    "the period: claim, enumerate, record, finish)")
                r = d.stop()
                main.rss.append(r)
                if rep == 0:
                    finish.rss.append(r)
                shutil.rmtree(state)
            else:
                state = clone_state(b, snap, "sched-sql")
                t, due = sched_anchor(os.path.join(state, "state.db"), now)
                if due != n:
                    raise BenchError(f"4: the SQL anchor found {due} due, not {n}")
                main.anchor.append(t)
                shutil.rmtree(state)
        log(f"4 rep {rep + 1}: tick {fmt_time(main.wfs[-1])}, sql {fmt_time(main.anchor[-1])}, "
            f"all done {fmt_time(finish.wfs[-1])}")
    shutil.rmtree(snap)


# ---- reporting --------------------------------------------------------------------------

def machine_info():
    cpu = "unknown"
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    mem = 0
    with open("/proc/meminfo") as f:
        for line in f:
            if line.startswith("MemTotal:"):
                mem = int(line.split()[1]) * 1024
    osname = ""
    try:
        with open("/etc/os-release") as f:
            for line in f:
                if line.startswith("PRETTY_NAME="):
                    osname = line.split("=", 1)[1].strip().strip('"')
    except OSError:
        pass

    def ver(cmd):
        r = run(cmd, capture=True, check=False)
        out = (r.stdout or r.stderr or "").strip().splitlines()
        return out[0] if out else "n/a"

    def git(*a):
        return run(["git", "-C", REPO] + list(a), capture=True, check=False).stdout.strip()

    return {
        "cpu": cpu, "cores": os.cpu_count(), "memory_gib": round(mem / 2**30, 1),
        "kernel": platform.release(), "os": osname,
        "loadavg_start": open("/proc/loadavg").read().split()[:3],
        "versions": {
            "sqlite3": ver(["sqlite3", "--version"]).split()[0],
            "rclone": ver(["rclone", "version"]),
            "s3cmd": ver(["s3cmd", "--version"]),
            "aws": ver(["aws", "--version"]),
            "curl": " ".join(ver(["curl", "--version"]).split()[:2]),
            "radosgw": " ".join(ver(["radosgw", "--version"]).split()[:3]),
            "libfuse": ver(["pkg-config", "--modversion", "fuse3"]),
        },
        "git": {"commit": git("rev-parse", "HEAD"),
                "dirty": bool(git("status", "--porcelain", "--untracked-files=no"))},
    }


def rate_cell(ln, t):
    if t is None:
        return ""
    unit, amount = ln.work[0]
    return fmt_rate(amount / t, unit)


def write_results(b, out_dir, machine, elapsed):
    os.makedirs(out_dir, exist_ok=True)
    lines = [ln.to_json() for ln in sorted(b.lines, key=lambda l: l.id)]
    compared = [l for l in lines if "ratio_median" in l and l["kind"] == "anchor"]
    slowest = min(compared, key=lambda l: l["ratio_median"]) if compared else None
    data = {
        "generated_at": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "size": b.size_name, "sizes": {k: v for k, v in b.size.items()},
        "elapsed_s": round(elapsed, 1), "machine": machine, "lines": lines,
        "slowest_vs_anchor": slowest and {"id": slowest["id"], "title": slowest["title"],
                                          "anchor": slowest["anchor"],
                                          "ratio_median": slowest["ratio_median"]},
        "info": b.info, "errors": b.errors,
        "ratio": "anchor time / warehousefs time: above 1, warehousefs is faster",
    }
    # Only a complete default-size run replaces latest.md / latest.json.
    name = "latest" if b.size_name == "default" else f"latest-{b.size_name}"
    if tuple(b.only) != ALL_BENCHES:
        name += "-" + "-".join(b.only)
    with open(os.path.join(out_dir, name + ".json"), "w") as f:
        json.dump(data, f, indent=1, default=str)
        f.write("\n")

    m = machine
    md = [f"# warehousefs benchmarks ({b.size_name} size)", "",
          f"{data['generated_at']}, {elapsed / 60:.1f} min. Machine: {m['cpu']}, "
          f"{m['cores']} cores, {m['memory_gib']} GiB, kernel {m['kernel']}, {m['os']}; "
          f"load average at start {' '.join(m['loadavg_start'])}, at end "
          f"{' '.join(m.get('loadavg_end', []))}. Commit {m['git']['commit'][:12]}"
          f"{' + local changes' if m['git']['dirty'] else ''}.", "",
          "Each line: warehousefs against the tool a user would use instead, run "
          "alternately in the same run; times are median / min of the repetitions "
          f"({b.size['reps']} for fast lines, {b.size['reps_slow']} for slow ones). "
          "**Ratio = anchor time / warehousefs time: above 1 warehousefs is faster.** "
          "A *ceiling* is what the tool or server can do at best, not a competitor. "
          "Peak RSS is the daemon's VmHWM during the line.", "",
          "| # | benchmark | warehousefs | median / min | rate | anchor | median / min | rate "
          "| ratio median (min) | peak RSS |",
          "|---|---|---|---|---|---|---|---|---|---|"]
    for ln in sorted(b.lines, key=lambda l: l.id):
        w, a = summary(ln.wfs), summary(ln.anchor)
        wcell = f"{fmt_time(w['median'])} / {fmt_time(w['min'])}" if w else "—"
        acell = f"{fmt_time(a['median'])} / {fmt_time(a['min'])}" if a else "—"
        if a and w and len(ln.anchor) < len(ln.wfs):
            acell += f" ({len(ln.anchor)} runs)"
        ratio = ""
        if w and a:
            ratio = f"**{a['median'] / w['median']:.2f}** ({a['min'] / w['min']:.2f})"
        if ln.error:
            ratio = f"n/a: {ln.error[:120]}"
        anchor = ln.anchor_label
        if ln.kind == "ceiling":
            anchor = anchor.replace(" (ceiling)", "") + " *(ceiling)*"
        rss = f"{max(x for x in ln.rss if x) / 1024:.0f} MiB" if any(ln.rss) else ""
        md.append(f"| {ln.id} | {ln.title} | {ln.wfs_label} | {wcell} | "
                  f"{rate_cell(ln, w and w['median'])} | {anchor} | {acell} | "
                  f"{rate_cell(ln, a and a['median'])} | {ratio} | {rss} |")
    md.append("")
    if slowest:
        md.append(f"Slowest line relative to its anchor (ceilings excluded): **{slowest['id']}** "
                  f"({slowest['title']} vs {slowest['anchor']}), ratio "
                  f"{slowest['ratio_median']:.2f}.")
        md.append("")
    variants = b.info.get("upload_variants")
    if variants:
        md.append("Upload variants (median / min):")
        md.append("")
        for what, v in variants.items():
            md.append(f"- {what}: " + ", ".join(
                f"{k} {fmt_time(s['median'])} / {fmt_time(s['min'])}" for k, s in v.items() if s))
        md.append("")
    if b.info.get("aws_cli"):
        md.append(f"aws s3 cp: {b.info['aws_cli']}")
        md.append("")
    if b.errors:
        md.append("Errors:")
        md.append("")
        for e in b.errors:
            md.append(f"- {e}")
        md.append("")
    md.append("Versions: " + "; ".join(f"{k} {v}" for k, v in m["versions"].items()) + ".")
    md.append("")
    data["files"] = [os.path.join(out_dir, name + ext) for ext in (".md", ".json")]
    with open(data["files"][0], "w") as f:
        f.write("\n".join(md))
    return data


def main():
    p = argparse.ArgumentParser(description="warehousefs benchmarks (use tests/bench/run.sh)")
    p.add_argument("--quick", action="store_true", help="much smaller sizes, 2 repetitions")
    p.add_argument("--reps", type=int, help="repetitions of every line")
    p.add_argument("--only", default=",".join(ALL_BENCHES),
                   help=f"comma-separated subset of {','.join(ALL_BENCHES)}")
    p.add_argument("--build", default=os.path.join(REPO, "build-bench"))
    p.add_argument("--scratch", help="parent of the scratch directory (default /var/tmp)")
    p.add_argument("--data-dir", help="keep generated sources here and reuse them")
    p.add_argument("--out", default=os.path.join(HERE, "results"),
                   help="where latest.md and latest.json go (latest-quick.* with --quick, "
                        "latest[-quick]-BENCH.* with --only)")
    p.add_argument("--keep", action="store_true", help="keep the scratch directory")
    args = p.parse_args()
    only = [x for x in args.only.split(",") if x]
    for x in only:
        if x not in ALL_BENCHES:
            p.error(f"unknown benchmark '{x}'")
    if os.geteuid() != 0:
        p.error("run as root: cold reads evict page cache and mounts need /dev/fuse")

    def on_signal(sig, frame):
        raise KeyboardInterrupt
    signal.signal(signal.SIGTERM, on_signal)

    try:
        b = Bench(args)
    except BenchError as e:
        p.error(str(e))
    b.only = [x for x in ALL_BENCHES if x in only]
    machine = machine_info()
    log(f"{b.size_name} size, scratch {b.scratch}")
    rc = 0
    try:
        for name in ALL_BENCHES:
            if name not in only:
                continue
            log(f"== {name}")
            try:
                globals()[f"bench_{name}"](b)
            except BenchError as e:
                log(f"{name} FAILED: {e}")
                b.errors.append(f"{name}: {e}")
                rc = 1
                for m in list(b.live):
                    if isinstance(m, Daemon):
                        m.stop()
    except KeyboardInterrupt:
        log("interrupted")
        rc = 130
    finally:
        b.cleanup()
    machine["loadavg_end"] = open("/proc/loadavg").read().split()[:3]
    data = write_results(b, args.out, machine, time.monotonic() - T0)
    log(f"wrote {' and '.join(data['files'])} in {data['elapsed_s'] / 60:.1f} min")
    with open(data["files"][0]) as f:
        print(f.read())
    return rc


if __name__ == "__main__":
    sys.exit(main())
