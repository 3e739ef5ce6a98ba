#!/usr/bin/env bash
# Fuzzes every parser of outside input with libFuzzer (clang), each target
# for SECONDS (default 300), on a scratch copy of its seed corpus.
#
#   tests/fuzz/run.sh                   every target, 5 minutes each
#   tests/fuzz/run.sh 30                every target, 30 s each (CI)
#   tests/fuzz/run.sh 600 config path   only those targets
#   FUZZ_JOBS=2 tests/fuzz/run.sh 3600  two targets at a time
#
# Targets: config period s3_response csv_field path (tests/fuzz/fuzz_*.c).
# Builds build-fuzz (clang, -Dfuzz=true, address+undefined sanitizers) if it
# is not there.  Inputs libFuzzer finds stay in build-fuzz/fuzz/TARGET/corpus
# and are reused by the next run; nothing is added to tests/fuzz/corpus by
# itself.  A crash leaves its input in build-fuzz/fuzz/TARGET/ (the path is
# printed): replay it with build-fuzz/tests/fuzz/fuzz_TARGET FILE, fix the
# bug, and add the file to tests/fuzz/corpus/TARGET/.
#
# Exits non-zero when any target crashed or could not run.
set -euo pipefail
cd "$(dirname "$0")/../.."

all_targets=(config period s3_response csv_field path)
seconds=${1:-300}
[ $# -gt 0 ] && shift
targets=("$@")
[ ${#targets[@]} -eq 0 ] && targets=("${all_targets[@]}")
jobs=${FUZZ_JOBS:-1}
build=build-fuzz

case $seconds in
'' | *[!0-9]* | 0)
	echo "usage: $0 [SECONDS] [TARGET...]" >&2
	exit 2
	;;
esac
for t in "${targets[@]}"; do
	if [ ! -f "tests/fuzz/fuzz_$t.c" ]; then
		echo "fuzz: no target '$t' (known: ${all_targets[*]})" >&2
		exit 2
	fi
done

if ! command -v clang >/dev/null; then
	echo "fuzz: clang not found (Debian: apt-get install clang libclang-rt-14-dev)" >&2
	exit 2
fi
if [ ! -f "$build/build.ninja" ]; then
	# A half-made build directory (an interrupted setup) cannot be reused.
	rm -rf "$build"
	CC=clang meson setup "$build" -Dfuzz=true -Db_sanitize=address,undefined \
		-Dbuildtype=debugoptimized -Dintegration_tests=false </dev/null >/dev/null
fi
ninja -C "$build" $(printf 'tests/fuzz/fuzz_%s ' "${targets[@]}") </dev/null

# A report from UBSan is a crash too, not a line in a log nobody reads.
export UBSAN_OPTIONS=halt_on_error=1:abort_on_error=1:print_stacktrace=1
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1}

# Runs one target; its log goes to build-fuzz/fuzz/TARGET/log.
fuzz_one() {
	local t=$1 dir=$build/fuzz/$1
	local dict=()
	mkdir -p "$dir/corpus"
	cp -n tests/fuzz/corpus/"$t"/* "$dir/corpus/" 2>/dev/null || true
	[ -f "tests/fuzz/$t.dict" ] && dict=("-dict=tests/fuzz/$t.dict")
	rm -f "$dir"/crash-* "$dir"/leak-* "$dir"/timeout-* "$dir"/oom-*
	"$build/tests/fuzz/fuzz_$t" "$dir/corpus" "${dict[@]}" \
		-max_total_time="$seconds" -print_final_stats=1 \
		-artifact_prefix="$dir/" </dev/null >"$dir/log" 2>&1
}

# One line per target: executions, seconds, and what went wrong if anything.
summary() {
	local t=$1 rc=$2 dir=$build/fuzz/$1
	local execs secs artifact
	execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$dir/log" | tail -n 1)
	secs=$(sed -n 's/^Done [0-9]* runs in \([0-9]*\) second.*/\1/p' "$dir/log" | tail -n 1)
	artifact=$(sed -n 's/.*Test unit written to \(.*\)$/\1/p' "$dir/log" | tail -n 1)
	if [ "$rc" -eq 0 ]; then
		printf 'fuzz %-12s %12s executions in %ss, no crash\n' "$t" "${execs:-?}" \
			"${secs:-$seconds}"
	else
		printf 'fuzz %-12s %12s executions, CRASHED (exit %s): %s\n' "$t" "${execs:-?}" \
			"$rc" "${artifact:-no input saved}"
		printf '  log: %s\n' "$dir/log"
		# What broke and where in our code, so that CI output says it.
		grep -E 'invariant broken|^==[0-9]+==ERROR|runtime error|^SUMMARY|#[0-9]+ .* in .*[.][.]/(exporter|fs|tests)/' \
			"$dir/log" | head -n 20 | sed 's/^/  | /' || true
	fi
}

failed=0
declare -A pid_of
run_target() {
	local t=$1
	fuzz_one "$t" &
	pid_of[$t]=$!
}
finish_target() {
	local t=$1 rc=0
	wait "${pid_of[$t]}" || rc=$?
	summary "$t" "$rc"
	[ "$rc" -eq 0 ] || failed=1
}

printf 'fuzzing %s for %ss each, %s at a time\n' "${targets[*]}" "$seconds" "$jobs"
running=()
for t in "${targets[@]}"; do
	if [ ${#running[@]} -ge "$jobs" ]; then
		finish_target "${running[0]}"
		running=("${running[@]:1}")
	fi
	run_target "$t"
	running+=("$t")
done
for t in "${running[@]}"; do
	finish_target "$t"
done
exit $failed
