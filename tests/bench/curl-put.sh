#!/bin/bash
# curl-put.sh: upload FILEs (paths relative to the current directory, which
# become the object keys) with ONE curl process: one connection, kept alive,
# SigV4 signed by curl itself.  Prints one HTTP status per file.  Used by
# bench.py for the "plain curl" lines, sequentially (one file per call) and as
# a parallel batch under xargs -P.
#   RGW_ENDPOINT RGW_BUCKET RGW_ACCESS_KEY RGW_SECRET_KEY must be set.
#   curl-put.sh FILE...
set -euo pipefail
args=()
for f in "$@"; do
	args+=(-T "$f" "$RGW_ENDPOINT/$RGW_BUCKET/$f" -o /dev/null)
done
# curl 7.88's --aws-sigv4 does not send x-amz-content-sha256; RGW needs it.
exec curl -sS --noproxy '*' --aws-sigv4 "aws:amz:us-east-1:s3" \
	--user "$RGW_ACCESS_KEY:$RGW_SECRET_KEY" \
	-H 'x-amz-content-sha256: UNSIGNED-PAYLOAD' \
	-w '%{http_code}\n' "${args[@]}"
