"""A full cache disk: the reader gets ENOSPC, .status says so, nothing is lost."""
import errno
import os
import subprocess

import pytest

from conftest import make_source, parse_kv, read_bytes, read_text, expected_csv

TEAM = "full-team"
DATE = "2025-01-14"


@pytest.fixture
def small_disk(tmp_path):
    """A 1 MiB tmpfs to hold the cache (root only: mounting needs it)."""
    if os.geteuid() != 0:
        pytest.skip("mounting a small tmpfs for the cache needs root")
    d = tmp_path / "small"
    d.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(d)], check=True)
    yield str(d)
    subprocess.run(["umount", "-l", str(d)])


def test_full_cache_disk_is_enospc_and_shown_in_status(tmp_path, small_disk,
                                                         mount_factory):
    # About 3.5 MB of CSV: it cannot fit on the 1 MiB disk.
    websites = [(f"w{i:06d}", TEAM, f"site{i}.example") for i in range(50000)]
    rows = [(w[0], DATE, i, i // 2, i * 3, 0.25, 12.5) for i, w in enumerate(websites)]
    rows += [("small", "2025-01-15", 1, 1, 1, 0.5, 1.0)]
    websites += [("small", TEAM, "small.example")]
    src = make_source(str(tmp_path / "src.db"), websites, rows)
    m = mount_factory(src, cache=os.path.join(small_disk, "cache"))
    m.mkdest("d", TEAM)

    big = m.path("d", TEAM, DATE, "analytics_daily.csv")
    with pytest.raises(OSError) as e:
        os.stat(big)
    assert e.value.errno == errno.ENOSPC

    status = parse_kv(read_text(m.path("d", ".status")))
    assert "cache disk full" in status["cache_error"]
    assert DATE in status["cache_error"]
    root = parse_kv(read_text(m.path(".status")))
    assert "cache disk full" in root["cache_error"]

    # A file that fits is still served, byte for byte, and clears the error.
    small = m.path("d", TEAM, "2025-01-15", "analytics_daily.csv")
    assert read_bytes(small) == expected_csv(src, TEAM, "2025-01-15")
    assert "cache_error" not in parse_kv(read_text(m.path("d", ".status")))
    # No half-written version was left behind on the small disk.
    assert os.listdir(os.path.join(small_disk, "cache", "tmp")) == []
