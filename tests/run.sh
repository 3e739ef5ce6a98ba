#!/usr/bin/env bash
# The whole test suite, from a fresh Debian 12 machine:
#   installs what is missing (tests/deps.sh), builds, runs the unit tests (and
#   again under valgrind memcheck), then the integration tests that mount the
#   filesystem and talk to a real S3 server (Ceph radosgw on 127.0.0.1); then
#   the same on an address+undefined sanitizer build and on a thread
#   sanitizer build; then every fuzz target briefly (tests/fuzz/run.sh).
#
#   tests/run.sh               everything (what CI runs)
#   tests/run.sh --quick       release build only: no sanitizers, no fuzzing
#   PYTEST_ARGS='-k rsync' tests/run.sh --quick    a subset
#
# A sanitizer report in the daemon's stderr fails the test that caused it
# (tests/integration/conftest.py); in a unit test it fails the program.
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

memcheck() { # BUILD_DIR: the unit tests under valgrind; any error fails
	step "unit tests under valgrind memcheck"
	meson test -C "$1" --suite unit --print-errorlogs --timeout-multiplier 10 \
		--wrap "valgrind --error-exitcode=99 --leak-check=full \
--errors-for-leak-kinds=definite --show-leak-kinds=definite"
}

step "build"
build build --buildtype=debugoptimized
suite build "release build"

if [ $quick -eq 0 ]; then
	memcheck build

	step "address+undefined sanitizer build"
	build build-asan --buildtype=debug -Db_sanitize=address,undefined
	ASAN_OPTIONS=detect_leaks=1:abort_on_error=0 \
		UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
		suite build-asan "address+undefined sanitizers"

	step "thread sanitizer build"
	build build-tsan --buildtype=debug -Db_sanitize=thread
	TSAN_OPTIONS="suppressions=$PWD/tests/sanitizers/tsan.supp" \
		suite build-tsan "thread sanitizer"

	step "fuzz targets, briefly (tests/fuzz/run.sh)"
	FUZZ_JOBS=2 tests/fuzz/run.sh "${FUZZ_SECONDS:-30}"
fi
step "all tests passed"
