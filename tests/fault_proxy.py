"""A flaky S3: an HTTP proxy on 127.0.0.1 in front of the moto server that breaks chosen requests.

Faults, one per broken request, taken in turn from `faults`:
  "500"      an S3 InternalError response (HTTP 500);
  "503"      an S3 SlowDown response (HTTP 503);
  "reset"    the connection is closed without a response;
  "timeout"  no response for `hang_s` seconds (longer than the client's read timeout), then close;
  "truncate" a GET body (whole or ranged) cut in half after a Content-Length for the whole (the
             peer hangs up);
  "short"    a GET body cut in half with a Content-Length for the half: a well-formed but short
             response that only a size check against the object's HEAD (or the range asked
             for) can catch;
  "flip"     a GET body (whole or ranged) of the right length with one byte changed: byte
             `flip_at` of the body if given, else the middle one moved on by one per fault
             injected before it (damage in transit differs from one transfer to the next; caught
             by checksums/MD5, or by two reads of a range that disagree).
Every `fail_every`-th request that `breaks(method, path)` selects is broken (1 = all of them),
or, given `rate`, each one it selects with probability `rate`, drawn from `random.Random(seed)`
(the same draws in every run; which request meets which draw follows the order they arrive in),
up to `max_faults`. `retried()` tells for each fault injected whether the client sent the same
request again (method, path, range and body) and it reached S3. The server binds 127.0.0.1 only,
makes no request of its own except the one it forwards, and stops itself after `lifetime_s` if
the test has not stopped it.
"""

from __future__ import annotations

import hashlib
import http.client
import http.server
import itertools
import random
import threading
import time
import urllib.parse
from collections.abc import Callable

_S3_ERRORS = {
    "500": (500, "InternalError", "We encountered an internal error. Please try again."),
    "503": (503, "SlowDown", "Please reduce your request rate."),
}
_HOP_HEADERS = {"connection", "keep-alive", "transfer-encoding", "content-length"}


def any_request(method: str, path: str) -> bool:
    return True


class FaultProxy:
    def __init__(self, upstream: str, faults: tuple[str, ...] = ("500",), fail_every: int = 1,
                 breaks: Callable[[str, str], bool] = any_request, max_faults: int | None = None,
                 hang_s: float = 2.0, lifetime_s: float = 120.0,
                 flip_at: int | None = None, rate: float | None = None, seed: int = 0) -> None:
        parsed = urllib.parse.urlsplit(upstream)
        self.upstream = (parsed.hostname, parsed.port)
        self.fail_every, self.breaks, self.max_faults, self.hang_s = (fail_every, breaks,
                                                                      max_faults, hang_s)
        self.flip_at, self.rate = flip_at, rate
        self._draws = random.Random(seed)
        self._faults = itertools.cycle(faults)
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self.requests = 0
        self.selected = 0
        self.injected: list[tuple[str, str, str]] = []  # (fault, method, path)
        # For `retried`: (request number, request) of each fault in `injected`, and the number
        # of the last request forwarded, by request (method, path, Range header, SHA-1 of body).
        self._broken: list[tuple[int, tuple]] = []
        self._last_forwarded: dict[tuple, int] = {}
        # The longest the upstream took to answer a forwarded request: how close a healthy
        # request came to the client's read timeout (a slow one would be a fault nobody injected).
        self.slowest_forward_s = 0.0
        self._server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever,
                                        kwargs={"poll_interval": 0.05}, daemon=True)
        self._timer = threading.Timer(lifetime_s, self.stop)
        self._timer.daemon = True

    @property
    def endpoint(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> FaultProxy:
        self._thread.start()
        self._timer.start()
        return self

    def stop(self) -> None:
        if self._stopping.is_set():
            return
        self._stopping.set()
        self._timer.cancel()
        self._server.shutdown()
        self._server.server_close()

    def retried(self) -> list[bool]:
        """For each fault in `injected`, whether the same request reached S3 after it."""
        with self._lock:
            return [self._last_forwarded.get(request, -1) > number
                    for number, request in self._broken]

    def _next_fault(self, method: str, path: str, request: tuple) -> tuple[str | None, int]:
        """The fault to inject in this request (None: forward it as it is), and how many were
        injected before it. `request` tells a retry of it apart from other requests."""
        with self._lock:
            self.requests += 1
            number, earlier = self.requests, len(self.injected)
            if not self.breaks(method, path) or self._spared():
                self._last_forwarded[request] = number
                return None, earlier
            fault = next(self._faults)
            self.injected.append((fault, method, path))
            self._broken.append((number, request))
            return fault, earlier

    def _spared(self) -> bool:
        """Whether a request that `breaks` selected goes through unharmed (under the lock)."""
        self.selected += 1
        if self.max_faults is not None and len(self.injected) >= self.max_faults:
            return True
        if self.rate is not None:
            return self._draws.random() >= self.rate
        return bool(self.selected % self.fail_every)

    def _flipped(self, payload: bytes, earlier: int) -> bytes:
        """`payload` with one byte inverted, where the module docstring says; `earlier` faults
        were injected before this one."""
        at = (self.flip_at if self.flip_at is not None
              else (len(payload) // 2 + earlier) % len(payload))
        return payload[:at] + bytes([payload[at] ^ 0xFF]) + payload[at + 1:]

    def _forward(self, method: str, path: str, headers: dict[str, str], body: bytes
                 ) -> tuple[int, list[tuple[str, str]], bytes]:
        connection = http.client.HTTPConnection(*self.upstream, timeout=30)
        started = time.monotonic()
        try:
            connection.request(method, path, body=body or None, headers=headers)
            response = connection.getresponse()
            return response.status, response.getheaders(), response.read()
        finally:
            connection.close()
            with self._lock:
                self.slowest_forward_s = max(self.slowest_forward_s, time.monotonic() - started)

    def _handler(self) -> type[http.server.BaseHTTPRequestHandler]:
        proxy = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args) -> None:  # keep test output quiet
                pass

            def _serve(self) -> None:
                length = int(self.headers.get("Content-Length", 0) or 0)
                body = self.rfile.read(length) if length else b""
                request = (self.command, self.path, self.headers.get("Range"),
                           hashlib.sha1(body).hexdigest())
                fault, earlier = proxy._next_fault(self.command, self.path, request)
                if fault in _S3_ERRORS:
                    self._s3_error(*_S3_ERRORS[fault])
                    return
                if fault in ("reset", "timeout"):
                    if fault == "timeout":
                        proxy._stopping.wait(proxy.hang_s)
                    self.close_connection = True
                    return
                status, headers, payload = proxy._forward(self.command, self.path,
                                                          dict(self.headers.items()), body)
                self.send_response(status)
                for name, value in headers:
                    if name.lower() not in _HOP_HEADERS:
                        self.send_header(name, value)
                if self.command == "HEAD":
                    full = {k.lower(): v for k, v in headers}.get("content-length", "0")
                    self.send_header("Content-Length", full)
                    self.end_headers()
                    return
                # 206: a ranged GET's body (Partial Content) is cut or flipped like a whole one.
                damaged = self.command == "GET" and status in (200, 206) and bool(payload)
                sent = payload
                if damaged and fault in ("truncate", "short"):
                    sent = payload[: len(payload) // 2]
                elif damaged and fault == "flip":
                    sent = proxy._flipped(payload, earlier)
                self.send_header("Content-Length", str(len(payload if fault == "truncate"
                                                           else sent)))
                self.end_headers()
                self.wfile.write(sent)
                if fault == "truncate":
                    self.close_connection = True

            def _s3_error(self, status: int, code: str, message: str) -> None:
                xml = (f"<?xml version='1.0' encoding='UTF-8'?><Error><Code>{code}</Code>"
                       f"<Message>{message}</Message></Error>").encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/xml")
                self.send_header("Content-Length", str(len(xml)))
                self.end_headers()
                if self.command != "HEAD":  # a HEAD response has headers only
                    self.wfile.write(xml)

            do_GET = do_HEAD = do_PUT = do_POST = do_DELETE = _serve

        return Handler
