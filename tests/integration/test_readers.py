"""Off-the-shelf readers, with their defaults, over every team of a mount
(issue 18): DuckDB's read_csv on one glob, pandas.read_csv and Python's csv
module on each file.  They must give back the source's rows, count and sums.

The source comes from examples/gendata with --edge-cases: plain teams whose
text needs no quotes, then 'edge-team', whose website ids hold a comma, a
double quote, CR LF, UTF-8 and spaces, with NULL metrics and integers past
2^53.  DuckDB guesses each file's dialect from a sample, its first 20,480
rows; quoted only where needed, a file whose sample needs no quote was read
with none, and an odd value further on failed the whole glob ("CSV Parser
state machine reached an invalid state ... quote = (empty)" for a CR LF, a
wrong column count for a comma).  So the plain teams' files are longer than
the sample, and the test adds odd website ids that sort after it.

DuckDB runs in node through tests/readers/duckdb_query.mjs, from the modules
tests/deps.sh installs outside the source tree; without node or them the
DuckDB test is skipped, saying why.  pandas is Debian's python3-pandas.
"""

import csv
import json
import math
import os
import shutil
import sqlite3
import subprocess

import pytest

from conftest import REPO, daemon_binary

QUERY_SCRIPT = os.path.join(REPO, "tests", "readers", "duckdb_query.mjs")
COLS = ["website_id", "date", "total_visitors", "unique_visitors", "pageviews",
        "bounce_rate", "avg_session_duration"]
INT_COLS = COLS[2:5]
REAL_COLS = COLS[5:]
EDGE_TEAM = "edge-team"
# More rows per plain team-day than DuckDB's sniffer samples (20,480).
WEBSITES = 20600
DAYS = 2
# Website ids added to the plain teams, sorting after their UUIDs (hex), so
# after the sample: {team index: ids}.
LATE_ODD_IDS = {0: ["zz-edge\r\ncrlf"], 1: ["zz-edge,comma", 'zz-edge"quote']}


def gendata_binary():
    if os.environ.get("WAREHOUSEFS_GENDATA"):
        return os.environ["WAREHOUSEFS_GENDATA"]
    build = os.path.dirname(os.path.dirname(daemon_binary()))
    return os.path.join(build, "examples", "warehousefs-gendata")


def source_rows(path):
    """{(team, date): [row, ...]} of the source, each row the values' text as
    the CSV holds it (SQLite's CAST(... AS TEXT), None for NULL), ordered by
    website_id as the file is (BINARY collation: memcmp of the UTF-8)."""
    db = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    db.text_factory = bytes
    sel = ", ".join(f"CAST(a.{c} AS TEXT)" for c in COLS)
    out = {}
    for team, *row in db.execute(f"SELECT w.team_id, {sel} FROM websites w JOIN "
                                 "analytics_daily a ON a.website_id = w.website_id "
                                 "ORDER BY w.team_id, a.date, a.website_id"):
        text = [None if v is None else v.decode() for v in row]
        out.setdefault((team.decode(), text[1]), []).append(text)
    db.close()
    return out


def typed(row):
    """A row of source text as numbers: ints exact, reals as float() of the
    text (what a reader parses the field to)."""
    return ([row[0], row[1]] + [None if v is None else int(v) for v in row[2:5]] +
            [None if v is None else float(v) for v in row[5:]])


def totals(rows):
    """(count, {column: (non-NULL count, sum)}): ints summed exactly (SQLite's
    SUM would overflow on edge-team's INT64_MAX), reals with fsum."""
    rows = [typed(r) for r in rows]
    out = {}
    for i, c in enumerate(COLS[2:], 2):
        vals = [r[i] for r in rows if r[i] is not None]
        out[c] = (len(vals), sum(vals) if c in INT_COLS else math.fsum(vals))
    return len(rows), out


def assert_totals(who, got, want):
    assert got[0] == want[0], f"{who}: {got[0]} rows, the source has {want[0]}"
    for c, (n, s) in want[1].items():
        gn, gs = got[1][c]
        assert gn == n, f"{who}: {gn} non-NULL {c}, the source has {n}"
        if c in INT_COLS and isinstance(gs, int):
            assert gs == s, f"{who}: sum({c}) = {gs}, the source's is {s}"
        else:
            assert math.isclose(gs, s, rel_tol=1e-12), \
                f"{who}: sum({c}) = {gs!r}, the source's is {s!r}"


def add_late_odd_ids(path):
    """Adds LATE_ODD_IDS to the plain teams, with a row on every date."""
    db = sqlite3.connect(path)
    with db:
        teams = [t for (t,) in db.execute("SELECT DISTINCT team_id FROM websites "
                                          "WHERE team_id != ? ORDER BY 1", (EDGE_TEAM,))]
        dates = [d for (d,) in db.execute("SELECT DISTINCT date FROM analytics_daily "
                                          "ORDER BY 1")]
        for k, ids in LATE_ODD_IDS.items():
            for n, wid in enumerate(ids):
                db.execute("INSERT INTO websites VALUES (?, ?, 'odd.example.com')",
                           (wid, teams[k]))
                for d in dates:
                    db.execute("INSERT INTO analytics_daily VALUES (?, ?, ?, ?, ?, ?, ?)",
                               (wid, d, 10 + n, 5 + n, 20 + n, 0.25, 33.5))
    db.close()


@pytest.fixture
def edge_mount(tmp_path, mount_factory):
    """(mount, {(team, date): rows}) of a gendata source with edge cases and
    LATE_ODD_IDS, destination 'main' exporting every team."""
    gendata = gendata_binary()
    if not os.access(gendata, os.X_OK):
        pytest.skip(f"no warehousefs-gendata at '{gendata}' (build the tree, or set "
                    "WAREHOUSEFS_GENDATA)")
    src = str(tmp_path / "edge.db")
    subprocess.run([gendata, "--teams", "2", "--websites", str(WEBSITES), "--days",
                    str(DAYS), "--edge-cases", "--seed", "1", "--quiet", src],
                   check=True, stdin=subprocess.DEVNULL, timeout=120)
    add_late_odd_ids(src)
    want = source_rows(src)
    teams = sorted({t for t, _ in want})
    assert len(teams) == 3 and teams[-1] == EDGE_TEAM, teams
    assert len(want) == 3 * DAYS
    for (team, date), rows in want.items():
        if team != EDGE_TEAM:
            # The odd ids come after DuckDB's sample.
            assert len(rows) > 20480 + 1 and rows[-1][0].startswith("zz-edge"), (team, date)
    m = mount_factory(src)
    m.mkdest("main", "*")
    return m, want


def csv_path(m, team, date):
    return m.path("main", team, date, "analytics_daily.csv")


def duckdb(sql):
    """DuckDB's answer to SQL as (columns, rows), or a skip when the readers
    are not installed."""
    if not shutil.which("node"):
        pytest.skip("node is not installed (tests/deps.sh installs it)")
    p = subprocess.run(["node", QUERY_SCRIPT, sql], capture_output=True, text=True,
                       stdin=subprocess.DEVNULL, timeout=120)
    if p.returncode == 2:
        pytest.skip("DuckDB for node is not installed: " + p.stderr.strip().splitlines()[0])
    assert p.returncode == 0, f"DuckDB failed: {p.stderr.strip()}\nquery: {sql}"
    out = json.loads(p.stdout)
    return out["columns"], out["rows"]


def test_duckdb_reads_a_glob_over_every_team(edge_mount):
    m, want = edge_mount
    glob = m.path("main", "*", "*", "analytics_daily.csv").replace("'", "''")
    every = [r for rows in want.values() for r in rows]
    count, sums = totals(every)

    aggs = ", ".join(f"count({c}), sum({c})" for c in COLS[2:])
    cols, rows = duckdb(f"SELECT count(*), {aggs} FROM read_csv('{glob}')")
    (got,) = rows
    # BIGINT and HUGEINT come as strings, DOUBLE as numbers.
    got_sums = {}
    for i, c in enumerate(COLS[2:]):
        n, s = got[1 + 2 * i], got[2 + 2 * i]
        got_sums[c] = (int(n), int(s) if c in INT_COLS and isinstance(s, str) else s)
    assert_totals("DuckDB", (int(got[0]), got_sums), (count, sums))

    # Every row, text included (the comma, the quote, the CR LF inside ids).
    cols, rows = duckdb(f"SELECT {', '.join(COLS)} FROM read_csv('{glob}')")
    assert cols == COLS
    got_rows = sorted(([r[0], str(r[1])] +
                       [None if v is None else int(v) for v in r[2:5]] + r[5:]
                       for r in rows), key=lambda r: (r[0], r[1]))
    assert got_rows == sorted((typed(r) for r in every), key=lambda r: (r[0], r[1]))


def test_python_csv_reads_every_file(edge_mount):
    m, want = edge_mount
    for (team, date), rows in want.items():
        # newline='' as the csv module asks: a CR LF inside a field stays.
        with open(csv_path(m, team, date), newline="", encoding="utf-8") as f:
            got = list(csv.reader(f))
        assert got[0] == COLS, (team, date)
        assert got[1:] == [["" if v is None else v for v in r] for r in rows], (team, date)


def test_pandas_reads_every_file(edge_mount):
    pandas = pytest.importorskip("pandas", reason="python3-pandas is not installed")
    m, want = edge_mount
    frames = []
    for (team, date), rows in want.items():
        df = pandas.read_csv(csv_path(m, team, date))
        assert list(df.columns) == COLS, (team, date)
        assert list(df["website_id"]) == [r[0] for r in rows], (team, date)
        assert list(df["date"]) == [date] * len(rows), (team, date)
        frames.append(df)
    df = pandas.concat(frames, ignore_index=True)
    # A column with a NULL is float64 in pandas: its sums are compared as
    # floats (close), the others exactly.
    # int64 sums in pandas would wrap past INT64_MAX: summed here.
    got = {}
    for c in COLS[2:]:
        vals = df[c].dropna()
        got[c] = (len(vals), sum(int(v) for v in vals) if vals.dtype.kind == "i"
                  else math.fsum(float(v) for v in vals))
    assert_totals("pandas", (len(df), got),
                  totals([r for rows in want.values() for r in rows]))
