"""Destinations' `.config`: validation, partial writes, secrets, persistence."""

import errno
import os
import glob

import pytest

from conftest import TEAM_A, parse_kv, read_bytes, read_text

SECRET = "wJalrXUtnFEMI-K7MDENG-bPxRfiCYzzSecret42"
TOKEN = "FwoGZXIvYXdzEXAMPLEsessionTOKENvalue0987"


def write_config_raw(path, chunks):
    """Writes chunks with one write() each, then closes.  Returns the errno
    of the first failing write or of close, or 0."""
    fd = os.open(path, os.O_WRONLY | os.O_TRUNC)
    err = 0
    try:
        for c in chunks:
            try:
                os.write(fd, c)
            except OSError as e:
                err = e.errno
                break
    finally:
        try:
            os.close(fd)
        except OSError as e:
            err = err or e.errno
    return err


# (what, input, words the reason in .status must contain)
INVALID = [
    ("unknown key", b"colour = red\n", ["unknown key", "colour"]),
    ("bad bucket", b"bucket = My_Bucket\n", ["bucket"]),
    ("bucket too short", b"bucket = ab\n", ["bucket"]),
    ("bad region", b"region = EU West\n", ["region"]),
    ("bad endpoint scheme", b"endpoint = ftp://example.com\n", ["endpoint"]),
    ("endpoint without host", b"endpoint = https://\n", ["endpoint"]),
    ("bad schedule", b"schedule = weekly\n", ["schedule", "daily", "hourly"]),
    ("bad sse", b"sse = aes\n", ["sse"]),
    ("unknown dataset", b"datasets = analytics_daily, events\n", ["dataset", "events"]),
    ("line without =", b"schedule hourly\n", ["expected", "key = value"]),
    ("NUL byte", b"schedule = hourly\x00\n", ["NUL"]),
    ("prefix starting with /", b"prefix = /exports/\n", ["prefix", "/"]),
    ("bad addressing", b"addressing = both\n", ["addressing"]),
    ("bad format", b"format = parquet\n", ["format"]),
    ("bad compression", b"compression = zstd\n", ["compression"]),
    ("team id starting with a dot", b"team_id = .x\n", ["team_id"]),
    ("access key with a space", b"access_key_id = AKIA X\n", ["access_key_id"]),
    ("invalid UTF-8", b"prefix = \xff\xfe/\n", ["UTF-8"]),
    ("bad line after good ones", b"schedule = hourly\nbucket = ok-bucket\nsse = rot13\n",
     ["line 3", "sse"]),
    ("last line bad without newline", b"schedule = hourly\nregion = Bad Region", ["region"]),
]


@pytest.mark.parametrize("what,data,words", INVALID, ids=[c[0] for c in INVALID])
def test_invalid_config_is_refused_and_explained(mount, what, data, words):
    mount.write_config("main", {"bucket": "good-bucket", "prefix": "exports/"})
    before = read_bytes(mount.path("main", ".config"))
    assert parse_kv(read_text(mount.path("main", ".status")))["last_config_error"] == "none"
    err = write_config_raw(mount.path("main", ".config"), [data])
    assert err == errno.EINVAL, f"{what}: got {errno.errorcode.get(err, err)}"
    assert read_bytes(mount.path("main", ".config")) == before, f"{what}: .config changed"
    status = parse_kv(read_text(mount.path("main", ".status")))
    reason = status["last_config_error"]
    assert reason != "none"
    for w in words:
        assert w in reason, f"{what}: {w!r} not in {reason!r}"
    assert status["last_config_error_at"].endswith("Z")
    # A later good write clears the error.
    mount.write_config("main", {"schedule": "hourly"})
    assert parse_kv(read_text(mount.path("main", ".status")))["last_config_error"] == "none"


def test_invalid_config_with_shell_redirection(mount):
    """`echo 'schedule = weekly' > NAME/.config` fails in the shell too."""
    import subprocess
    r = subprocess.run(["bash", "-c", "echo 'schedule = weekly' > \"$1\"", "sh",
                        mount.path("main", ".config")], capture_output=True, text=True)
    assert r.returncode != 0
    assert "Invalid argument" in r.stderr
    assert mount.read_config("main")["schedule"] == "daily"
    r = subprocess.run(["bash", "-c", "echo 'schedule = hourly' > \"$1\"", "sh",
                        mount.path("main", ".config")], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert mount.read_config("main")["schedule"] == "hourly"


def test_append_and_truncate_of_config(mount):
    import subprocess
    r = subprocess.run(["bash", "-c", "echo 'schedule = hourly' >> \"$1\"", "bash",
                        mount.path("main", ".config")], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert mount.read_config("main")["schedule"] == "hourly"
    os.truncate(mount.path("main", ".config"), 0)  # changes nothing
    assert mount.read_config("main")["schedule"] == "hourly"
    assert mount.read_config("main")["team_id"] == "*"


def test_clearing_team_id_empties_the_tree(mount):
    assert os.listdir(mount.path("main"))
    mount.write_config("main", {"team_id": ""})
    assert os.listdir(mount.path("main")) == []
    assert not os.path.exists(mount.path("main", TEAM_A))
    assert "team_id" in parse_kv(read_text(mount.path("main", ".status")))["missing"]
    mount.write_config("main", {"team_id": TEAM_A})
    assert os.listdir(mount.path("main")) == [TEAM_A]


def test_writes_change_only_named_keys_and_clear(mount):
    mount.write_config("main", {"bucket": "my-bucket", "prefix": "exports/",
                                "region": "eu-west-1"})
    before = mount.read_config("main")
    mount.write_config("main", {"schedule": "hourly"})
    after = mount.read_config("main")
    assert after["schedule"] == "hourly"
    assert {k: v for k, v in after.items() if k != "schedule"} == \
        {k: v for k, v in before.items() if k != "schedule"}
    mount.write_config("main", {"prefix": ""})
    assert mount.read_config("main")["prefix"] == ""
    assert mount.read_config("main")["bucket"] == "my-bucket"
    # Comments and blank lines are fine; datasets is normalized.
    assert write_config_raw(mount.path("main", ".config"),
                            [b"# a comment\n\n  datasets =  analytics_daily \n"]) == 0
    assert mount.read_config("main")["datasets"] == "analytics_daily"


def test_partial_writes_apply_at_close(mount):
    path = mount.path("main", ".config")
    fd = os.open(path, os.O_WRONLY)
    try:
        for chunk in (b"sched", b"ule = hou", b"rly\nbuck", b"et = my-", b"bucket\nregi",
                      b"on = eu-central-1"):
            assert os.write(fd, chunk) == len(chunk)
        # Nothing is applied before close.
        cfg = mount.read_config("main")
        assert cfg["schedule"] == "daily" and cfg["bucket"] == "" and \
            cfg["region"] == "us-east-1"
    finally:
        os.close(fd)
    cfg = mount.read_config("main")
    assert cfg["schedule"] == "hourly"
    assert cfg["bucket"] == "my-bucket"
    assert cfg["region"] == "eu-central-1"


def test_bad_line_in_partial_writes_fails_at_write_and_applies_nothing(mount):
    path = mount.path("main", ".config")
    fd = os.open(path, os.O_WRONLY)
    failed = None
    try:
        os.write(fd, b"schedule = hourly\n")
        try:
            os.write(fd, b"bucket = NO!\n")
        except OSError as e:
            failed = e.errno
    finally:
        try:
            os.close(fd)
        except OSError as e:
            failed = failed or e.errno
    assert failed == errno.EINVAL
    cfg = mount.read_config("main")
    assert cfg["schedule"] == "daily" and cfg["bucket"] == ""


def secret_everywhere(mount, *secrets):
    """Places where a secret was found: state files, cache, mount files, stderr."""
    found = []
    files = glob.glob(mount.state + "*") + glob.glob(mount.dir + "/**/*", recursive=True)
    for f in files:
        if not os.path.isfile(f) or f.startswith(mount.mnt) or f.startswith(mount.source):
            continue
        if os.path.basename(f).startswith("stderr."):
            continue
        data = read_bytes(f)
        for s in secrets:
            if s.encode() in data:
                found.append(f)
    for name in (".config", ".status"):
        text = read_text(mount.path("main", name))
        for s in secrets:
            if s in text:
                found.append(name)
    for s in secrets:
        if s in mount.stderr:
            found.append("stderr")
    return found


def test_secret_never_appears_in_plaintext(source_factory, mount_factory):
    m = mount_factory(source_factory(), log_level="debug")
    m.mkdest("main", TEAM_A)
    # A closed port: whatever the daemon uploads goes nowhere.
    m.write_config("main", {"bucket": "b-1", "endpoint": "http://127.0.0.1:1",
                            "access_key_id": "AKIAEXAMPLE",
                            "secret_access_key": SECRET, "session_token": TOKEN})
    cfg = m.read_config("main")
    assert cfg["secret_access_key"] == "(set)"
    assert cfg["session_token"] == "(set)"
    assert parse_kv(read_text(m.path("main", ".status")))["configured"] == "yes"
    # A refused write that holds the secret, in every way a user may get wrong.
    for bad in (f"secret_access_key = {SECRET} extra\n", f"secret_access_key {SECRET}\n",
                f"{SECRET}\n", f"secret_acces_key = {SECRET}\n",
                f"session_token = {TOKEN}\nbucket = NO\n"):
        assert write_config_raw(m.path("main", ".config"), [bad.encode()]) == errno.EINVAL
        assert secret_everywhere(m, SECRET, TOKEN) == [], bad
    # Writing back what .config shows keeps the secret.
    assert write_config_raw(m.path("main", ".config"),
                            [read_bytes(m.path("main", ".config"))]) == 0
    assert m.read_config("main")["secret_access_key"] == "(set)"
    read_bytes(m.path("main", TEAM_A, "2025-01-14", "analytics_daily.csv"))
    assert secret_everywhere(m, SECRET, TOKEN) == []
    m.remount()  # checkpoints the WAL into the database file
    assert m.read_config("main")["secret_access_key"] == "(set)"
    assert secret_everywhere(m, SECRET, TOKEN) == []
    m.stop()
    assert secret_everywhere_files(m, SECRET, TOKEN) == []


def secret_everywhere_files(mount, *secrets):
    found = []
    for f in glob.glob(mount.dir + "/**/*", recursive=True) + glob.glob(mount.state + "*"):
        if os.path.isfile(f) and f != mount.source:
            data = read_bytes(f)
            found += [f for s in secrets if s.encode() in data]
    return found


def test_secret_can_be_cleared(mount):
    mount.write_config("main", {"secret_access_key": SECRET})
    assert mount.read_config("main")["secret_access_key"] == "(set)"
    mount.write_config("main", {"secret_access_key": ""})
    assert mount.read_config("main")["secret_access_key"] == ""
    assert "secret_access_key" in parse_kv(read_text(mount.path("main", ".status")))["missing"]


def test_destinations_and_secrets_survive_remount(mount):
    os.mkdir(mount.path("acme-s3"))
    mount.write_config("acme-s3", {"team_id": TEAM_A, "bucket": "acme-exports",
                                   "region": "eu-west-1", "prefix": "exports/",
                                   "endpoint": "http://127.0.0.1:1",
                                   "access_key_id": "AKIAEXAMPLE",
                                   "secret_access_key": SECRET, "session_token": TOKEN,
                                   "schedule": "hourly", "sse": "aws:kms",
                                   "sse_kms_key_id": "arn:aws:kms:eu-west-1:1:key/abc"})
    os.mkdir(mount.path("gone"))
    os.rmdir(mount.path("gone"))
    cfg = read_bytes(mount.path("acme-s3", ".config"))
    main_cfg = read_bytes(mount.path("main", ".config"))
    status = parse_kv(read_text(mount.path("acme-s3", ".status")))
    mount.remount()
    assert sorted(os.listdir(mount.path())) == ["acme-s3", "main"]
    assert read_bytes(mount.path("acme-s3", ".config")) == cfg
    assert read_bytes(mount.path("main", ".config")) == main_cfg
    after = parse_kv(read_text(mount.path("acme-s3", ".status")))
    assert after["configured"] == "yes"
    assert after["created_at"] == status["created_at"]
    import re
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", after["created_at"])
    parsed = parse_kv(cfg.decode())
    assert parsed["secret_access_key"] == "(set)" and parsed["session_token"] == "(set)"
    assert parsed["addressing"] == "path"
    assert os.listdir(mount.path("acme-s3")) == [TEAM_A]
    # rmdir of a configured destination deletes it for good.
    os.rmdir(mount.path("acme-s3"))
    mount.remount()
    assert os.listdir(mount.path()) == ["main"]
    os.mkdir(mount.path("acme-s3"))
    fresh = mount.read_config("acme-s3")
    assert fresh["team_id"] == "" and fresh["secret_access_key"] == ""
    assert os.listdir(mount.path("acme-s3")) == []


def metrics(mount):
    """The root .metrics as {name without warehousefs_: value}."""
    out = {}
    for line in read_text(mount.path(".metrics")).splitlines():
        if line and not line.startswith("#"):
            name, value = line.split(" ")
            out[name[len("warehousefs_"):]] = value
    return out


def test_root_status_and_metrics_count_destinations_by_what_they_can_do(mount):
    """Issue 18.5: an unconfigured destination is counted as such, not as
    active.  'main' (the fixture's) has only a team; 'full' is configured;
    'held' is configured and paused; 'bare' is unconfigured and paused."""
    full = {"bucket": "some-bucket", "access_key_id": "AKIAEXAMPLE",
            "secret_access_key": SECRET}
    mount.mkdest("full", TEAM_A, **full)
    mount.mkdest("held", TEAM_A, **full)
    os.mkdir(mount.path("bare"))
    for name in ("held", "bare"):
        with open(mount.path(name, ".pause"), "w"):
            pass
    assert parse_kv(read_text(mount.path("main", ".status")))["configured"] == "no"
    assert parse_kv(read_text(mount.path("held", ".status")))["state"] == "paused"

    def counts():
        root = parse_kv(read_text(mount.path(".status")))
        m = metrics(mount)
        names = ("destinations", "destinations_configured", "destinations_active",
                 "destinations_paused", "destinations_unconfigured")
        got = {n: root[n] for n in names}
        assert {n: m[n] for n in names} == got, ".metrics disagrees with .status"
        return {n: int(v) for n, v in got.items()}

    assert counts() == {"destinations": 4, "destinations_configured": 2,
                        "destinations_active": 1, "destinations_paused": 2,
                        "destinations_unconfigured": 2}
    # Completing 'main' makes it configured and active; the counts survive a
    # remount (they come from the state database's destinations).
    mount.write_config("main", full)
    mount.remount()
    assert counts() == {"destinations": 4, "destinations_configured": 3,
                        "destinations_active": 2, "destinations_paused": 2,
                        "destinations_unconfigured": 1}
    with open(mount.path("held", ".resume"), "w"):
        pass
    os.rmdir(mount.path("bare"))
    assert counts() == {"destinations": 3, "destinations_configured": 3,
                        "destinations_active": 3, "destinations_paused": 0,
                        "destinations_unconfigured": 0}


def test_last_config_error_is_shown_only_while_it_is_the_latest_outcome(mount):
    """Issue 18.7: a refused write to .config or .run-now shows in .status
    (last_config_error, last_config_error_at) until a later write to either
    is accepted, even one that changes nothing."""
    cfg, run_now = mount.path("main", ".config"), mount.path("main", ".run-now")

    def error():
        st = parse_kv(read_text(mount.path("main", ".status")))
        if st["last_config_error"] == "none":
            assert "last_config_error_at" not in st, st
        else:
            assert st["last_config_error_at"].endswith("Z"), st
        return st["last_config_error"]

    assert error() == "none"
    # A refused date, then an accepted one.
    assert write_config_raw(run_now, [b"2025-13-01\n"]) == errno.EINVAL
    assert error().startswith(".run-now: ")
    assert write_config_raw(run_now, [b"2025-01-14\n"]) == 0
    assert error() == "none"
    # A refused date, then a touch (utime acts before it returns).
    assert write_config_raw(run_now, [b"tomorrow\n"]) == errno.EINVAL
    assert "'tomorrow' is not a date" in error()
    os.utime(run_now)
    assert error() == "none"
    # A refused .config, then a write of nothing but a comment.
    assert write_config_raw(cfg, [b"schedule = weekly\n"]) == errno.EINVAL
    assert error().startswith(".config: ")
    assert write_config_raw(cfg, [b"# nothing to change\n"]) == 0
    assert error() == "none"
    # Only the latest refusal is kept; an accepted write to the other file
    # is a later outcome, so it clears it too.
    assert write_config_raw(cfg, [b"sse = rot13\n"]) == errno.EINVAL
    assert write_config_raw(run_now, [b"2025-01-99\n"]) == errno.EINVAL
    assert "'2025-01-99' is not a date" in error()
    mount.write_config("main", {"schedule": "hourly"})
    assert error() == "none"
    # It stays cleared across a remount.
    assert write_config_raw(cfg, [b"region = Bad Region\n"]) == errno.EINVAL
    assert write_config_raw(run_now, [b"2025-01-13\n"]) == 0
    mount.remount()
    assert error() == "none"
