"""A real S3 server for integration tests: one throwaway Ceph radosgw cluster
(tests/s3/rgw.sh) per test module, and a botocore client (tests/s3/s3.py) to
look at what landed in its bucket.

In a test module:

    from rgw_fixture import rgw, no_proxy  # noqa: F401  (fixtures)

    def test_x(rgw):
        rgw.endpoint, rgw.bucket, rgw.access_key, rgw.secret_key, rgw.port
        rgw.objects("prefix/")        {key: (size, etag without quotes)}
        rgw.get("prefix/key")         bytes
        rgw.head("prefix/key")        botocore's HeadObject answer
        rgw.put_error("k", secret_key="wrong")   (403, "SignatureDoesNotMatch", "")
        rgw.stop_gateway()            radosgw down, mon + OSD + objects kept
        rgw.start_gateway()           up again on the same port

    settings(rgw, "prefix/")          a destination's .config for this store
    FAST_SYNC                         mount options: quick retries

The cluster lives under a short directory in /tmp (unix socket paths are
short: rgw.sh refuses more than 80 characters) and is stopped, and the
directory removed, when the module's tests are done.  Without radosgw
installed the tests that use it are skipped, saying how to install it.
"""

import os
import shutil
import subprocess
import sys
import tempfile

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
RGW_SH = os.path.join(REPO, "tests", "s3", "rgw.sh")
sys.path.insert(0, os.path.join(REPO, "tests", "s3"))
import s3  # noqa: E402  (tests/s3/s3.py)

START_TIMEOUT = 180

# Fast retries for mounts that upload to it (see fs/main.c --help).
FAST_SYNC = {"retry_base_ms": "100", "retry_max_ms": "500", "connect_timeout_ms": "2000"}


def settings(rgw, prefix, **over):
    """A full destination configuration for the module's radosgw."""
    s = {"bucket": rgw.bucket, "endpoint": rgw.endpoint, "region": "us-east-1",
         "prefix": prefix, "access_key_id": rgw.access_key,
         "secret_access_key": rgw.secret_key}
    s.update(over)
    return s


@pytest.fixture(autouse=True)
def no_proxy(monkeypatch):
    """Test traffic goes straight to loopback, whatever the environment says:
    the daemon (libcurl) and botocore inherit this environment.  Autouse in
    every module that imports it."""
    for k in list(os.environ):
        if k.lower() in ("http_proxy", "https_proxy", "all_proxy"):
            monkeypatch.delenv(k)
    monkeypatch.setenv("no_proxy", "*")
    monkeypatch.setenv("NO_PROXY", "*")


class RGW:
    """A running cluster: its settings (DIR/env) and a client on its bucket."""

    def __init__(self, directory):
        self.dir = directory
        self.env = s3.load_env(os.path.join(directory, "env"))
        self.endpoint = self.env["RGW_ENDPOINT"]
        self.port = int(self.env["RGW_PORT"])
        self.bucket = self.env["RGW_BUCKET"]
        self.access_key = self.env["RGW_ACCESS_KEY"]
        self.secret_key = self.env["RGW_SECRET_KEY"]
        self.other_access_key = self.env["RGW_OTHER_ACCESS_KEY"]
        self.other_secret_key = self.env["RGW_OTHER_SECRET_KEY"]
        self.client = s3.client(self.endpoint, self.access_key, self.secret_key)

    def _run(self, *args, timeout=START_TIMEOUT):
        p = subprocess.run([RGW_SH, *args, self.dir], capture_output=True, text=True,
                           timeout=timeout, stdin=subprocess.DEVNULL)
        if p.returncode != 0:
            raise AssertionError(f"rgw.sh {' '.join(args)} {self.dir} failed "
                                 f"({p.returncode}):\n{p.stdout}{p.stderr}")
        return p.stdout

    def stop_gateway(self):
        """Stops radosgw only: connections to the endpoint are refused."""
        self._run("stop-gateway")

    def start_gateway(self):
        """Starts radosgw again and waits until S3 answers."""
        self._run("start-gateway")

    def objects(self, prefix=""):
        return s3.list_objects(self.client, self.bucket, prefix)

    def get(self, key):
        return s3.get_object(self.client, self.bucket, key)

    def head(self, key):
        return self.client.head_object(Bucket=self.bucket, Key=key)

    def unfinished_uploads(self, prefix=""):
        r = self.client.list_multipart_uploads(Bucket=self.bucket, Prefix=prefix)
        return r.get("Uploads", [])

    def put_error(self, key, access_key=None, secret_key=None, bucket=None):
        """What the store answers to a PutObject with these credentials and
        bucket: (HTTP status, Code, Message), or None if it succeeds."""
        from botocore.exceptions import ClientError

        c = s3.client(self.endpoint, access_key or self.access_key,
                      secret_key or self.secret_key)
        try:
            c.put_object(Bucket=bucket or self.bucket, Key=key, Body=b"x")
        except ClientError as e:
            err = e.response.get("Error", {})
            return (e.response["ResponseMetadata"]["HTTPStatusCode"], err.get("Code", ""),
                    err.get("Message") or "")
        return None

    def delete_all(self, prefix=""):
        return s3.delete_all(self.client, self.bucket, prefix)


def radosgw_missing():
    missing = [p for p in ("radosgw", "ceph-mon", "ceph-osd", "monmaptool")
               if not shutil.which(p)]
    if missing:
        return (f"radosgw is not installed ({', '.join(missing)} not found): run "
                f"tests/s3/rgw.sh install (Debian packages ceph-mon ceph-osd radosgw)")
    try:
        import botocore  # noqa: F401
    except ImportError:
        return "botocore is not installed: apt-get install python3-botocore"
    return None


@pytest.fixture(scope="module")
def rgw():
    """One radosgw cluster for the whole test module."""
    why = radosgw_missing()
    if why:
        pytest.skip(why)
    d = tempfile.mkdtemp(prefix="wrgw-", dir="/tmp")
    os.rmdir(d)  # rgw.sh start wants an absent or empty directory it can own
    try:
        p = subprocess.run([RGW_SH, "start", d], capture_output=True, text=True,
                           timeout=START_TIMEOUT, stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired:
        subprocess.run([RGW_SH, "stop", d], capture_output=True, timeout=60)
        pytest.fail(f"radosgw did not start within {START_TIMEOUT} s")
    if p.returncode != 0:
        subprocess.run([RGW_SH, "stop", d], capture_output=True, timeout=60)
        pytest.fail(f"cannot start radosgw (tests/s3/rgw.sh start {d}):\n{p.stderr}")
    try:
        yield RGW(d)
    finally:
        subprocess.run([RGW_SH, "stop", d], capture_output=True, timeout=60)
