"""The S3 client (exporter/s3/s3.c, exporter/s3/http.c) through tests/tools/s3put,
against a real radosgw on loopback and against a loopback listener that records
what is sent.

radosgw checks signatures, payload hashes and access, so a round trip proves
the request was right; it does not check the region or apply SSE over HTTP,
so the listener proves that the session token and SSE headers are sent and
signed, and botocore (AWS's own signer) recomputes every captured signature.

s3put is build/tests/tools/s3put, or $WAREHOUSEFS_BUILD/tests/tools/s3put.
"""

import base64
import datetime
import hashlib
import http.server
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from unittest import mock

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(REPO, "tests", "s3"))
import s3  # noqa: E402  (tests/s3/s3.py: botocore client for checking the bucket)

MIB = 1024 * 1024
SANITIZER_MARKS = ("AddressSanitizer", "LeakSanitizer", "runtime error:")


def s3put_binary():
    build = os.environ.get("WAREHOUSEFS_BUILD") or os.path.join(REPO, "build")
    return os.path.join(os.path.abspath(build), "tests", "tools", "s3put")


def no_proxy_env():
    """The environment without proxies: test traffic stays on loopback."""
    env = {k: v for k, v in os.environ.items() if not k.lower().endswith("_proxy")}
    env["NO_PROXY"] = env["no_proxy"] = "*"
    return env


def s3put(*args, timeout=120, env=None):
    """Run s3put; returns (exit status, {name: value} of its output lines).
    env: variables to set on top of the proxy-free environment."""
    binary = s3put_binary()
    if not os.path.exists(binary):
        pytest.fail(f"{binary} is missing: build with `ninja -C build`")
    p = subprocess.run([binary, *args], capture_output=True, text=True, timeout=timeout,
                       env={**no_proxy_env(), **(env or {})})
    for line in p.stderr.splitlines():
        if any(m in line for m in SANITIZER_MARKS):
            pytest.fail(f"s3put reported a sanitizer error:\n{p.stderr}")
    out = {}
    for line in p.stdout.splitlines():
        name, sep, value = line.partition("=")
        if sep:
            out.setdefault(name, value)
    out["_stdout"], out["_stderr"] = p.stdout, p.stderr
    return p.returncode, out


def b64md5(data):
    return base64.b64encode(hashlib.md5(data).digest()).decode()


def write_random(path, size, seed=1):
    data = (hashlib.sha256(str(seed).encode()).digest() * (size // 32 + 1))[:size]
    # Not compressible, not periodic within a part: mix in a counter every 4 KiB.
    block = bytearray(data)
    for off in range(0, size, 4096):
        block[off:off + 8] = off.to_bytes(8, "little")
    with open(path, "wb") as f:
        f.write(block)
    return bytes(block)


# ------------------------------------------------------------------ radosgw

@pytest.fixture(scope="module")
def rgw():
    """A throwaway radosgw for this module: its env as a dict."""
    missing = [p for p in ("radosgw", "ceph-mon", "ceph-osd") if not shutil.which(p)]
    if missing:
        pytest.skip(f"radosgw is not installed ({', '.join(missing)} missing): "
                    f"run tests/s3/rgw.sh install")
    script = os.path.join(REPO, "tests", "s3", "rgw.sh")
    # Unix socket paths are short: keep the directory near /tmp.
    d = tempfile.mkdtemp(prefix="rgw-", dir="/tmp")
    os.rmdir(d)
    p = subprocess.run([script, "start", d], capture_output=True, text=True, timeout=180)
    if p.returncode != 0:
        pytest.fail(f"cannot start radosgw:\n{p.stderr}")
    try:
        yield s3.load_env(os.path.join(d, "env"))
    finally:
        subprocess.run([script, "stop", d], capture_output=True, timeout=60)


@pytest.fixture(scope="module")
def bucket(rgw):
    """A botocore client on the bucket, for checking what landed there."""
    return s3.client(rgw["RGW_ENDPOINT"], rgw["RGW_ACCESS_KEY"], rgw["RGW_SECRET_KEY"])


def rgw_args(rgw, access=None, secret=None, bucket=None):
    return ["--endpoint", rgw["RGW_ENDPOINT"], "--region", "us-east-1",
            "--bucket", bucket or rgw["RGW_BUCKET"],
            "--access-key", access or rgw["RGW_ACCESS_KEY"],
            "--secret-key", secret or rgw["RGW_SECRET_KEY"]]


def test_small_put_round_trips(rgw, bucket, tmp_path):
    f = tmp_path / "small.csv"
    data = write_random(f, 10_000)
    rc, out = s3put(*rgw_args(rgw), "--content-type", "text/csv", "t/small.csv", str(f))
    assert rc == 0, out["_stdout"] + out["_stderr"]
    assert out["etag"] == hashlib.md5(data).hexdigest()
    assert s3.get_object(bucket, rgw["RGW_BUCKET"], "t/small.csv") == data
    head = bucket.head_object(Bucket=rgw["RGW_BUCKET"], Key="t/small.csv")
    assert head["ContentType"] == "text/csv"


def test_empty_file_round_trips(rgw, bucket, tmp_path):
    f = tmp_path / "empty"
    f.write_bytes(b"")
    rc, out = s3put(*rgw_args(rgw), "t/empty", str(f))
    assert rc == 0, out["_stdout"] + out["_stderr"]
    assert out["etag"] == hashlib.md5(b"").hexdigest()
    assert s3.get_object(bucket, rgw["RGW_BUCKET"], "t/empty") == b""


@pytest.mark.parametrize("key", [
    "t/with space/ä ö ü.csv",
    "t/plus+equals=tilde~.csv",
    "t/日本/😀.csv",
    "t/odd ?#&%41;,'!*()[]@$.csv",
    "t/dots/./a/../b//c",
])
def test_awkward_key_round_trips_to_the_exact_key(rgw, bucket, tmp_path, key):
    f = tmp_path / "f"
    data = write_random(f, 1234, seed=key)
    rc, out = s3put(*rgw_args(rgw), key, str(f))
    assert rc == 0, out["_stdout"] + out["_stderr"]
    assert key in s3.list_objects(bucket, rgw["RGW_BUCKET"], "t/")
    assert s3.get_object(bucket, rgw["RGW_BUCKET"], key) == data


def test_multipart_round_trips(rgw, bucket, tmp_path):
    f = tmp_path / "big.bin"
    data = write_random(f, 20 * MIB, seed=2)
    # 20 MiB above a 10 MiB threshold: parts of 8 MiB (the minimum), 8, 4.
    rc, out = s3put(*rgw_args(rgw), "--threshold", str(10 * MIB), "--parallelism", "3",
                    "t/big.bin", str(f))
    assert rc == 0, out["_stdout"] + out["_stderr"]
    md5s = b"".join(hashlib.md5(data[i:i + 8 * MIB]).digest() for i in range(0, len(data), 8 * MIB))
    assert out["etag"] == hashlib.md5(md5s).hexdigest() + "-3"
    head = bucket.head_object(Bucket=rgw["RGW_BUCKET"], Key="t/big.bin")
    assert head["ETag"].strip('"') == out["etag"]
    assert s3.get_object(bucket, rgw["RGW_BUCKET"], "t/big.bin") == data
    uploads = bucket.list_multipart_uploads(Bucket=rgw["RGW_BUCKET"]).get("Uploads", [])
    assert uploads == []


def test_virtual_hosted_addressing(rgw, bucket, tmp_path):
    f = tmp_path / "v"
    data = write_random(f, 5000, seed=3)
    port = rgw["RGW_PORT"]
    args = rgw_args(rgw)
    args[1] = f"http://s3.test:{port}"
    rc, out = s3put(*args, "--virtual", "--resolve", f"warehouse.s3.test:{port}:127.0.0.1",
                    "t/virtual host.csv", str(f))
    assert rc == 0, out["_stdout"] + out["_stderr"]
    assert s3.get_object(bucket, rgw["RGW_BUCKET"], "t/virtual host.csv") == data


def test_many_files_on_one_connection(rgw, bucket, tmp_path):
    args = []
    for i in range(20):
        f = tmp_path / f"f{i}"
        write_random(f, 2000 + i, seed=i)
        args += [f"t/many/{i}", str(f)]
    rc, out = s3put(*rgw_args(rgw), *args)
    assert rc == 0, out["_stdout"] + out["_stderr"]
    assert out["_stdout"].count("etag=") == 20
    assert len(s3.list_objects(bucket, rgw["RGW_BUCKET"], "t/many/")) == 20


def test_wrong_secret(rgw, tmp_path):
    f = tmp_path / "f"
    write_random(f, 100)
    rc, out = s3put(*rgw_args(rgw, secret="wrong-secret"), "t/denied", str(f))
    assert rc == 1
    assert (out["status"], out["code"], out["transient"]) == ("403", "SignatureDoesNotMatch", "0")
    assert out["request_id"]
    assert "secret_access_key" in out["hint"]


def test_unknown_bucket(rgw, tmp_path):
    f = tmp_path / "f"
    write_random(f, 100)
    rc, out = s3put(*rgw_args(rgw, bucket="no-such-bucket"), "t/x", str(f))
    assert rc == 1
    assert (out["status"], out["code"], out["transient"]) == ("404", "NoSuchBucket", "0")
    assert out["hint"] == "check bucket: the store has no bucket named so"


def test_other_user_is_denied(rgw, tmp_path):
    f = tmp_path / "f"
    write_random(f, 100)
    rc, out = s3put(*rgw_args(rgw, access=rgw["RGW_OTHER_ACCESS_KEY"],
                              secret=rgw["RGW_OTHER_SECRET_KEY"]), "t/x", str(f))
    assert rc == 1
    assert (out["status"], out["code"], out["transient"]) == ("403", "AccessDenied", "0")
    assert "s3:PutObject" in out["hint"]


def test_unknown_access_key(rgw, tmp_path):
    f = tmp_path / "f"
    write_random(f, 100)
    rc, out = s3put(*rgw_args(rgw, access="AKIANOSUCHKEY0000000"), "t/x", str(f))
    assert rc == 1
    assert (out["status"], out["code"], out["transient"]) == ("403", "InvalidAccessKeyId", "0")
    assert out["hint"] == "check access_key_id"


def test_damaged_file_is_not_uploaded(rgw, bucket, tmp_path):
    f = tmp_path / "f"
    write_random(f, 3000)
    rc, out = s3put(*rgw_args(rgw), "--sha256", "ab" * 32, "t/damaged", str(f))
    assert rc == 1
    assert out["error"] == "EBADMSG"
    assert "SHA-256" in out["message"] and "ab" * 32 in out["message"]
    assert "t/damaged" not in s3.list_objects(bucket, rgw["RGW_BUCKET"], "t/")


def test_damaged_multipart_file_is_not_uploaded(rgw, bucket, tmp_path):
    f = tmp_path / "f"
    write_random(f, 17 * MIB)
    rc, out = s3put(*rgw_args(rgw), "--threshold", str(MIB), "--sha256", "cd" * 32,
                    "t/damaged-mp", str(f))
    assert rc == 1 and out["error"] == "EBADMSG"
    assert "t/damaged-mp" not in s3.list_objects(bucket, rgw["RGW_BUCKET"], "t/")
    uploads = bucket.list_multipart_uploads(Bucket=rgw["RGW_BUCKET"]).get("Uploads", [])
    assert uploads == []


# ----------------------------------------------------- no server needed

def closed_port():
    import socket
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_connection_refused(tmp_path):
    f = tmp_path / "f"
    write_random(f, 100)
    rc, out = s3put("--endpoint", f"http://127.0.0.1:{closed_port()}", "--bucket", "b",
                    "--access-key", "a", "--secret-key", "s", "k", str(f))
    assert rc == 1
    assert (out["status"], out["code"], out["transient"]) == ("0", "ConnectionRefused", "1")
    assert out["hint"] == "nothing listens at the endpoint"


def test_region_auto_needs_an_endpoint(tmp_path):
    f = tmp_path / "f"
    write_random(f, 100)
    rc, out = s3put("--endpoint", "", "--region", "auto", "--bucket", "b",
                    "--access-key", "a", "--secret-key", "s", "k", str(f))
    assert rc == 1 and out["error"] == "EINVAL"
    assert "region 'auto' needs an endpoint" in out["message"]


# ------------------------------------------------- loopback capture server

class Capture:
    """A loopback HTTP/1.1 server that records every request and answers
    from a script: respond(method, path, query, n) -> (status, headers, body),
    where n counts the requests with that method and query parameter names."""

    def __init__(self, respond=None, tls=None):
        self.requests = []
        self.respond = respond or (lambda *a: (200, {"ETag": '"0123abcd"'}, b""))
        capture = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def handle_one(self):
                length = int(self.headers.get("Content-Length", "0"))
                body = self.rfile.read(length) if length else b""
                path, _, query = self.path.partition("?")
                kind = (self.command, tuple(sorted(p.partition("=")[0]
                                                   for p in query.split("&") if p)))
                n = sum(1 for r in capture.requests if r["kind"] == kind)
                capture.requests.append({
                    "method": self.command, "path": path, "query": query, "kind": kind,
                    "headers": list(self.headers.items()), "body": body,
                    "peer": self.client_address,
                })
                status, headers, rbody = capture.respond(self.command, path, query, n)
                if status is None:  # stall: say nothing for a while
                    time.sleep(headers)
                    return
                self.send_response(status)
                for k, v in headers.items():
                    self.send_header(k, v)
                self.send_header("Content-Length", str(len(rbody)))
                self.end_headers()
                self.wfile.write(rbody)

            do_PUT = do_POST = do_DELETE = do_GET = handle_one

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        if tls:
            self.server.socket = tls.wrap_socket(self.server.socket, server_side=True)
        self.server.daemon_threads = True
        self.server.block_on_close = False
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, args=(0.05,),
                                       daemon=True)
        self.thread.start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def capture():
    servers = []

    def make(respond=None, tls=None):
        c = Capture(respond, tls)
        servers.append(c)
        return c
    yield make
    for c in servers:
        c.close()


def header(req, name):
    values = [v for k, v in req["headers"] if k.lower() == name.lower()]
    assert len(values) <= 1, f"{name} sent {len(values)} times"
    return values[0] if values else None


def signed_headers(req):
    m = re.search(r"SignedHeaders=([^,]+)", header(req, "Authorization"))
    return m.group(1).split(";")


def botocore_authorization(req, access, secret, token, region):
    """What botocore's S3 signer computes for the captured request."""
    from botocore.auth import S3SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials

    own = {"authorization", "x-amz-date", "x-amz-content-sha256", "x-amz-security-token"}
    headers = {k: v for k, v in req["headers"]
               if k.lower() in signed_headers(req) and k.lower() not in own and
               k.lower() != "host"}
    url = f"http://{header(req, 'Host')}{req['path']}"
    if req["query"]:
        url += "?" + req["query"]
    r = AWSRequest(method=req["method"], url=url, headers=headers, data=req["body"])
    when = datetime.datetime.strptime(header(req, "X-Amz-Date"), "%Y%m%dT%H%M%SZ")
    with mock.patch("botocore.auth.datetime") as fake:
        fake.datetime.utcnow.return_value = when
        S3SigV4Auth(Credentials(access, secret, token), "s3", region).add_auth(r)
    return r.headers["Authorization"]


SECRET = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"


def capture_args(c, *extra, region="eu-central-1"):
    return ["--endpoint", f"http://127.0.0.1:{c.port}", "--bucket", "bkt", "--region", region,
            "--access-key", "AKIDEXAMPLE", "--secret-key", SECRET,
            *extra]


def test_headers_are_sent_and_signed(capture, tmp_path):
    pytest.importorskip("botocore", reason="botocore is not installed (python3-botocore)")
    c = capture()
    f = tmp_path / "f"
    data = write_random(f, 7000)
    token = "FQoGZXIvYXdzEBYaDNyeT8H/+token=="
    rc, out = s3put(*capture_args(c, "--session-token", token, "--sse", "aws:kms",
                                  "--kms-key-id", "arn:aws:kms:eu-central-1:1:key/abc",
                                  "--content-type", "text/csv"),
                    "exports/team/2025-01-14/a b+c.csv", str(f))
    assert rc == 0, out["_stdout"] + out["_stderr"]
    assert out["etag"] == "0123abcd"
    [req] = c.requests
    assert req["method"] == "PUT"
    assert req["path"] == "/bkt/exports/team/2025-01-14/a%20b%2Bc.csv"
    assert req["body"] == data
    assert header(req, "Host") == f"127.0.0.1:{c.port}"
    assert header(req, "Content-MD5") == b64md5(data)
    assert header(req, "x-amz-content-sha256") == hashlib.sha256(data).hexdigest()
    assert header(req, "x-amz-security-token") == token
    assert header(req, "x-amz-server-side-encryption") == "aws:kms"
    assert header(req, "x-amz-server-side-encryption-aws-kms-key-id") == \
        "arn:aws:kms:eu-central-1:1:key/abc"
    assert header(req, "Content-Type") == "text/csv"
    assert header(req, "Expect") is None  # a small body goes at once
    signed = signed_headers(req)
    for name in ("host", "content-md5", "content-type", "x-amz-content-sha256", "x-amz-date",
                 "x-amz-security-token", "x-amz-server-side-encryption",
                 "x-amz-server-side-encryption-aws-kms-key-id"):
        assert name in signed
    assert "/eu-central-1/s3/aws4_request" in header(req, "Authorization")
    assert header(req, "Authorization") == botocore_authorization(
        req, "AKIDEXAMPLE", SECRET, token, "eu-central-1")


def test_sse_aes256_is_sent_and_signed(capture, tmp_path):
    c = capture()
    f = tmp_path / "f"
    write_random(f, 100)
    rc, out = s3put(*capture_args(c, "--sse", "AES256"), "k", str(f))
    assert rc == 0, out["_stdout"] + out["_stderr"]
    [req] = c.requests
    assert header(req, "x-amz-server-side-encryption") == "AES256"
    assert header(req, "x-amz-server-side-encryption-aws-kms-key-id") is None
    assert header(req, "x-amz-security-token") is None
    assert "x-amz-server-side-encryption" in signed_headers(req)


def multipart_server(complete_body=None, part_status=None):
    """Answers CreateMultipartUpload, UploadPart and Complete like S3."""
    def respond(method, path, query, n):
        if method == "POST" and query == "uploads":
            return 200, {}, (b'<?xml version="1.0" encoding="UTF-8"?>\n'
                             b"<InitiateMultipartUploadResult><Bucket>bkt</Bucket>"
                             b"<Key>k</Key><UploadId>up/1+2=3&amp;4</UploadId>"
                             b"</InitiateMultipartUploadResult>")
        if method == "PUT" and "partNumber=" in query:
            number = int(re.search(r"partNumber=(\d+)", query).group(1))
            if part_status and number in part_status:
                return part_status[number], {"x-amz-request-id": "REQ-PART"}, (
                    b"<Error><Code>AccessDenied</Code><Message>no</Message>"
                    b"<RequestId>REQ-PART</RequestId></Error>")
            return 200, {"ETag": f'"etag-of-part-{number}"'}, b""
        if method == "POST" and query.startswith("uploadId="):
            body = complete_body(n) if complete_body else (
                b"<CompleteMultipartUploadResult><ETag>&quot;abcdef-3&quot;</ETag>"
                b"</CompleteMultipartUploadResult>")
            return 200, {}, body
        if method == "DELETE":
            return 204, {}, b""
        return 400, {}, b"<Error><Code>InvalidRequest</Code></Error>"
    return respond


def test_multipart_requests(capture, tmp_path):
    pytest.importorskip("botocore", reason="botocore is not installed (python3-botocore)")
    c = capture(multipart_server())
    f = tmp_path / "f"
    data = write_random(f, 20 * MIB)
    rc, out = s3put(*capture_args(c, "--threshold", str(MIB), "--session-token", "tok",
                                  "--sse", "AES256"), "dir/k", str(f))
    assert rc == 0, out["_stdout"] + out["_stderr"]
    assert out["etag"] == "abcdef-3"
    create = c.requests[0]
    assert (create["method"], create["query"]) == ("POST", "uploads")
    assert header(create, "x-amz-server-side-encryption") == "AES256"
    assert header(create, "Content-Length") == "0"
    parts = sorted((r for r in c.requests if "partNumber=" in r["query"]),
                   key=lambda r: r["query"])
    assert [r["query"] for r in parts] == [
        f"partNumber={i}&uploadId=up%2F1%2B2%3D3%264" for i in (1, 2, 3)]
    assert b"".join(r["body"] for r in parts) == data
    assert [len(r["body"]) for r in parts] == [8 * MIB, 8 * MIB, 4 * MIB]
    for r in parts:
        assert header(r, "x-amz-content-sha256") == hashlib.sha256(r["body"]).hexdigest()
        assert header(r, "Content-MD5") == b64md5(r["body"])
        assert header(r, "Expect") == "100-continue"  # a large body waits for the 100
        assert header(r, "x-amz-security-token") == "tok"
        assert "content-md5" in signed_headers(r)
    complete = c.requests[-1]
    assert complete["method"] == "POST" and complete["query"] == "uploadId=up%2F1%2B2%3D3%264"
    assert complete["body"].decode() == (
        '<CompleteMultipartUpload xmlns="http://s3.amazonaws.com/doc/2006-03-01/">'
        + "".join(f'<Part><PartNumber>{i}</PartNumber><ETag>"etag-of-part-{i}"</ETag></Part>'
                  for i in (1, 2, 3))
        + "</CompleteMultipartUpload>")
    for r in [create, parts[0], complete]:
        assert header(r, "Authorization") == botocore_authorization(
            r, "AKIDEXAMPLE", SECRET, "tok", "eu-central-1")


def test_complete_with_error_in_a_200_is_retried_then_aborted(capture, tmp_path):
    c = capture(multipart_server(complete_body=lambda n: (
        b'<?xml version="1.0" encoding="UTF-8"?>\n\n<Error><Code>InternalError</Code>'
        b"<Message>We encountered an internal error. Please try again.</Message>"
        b"<RequestId>REQ-COMPLETE</RequestId></Error>")))
    f = tmp_path / "f"
    write_random(f, 9 * MIB)
    rc, out = s3put(*capture_args(c, "--threshold", str(MIB)), "k", str(f))
    assert rc == 1
    assert (out["status"], out["code"], out["transient"]) == ("200", "InternalError", "1")
    assert out["request_id"] == "REQ-COMPLETE"
    completes = [r for r in c.requests
                 if r["method"] == "POST" and r["query"].startswith("uploadId")]
    assert len(completes) == 3
    assert c.requests[-1]["method"] == "DELETE"
    assert c.requests[-1]["query"] == "uploadId=up%2F1%2B2%3D3%264"


def test_failed_part_aborts_the_upload(capture, tmp_path):
    c = capture(multipart_server(part_status={2: 403}))
    f = tmp_path / "f"
    write_random(f, 24 * MIB)
    rc, out = s3put(*capture_args(c, "--threshold", str(MIB), "--parallelism", "1"), "k", str(f))
    assert rc == 1
    assert (out["status"], out["code"], out["transient"]) == ("403", "AccessDenied", "0")
    assert out["request_id"] == "REQ-PART"
    assert not any(r["method"] == "POST" and r["query"].startswith("uploadId") for r in c.requests)
    assert c.requests[-1]["method"] == "DELETE"
    # Part 3 was never sent: the first permanent failure stops the upload.
    assert not any("partNumber=3" in r["query"] for r in c.requests)


def test_keep_alive_reuses_one_connection(capture, tmp_path):
    c = capture()
    args = []
    for i in range(5):
        f = tmp_path / f"f{i}"
        write_random(f, 100 + i)
        args += [f"k{i}", str(f)]
    rc, out = s3put(*capture_args(c), *args)
    assert rc == 0, out["_stdout"] + out["_stderr"]
    assert len(c.requests) == 5
    assert len({r["peer"] for r in c.requests}) == 1


@pytest.mark.parametrize("status,headers,body,code,region,transient,hint", [
    (301, {"x-amz-bucket-region": "eu-west-1"},
     b"<Error><Code>PermanentRedirect</Code><Message>The bucket you are attempting to access "
     b"must be addressed using the specified endpoint.</Message>"
     b"<Endpoint>bkt.s3.eu-west-1.amazonaws.com</Endpoint><RequestId>R1</RequestId></Error>",
     "PermanentRedirect", "eu-west-1", "0", "the bucket is in eu-west-1: set region = eu-west-1"),
    (400, {}, b"<Error><Code>AuthorizationHeaderMalformed</Code><Message>the region "
     b"'eu-central-1' is wrong; expecting 'ap-south-1'</Message><Region>ap-south-1</Region>"
     b"<RequestId>R2</RequestId></Error>",
     "AuthorizationHeaderMalformed", "ap-south-1", "0",
     "the bucket is in ap-south-1: set region = ap-south-1"),
    (503, {}, b"<Error><Code>SlowDown</Code><Message>Please reduce your request rate."
     b"</Message><RequestId>R3</RequestId></Error>", "SlowDown", "", "1",
     "the store asks for fewer requests: retrying with backoff"),
    (403, {}, b"<Error><Code>RequestTimeTooSkewed</Code><Message>The difference between the "
     b"request time and the current time is too large.</Message></Error>",
     "RequestTimeTooSkewed", "", "0", "this machine's clock is off: fix NTP"),
    (400, {}, b"<Error><Code>ExpiredToken</Code><Message>The provided token has expired."
     b"</Message></Error>", "ExpiredToken", "", "0",
     "session_token has expired: write new credentials"),
    (502, {}, b"<html>Bad Gateway</html>", "", "", "1",
     "the store is failing or overloaded: retrying with backoff"),
])
def test_error_answers(capture, tmp_path, status, headers, body, code, region, transient, hint):
    c = capture(lambda *a: (status, {"x-amz-request-id": "HDR-ID", **headers}, body))
    f = tmp_path / "f"
    write_random(f, 100)
    rc, out = s3put(*capture_args(c), "k", str(f))
    assert rc == 1
    assert (out["status"], out["code"], out["region"], out["transient"], out["hint"]) == \
        (str(status), code, region, transient, hint)
    assert out["request_id"] in ("R1", "R2", "R3", "HDR-ID")
    assert len(c.requests) == 1  # a single PUT is not retried here: the queue does that


def test_stalled_store_times_out(capture, tmp_path):
    c = capture(lambda *a: (None, 5, b""))
    f = tmp_path / "f"
    write_random(f, 100)
    t0 = time.monotonic()
    rc, out = s3put(*capture_args(c, "--stall-timeout", "1"), "k", str(f))
    assert rc == 1
    assert (out["status"], out["code"], out["transient"]) == ("0", "Timeout", "1")
    assert time.monotonic() - t0 < 4.5


def test_cancel_stops_a_transfer_in_flight(capture, tmp_path):
    c = capture(lambda *a: (None, 5, b""))
    f = tmp_path / "f"
    write_random(f, 100)
    t0 = time.monotonic()
    rc, out = s3put(*capture_args(c, "--cancel-after-ms", "300"), "k", str(f))
    assert rc == 1 and out["error"] == "ECANCELED"
    assert time.monotonic() - t0 < 2.5


def test_cancel_aborts_a_multipart_upload(capture, tmp_path):
    parts = multipart_server()

    def respond(method, path, query, n):
        if "partNumber=" in query:
            return None, 5, b""
        return parts(method, path, query, n)
    c = capture(respond)
    f = tmp_path / "f"
    write_random(f, 17 * MIB)
    t0 = time.monotonic()
    rc, out = s3put(*capture_args(c, "--threshold", str(MIB), "--cancel-after-ms", "500"),
                    "k", str(f))
    assert rc == 1 and out["error"] == "ECANCELED"
    assert time.monotonic() - t0 < 3
    assert c.requests[-1]["method"] == "DELETE"


@pytest.fixture
def tls_context(tmp_path):
    """A server context with a self-signed certificate for s3.test (and the PEM path)."""
    import ssl
    if not shutil.which("openssl"):
        pytest.skip("openssl is not installed")
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                    "ec_paramgen_curve:prime256v1", "-nodes", "-days", "1",
                    "-subj", "/CN=s3.test", "-addext", "subjectAltName=DNS:s3.test",
                    "-keyout", str(key), "-out", str(cert)], check=True, capture_output=True)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(cert, key)
    return ctx, str(cert)


def test_https_is_verified(capture, tmp_path, tls_context):
    ctx, cert = tls_context
    c = capture(tls=ctx)
    f = tmp_path / "f"
    write_random(f, 100)
    args = capture_args(c, "--resolve", f"s3.test:{c.port}:127.0.0.1")
    args[1] = f"https://s3.test:{c.port}"
    rc, out = s3put(*args, "k", str(f))
    assert rc == 1
    assert (out["status"], out["code"], out["transient"]) == ("0", "TLSError", "0")
    assert "ca_bundle" in out["hint"]
    assert c.requests == []
    rc, out = s3put(*args, "--ca-bundle", cert, "k", str(f))
    assert rc == 0, out["_stdout"] + out["_stderr"]
    [req] = c.requests
    assert header(req, "Host") == f"s3.test:{c.port}"


def test_proxy_from_the_environment(capture, tmp_path):
    proxy = capture()
    f = tmp_path / "f"
    write_random(f, 100)
    args = capture_args(proxy)
    args[1] = "http://store.invalid:9000"  # only the proxy may resolve it
    rc, out = s3put(*args, "k", str(f), env={
        "http_proxy": f"http://127.0.0.1:{proxy.port}", "NO_PROXY": "", "no_proxy": ""})
    assert rc == 0, out["_stdout"] + out["_stderr"]
    [req] = proxy.requests
    assert req["path"] == "http://store.invalid:9000/bkt/k"
    assert header(req, "Host") == "store.invalid:9000"
