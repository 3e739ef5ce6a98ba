#!/bin/bash
# curl-multipart.sh: upload one object as a multipart upload made of plain
# curl --aws-sigv4 requests, its parts PUT in parallel by xargs -P: the
# server's ceiling for one large object (no client logic beyond curl).
#   RGW_ENDPOINT RGW_BUCKET RGW_ACCESS_KEY RGW_SECRET_KEY must be set.
#   curl-multipart.sh KEY PARTS_DIR PARALLEL
# PARTS_DIR holds the object already split into parts (split -d: p000, p001,
# ... in order; every part but the last at least 5 MiB).  Prints the
# CompleteMultipartUpload answer; exits non-zero if any request failed.
set -euo pipefail
key=$1 parts=$2 parallel=$3
url="$RGW_ENDPOINT/$RGW_BUCKET/$key"
curl_=(curl -sS --fail --noproxy '*' --aws-sigv4 "aws:amz:us-east-1:s3"
	--user "$RGW_ACCESS_KEY:$RGW_SECRET_KEY"
	-H 'x-amz-content-sha256: UNSIGNED-PAYLOAD')
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# "uploads=" (not "uploads"): curl 7.88 signs the bare form wrongly.
id=$("${curl_[@]}" -X POST "$url?uploads=" |
	sed -n 's:.*<UploadId>\(.*\)</UploadId>.*:\1:p')
[[ -n $id ]] || { echo "curl-multipart: no UploadId" >&2; exit 1; }

n=0
for p in "$parts"/p*; do
	n=$((n + 1))
	echo "$n $p"
done >"$work/list"
export url id work
export CURL_ARGS="${curl_[*]@Q}"
# Each part: PUT, keep the response headers for the ETag.
xargs -P "$parallel" -L 1 bash -c \
	'eval "c=($CURL_ARGS)"; "${c[@]}" -T "$2" "$url?partNumber=$1&uploadId=$id" -D "$work/h$1" -o /dev/null' _ \
	<"$work/list"

{
	echo '<CompleteMultipartUpload>'
	for i in $(seq 1 "$n"); do
		etag=$(tr -d '\r' <"$work/h$i" | sed -n 's/^[Ee][Tt][Aa][Gg]: *//p')
		[[ -n $etag ]] || { echo "curl-multipart: part $i has no ETag" >&2; exit 1; }
		echo "<Part><PartNumber>$i</PartNumber><ETag>$etag</ETag></Part>"
	done
	echo '</CompleteMultipartUpload>'
} >"$work/complete.xml"
"${curl_[@]}" -X POST -H 'Content-Type: application/xml' \
	--data-binary @"$work/complete.xml" "$url?uploadId=$id"
echo
