#!/usr/bin/env bash
# The benchmarks: warehousefs against the tools a user would pick instead
# (the sqlite3 CLI, rclone, s3cmd, aws s3 cp, curl, tmpfs, libfuse's
# passthrough_hp and passthrough_ll), side by side in one run, as ratios.
#
#   sudo tests/bench/run.sh            default size, < 15 min on 2 cores
#   sudo tests/bench/run.sh --quick    much smaller sizes, 2 repetitions (~3 min)
#
# Installs what is missing (tests/deps.sh --bench: Debian packages), builds
# optimized (build-bench/, meson --buildtype=release), generates the source
# databases, starts radosgw on 127.0.0.1 (tests/s3/rgw.sh), runs every line
# several times alternating warehousefs and its anchor, and writes
# tests/bench/results/latest.md (the table) and latest.json (every figure,
# the ratios, the machine).  Not part of the test suite: nothing asserts a time.
#
# Other options are passed to bench.py (see tests/bench/bench.py --help):
#   --only gen,read,upload,sched   a subset;  --reps N   repetitions
#   --data-dir DIR   keep the generated sources there and reuse them
#   --scratch DIR    where the scratch directory goes (default /var/tmp;
#                    needs ~6 GiB free at the default size)
#   --keep           keep the scratch directory
# What each line measures and why: tests/bench/README.md.
set -euo pipefail
cd "$(dirname "$0")/../.."

for a in "$@"; do
	case $a in
	-h | --help)
		sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'
		exit 0
		;;
	esac
done
if [ "$(id -u)" -ne 0 ]; then
	echo "run.sh: run as root (mounts, and cold reads evict page cache)" >&2
	exit 1
fi

echo "=== dependencies" >&2
tests/deps.sh --bench

echo "=== optimized build (build-bench)" >&2
if [ ! -f build-bench/build.ninja ]; then
	meson setup build-bench --buildtype=release >/dev/null
fi
# Only what the benchmarks run: a unit test that does not build must not stop them.
ninja -C build-bench fs/warehousefs examples/warehousefs-gendata

echo "=== benchmarks" >&2
# /usr/bin/python3: Debian's, which has botocore (tests/s3/s3.py).
exec /usr/bin/python3 tests/bench/bench.py --build build-bench "$@"
