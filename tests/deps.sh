#!/usr/bin/env bash
# Installs, from Debian's own repositories, every package warehousefs needs to
# build, test and run its demo, then the off-the-shelf readers the tests run
# over the mount (tests/readers/: DuckDB, hyparquet) with npm, outside the
# source tree.  Idempotent: only missing packages are fetched, and npm runs
# only when tests/readers/package-lock.json differs from the installed one.
# Needs no terminal (CI=true, stdin closed); the network only for what is
# missing: Debian's mirrors, and npm's configured registry.
#   tests/deps.sh            build + test + demo packages, and the readers
#   tests/deps.sh --bench    also what the benchmarks compare against
#
# The readers go to $WAREHOUSEFS_READERS, else, as tests/readers/duckdb_query.mjs
# looks for them, /var/cache/warehousefs-tests as root and
# ${XDG_CACHE_HOME:-~/.cache}/warehousefs-tests otherwise.
set -euo pipefail
cd "$(dirname "$0")/.."

packages=(
	# build
	gcc pkg-config meson ninja-build
	libfuse3-dev libcurl4-openssl-dev libssl-dev libsqlite3-dev
	# run
	fuse3 sqlite3 ca-certificates
	# tests: the real S3 server (Ceph RADOS Gateway), AWS's own signer, tools
	ceph-mon ceph-osd radosgw
	python3 python3-pytest python3-botocore python3-pandas
	# tests: Node.js, to run the readers in tests/readers/
	nodejs
	rsync attr curl procps s3cmd
	# hardening: valgrind memcheck, clang's libFuzzer and sanitizer runtimes
	valgrind clang libclang-rt-14-dev
)
if [ "${1:-}" = "--bench" ]; then
	# g++: libfuse's passthrough_hp anchor is C++ (../shared/anchors/libfuse/)
	packages+=(rclone hyperfine awscli linux-perf g++)
fi

missing=()
for p in "${packages[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" ||
		missing+=("$p")
done
# Debian's nodejs leaves npm to a package of its own; other builds of nodejs
# bundle npm and conflict with that package, so ask for it only when missing.
command -v npm >/dev/null || missing+=(npm)

if [ ${#missing[@]} -gt 0 ]; then
	echo "deps: installing ${missing[*]}" >&2
	sudo_cmd=()
	[ "$(id -u)" -eq 0 ] || sudo_cmd=(sudo)
	export DEBIAN_FRONTEND=noninteractive
	if ! "${sudo_cmd[@]}" apt-get install -y -q --no-install-recommends "${missing[@]}" </dev/null; then
		# A fresh machine has no package lists yet.
		"${sudo_cmd[@]}" apt-get update -q </dev/null
		"${sudo_cmd[@]}" apt-get install -y -q --no-install-recommends "${missing[@]}" </dev/null
	fi
fi

# The readers, as the invoking user (not root through sudo): npm ci installs
# exactly the locked versions and checks their hashes.  installed.json, a
# copy of the lock written only after npm ci succeeded, says what is there:
# an interrupted or failed install is redone next time.
if [ -n "${WAREHOUSEFS_READERS:-}" ]; then
	readers=$WAREHOUSEFS_READERS
elif [ "$(id -u)" -eq 0 ]; then
	readers=/var/cache/warehousefs-tests
else
	readers=${XDG_CACHE_HOME:-$HOME/.cache}/warehousefs-tests
fi
if ! cmp -s tests/readers/package-lock.json "$readers/installed.json" ||
	[ ! -d "$readers/node_modules/@duckdb/node-api" ]; then
	echo "deps: installing the readers of tests/readers/ into $readers" >&2
	mkdir -p "$readers"
	rm -f "$readers/installed.json"
	cp tests/readers/package.json tests/readers/package-lock.json "$readers/"
	(cd "$readers" && CI=true npm_config_update_notifier=false \
		npm ci --no-audit --no-fund --loglevel=error </dev/null)
	cp tests/readers/package-lock.json "$readers/installed.json"
fi
