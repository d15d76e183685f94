"""What the fake providers (tests/fake_sendgrid.py, tests/fake_twilio.py, tests/fake_line.py) share: a threaded HTTP/1.1
server on 127.0.0.1 (an ephemeral port, a daemon thread, keep-alive), started and stopped the same way, that counts
the requests and the TCP connections it received, keeps a queue of planned failures, and hands every request to the
fake's own `_handle(handler)`.

    class FakeThing(FakeProvider):
        name = "fake-thing"                 # the server thread's name and the Server header
        recorded = "messages"               # the attribute listing accepted requests, for wait_for()

        def _handle(self, handler): ...     # answer one request (handler: a BaseHTTPRequestHandler)

    with FakeThing() as server:
        server.url, server.request_count, server.connection_count

`connection_count` is what the keep-alive tests and the benchmark look at: a client that reuses its connection opens
one, whatever the number of requests.
"""

import sys
import threading
import time
from abc import ABC, abstractmethod
from collections import Counter, deque
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class FakeProvider(ABC):
    name = "fake-provider"
    recorded = "messages"  # the list of accepted requests wait_for() watches

    def __init__(self, *, host: str = "127.0.0.1", port: int = 0):
        self._address = (host, port)
        self._lock = threading.Lock()
        self._stopping = threading.Event()  # set by stop(): wakes stalled handlers
        self._plans: deque = deque()
        self._request_count = 0
        self._connections: Counter = Counter()  # client (address, port) → requests over that connection
        self._httpd: _Server | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle ---------------------------------------------------------------------------------------------
    def _prepare(self) -> None:  # noqa: B027 — optional: a fake with nothing to prepare keeps this
        """Before the server starts (load and compile the provider's spec once)."""

    def start(self):
        self._prepare()
        self._stopping.clear()
        self._httpd = _Server(self._address, _Handler, fake=self)
        self._thread = threading.Thread(target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05},
                                        name=self.name, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._httpd is None:
            return
        self._stopping.set()
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(timeout=5)
        self._httpd = self._thread = None

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc_info) -> None:
        self.stop()

    @property
    def port(self) -> int:
        if self._httpd is None:
            raise RuntimeError(f"{type(self).__name__} is not started")
        return self._httpd.server_address[1]

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    # -- planned failures --------------------------------------------------------------------------------------
    def _plan(self, plan, times: int) -> None:
        with self._lock:
            self._plans.extend([plan] * times)

    def _next_plan(self):
        with self._lock:
            return self._plans.popleft() if self._plans else None

    def _stall(self, handler, seconds: float) -> bool:
        """Wait `seconds` before answering; True (and the connection closed) when the server stopped meanwhile."""
        if self._stopping.wait(seconds):
            handler.close_connection = True
            return True
        return False

    # -- counting ----------------------------------------------------------------------------------------------
    @property
    def request_count(self) -> int:
        """Requests received on any path, including refused, failed and dropped ones."""
        with self._lock:
            return self._request_count

    @property
    def connection_count(self) -> int:
        """TCP connections that carried at least one request (one per client that keeps its connection alive)."""
        with self._lock:
            return len(self._connections)

    def requests_per_connection(self) -> list[int]:
        with self._lock:
            return sorted(self._connections.values(), reverse=True)

    def reset_counts(self) -> None:
        with self._lock:
            self._request_count = 0
            self._connections.clear()

    def wait_for(self, count: int, timeout: float = 5.0) -> list[dict]:
        """Wait until at least `count` requests are recorded as accepted (e.g. after a stall), and return them."""
        deadline = time.monotonic() + timeout
        while True:
            with self._lock:
                accepted = getattr(self, self.recorded)
                if len(accepted) >= count:
                    return list(accepted)
            if time.monotonic() >= deadline:
                raise AssertionError(f"{type(self).__name__}: {len(accepted)} {self.recorded} after {timeout} s, "
                                     f"wanted {count}")
            time.sleep(0.01)

    # -- the handler's side ------------------------------------------------------------------------------------
    def _dispatch(self, handler: "_Handler") -> None:
        with self._lock:
            self._request_count += 1
            self._connections[handler.client_address] += 1
        self._handle(handler)

    @abstractmethod
    def _handle(self, handler: "_Handler") -> None:
        """Answer one request: each fake provider's own."""


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False  # stop() must not wait for stalled handlers
    request_queue_size = 128  # the benchmarks open connections quickly

    def __init__(self, address, handler_class, *, fake: FakeProvider):
        self.fake = fake
        super().__init__(address, handler_class)

    def handle_error(self, request, client_address) -> None:
        # A client that gave up (timeout) leaves a closed socket behind: not worth a traceback on stderr.
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive: a client may send many requests over one connection
    # The handler writes the status and headers, then the body, in two send()s: with Nagle's algorithm the body waits
    # for the client's delayed ACK of the headers (~40 ms on Linux), which capped a keep-alive connection at ~20
    # answers with a body per second. Real providers answer at once.
    disable_nagle_algorithm = True

    @property
    def server_version(self) -> str:
        return f"{type(self.server.fake).__name__}/1.0"

    def _dispatch(self) -> None:
        self.server.fake._dispatch(self)

    do_POST = do_GET = do_PUT = do_PATCH = do_DELETE = _dispatch

    def log_message(self, format, *args) -> None:  # quiet: the benchmarks send thousands
        pass
