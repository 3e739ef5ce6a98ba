#!/usr/bin/python3
"""A small S3 client for the tests, the demo and the benchmarks.

It uses Debian's botocore, AWS's own signer, so whatever warehousefs put in the
bucket is read back by an independent SigV4 implementation. Requests are
path-style (http://127.0.0.1:PORT/BUCKET/KEY: no bucket name is ever resolved),
signed for us-east-1, and never retried: a test must see the first failure, not
have it hidden by a retry.

As a module (run pytest with /usr/bin/python3, or put tests/s3 on sys.path):

    import s3
    env = s3.load_env(rgw_dir + "/env")
    c = s3.client(env["RGW_ENDPOINT"], env["RGW_ACCESS_KEY"], env["RGW_SECRET_KEY"])
    s3.list_objects(c, env["RGW_BUCKET"])      # {key: (size, etag)}
    s3.get_object(c, env["RGW_BUCKET"], "a/b.csv")

As a command, see `s3.py --help`. Failures print the S3 error Code and the HTTP
status (RGW leaves <Message> empty) and exit 1.
"""

import argparse
import os
import shlex
import sys

import botocore.session
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

REGION = "us-east-1"


def load_env(path):
    """Read the shell assignments that `rgw.sh start` writes to DIR/env."""
    env = {}
    with open(path, encoding="utf-8") as f:
        for line in f:
            line = line.strip()
            if not line or line.startswith("#"):
                continue
            # shlex undoes the shell quoting that protects '/', '+' and '='.
            words = shlex.split(line)
            if words and words[0] == "export":
                words = words[1:]
            if len(words) != 1 or "=" not in words[0]:
                raise ValueError(f"{path}: not an assignment: {line!r}")
            name, _, value = words[0].partition("=")
            env[name] = value
    return env


def client(endpoint, access_key, secret_key, region=REGION):
    """Return a botocore S3 client for ENDPOINT with static credentials."""
    session = botocore.session.Session()
    config = Config(
        signature_version="s3v4",
        s3={"addressing_style": "path"},
        retries={"total_max_attempts": 1},
        # An empty map, not None: None would take proxies from the environment,
        # and test traffic must go straight to the endpoint.
        proxies={},
        connect_timeout=10,
        read_timeout=120,
    )
    return session.create_client(
        "s3",
        region_name=region,
        endpoint_url=endpoint,
        aws_access_key_id=access_key,
        aws_secret_access_key=secret_key,
        config=config,
    )


def _strip_etag(etag):
    return etag.strip('"') if etag else etag


def iter_objects(c, bucket, prefix=""):
    """Yield each object's ListObjectsV2 entry, across all pages."""
    pages = c.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix)
    for page in pages:
        yield from page.get("Contents", [])


def list_objects(c, bucket, prefix=""):
    """Return {key: (size, etag)} for every object under PREFIX.

    The ETag is returned without its quotes: for a single-part upload it is the
    hex MD5 of the body, for a multipart one "MD5-N".
    """
    return {o["Key"]: (o["Size"], _strip_etag(o["ETag"])) for o in iter_objects(c, bucket, prefix)}


def get_object(c, bucket, key):
    """Return the body of KEY as bytes."""
    body = c.get_object(Bucket=bucket, Key=key)["Body"]
    try:
        return body.read()
    finally:
        body.close()


def delete_all(c, bucket, prefix=""):
    """Delete every object under PREFIX and abort its unfinished multipart
    uploads, so a benchmark starts from an empty bucket (memstore keeps
    everything in RAM). Return (objects deleted, uploads aborted)."""
    deleted = 0
    # Collect first: deleting while paginating would shift the pages.
    keys = [o["Key"] for o in iter_objects(c, bucket, prefix)]
    for i in range(0, len(keys), 1000):  # DeleteObjects takes at most 1000 keys
        batch = [{"Key": k} for k in keys[i:i + 1000]]
        r = c.delete_objects(Bucket=bucket, Delete={"Objects": batch, "Quiet": True})
        errors = r.get("Errors", [])
        if errors:
            e = errors[0]
            raise RuntimeError(f"cannot delete '{e['Key']}': {e.get('Code')} "
                               f"({len(errors)} keys failed)")
        deleted += len(batch)
    aborted = 0
    uploads = c.get_paginator("list_multipart_uploads").paginate(Bucket=bucket, Prefix=prefix)
    for page in uploads:
        for u in page.get("Uploads", []):
            c.abort_multipart_upload(Bucket=bucket, Key=u["Key"], UploadId=u["UploadId"])
            aborted += 1
    return deleted, aborted


def describe_error(e):
    """'HTTP 403 SignatureDoesNotMatch' for a ClientError. RGW's <Message> is
    empty and a HEAD has no body at all, so the code and status are what's left."""
    err = e.response.get("Error", {})
    status = e.response.get("ResponseMetadata", {}).get("HTTPStatusCode", "?")
    code, message = err.get("Code", "?"), err.get("Message", "")
    if code == str(status):
        # botocore's stand-ins when there was no body: Code "403", Message "Forbidden".
        return f"HTTP {status} {message} (no error body)".replace("  ", " ")
    return f"HTTP {status} {code}" + (f": {message}" if message else "")


# --- command line -----------------------------------------------------------

def _cmd_mb(c, args):
    c.create_bucket(Bucket=args.name)


def _cmd_ls(c, args):
    for o in iter_objects(c, args.bucket, args.prefix):
        print(f"{o['Size']}  {_strip_etag(o['ETag'])}  {o['Key']}")


def _cmd_get(c, args):
    body = c.get_object(Bucket=args.bucket, Key=args.key)["Body"]
    out = sys.stdout.buffer if args.out in (None, "-") else open(args.out, "wb")
    try:
        for chunk in body.iter_chunks(1 << 20):
            out.write(chunk)
    finally:
        body.close()
        if out is not sys.stdout.buffer:
            out.close()
        else:
            out.flush()


def _cmd_head(c, args):
    r = c.head_object(Bucket=args.bucket, Key=args.key)
    print(f"etag: {r.get('ETag', '')}")
    print(f"size: {r.get('ContentLength')}")
    print(f"last-modified: {r.get('LastModified')}")
    print(f"content-type: {r.get('ContentType', '')}")
    for k, v in sorted(r.get("Metadata", {}).items()):
        print(f"metadata {k}: {v}")
    # All headers as received, x-amz-server-side-encryption among them.
    for k, v in sorted(r["ResponseMetadata"]["HTTPHeaders"].items()):
        print(f"header {k}: {v}")


def _cmd_put(c, args):
    extra = {}
    if args.sse:
        extra["ServerSideEncryption"] = args.sse
    if args.meta:
        extra["Metadata"] = dict(m.partition("=")[::2] for m in args.meta)
    if args.file == "-":
        r = c.put_object(Bucket=args.bucket, Key=args.key, Body=sys.stdin.buffer.read(), **extra)
    else:
        with open(args.file, "rb") as f:
            r = c.put_object(Bucket=args.bucket, Key=args.key, Body=f, **extra)
    print(_strip_etag(r.get("ETag", "")))


def _cmd_rm_all(c, args):
    deleted, aborted = delete_all(c, args.bucket, args.prefix)
    print(f"deleted {deleted} objects, aborted {aborted} multipart uploads")


def _cmd_count(c, args):
    print(sum(1 for _ in iter_objects(c, args.bucket, args.prefix)))


def _parser():
    p = argparse.ArgumentParser(
        prog="s3.py",
        description="Small S3 client for warehousefs tests (botocore, path-style, "
                    "us-east-1, no retries). Settings come from the flags, else from "
                    "--env, else from RGW_* environment variables.")
    p.add_argument("--env", metavar="FILE", help="DIR/env written by rgw.sh start")
    p.add_argument("--endpoint", metavar="URL", help="e.g. http://127.0.0.1:7480")
    p.add_argument("--access-key", metavar="KEY")
    p.add_argument("--secret-key", metavar="SECRET")
    p.add_argument("--bucket", metavar="B", help="bucket (default: RGW_BUCKET)")
    sub = p.add_subparsers(dest="cmd", required=True, metavar="COMMAND")

    s = sub.add_parser("mb", help="create bucket NAME")
    s.add_argument("name")
    s.set_defaults(func=_cmd_mb, needs_bucket=False)
    s = sub.add_parser("ls", help="list objects as 'size  etag  key'")
    s.add_argument("prefix", nargs="?", default="")
    s.set_defaults(func=_cmd_ls, needs_bucket=True)
    s = sub.add_parser("get", help="download KEY to OUT (default: stdout)")
    s.add_argument("key")
    s.add_argument("out", nargs="?")
    s.set_defaults(func=_cmd_get, needs_bucket=True)
    s = sub.add_parser("head", help="show ETag, size, metadata and headers of KEY")
    s.add_argument("key")
    s.set_defaults(func=_cmd_head, needs_bucket=True)
    s = sub.add_parser("put", help="upload FILE ('-' for stdin) as KEY, print its ETag")
    s.add_argument("key")
    s.add_argument("file")
    s.add_argument("--sse", metavar="ALG", help="x-amz-server-side-encryption, e.g. AES256")
    s.add_argument("--meta", metavar="K=V", action="append", help="x-amz-meta-K: V (repeatable)")
    s.set_defaults(func=_cmd_put, needs_bucket=True)
    s = sub.add_parser("rm-all", help="delete every object under PREFIX")
    s.add_argument("prefix", nargs="?", default="")
    s.set_defaults(func=_cmd_rm_all, needs_bucket=True)
    s = sub.add_parser("count", help="print the number of objects under PREFIX")
    s.add_argument("prefix", nargs="?", default="")
    s.set_defaults(func=_cmd_count, needs_bucket=True)
    return p


def main(argv=None):
    p = _parser()
    args = p.parse_args(argv)
    try:
        env = load_env(args.env) if args.env else os.environ
    except (OSError, ValueError) as e:
        p.error(f"cannot read --env: {e}")
    endpoint = args.endpoint or env.get("RGW_ENDPOINT")
    access = args.access_key or env.get("RGW_ACCESS_KEY")
    secret = args.secret_key or env.get("RGW_SECRET_KEY")
    args.bucket = args.bucket or env.get("RGW_BUCKET")
    if not (endpoint and access and secret):
        p.error("need --env FILE or --endpoint, --access-key and --secret-key")
    if args.needs_bucket and not args.bucket:
        p.error("need --bucket (or RGW_BUCKET)")

    c = client(endpoint, access, secret)
    try:
        args.func(c, args)
    except ClientError as e:
        print(f"s3.py: {args.cmd} failed: {describe_error(e)}", file=sys.stderr)
        return 1
    except (BotoCoreError, RuntimeError, OSError) as e:
        print(f"s3.py: {args.cmd} failed: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
