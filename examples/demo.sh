#!/usr/bin/env bash
# The warehousefs demo, from a fresh Debian 12 machine:
#   installs what is missing, builds, generates demo analytics data, starts a
#   real S3 server on 127.0.0.1 (Ceph radosgw), mounts warehousefs, configures
#   one destination, reads its files (which exports them), waits for the sync,
#   and lists the objects in the bucket.  Everything lives in one temporary
#   directory, removed at the end unless --keep is given.
#
#   examples/demo.sh [--keep]
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
keep=0
[ "${1:-}" = "--keep" ] && keep=1

say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

say "installing what is missing and building"
tests/deps.sh
[ -f build/build.ninja ] || meson setup build --buildtype=debugoptimized >/dev/null
ninja -C build >/dev/null

work=$(mktemp -d /tmp/warehousefs-demo.XXXXXX)
mnt=$work/mnt
cleanup() {
	if mountpoint -q "$mnt" 2>/dev/null; then fusermount3 -u "$mnt" || true; fi
	if [ $keep -eq 0 ]; then
		"$root"/tests/s3/rgw.sh stop "$work/rgw" >/dev/null 2>&1 || true
		rm -rf "$work"
	else
		echo "kept $work (stop the S3 server with: tests/s3/rgw.sh stop $work/rgw)"
	fi
}
trap cleanup EXIT

say "generating demo data: 3 teams x 4 websites x 7 days"
build/examples/warehousefs-gendata --teams 3 --websites 4 --days 7 --start 2025-01-08 \
	--edge-cases "$work/analytics.db"
team=$(sqlite3 "$work/analytics.db" \
	"SELECT team_id FROM websites WHERE team_id != 'edge-team' ORDER BY team_id LIMIT 1")

say "starting a local S3 server (radosgw on 127.0.0.1)"
tests/s3/rgw.sh start "$work/rgw" >/dev/null
# shellcheck disable=SC1091
. "$work/rgw/env"
echo "endpoint $RGW_ENDPOINT, bucket $RGW_BUCKET"

say "mounting warehousefs on $mnt"
mkdir "$mnt"
build/fs/warehousefs "$work/analytics.db" "$mnt" \
	-o state="$work/state.db",cache="$work/cache",keyfile="$work/master.key"
echo "\$ mkdir $mnt/acme"
mkdir "$mnt/acme"
cat >"$mnt/acme/.config" <<CONF
team_id = $team
bucket = $RGW_BUCKET
endpoint = $RGW_ENDPOINT
region = us-east-1
prefix = exports/
access_key_id = $RGW_ACCESS_KEY
secret_access_key = $RGW_SECRET_KEY
CONF
echo "\$ cat $mnt/acme/.config"
cat "$mnt/acme/.config"

say "the tree (each date directory holds one generated file)"
(cd "$mnt" && find acme | sort | head -20)

say "one file, generated on read"
f=$(find "$mnt/acme" -name '*.csv' | sort | head -1)
echo "\$ head -5 $f"
head -5 "$f"

say "reading a file exported it; a backfill through .run-now exports the week"
echo "\$ echo 2025-01-08..2025-01-14 > $mnt/acme/.run-now"
echo 2025-01-08..2025-01-14 >"$mnt/acme/.run-now"
echo "\$ cat $mnt/acme/.sync     # waits until the uploads are done"
cat "$mnt/acme/.sync"
echo "\$ cat $mnt/acme/.history"
cat "$mnt/acme/.history"
echo "\$ getfattr -d $f"
getfattr -d "$f" | sed 's/^/  /'

say "the bucket, listed with botocore"
/usr/bin/python3 tests/s3/s3.py --env "$work/rgw/env" ls exports/

say "status"
cat "$mnt/acme/.status"
