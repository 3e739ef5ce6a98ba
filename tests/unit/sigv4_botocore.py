#!/usr/bin/python3
"""sigv4_botocore: random S3 requests signed by botocore's S3SigV4Auth.

Run by `test_sigv4 --botocore tests/unit/sigv4_botocore.py`, which signs the
same requests with exporter/sigv4.c and checks canonical request, string to
sign, signature and Authorization exactly as for ../shared/sigv4/
s3-vectors.json: this prints the same form, {"generator", "vectors": [...]}.

The requests are what warehousefs sends: PUT Object, UploadPart,
CreateMultipartUpload and CompleteMultipartUpload, with awkward object keys
(spaces, '+', '=', '~', '%', UTF-8, nested and empty segments), random
regions including R2's 'auto', session tokens on some, extra x-amz-*
headers with inner runs of spaces and tabs, signed and unsigned payloads.
Seeded, so every run signs the same requests.

Exits 77 (skipped) when botocore is not installed.
"""

import datetime
import json
import random
import sys
from unittest import mock
from urllib.parse import quote

try:
    import botocore
    from botocore.auth import S3SigV4Auth, _host_from_url
    from botocore.awsrequest import AWSRequest
    from botocore.config import Config
    from botocore.credentials import Credentials
except ImportError as e:
    print(f"skipped: botocore is not installed ({e}; apt-get install python3-botocore)",
          file=sys.stderr)
    sys.exit(77)

SEED = 20250114
COUNT = 200

REGIONS = ["us-east-1", "eu-central-1", "ap-southeast-2", "us-west-2", "auto", "auto"]
ENDPOINTS = [
    None,  # AWS: s3.REGION.amazonaws.com
    "127.0.0.1:9000",  # MinIO
    "localhost:7480",  # Ceph RGW
    "0123456789abcdef.r2.cloudflarestorage.com",
    "s3.wasabisys.com:443",
    "127.0.0.1:80",
]
BUCKETS = ["b123", "my-bucket.data", "warehouse-exports", "acme"]
KEY_CHARS = ("abcXYZ0189-_.~ +=%&$@,;:!*'()[]?#" "\u00e9\u00df\u00fc\u65e5\u672c"
             "\U0001f600")
B64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
CONTENT_TYPES = ["text/csv", "text/csv; charset=utf-8", "application/x-ndjson",
                 "application/octet-stream", "application/gzip"]


def random_case(name):
    return name if random.random() < 0.5 else name.title()


def random_key():
    segments = []
    if random.random() < 0.5:
        segments.append("exports")
    for _ in range(random.randint(1, 4)):
        r = random.random()
        if r < 0.08:
            segments.append("")  # "a//b"
        elif r < 0.12:
            segments.append(random.choice([".", ".."]))
        else:
            segments.append("".join(random.choice(KEY_CHARS)
                                    for _ in range(random.randint(1, 14))))
    if random.random() < 0.3:
        segments += ["7f1c9d2e-0b7a-4d4e-9a51-2f4a8c1e6b3d", "2025-01-14",
                     "analytics_daily.csv"]
    return "/".join(segments)


def random_headers():
    headers = []
    if random.random() < 0.7:
        headers.append(("Content-Type", random.choice(CONTENT_TYPES)))
    if random.random() < 0.3:
        md5 = "".join(random.choice(B64) for _ in range(22)) + "=="
        headers.append(("Content-MD5", md5))
    if random.random() < 0.4:
        headers.append((random_case("x-amz-server-side-encryption"),
                        random.choice(["AES256", "aws:kms"])))
    if random.random() < 0.2:
        headers.append(("x-amz-storage-class", random.choice(["STANDARD", "STANDARD_IA"])))
    for _ in range(random.randint(0, 3)):
        name = random_case("x-amz-meta-" + random.choice(["source", "team", "note", "run-id"]))
        if any(n.lower() == name.lower() for n, _ in headers):
            continue
        words = ["".join(random.choice("abcdefgh0123,;=/") for _ in range(random.randint(1, 6)))
                 for _ in range(random.randint(1, 4))]
        value = ""
        for w in words:
            value += random.choice([" ", "  ", "   ", "\t", " \t "]) + w
        value += random.choice(["", " ", "   "])
        headers.append((name, value))
    random.shuffle(headers)
    return headers


def random_request(i):
    region = random.choice(REGIONS)
    scheme = random.choice(["http", "https"])
    endpoint = random.choice(ENDPOINTS) or f"s3.{region}.amazonaws.com"
    bucket = random.choice(BUCKETS)
    key = random_key()
    addressing = "virtual" if endpoint.endswith("amazonaws.com") and random.random() < 0.4 \
        else "path"

    upload_id = "".join(random.choice(B64) for _ in range(random.randint(8, 40)))
    r = random.random()
    if r < 0.55:
        method, params = "PUT", []
    elif r < 0.8:
        method = "PUT"
        params = [("partNumber", str(random.randint(1, 10000))), ("uploadId", upload_id)]
    elif r < 0.9:
        method, params = "POST", [("uploads", random.choice([None, ""]))]
    else:
        method, params = "POST", [("uploadId", upload_id)]
    random.shuffle(params)

    body = bytes(random.randrange(256) for _ in range(random.randint(0, 300)))
    unsigned = scheme == "https" and random.random() < 0.15
    now = random.randint(946684800, 4102444799)  # 2000 to 2099
    akid = "AKIA" + "".join(random.choice("ABCDEFGHIJKLMNOPQRSTUVWXYZ234567")
                            for _ in range(16))
    secret = "".join(random.choice(B64) for _ in range(40))
    token = None
    if random.random() < 0.35:
        token = "FQoGZXIvYXdzE" + "".join(random.choice(B64 + "=")
                                          for _ in range(random.randint(20, 300)))

    host = f"{bucket}.{endpoint}" if addressing == "virtual" else endpoint
    path = "/" + quote(key, safe="/~")
    if addressing == "path":
        path = "/" + bucket + path
    query = "&".join(quote(k, safe="-_.~") + ("" if v is None else "=" + quote(v, safe="-_.~"))
                     for k, v in params)
    url = f"{scheme}://{host}{path}" + (f"?{query}" if query else "")
    headers = random_headers()

    request = AWSRequest(method=method, url=url, headers=dict(headers), data=body)
    if unsigned:
        request.context["client_config"] = Config(s3={"payload_signing_enabled": False})
    auth = S3SigV4Auth(Credentials(akid, secret, token), "s3", region)
    when = datetime.datetime.fromtimestamp(now, datetime.timezone.utc).replace(tzinfo=None)
    with mock.patch("botocore.auth.datetime") as fake:
        fake.datetime.utcnow.return_value = when
        auth.add_auth(request)

    # the intermediate steps, recomputed from the request as it was signed
    headers_sent = dict(request.headers.items())
    authorization = headers_sent.pop("Authorization")
    del request.headers["Authorization"]
    canonical_request = auth.canonical_request(request)
    string_to_sign = auth.string_to_sign(request, canonical_request)
    signature = auth.signature(string_to_sign, request)
    assert authorization.endswith("Signature=" + signature)
    return {
        "name": f"botocore-{i:03d}",
        "method": method,
        "scheme": scheme,
        "host_header": _host_from_url(url),
        "bucket": bucket,
        "addressing": addressing,
        "object_key": key,
        "query": [[k, v] for k, v in params],
        "url": url,
        "headers": headers_sent,
        "timestamp": request.context["timestamp"],
        "region": region,
        "service": "s3",
        "access_key_id": akid,
        "secret_access_key": secret,
        "session_token": token,
        "canonical_request": canonical_request,
        "string_to_sign": string_to_sign,
        "signature": signature,
        "authorization": authorization,
    }


def main():
    random.seed(SEED)
    vectors = [random_request(i) for i in range(COUNT)]
    json.dump({"generator": f"botocore {botocore.__version__} S3SigV4Auth, seed {SEED}",
               "vectors": vectors}, sys.stdout, indent=1)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
