"""A fault-injecting HTTP/1.1 proxy on loopback, put between warehousefs and
radosgw to show that uploads survive what real stores and networks do.

The daemon's endpoint is the proxy's address (path-style addressing); the
proxy forwards every request byte for byte to the upstream store over a
connection of its own per client connection, Host header included (SigV4
signs it, and radosgw checks the signature against the Host it receives),
and relays the answer byte for byte.  It speaks enough HTTP/1.1 for
libcurl's keep-alive: request bodies by Content-Length or chunked,
"Expect: 100-continue" (the 100 is the store's, relayed, so a store's early
refusal still reaches the client), responses by Content-Length, chunked
or up to the close.

For each request whose method is in `methods` (PUT by default: PutObject
and UploadPart), with probability `rate` (seeded, so a run can be
replayed), the proxy picks a fault from `mix` instead of a plain forward:

    error500       answer 500 InternalError (S3 error XML), not forwarded
    slowdown       answer 503 SlowDown (S3 error XML), not forwarded
    stall          say nothing: either before forwarding (the request never
                   reaches the store) or after it (the store has stored it,
                   the client gets a few bytes of the status line), until
                   the client gives up or stall_seconds pass; stall_where
                   = "before" or "after" picks one
    reset_body     read part of the body, then reset the connection (RST);
                   nothing is forwarded
    truncate       forward, then send only part of the answer (a body
                   shorter than its Content-Length or chunks, or, for an
                   answer without a body, the header block cut anywhere)
                   and close
    lost_response  forward the whole request, let the store answer (so it
                   stored the object), then reset the connection instead
                   of relaying the answer

A `policy` callable, when set, decides instead of the dice: it gets the
ProxyRequest (method, target, path, query, header(name), attempt: how
many times this method and target have been seen, this one included) and
returns a fault name or None.  A PUT's x-amz-content-sha256 header tells
which version of an object it carries.

set_reachable(False) is a store outage: the listening socket goes away
(connections are refused: ECONNREFUSED) and every open connection is
closed; set_reachable(True) listens again on the same port (a placeholder
socket bound with SO_REUSEPORT keeps the port meanwhile).

Counters (stats()): requests seen, requests the store answered (forwarded),
faults injected by kind, connections closed by an outage.

    proxy = FaultProxy(("127.0.0.1", rgw.port), rate=0.3, seed=1)
    ... endpoint = proxy.endpoint ...
    proxy.stats()    {"requests": .., "forwarded": .., "faults": {...}, ...}
    proxy.close()
"""

import collections
import random
import socket
import struct
import threading
import time

FAULTS = ("error500", "slowdown", "stall", "reset_body", "truncate", "lost_response")
HEAD_MAX = 64 * 1024
IO_TIMEOUT = 120.0
KEEP, CLOSE, RESET = "keep", "close", "reset"  # how a client connection goes on

_ERRORS = {
    "error500": (500, "Internal Server Error", "InternalError",
                 "We encountered an internal error. Please try again."),
    "slowdown": (503, "Slow Down", "SlowDown", "Please reduce your request rate."),
}


class _Closed(Exception):
    """The peer closed the connection (or it broke) in the middle of a message."""


class _Reader:
    """Buffered reads of one socket: heads, lines, exact lengths."""

    def __init__(self, sock):
        self.sock = sock
        self.buf = b""

    def _fill(self):
        try:
            data = self.sock.recv(256 * 1024)
        except (ConnectionError, socket.timeout, OSError) as e:
            raise _Closed(str(e))
        if not data:
            raise _Closed("end of stream")
        self.buf += data

    def at_eof(self):
        """True when the peer closed before sending anything more."""
        if self.buf:
            return False
        try:
            self._fill()
        except _Closed:
            return True
        return False

    def head(self):
        """Everything up to and including the blank line after the headers."""
        while True:
            i = self.buf.find(b"\r\n\r\n")
            if i >= 0:
                out, self.buf = self.buf[:i + 4], self.buf[i + 4:]
                return out
            if len(self.buf) > HEAD_MAX:
                raise _Closed("header block too long")
            self._fill()

    def line(self):
        while True:
            i = self.buf.find(b"\r\n")
            if i >= 0:
                out, self.buf = self.buf[:i + 2], self.buf[i + 2:]
                return out
            self._fill()

    def exactly(self, n):
        while len(self.buf) < n:
            self._fill()
        out, self.buf = self.buf[:n], self.buf[n:]
        return out

    def some(self, n):
        """Up to n bytes: what is buffered, or one read."""
        if not self.buf:
            self._fill()
        out, self.buf = self.buf[:n], self.buf[n:]
        return out

    def rest(self):
        """Everything until the peer closes."""
        while True:
            try:
                self._fill()
            except _Closed:
                break
        out, self.buf = self.buf, b""
        return out


def _parse_head(raw):
    """(first line words, [(lower-case name, value)]) of a header block."""
    lines = raw[:-4].decode("latin-1").split("\r\n")
    first = lines[0].split(" ", 2)
    headers = []
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers.append((name.strip().lower(), value.strip()))
    return first, headers


def _header(headers, name):
    for k, v in headers:
        if k == name:
            return v
    return None


def _chunked(headers):
    te = _header(headers, "transfer-encoding")
    return te is not None and "chunked" in te.lower()


def _read_chunked(reader):
    """A chunked body, framing included (it is relayed as it came)."""
    parts = []
    while True:
        size_line = reader.line()
        parts.append(size_line)
        size = int(size_line.split(b";")[0].strip(), 16)
        if size == 0:
            while True:  # trailers, then the blank line
                line = reader.line()
                parts.append(line)
                if line == b"\r\n":
                    return b"".join(parts)
        parts.append(reader.exactly(size + 2))


class ProxyRequest:
    """One request as the proxy saw its head."""

    def __init__(self, raw_head, attempt_of):
        self.raw_head = raw_head
        first, self.headers = _parse_head(raw_head)
        if len(first) != 3:
            raise _Closed(f"bad request line {first!r}")
        self.method, self.target, self.version = first
        self.path, _, self.query = self.target.partition("?")
        self.expect_100 = (_header(self.headers, "expect") or "").lower() == "100-continue"
        self.attempt = attempt_of(self.method, self.target)

    def header(self, name):
        """The value of a header (name in any case), or None."""
        return _header(self.headers, name.lower())

    @property
    def body_length(self):
        v = _header(self.headers, "content-length")
        return int(v) if v is not None else 0

    def read_body(self, reader):
        if _chunked(self.headers):
            return _read_chunked(reader)
        return reader.exactly(self.body_length)


class _Response:
    """One response read from the store: raw bytes, status, framing."""

    def __init__(self, reader, method):
        self.head = reader.head()
        first, self.headers = _parse_head(self.head)
        self.status = int(first[1])
        self.close = (_header(self.headers, "connection") or "").lower() == "close"
        if self.status < 200 or self.status in (204, 304) or method == "HEAD":
            self.body = b""
        elif _chunked(self.headers):
            self.body = _read_chunked(reader)
        elif _header(self.headers, "content-length") is not None:
            self.body = reader.exactly(int(_header(self.headers, "content-length")))
        else:
            self.body = reader.rest()
            self.close = True

    @property
    def raw(self):
        return self.head + self.body


def _reset(sock):
    """Closes sock with an RST instead of a FIN (SO_LINGER 0)."""
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    except OSError:
        pass
    sock.close()


def _listening_socket(port):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    s.bind(("127.0.0.1", port))
    return s


class FaultProxy:
    def __init__(self, upstream, rate=0.0, mix=None, seed=0, methods=("PUT",),
                 stall_seconds=5.0):
        self.upstream = upstream
        self.stall_seconds = stall_seconds
        self.stall_where = None    # "before" or "after" the store; None: either
        self.policy = None
        self._lock = threading.Lock()
        self._rng = random.Random(seed)
        self._rate = 0.0
        self._mix = list(FAULTS)
        self._methods = tuple(methods)
        self.set_rate(rate, mix)
        self._requests = 0
        self._forwarded = 0
        self._faults = collections.Counter()
        self._stalls_after_store = 0
        self._outage_closed = 0
        self._attempts = collections.Counter()
        self._conns = set()        # client sockets, closed by an outage
        self.errors = []           # the proxy's own failures: a test must see none
        self._stopping = False
        self._reachable = True
        self._listener = _listening_socket(0)
        self.port = self._listener.getsockname()[1]
        self._placeholder = _listening_socket(self.port)  # keeps the port in an outage
        self._listener.listen(128)
        self._acceptor = self._start_acceptor(self._listener)

    # ------------------------------------------------------------ control

    @property
    def endpoint(self):
        return f"http://127.0.0.1:{self.port}"

    def set_rate(self, rate, mix=None, methods=None):
        """Faults for this share of the requests of `methods`, kinds drawn
        uniformly from mix (a list; repeat a name to weight it)."""
        mix = list(mix) if mix is not None else list(FAULTS)
        unknown = [k for k in mix if k not in FAULTS]
        if unknown or not mix:
            raise ValueError(f"unknown fault kinds {unknown}; known: {FAULTS}")
        with self._lock:
            self._rate = float(rate)
            self._mix = mix
            if methods is not None:
                self._methods = tuple(methods)

    def set_reachable(self, reachable):
        """False: refuse connections and close the open ones; True: serve again."""
        with self._lock:
            if reachable == self._reachable:
                return
            self._reachable = reachable
            if not reachable:
                listener, self._listener = self._listener, None
                conns = list(self._conns)
                self._outage_closed += len(conns)
            else:
                listener = _listening_socket(self.port)
                listener.listen(128)
                self._listener = listener
        if not reachable:
            # shutdown() wakes the accept() and the recv()s blocked on them.
            for s in [listener] + conns:
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
            listener.close()
            self._acceptor.join(5)
        else:
            self._acceptor = self._start_acceptor(listener)

    def stats(self):
        with self._lock:
            return {"requests": self._requests, "forwarded": self._forwarded,
                    "faults": dict(self._faults),
                    "faults_total": sum(self._faults.values()),
                    "stalls_after_store": self._stalls_after_store,
                    "outage_closed_connections": self._outage_closed,
                    "proxy_errors": list(self.errors)}

    def attempts(self, method, target):
        """How many times this request was seen."""
        with self._lock:
            return self._attempts[(method, target)]

    def close(self):
        self.set_reachable(False)
        with self._lock:
            self._stopping = True
        self._placeholder.close()

    # ------------------------------------------------------------ serving

    def _start_acceptor(self, listener):
        t = threading.Thread(target=self._accept_loop, args=(listener,), daemon=True)
        t.start()
        return t

    def _accept_loop(self, listener):
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return  # the listener was shut down: an outage or close()
            with self._lock:
                if not self._reachable or self._stopping:
                    _reset(client)
                    continue
                self._conns.add(client)
            threading.Thread(target=self._serve, args=(client,), daemon=True).start()

    def _attempt_of(self, method, target):
        with self._lock:
            self._requests += 1
            self._attempts[(method, target)] += 1
            return self._attempts[(method, target)]

    def _choose(self, req):
        with self._lock:
            policy = self.policy
            if policy is None:
                if req.method not in self._methods or self._rng.random() >= self._rate:
                    return None
                return self._rng.choice(self._mix)
        kind = policy(req)
        if kind is not None and kind not in FAULTS:
            raise ValueError(f"policy gave unknown fault {kind!r}")
        return kind

    def _count(self, kind):
        with self._lock:
            self._faults[kind] += 1

    def _serve(self, client):
        client.settimeout(IO_TIMEOUT)
        reader = _Reader(client)
        up = None
        end = RESET
        try:
            while True:
                if reader.at_eof():
                    break
                req = ProxyRequest(reader.head(), self._attempt_of)
                kind = self._choose(req)
                if kind:
                    self._count(kind)
                end, up = self._handle(req, kind, client, reader, up)
                if end != KEEP:
                    break
        except _Closed:
            end = RESET
        except Exception as e:  # a proxy bug must fail the test, not hang it
            end = RESET
            with self._lock:
                self.errors.append(f"{type(e).__name__}: {e}")
        finally:
            with self._lock:
                self._conns.discard(client)
            if up is not None:
                up[0].close()
            if end == CLOSE:
                try:
                    client.shutdown(socket.SHUT_WR)
                except OSError:
                    pass
                client.close()
            else:
                _reset(client)

    def _handle(self, req, kind, client, reader, up):
        """Answers one request; returns (KEEP, CLOSE or RESET, upstream)."""
        if kind in _ERRORS:
            if req.expect_100:
                # The body never comes: answer, and close, as S3 does.
                client.sendall(self._error(kind, close=True))
                return CLOSE, up
            req.read_body(reader)
            client.sendall(self._error(kind, close=False))
            return KEEP, up
        if kind == "stall" and self._stall_before():
            self._stall(client, reader)  # before the store saw anything
            return RESET, up
        if kind == "reset_body":
            if req.expect_100:
                client.sendall(b"HTTP/1.1 100 Continue\r\n\r\n")
            n = req.body_length
            if n:
                reader.exactly(max(1, min(n // 2, 64 * 1024)))
            return RESET, up
        up, resp = self._forward(req, client, reader, up)
        if resp is None:
            return CLOSE, up  # the store refused before the body: relayed
        if kind == "stall":
            with self._lock:
                self._stalls_after_store += 1
            client.sendall(resp.head[:7])  # "HTTP/1."
            self._stall(client, reader)
            return RESET, up
        if kind == "truncate":
            # Into the body when there is one (curl: "transfer closed with
            # bytes remaining"), else into the header block (libcurl takes
            # a block cut after the status line as the whole answer).
            with self._lock:
                if resp.body:
                    cut = len(resp.head) + self._rng.randrange(len(resp.body))
                else:
                    cut = self._rng.randrange(1, len(resp.head))
            client.sendall(resp.raw[:cut])
            return CLOSE, up
        if kind == "lost_response":
            return RESET, up
        client.sendall(resp.raw)
        return (CLOSE if resp.close else KEEP), up

    def _stall_before(self):
        if self.stall_where is not None:
            return self.stall_where == "before"
        with self._lock:
            return self._rng.random() < 0.5

    def _error(self, kind, close):
        status, reason, code, message = _ERRORS[kind]
        with self._lock:
            rid = f"FAULT{self._requests:08d}"
        body = ('<?xml version="1.0" encoding="UTF-8"?>\n'
                f"<Error><Code>{code}</Code><Message>{message}</Message>"
                f"<RequestId>{rid}</RequestId></Error>").encode()
        head = (f"HTTP/1.1 {status} {reason}\r\n"
                f"x-amz-request-id: {rid}\r\n"
                "Content-Type: application/xml\r\n"
                f"Content-Length: {len(body)}\r\n"
                + ("Connection: close\r\n" if close else "")
                + "\r\n")
        return head.encode() + body

    def _stall(self, client, reader):
        """Says nothing until the client gives up (or stall_seconds pass),
        dropping whatever it still sends."""
        deadline = time.monotonic() + self.stall_seconds
        reader.buf = b""
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                return
            client.settimeout(left)
            try:
                if not client.recv(65536):
                    return
            except (socket.timeout, OSError):
                return

    def _connect_upstream(self):
        s = socket.create_connection(self.upstream, timeout=IO_TIMEOUT)
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return (s, _Reader(s))

    def _forward(self, req, client, reader, up):
        """Sends req to the store and reads its final answer.  Returns
        (upstream, response), or (upstream, None) when the store answered
        an Expect: 100-continue request with a final status (relayed)."""
        body = None
        if not req.expect_100:
            body = req.read_body(reader)
        for attempt in (1, 2):
            reused = up is not None
            if up is None:
                up = self._connect_upstream()
            try:
                up[0].sendall(req.raw_head)
                if req.expect_100:
                    first = _Response(up[1], req.method)
                    if first.status != 100:
                        client.sendall(first.raw)
                        up[0].close()
                        return None, None
                    client.sendall(first.raw)
                    body = req.read_body(reader)
                    up[0].sendall(body)
                else:
                    up[0].sendall(body)
                resp = _Response(up[1], req.method)
                while resp.status == 100:  # an unasked-for 100: skip it
                    resp = _Response(up[1], req.method)
                with self._lock:
                    self._forwarded += 1
                break
            except (_Closed, OSError):
                up[0].close()
                up = None
                # A kept-alive connection the store closed meanwhile: once more
                # on a new one, unless the body was already consumed.
                if attempt == 2 or not reused or (req.expect_100 and body is not None):
                    raise _Closed("the store closed the connection")
        if resp.close:
            up[0].close()
            up = None
        return up, resp
