#!/usr/bin/env bash
# Installs, from Debian's own repositories, every package warehousefs needs to
# build, test and run its demo.  Idempotent: only missing packages are fetched.
#   tests/deps.sh            build + test + demo packages
#   tests/deps.sh --bench    also what the benchmarks compare against
set -euo pipefail

packages=(
	# build
	gcc pkg-config meson ninja-build
	libfuse3-dev libcurl4-openssl-dev libssl-dev libsqlite3-dev
	# run
	fuse3 sqlite3 ca-certificates
	# tests: the real S3 server (Ceph RADOS Gateway), AWS's own signer, tools
	ceph-mon ceph-osd radosgw
	python3 python3-pytest python3-botocore
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
[ ${#missing[@]} -eq 0 ] && exit 0

echo "deps: installing ${missing[*]}" >&2
sudo_cmd=()
[ "$(id -u)" -eq 0 ] || sudo_cmd=(sudo)
export DEBIAN_FRONTEND=noninteractive
if ! "${sudo_cmd[@]}" apt-get install -y -q --no-install-recommends "${missing[@]}" </dev/null; then
	# A fresh machine has no package lists yet.
	"${sudo_cmd[@]}" apt-get update -q </dev/null
	"${sudo_cmd[@]}" apt-get install -y -q --no-install-recommends "${missing[@]}" </dev/null
fi
