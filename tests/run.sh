#!/usr/bin/env bash
# The whole test suite, from a fresh Debian 12 machine:
#   installs what is missing (tests/deps.sh), builds, runs the unit tests, then
#   the integration tests that mount the filesystem and talk to a real S3 server
#   (Ceph radosgw on 127.0.0.1), then the same again on a sanitizer build.
#
#   tests/run.sh               everything (what CI runs)
#   tests/run.sh --quick       skip the sanitizer pass
#   PYTEST_ARGS='-k rsync' tests/run.sh --quick    a subset
set -euo pipefail
cd "$(dirname "$0")/.."

quick=0
[ "${1:-}" = "--quick" ] && quick=1

step() { printf '\n=== %s\n' "$*"; }

step "dependencies"
tests/deps.sh

build() { # DIR [meson options...]
	local dir=$1
	shift
	if [ ! -f "$dir/build.ninja" ]; then
		# A half-made build directory (an interrupted setup) cannot be reused.
		rm -rf "$dir"
		meson setup "$dir" "$@" >/dev/null
	fi
	ninja -C "$dir"
}

suite() { # BUILD_DIR LABEL
	local dir=$1 label=$2
	step "unit tests ($label)"
	meson test -C "$dir" --suite unit --print-errorlogs
	step "integration tests ($label)"
	WAREHOUSEFS_BUILD="$PWD/$dir" /usr/bin/python3 -m pytest tests/integration \
		-q -p no:cacheprovider ${PYTEST_ARGS:-}
}

step "build"
build build --buildtype=debugoptimized
suite build "release build"

if [ $quick -eq 0 ]; then
	step "sanitizer build"
	build build-asan --buildtype=debug -Db_sanitize=address,undefined
	ASAN_OPTIONS=detect_leaks=1:abort_on_error=0 UBSAN_OPTIONS=print_stacktrace=1 \
		suite build-asan "address+undefined sanitizers"
fi
step "all tests passed"
